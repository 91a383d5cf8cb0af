-- Sign-in identities at OAuth2 / OpenID Connect / GitHub providers: one row per (provider,
-- subject), owned by one user. `provider` is the configured channel id; `email` is the address
-- the provider last reported (informational). Times are unix seconds.
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id ON identities(user_id);
