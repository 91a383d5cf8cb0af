//! `gatehouse doctor`: will this configuration work? One line per check, `ok|warn|fail
//! <check>: <detail>`, touching nothing (no migration, no mail sent, no key generated). The
//! command exits non-zero when any check fails.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;

use crate::config::{Config, Provider, ProviderEndpoints};
use crate::db::{Db, migrator};

/// How long any one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Below this much free disk under `data_dir` the check fails; below ten times it, it warns.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub name: String,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        };
        write!(f, "{status} {}: {}", self.name, self.detail)
    }
}

fn check(status: Status, name: &str, detail: impl Into<String>) -> Check {
    Check {
        status,
        name: name.into(),
        detail: detail.into(),
    }
}

/// The line for a configuration that did not load.
pub fn config_failed(error: &dyn fmt::Display) -> Check {
    check(Status::Fail, "config", error.to_string())
}

/// Run every check on a configuration that loaded (`warnings` from the loader).
pub async fn run(config: &Config, file: Option<&Path>, warnings: &[String]) -> Vec<Check> {
    let mut out = vec![check(
        Status::Ok,
        "config",
        match file {
            Some(f) => format!("{} merged with GATEHOUSE_* variables", f.display()),
            None => "defaults merged with GATEHOUSE_* variables (no --config)".into(),
        },
    )];
    out.extend(warnings.iter().map(|w| check(Status::Warn, "config", w)));
    out.extend(bounded("database", database(config)).await);
    out.extend(bounded("redis", redis(config)).await);
    out.extend(bounded("smtp", smtp(config)).await);
    match config.resolve() {
        Ok(settings) => {
            for (id, provider) in &settings.providers {
                let name = format!("providers.{id}");
                out.extend(bounded(&name, self::provider(&name, provider)).await);
            }
        }
        Err(e) => out.push(check(Status::Fail, "config", e.to_string())),
    }
    out.extend(base_url(config));
    out.push(secret_key(config));
    out.push(disk(&config.data_dir));
    out
}

/// Print every check, one line each; an error (the command's exit status) when any failed.
pub async fn report(
    config: &Config,
    file: Option<&Path>,
    warnings: &[String],
) -> anyhow::Result<()> {
    let checks = run(config, file, warnings).await;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    anyhow::ensure!(
        failed == 0,
        "doctor: {failed} of {} checks failed",
        checks.len()
    );
    Ok(())
}

/// A check that does not answer in time fails instead of hanging the command.
async fn bounded(name: &str, fut: impl std::future::Future<Output = Vec<Check>>) -> Vec<Check> {
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(lines) if !lines.is_empty() => lines,
        Ok(_) => vec![check(Status::Fail, name, "no answer")],
        Err(_) => vec![check(
            Status::Fail,
            name,
            format!("no answer within {}s", CHECK_TIMEOUT.as_secs()),
        )],
    }
}

async fn database(config: &Config) -> Vec<Check> {
    let url = config.database_url();
    let shown = crate::config::shown_url(&url);
    if let Some(path) = super::sqlite_path(config)
        && !path.exists()
    {
        return vec![
            check(
                Status::Warn,
                "database",
                format!(
                    "no database yet at {}; `gatehouse serve` creates it",
                    path.display()
                ),
            ),
            check(Status::Warn, "superuser", superuser_hint()),
        ];
    }
    let db = match Db::connect(&url).await {
        Ok(db) => db,
        Err(e) => return vec![check(Status::Fail, "database", format!("{e:#}"))],
    };
    let mut out = vec![migrations(&db, &shown).await];
    if out[0].status != Status::Fail {
        out.push(match superusers(&db).await {
            Ok(0) => check(Status::Warn, "superuser", superuser_hint()),
            Ok(n) => check(Status::Ok, "superuser", format!("{n} active")),
            Err(_) => check(Status::Warn, "superuser", superuser_hint()),
        });
    }
    db.close().await;
    out
}

async fn migrations(db: &Db, shown: &str) -> Check {
    let applied: Result<Vec<i64>, _> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(db.pool())
            .await;
    let known: Vec<i64> = migrator(db.backend()).iter().map(|m| m.version).collect();
    let newest = known.iter().copied().max().unwrap_or(0);
    let Ok(applied) = applied else {
        return check(
            Status::Warn,
            "database",
            format!("{shown} answers but has no migrations yet; `gatehouse serve` applies them"),
        );
    };
    if let Some(v) = applied.iter().find(|v| !known.contains(v)) {
        return check(
            Status::Fail,
            "database",
            format!(
                "{shown} has schema version {v}, newer than this binary's {newest}: run the newer gatehouse"
            ),
        );
    }
    let pending = known.iter().filter(|v| !applied.contains(v)).count();
    if pending > 0 {
        return check(
            Status::Warn,
            "database",
            format!(
                "{shown} answers; {pending} migrations pending (`gatehouse serve` applies them at start; back up first)"
            ),
        );
    }
    check(
        Status::Ok,
        "database",
        format!("{shown} answers, migrations current (schema version {newest})"),
    )
}

/// Active superusers; `serve` names the command to make one when there are none.
pub async fn superusers(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_superuser = 1 AND is_active = 1")
        .fetch_one(db.pool())
        .await
}

pub fn superuser_hint() -> &'static str {
    "no superuser yet: create one with `gatehouse admin create-user --superuser --email you@example.com --nickname Admin`"
}

async fn redis(config: &Config) -> Vec<Check> {
    let Some(url) = &config.redis_url else {
        return vec![check(
            Status::Ok,
            "redis",
            "not configured: short-lived state is kept in this process (one instance only)",
        )];
    };
    let shown = crate::config::shown_url(url.expose());
    let result = async {
        let kv = crate::kv::Kv::redis(url.expose(), &config.redis_prefix).await?;
        kv.ping().await
    }
    .await;
    vec![match result {
        Ok(()) => check(Status::Ok, "redis", format!("{shown} answers PING")),
        // The error names the URL, password masked.
        Err(e) => check(Status::Fail, "redis", e.to_string()),
    }]
}

async fn smtp(config: &Config) -> Vec<Check> {
    if config.smtp.host.is_none() {
        return vec![check(
            Status::Warn,
            "smtp",
            format!(
                "no smtp.host: mail is written to files under {} (development only)",
                config.data_dir.join("mail").display()
            ),
        )];
    }
    let transport = match crate::mail::transport::Transport::from_config(config) {
        Ok(t) => t,
        Err(e) => return vec![check(Status::Fail, "smtp", e.to_string())],
    };
    vec![match transport.probe().await {
        Ok(answer) => check(Status::Ok, "smtp", format!("{answer} (no mail sent)")),
        Err(e) => check(
            Status::Fail,
            "smtp",
            format!("{} {e}", transport.describe()),
        ),
    }]
}

async fn provider(name: &str, p: &Provider) -> Vec<Check> {
    vec![match &p.endpoints {
        ProviderEndpoints::Oidc { issuer } => oidc(name, issuer).await,
        ProviderEndpoints::OAuth2 { .. } => check(
            Status::Ok,
            name,
            "oauth2 endpoints set (OAuth2 has no discovery document to check)",
        ),
        ProviderEndpoints::Github { .. } => {
            check(Status::Ok, name, "GitHub (no discovery document)")
        }
    }]
}

/// Discovery at `{issuer}/.well-known/openid-configuration` (its `issuer` must be the configured
/// one) and the JWKS it names, as sign-in would fetch them.
async fn oidc(name: &str, issuer: &str) -> Check {
    let http = match crate::oauth::http() {
        Ok(h) => h,
        Err(e) => return check(Status::Fail, name, e.to_string()),
    };
    let url = match IssuerUrl::new(issuer.to_string()) {
        Ok(u) => u,
        Err(e) => {
            return check(
                Status::Fail,
                name,
                format!("issuer {issuer} is not a URL: {e}"),
            );
        }
    };
    match CoreProviderMetadata::discover_async(url, http).await {
        Err(e) => {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail.push_str(&format!(": {s}"));
                source = s.source();
            }
            check(
                Status::Fail,
                name,
                format!("discovery at {issuer} failed: {detail}"),
            )
        }
        Ok(meta) if meta.jwks().keys().is_empty() => check(
            Status::Fail,
            name,
            format!("the JWKS at {} holds no keys", meta.jwks_uri().as_str()),
        ),
        Ok(meta) => check(
            Status::Ok,
            name,
            format!(
                "discovery at {issuer} and JWKS ({} keys) answer",
                meta.jwks().keys().len()
            ),
        ),
    }
}

fn base_url(config: &Config) -> Vec<Check> {
    let url = config.public_base_url();
    let parsed = url::Url::parse(&url).ok();
    let host = parsed.as_ref().and_then(|u| u.host());
    let wildcard = match host {
        Some(url::Host::Ipv4(ip)) => ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_unspecified(),
        Some(url::Host::Domain(d)) => d.contains('*'),
        None => true,
    };
    let mut out = Vec::new();
    out.push(if wildcard {
        check(
            Status::Fail,
            "public_base_url",
            format!("{url} names no host users can reach: set `public_base_url` to the address users reach"),
        )
    } else if config.public_base_url.is_none() {
        check(
            Status::Warn,
            "public_base_url",
            format!("not set: links and redirects use {url}"),
        )
    } else {
        check(Status::Ok, "public_base_url", url.clone())
    });
    let loopback = match host {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        None => false,
    };
    out.push(match parsed.as_ref().map(url::Url::scheme) {
        Some("https") => check(Status::Ok, "https", "public_base_url is https"),
        _ if loopback => check(
            Status::Warn,
            "https",
            "plain http on a loopback address: fine on this machine, not for production",
        ),
        _ => check(
            Status::Fail,
            "https",
            format!("{url} is plain http: passwords and session cookies would cross the network in clear; put gatehouse behind https"),
        ),
    });
    out
}

fn secret_key(config: &Config) -> Check {
    let Some(path) = super::key_file(config) else {
        return check(
            Status::Ok,
            "secret_key",
            "given in the configuration (keep that file or variable private)",
        );
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.secret_key_file.is_none() => {
            return check(
                Status::Warn,
                "secret_key",
                format!(
                    "no key yet at {}; `gatehouse serve` generates one (mode 0600)",
                    path.display()
                ),
            );
        }
        Err(e) => {
            return check(
                Status::Fail,
                "secret_key",
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        // World access is a leak; group access is a choice (e.g. root:gatehouse 0640).
        let status = match mode {
            m if m & 0o007 != 0 => Status::Fail,
            m if m & 0o070 != 0 => Status::Warn,
            _ => Status::Ok,
        };
        if status != Status::Ok {
            let who = if status == Status::Fail {
                "anyone"
            } else {
                "its group"
            };
            return check(
                status,
                "secret_key",
                format!(
                    "{} is readable by {who} (mode {mode:04o}): chmod 600 {}",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
    check(
        Status::Ok,
        "secret_key",
        format!("{} is private to its owner", path.display()),
    )
}

fn disk(data_dir: &Path) -> Check {
    // The data directory may not exist before the first start: measure where it will be made.
    let mut dir = data_dir.to_path_buf();
    while !dir.exists() {
        if !dir.pop() {
            dir = ".".into();
            break;
        }
    }
    if dir.as_os_str().is_empty() {
        dir = ".".into();
    }
    match rustix::fs::statvfs(&dir) {
        Err(e) => check(
            Status::Fail,
            "disk",
            format!("cannot measure {}: {e}", dir.display()),
        ),
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let detail = format!(
                "{} MiB free under {}",
                free / (1024 * 1024),
                data_dir.display()
            );
            if free < MIN_FREE_BYTES {
                check(Status::Fail, "disk", detail)
            } else if free < 10 * MIN_FREE_BYTES {
                check(Status::Warn, "disk", detail)
            } else {
                check(Status::Ok, "disk", detail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: Option<&str>, listen: &str) -> Config {
        Config {
            public_base_url: url.map(str::to_string),
            listen: listen.parse().unwrap_or_else(|e| panic!("{e}")),
            ..Config::default()
        }
    }

    fn statuses(c: &Config) -> Vec<Status> {
        base_url(c).into_iter().map(|c| c.status).collect()
    }

    #[test]
    fn base_url_and_https_checks() {
        assert_eq!(
            statuses(&with_url(None, "127.0.0.1:8080")),
            [Status::Warn, Status::Warn]
        );
        assert_eq!(
            statuses(&with_url(None, "0.0.0.0:8080")),
            [Status::Fail, Status::Fail]
        );
        assert_eq!(
            statuses(&with_url(Some("http://auth.example.com"), "0.0.0.0:8080")),
            [Status::Ok, Status::Fail]
        );
        assert_eq!(
            statuses(&with_url(Some("https://auth.example.com"), "0.0.0.0:8080")),
            [Status::Ok, Status::Ok]
        );
        assert_eq!(
            statuses(&with_url(Some("http://localhost:8080"), "127.0.0.1:8080")),
            [Status::Ok, Status::Warn]
        );
    }

    #[test]
    fn lines_read_status_check_detail() {
        let line = check(Status::Warn, "smtp", "no host").to_string();
        assert_eq!(line, "warn smtp: no host");
    }
}
