-- Second factors. A TOTP secret is sealed (AES-256-GCM under a key derived from the server key);
-- `last_step` is the last time step accepted, so a code is never accepted twice. A row with
-- `enabled_at` NULL is a pending enrolment, not yet in force.
CREATE TABLE totp_secrets (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    enabled_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- Recovery codes: HMAC under the server key, each used once.
CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user_id ON recovery_codes(user_id);

-- Passkeys: webauthn-rs's credential as JSON; `sign_count` mirrors its counter so an update can
-- be conditioned on it (a replayed or cloned authenticator loses the race).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys(user_id);

-- How each session was authenticated (RFC 8176 values: pwd, otp, hwk, fed), a JSON list.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '["pwd"]';
UPDATE sessions SET amr = '["fed"]' WHERE auth_method <> 'password';
