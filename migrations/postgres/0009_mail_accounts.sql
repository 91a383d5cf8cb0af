-- Personal mail accounts: a user's own IMAP/SMTP mailboxes, used through gatehouse. The password
-- is sealed (AES-256-GCM, purpose "mailbox-passwords"); `credential_version` changes whenever a
-- connection setting does, so pooled IMAP sessions made with the old settings are not reused.
CREATE TABLE mail_accounts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    display_name TEXT,
    imap_host TEXT NOT NULL,
    imap_port INTEGER NOT NULL,
    imap_tls TEXT NOT NULL,
    smtp_host TEXT NOT NULL,
    smtp_port INTEGER NOT NULL,
    smtp_tls TEXT NOT NULL,
    username TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    is_primary INTEGER NOT NULL DEFAULT 0,
    credential_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_checked_at BIGINT,
    last_error TEXT
);
CREATE INDEX mail_accounts_user ON mail_accounts (user_id, created_at);

-- Folder counts as last seen on the server (a cache: every listing refreshes it).
CREATE TABLE mail_folders (
    account_id TEXT NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT,
    total BIGINT NOT NULL,
    unread BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Drafts kept by gatehouse (and appended to the account's Drafts folder).
CREATE TABLE mail_drafts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_addrs TEXT NOT NULL,
    cc_addrs TEXT NOT NULL,
    bcc_addrs TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT,
    body_html TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mail_drafts_account ON mail_drafts (account_id, updated_at);

-- BotServer's clients sign in with a username: optional, unique case-insensitively.
ALTER TABLE users ADD COLUMN username TEXT;
ALTER TABLE users ADD COLUMN username_normalized TEXT;
CREATE UNIQUE INDEX users_username_normalized ON users (username_normalized);
