//! The data directory's advisory lock, `{data_dir}/gatehouse.lock`: every `serve` holds it
//! shared (several instances may share a data directory), `restore` needs it exclusively, so a
//! database is never replaced under a running server. The kernel drops the lock when the
//! process ends, however it ends, so a crash leaves nothing stale behind.

use std::fs::{File, TryLockError};
use std::path::PathBuf;

use crate::config::Config;

/// Held for as long as the value lives.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

pub fn path(config: &Config) -> PathBuf {
    config.data_dir.join("gatehouse.lock")
}

fn open(config: &Config) -> anyhow::Result<(File, PathBuf)> {
    let path = path(config);
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {}: {e}", path.display()))?;
    Ok((file, path))
}

/// The lock a serving process holds. On PostgreSQL nothing is restored into the data
/// directory, so a data directory that cannot hold the lock file is only warned about there.
pub fn for_serve(config: &Config) -> anyhow::Result<Option<DataDirLock>> {
    match shared(config) {
        Ok(lock) => Ok(Some(lock)),
        Err(e) if super::sqlite_path(config).is_none() => {
            tracing::warn!("{e:#}; serving without the data directory's lock");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn shared(config: &Config) -> anyhow::Result<DataDirLock> {
    let (file, path) = open(config)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "a restore is replacing the database in {} (it holds {}); start the server when it is done",
            config.data_dir.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", path.display())
        }
    }
}

/// The lock `restore` holds while it replaces the database: refused while a server runs.
pub fn exclusive(config: &Config) -> anyhow::Result<DataDirLock> {
    let (file, path) = open(config)?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "a gatehouse server is running on {} (it holds {}); stop it before restoring",
            config.data_dir.display(),
            path.display()
        ),
        Err(TryLockError::Error(e)) => {
            anyhow::bail!("cannot lock {}: {e}", path.display())
        }
    }
}
