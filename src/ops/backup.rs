//! `gatehouse backup FILE`: a consistent copy of the SQLite database while the server keeps
//! serving (`VACUUM INTO` reads one snapshot; writers carry on in the WAL), and the server key
//! beside it as `FILE.key` (mode 0600). Both are written under temporary names and renamed into
//! place, so a failed backup leaves nothing half-written. On PostgreSQL the database belongs to
//! `pg_dump`: the command for the configured database is printed (password masked).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnectOptions;

use super::{backup_key_path, key_file, parent_dir, sqlite_path, sync_dir, temp_beside};
use crate::config::Config;

/// Make the backup and say, one line per file, what was written.
pub async fn run(config: &Config, file: &Path, force: bool) -> anyhow::Result<Vec<String>> {
    let key_target = backup_key_path(file);
    for target in [file, key_target.as_path()] {
        if target.exists() && !force {
            anyhow::bail!(
                "{} already exists; choose another name or add --force to replace it",
                target.display()
            );
        }
    }
    let dir = parent_dir(file);
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: no directory {}",
            file.display(),
            dir.display()
        );
    }
    let key = read_key(config)?;
    let Some(database) = sqlite_path(config) else {
        write_key(&key_target, &key)?;
        return Ok(postgres_advice(config, file, &key_target));
    };
    if !database.is_file() {
        anyhow::bail!(
            "no SQLite database at {} (has the server run with this configuration?)",
            database.display()
        );
    }
    if super::same_file(file, &database) {
        anyhow::bail!(
            "{} is the live database itself; choose another file",
            file.display()
        );
    }
    let tmp = temp_beside(file);
    let copied = snapshot(&database, &tmp).await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let finished = (|| {
        std::fs::rename(&tmp, file)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
        write_key(&key_target, &key).inspect_err(|_| {
            let _ = std::fs::remove_file(file);
        })
    })();
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir);
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(vec![
        format!(
            "wrote {} ({}, a consistent copy of {}, mode 0600)",
            file.display(),
            human_size(size),
            database.display()
        ),
        format!(
            "wrote {} (the server key, mode 0600): keep it as safe as the database; `gatehouse restore {}` uses both",
            key_target.display(),
            file.display()
        ),
    ])
}

/// `VACUUM INTO` a fresh file: one read transaction, so the copy is the database as of one
/// moment even while the server writes.
async fn snapshot(database: &Path, tmp: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(tmp);
    let options = SqliteConnectOptions::new()
        .filename(database)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", database.display()))?;
    let target = tmp
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup path {} is not UTF-8", tmp.display()))?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result.map_err(|e| {
        anyhow::anyhow!(
            "cannot write {}: {}",
            tmp.display(),
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    // The copy holds password hashes and tokens' digests: owner only, like the key. VACUUM INTO
    // does not sync the new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| anyhow::anyhow!("cannot restrict {}: {e}", tmp.display()))?;
    }
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot sync {}: {e}", tmp.display()))?;
    Ok(())
}

/// The server key's text, from the configuration or its file.
fn read_key(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.secret_key {
        return Ok(secret.expose().to_string());
    }
    let path: PathBuf = key_file(config).unwrap_or_default();
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => anyhow::bail!("the server key file {} is empty", path.display()),
        Err(e) => anyhow::bail!("cannot read the server key {}: {e}", path.display()),
    }
}

fn write_key(target: &Path, key: &str) -> anyhow::Result<()> {
    let tmp = temp_beside(target);
    let written = super::write_private(&tmp, format!("{key}\n").as_bytes())
        .and_then(|()| std::fs::rename(&tmp, target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("cannot write {}: {e}", target.display());
    }
    Ok(())
}

/// What to run instead on PostgreSQL: `pg_dump` of the configured database into FILE.
fn postgres_advice(config: &Config, file: &Path, key_target: &Path) -> Vec<String> {
    let url = crate::config::shown_url(&config.database_url());
    vec![
        "the database is PostgreSQL: back it up with pg_dump (fill in the password, or leave it out and set PGPASSWORD):".into(),
        format!(
            "  pg_dump --format=custom --file={} {}",
            shell_quote(&file.display().to_string()),
            shell_quote(&url)
        ),
        format!(
            "wrote {} (the server key, mode 0600): keep it with the dump",
            key_target.display()
        ),
    ]
}

/// Quote for a POSIX shell when the text needs it.
pub fn shell_quote(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_urls_readable_and_quotes_the_rest() {
        assert_eq!(
            shell_quote("postgres://app:****@db:5432/auth"),
            "'postgres://app:****@db:5432/auth'"
        );
        assert_eq!(shell_quote("/var/backups/g.dump"), "/var/backups/g.dump");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
