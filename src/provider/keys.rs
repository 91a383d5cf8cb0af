//! Signing keys of the OpenID Provider: Ed25519 (EdDSA, the default) and RSA-2048 (RS256),
//! generated on first use, private halves sealed at rest, rotated by the operator. A retired key
//! stays in the JWKS (and verifies) until every token it signed has expired.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sqlx::Row;

use crate::sealing::Sealer;
use crate::state::AppState;

const PURPOSE: &str = "oidc-signing-keys";

/// The algorithms gatehouse signs with; `EdDSA` unless a client asks for `RS256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    EdDsa,
    Rs256,
}

impl SigningAlg {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
        }
    }
}

/// A private key ready to sign, with the `kid` its tokens name.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub key: Arc<EncodingKey>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Opened private keys by `kid`: opening and parsing (RSA above all) on every token would cost
/// more than the signature. A `kid` is random, so one process serving several databases cannot
/// mix them up.
static OPENED: LazyLock<RwLock<HashMap<String, Arc<EncodingKey>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// How long a retired key keeps verifying: the longest a token it signed can live.
fn retention(state: &AppState) -> i64 {
    state.config.oidc_provider.access_token_ttl.secs() + 60
}

/// The current key for `alg`, generated (and stored sealed) when there is none yet.
pub async fn current(state: &AppState, alg: SigningAlg) -> anyhow::Result<SigningKey> {
    let row = sqlx::query(
        "SELECT kid, private_key FROM oidc_signing_keys WHERE alg = $1 AND retired_at IS NULL \
         ORDER BY created_at DESC, kid LIMIT 1",
    )
    .bind(alg.as_str())
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else {
        return generate(state, alg).await;
    };
    let kid: String = row.try_get("kid")?;
    if let Some(key) = OPENED.read().ok().and_then(|m| m.get(&kid).cloned()) {
        return Ok(SigningKey { kid, alg, key });
    }
    let sealed: String = row.try_get("private_key")?;
    let der = Sealer::derive(&state.key, PURPOSE)
        .open(&sealed)
        .ok_or_else(|| anyhow::anyhow!("signing key {kid} does not open with this server key"))?;
    let key = Arc::new(encoding_key(alg, &der));
    if let Ok(mut m) = OPENED.write() {
        m.insert(kid.clone(), key.clone());
    }
    Ok(SigningKey { kid, alg, key })
}

fn encoding_key(alg: SigningAlg, der: &[u8]) -> EncodingKey {
    match alg {
        SigningAlg::EdDsa => EncodingKey::from_ed_der(der),
        SigningAlg::Rs256 => EncodingKey::from_rsa_der(der),
    }
}

/// A fresh key pair: PKCS#8 DER for Ed25519, PKCS#1 DER for RSA (what `jsonwebtoken` reads).
fn new_private_der(alg: SigningAlg) -> anyhow::Result<Vec<u8>> {
    match alg {
        SigningAlg::EdDsa => {
            use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
            let mut seed = [0u8; 32];
            crate::tokens::fill_random(&mut seed);
            // PKCS#8 v1 (the seed alone): the form `jsonwebtoken` reads and derives the JWK from.
            let key = KeypairBytes {
                secret_key: seed,
                public_key: None,
            };
            Ok(key
                .to_pkcs8_der()
                .map_err(|e| anyhow::anyhow!("encoding an Ed25519 key: {e}"))?
                .as_bytes()
                .to_vec())
        }
        SigningAlg::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
            Ok(key.to_pkcs1_der()?.as_bytes().to_vec())
        }
    }
}

async fn generate(state: &AppState, alg: SigningAlg) -> anyhow::Result<SigningKey> {
    let der = tokio::task::spawn_blocking(move || new_private_der(alg)).await??;
    let key = encoding_key(alg, &der);
    let kid = uuid::Uuid::now_v7().simple().to_string();
    let mut jwk = Jwk::from_encoding_key(&key, alg.algorithm())?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let sealed = Sealer::derive(&state.key, PURPOSE).seal(&der);
    sqlx::query(
        "INSERT INTO oidc_signing_keys (kid, alg, private_key, public_jwk, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&kid)
    .bind(alg.as_str())
    .bind(sealed)
    .bind(serde_json::to_string(&jwk)?)
    .bind(state.clock.now())
    .execute(state.db.pool())
    .await?;
    let key = Arc::new(key);
    if let Ok(mut m) = OPENED.write() {
        m.insert(kid.clone(), key.clone());
    }
    Ok(SigningKey { kid, alg, key })
}

/// Make sure both algorithms have a current key (at startup, so the first sign-in waits for none).
pub async fn ensure(state: &AppState) -> anyhow::Result<()> {
    current(state, SigningAlg::EdDsa).await?;
    current(state, SigningAlg::Rs256).await?;
    Ok(())
}

/// Retire the current keys and make new ones; the retired keys stay published until their
/// tokens have expired. Returns the new `kid`s.
pub async fn rotate(state: &AppState) -> anyhow::Result<Vec<String>> {
    let now = state.clock.now();
    sqlx::query("UPDATE oidc_signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
        .bind(now)
        .execute(state.db.pool())
        .await?;
    sqlx::query("DELETE FROM oidc_signing_keys WHERE retired_at < $1")
        .bind(now - retention(state))
        .execute(state.db.pool())
        .await?;
    let mut kids = Vec::new();
    for alg in [SigningAlg::EdDsa, SigningAlg::Rs256] {
        kids.push(generate(state, alg).await?.kid);
    }
    Ok(kids)
}

/// The public keys that still verify: current ones and those retired less than a token
/// lifetime ago.
pub async fn published(state: &AppState) -> anyhow::Result<JwkSet> {
    ensure(state).await?;
    let rows = sqlx::query(
        "SELECT public_jwk FROM oidc_signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
         ORDER BY created_at DESC",
    )
    .bind(state.clock.now() - retention(state))
    .fetch_all(state.db.pool())
    .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in rows {
        let text: String = row.try_get("public_jwk")?;
        keys.push(serde_json::from_str(&text)?);
    }
    Ok(JwkSet { keys })
}

/// The verifying key named `kid` if it is still published, with its algorithm.
pub async fn verifying(
    state: &AppState,
    kid: &str,
) -> anyhow::Result<Option<(Algorithm, DecodingKey)>> {
    if kid.len() > 64 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT alg, public_jwk FROM oidc_signing_keys WHERE kid = $1 \
         AND (retired_at IS NULL OR retired_at > $2)",
    )
    .bind(kid)
    .bind(state.clock.now() - retention(state))
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let alg: String = row.try_get("alg")?;
    let Some(alg) = SigningAlg::parse(&alg) else {
        return Ok(None);
    };
    let jwk: Jwk = serde_json::from_str(&row.try_get::<String, _>("public_jwk")?)?;
    Ok(Some((alg.algorithm(), DecodingKey::from_jwk(&jwk)?)))
}
