-- Consecutive failures that no time forgives (NIST SP 800-63B caps them at 100): per address and
-- purpose (`login:<hmac>`, `recovery:<hmac>`), where <hmac> is an HMAC of the normalised email
-- under the server key, so the table holds no addresses. A row exists for unknown addresses
-- too (the same answer for them), and goes on a complete sign-in, a reset or an unlock.
CREATE TABLE failure_counts (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
