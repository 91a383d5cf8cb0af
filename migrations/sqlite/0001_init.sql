-- Accounts, sessions, tenants and the audit trail. Booleans are INTEGER 0/1 and times are
-- unix seconds on both backends (see docs/decisions/0001-one-sql-for-two-backends.md).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    nickname TEXT NOT NULL,
    avatar TEXT,
    language TEXT NOT NULL DEFAULT 'en',
    color_schema TEXT NOT NULL DEFAULT 'system',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    preferences TEXT NOT NULL DEFAULT '{}',
    is_superuser INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    login_channel TEXT NOT NULL DEFAULT 'password',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    auth_method TEXT NOT NULL DEFAULT 'password'
);
CREATE INDEX sessions_user_id ON sessions(user_id);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_personal INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE tenant_members (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tenant_members_user_id ON tenant_members(user_id);

CREATE TABLE email_changes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    new_email TEXT NOT NULL,
    new_email_normalized TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_changes_user_id ON email_changes(user_id);

-- No foreign keys: the trail outlives the users and tenants it mentions.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor_user_id TEXT,
    subject_user_id TEXT,
    tenant_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_subject ON audit_events(subject_user_id);
CREATE INDEX audit_events_event ON audit_events(event);
