//! Operator tooling beside the service: backup and restore of the SQLite database, the data
//! directory's lock, `doctor`, the generated example configuration and the overview statistics.

pub mod backup;
pub mod config_example;
pub mod doctor;
pub mod lock;
pub mod restore;
pub mod routes;
pub mod stats;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The SQLite database file `config` names; `None` on PostgreSQL.
pub fn sqlite_path(config: &Config) -> Option<PathBuf> {
    let url = config.database_url();
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Where the server key lives when it is kept in a file (`secret_key_file`, else
/// `{data_dir}/secret.key`); `None` when the configuration holds the key itself.
pub fn key_file(config: &Config) -> Option<PathBuf> {
    if config.secret_key.is_some() {
        return None;
    }
    Some(
        config
            .secret_key_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secret.key")),
    )
}

/// `{path}.key`: where a backup keeps the server key.
pub fn backup_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// A temporary name beside `path` (same directory, so the final rename is atomic).
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Write `bytes` readable by the owner only (the file holds a key), synced, under a temporary
/// name that the caller renames into place.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The directory `path` is in, as a directory that can be named in a message.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True when `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Make renames inside `dir` durable (best effort: not every filesystem syncs a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
