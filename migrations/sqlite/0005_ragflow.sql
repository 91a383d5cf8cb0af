-- The RAGFlow compatibility profile.
-- A signed RAGFlow token carries a 32-hex handle; the handle's SHA-256 finds the gatehouse
-- session it stands for, whose token is kept sealed (AES-GCM under a key derived from the
-- server key). Revoking the session removes the handle.
CREATE TABLE ragflow_handles (
    handle_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    sealed_token TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ragflow_handles_session_id ON ragflow_handles(session_id);

-- `ragflow-…` API tokens are ordinary API keys (api_keys holds their hash); RAGFlow lists them
-- in full, so the profile keeps them sealed too.
CREATE TABLE ragflow_api_tokens (
    api_key_id TEXT PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    sealed_token TEXT NOT NULL,
    beta TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
