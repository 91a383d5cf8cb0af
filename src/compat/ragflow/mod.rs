//! The RAGFlow compatibility profile: RAGFlow v0.27's user-service wire contract on its own
//! listener, translated onto gatehouse's account, session, recovery, API-key and tenant rules.

pub mod auth;
mod channels;
pub mod import;
mod models;
mod recovery;
pub mod routes;
mod store;
mod system;
mod tenants;
pub mod tokens;
pub mod transport;
mod users;
pub mod wire;

use std::sync::Arc;

use crate::state::AppState;
use transport::Transport;

/// The shortest signing secret accepted from configuration or `RAGFLOW_SECRET_KEY`.
const MIN_SECRET: usize = 32;

/// What the profile's handlers get: the application and the profile's own keys.
#[derive(Clone)]
pub struct Profile {
    pub app: AppState,
    pub keys: Arc<Keys>,
    /// RAGFlow's model catalog, when `[ragflow] llm_factories` names one.
    pub catalog: Option<Arc<models::Catalog>>,
}

/// The profile's keys. `Debug` shows none of them.
pub struct Keys {
    signing: Vec<u8>,
    pub transport: Transport,
    sealer: crate::sealing::Sealer,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(********)")
    }
}

impl Keys {
    /// `[ragflow] secret_key` / `secret_key_file` (or env `RAGFLOW_SECRET_KEY`, see
    /// [`crate::config::RAGFLOW_SECRET_KEY_VAR`]), else a key derived from the server key (so
    /// every instance agrees).
    pub fn load(state: &AppState) -> anyhow::Result<Self> {
        let config = &state.settings.ragflow;
        let signing = match &config.secret_key {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => state
                .key
                .mac_hex("ragflow-signing-secret", "v1")
                .into_bytes(),
        };
        if signing.len() < MIN_SECRET {
            anyhow::bail!("invalid value for `ragflow.secret_key`: must be at least 32 characters");
        }
        let sealer = crate::sealing::Sealer::derive(&state.key, "ragflow-sealed-tokens");
        Ok(Self {
            signing,
            transport: Transport::load(config)?,
            sealer,
        })
    }

    /// An itsdangerous token over `handle`, stamped now.
    pub fn sign(&self, handle: &str, now: i64) -> String {
        tokens::dumps(&self.signing, handle, now)
    }

    /// The handle and timestamp of a token with a valid signature.
    pub fn unsign(&self, token: &str) -> Option<(String, i64)> {
        tokens::loads(&self.signing, token)
    }

    /// Sealed under the profile's own key (see [`crate::sealing`]).
    pub fn seal(&self, plain: &str) -> Option<String> {
        Some(self.sealer.seal_str(plain))
    }

    pub fn open(&self, sealed: &str) -> Option<String> {
        self.sealer.open_str(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    #[tokio::test]
    async fn sealing_round_trips_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = crate::config::Config {
            data_dir: dir.path().to_path_buf(),
            secret_key: Some(crate::config::Secret::new("k".repeat(40))),
            ..Default::default()
        };
        let state = AppState::build(config, "t:")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let keys = Keys::load(&state).unwrap_or_else(|e| panic!("{e}"));
        let sealed = keys.seal("ragflow-secret").unwrap_or_default();
        assert_ne!(
            sealed,
            keys.seal("ragflow-secret").unwrap_or_default(),
            "fresh nonce"
        );
        assert_eq!(keys.open(&sealed).as_deref(), Some("ragflow-secret"));
        let mut bytes = STANDARD.decode(&sealed).unwrap_or_default();
        if let Some(b) = bytes.last_mut() {
            *b ^= 1;
        }
        assert_eq!(keys.open(&STANDARD.encode(bytes)), None);
    }
}
