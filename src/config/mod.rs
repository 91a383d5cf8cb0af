//! The typed configuration: defaults, `gatehouse.toml`, `GATEHOUSE_*` environment and flags,
//! merged in that order and checked once at startup.

mod docs;
mod load;
mod raw;
mod resolved;
mod values;

use std::path::PathBuf;

pub use docs::KEY_DOCS;
pub use load::{ENV_PREFIX, RAGFLOW_SECRET_KEY_VAR};
pub use raw::*;
pub use resolved::{Provider, ProviderEndpoints, RagflowSecrets, Settings, read_secret_file};
pub use values::{HumanDuration, Secret, mask_url_password, shown_url};

/// Values given on the command line; they win over file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// A configuration problem, phrased as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub struct Loaded {
    pub config: Config,
    /// `GATEHOUSE_*` variables that name no key, and settings that work but will surprise:
    /// reported, not fatal.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
