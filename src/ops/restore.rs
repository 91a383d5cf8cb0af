//! `gatehouse restore FILE`: put a backup made by `gatehouse backup` in place of the configured
//! SQLite database. Refused while a server holds the data directory's lock; the file is checked
//! first (SQLite's integrity check, gatehouse's tables, a schema no newer than this binary's), then
//! copied under a temporary name and renamed over the database, so a failure leaves the old
//! database as it was. `FILE.key` becomes the server key when the data directory has none.

use std::path::Path;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnectOptions;

use super::{backup_key_path, key_file, parent_dir, sqlite_path, sync_dir, temp_beside};
use crate::config::Config;
use crate::db::{Backend, migrator};

/// Restore `file` and say what was done, one line per step.
pub async fn run(config: &Config, file: &Path, force: bool) -> anyhow::Result<Vec<String>> {
    let Some(database) = sqlite_path(config) else {
        anyhow::bail!(
            "the database is PostgreSQL: restore a pg_dump archive with `pg_restore --clean --if-exists --dbname=URL FILE` while gatehouse is stopped"
        );
    };
    if !file.is_file() {
        anyhow::bail!("no backup file at {}", file.display());
    }
    if super::same_file(file, &database) {
        anyhow::bail!("{} is the configured database itself", file.display());
    }
    let _lock = super::lock::exclusive(config)?;
    let version = check(file).await?;
    if database.exists() && !force {
        anyhow::bail!(
            "a database already exists at {}; add --force to replace it",
            database.display()
        );
    }
    let dir = parent_dir(&database);
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let tmp = temp_beside(&database);
    let copied = std::fs::copy(file, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The old database's write-ahead log would be replayed onto the restored file.
    for suffix in ["-wal", "-shm"] {
        let mut side = database.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(side);
    }
    if let Err(e) = std::fs::rename(&tmp, &database) {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("cannot replace {}: {e}", database.display());
    }
    sync_dir(&dir);
    let mut out = vec![format!(
        "restored {} into {} (schema version {version}); `gatehouse serve` applies any newer migrations at start",
        file.display(),
        database.display()
    )];
    out.push(restore_key(config, file)?);
    Ok(out)
}

/// Check that `file` is an intact gatehouse database this binary can run; its schema version.
pub async fn check(file: &Path) -> anyhow::Result<i64> {
    let not_ours =
        |why: &str| anyhow::anyhow!("{} is not a gatehouse database: {why}", file.display());
    let options = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .create_if_missing(false);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| not_ours(&first_line(&e)))?;
    let result = async {
        let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| not_ours(&first_line(&e)))?;
        if integrity != ["ok"] {
            anyhow::bail!(
                "{} failed SQLite's integrity check: {}",
                file.display(),
                integrity.first().map(String::as_str).unwrap_or("no answer")
            );
        }
        let tables: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'users', 'audit_events')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| not_ours(&first_line(&e)))?;
        if tables != 3 {
            return Err(not_ours("it lacks gatehouse's tables"));
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&mut conn)
                .await
                .map_err(|e| not_ours(&first_line(&e)))?;
        let known: Vec<i64> = migrator(Backend::Sqlite)
            .iter()
            .map(|m| m.version)
            .collect();
        let newest_known = known.iter().copied().max().unwrap_or(0);
        if let Some(unknown) = applied.iter().find(|v| !known.contains(v)) {
            anyhow::bail!(
                "{} comes from a newer gatehouse (schema version {unknown}; this binary knows up to {newest_known}): upgrade gatehouse first",
                file.display()
            );
        }
        Ok(applied.iter().copied().max().unwrap_or(0))
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Put `FILE.key` in place when the data directory has no key; warn when the key in use differs.
fn restore_key(config: &Config, file: &Path) -> anyhow::Result<String> {
    let source = backup_key_path(file);
    let Ok(saved) = std::fs::read_to_string(&source) else {
        return Ok(format!(
            "no {} beside the backup: the server key in use must be the one the backup was made with",
            source.display()
        ));
    };
    let saved = saved.trim();
    let current = match key_file(config) {
        None => config.secret_key.as_ref().map(|s| s.expose().to_string()),
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.trim().to_string()),
            Err(_) => {
                let tmp = temp_beside(&path);
                let written = super::write_private(&tmp, format!("{saved}\n").as_bytes())
                    .and_then(|()| std::fs::rename(&tmp, &path));
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&tmp);
                    anyhow::bail!("cannot write the server key {}: {e}", path.display());
                }
                return Ok(format!(
                    "restored the server key from {} to {} (mode 0600)",
                    source.display(),
                    path.display()
                ));
            }
        },
    };
    Ok(match current {
        Some(key) if key == saved => "the server key in use matches the backup's".into(),
        _ => format!(
            "warning: the server key in use differs from {}; sessions, API keys and sealed secrets of the backup will not open until that key is put back",
            source.display()
        ),
    })
}

fn first_line(e: &sqlx::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}
