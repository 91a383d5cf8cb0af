//! `gatehouse admin …`: the operator's side of administration, calling the same services as the
//! admin API with the operator's [`Admin`] capability.

use clap::Subcommand;

use super::Admin;
use super::service::{self, AuditQuery, UpdateUser};
use crate::config::Config;
use crate::domain::{Email, Nickname, Password};
use crate::error::ApiError;
use crate::http::ClientInfo;
use crate::http::paging::Paging;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (password from GATEHOUSE_NEW_PASSWORD, else asked for without echo).
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        nickname: String,
        #[arg(long)]
        superuser: bool,
    },
    /// List, show and change users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Mail a password reset code and link to a user (delivered by the running server's worker).
    ResetPassword { user: String },
    /// Lift a user's sign-in and recovery locks (also the one after max_consecutive_failures).
    Unlock { user: String },
    /// Create many verified users (for benchmarks at scale), password from GATEHOUSE_NEW_PASSWORD.
    Seed {
        #[arg(long)]
        users: u64,
        /// Also one live session per user.
        #[arg(long)]
        sessions: bool,
        /// Give every seeded user one cheap shared hash instead of an Argon2id hash each.
        /// For benchmarks only; never on a server real people use.
        #[arg(long)]
        insecure_fast_hash: bool,
    },
    /// Remove a user's second factors (TOTP, recovery codes, passkeys), e.g. after a lost device.
    ResetMfa { user: String },
    /// Show the audit trail, newest first.
    Audit {
        /// A user id or email.
        #[arg(long)]
        user: Option<String>,
        /// RFC 3339 time, or a duration ago such as "24h".
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        event: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Applications that sign in with gatehouse (OpenID Connect clients).
    Clients {
        #[command(subcommand)]
        command: crate::provider::cli::ClientsCommand,
    },
    /// The OpenID Provider's signing keys.
    Keys {
        #[command(subcommand)]
        command: crate::provider::cli::KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    List {
        #[arg(long, default_value = "")]
        query: String,
        #[arg(long, default_value_t = 1)]
        page: i64,
        #[arg(long, default_value_t = 50)]
        per_page: i64,
    },
    /// Show one user (id or email).
    Show {
        user: String,
    },
    /// Disable a user: every session and API key stops at once.
    Disable {
        user: String,
    },
    Enable {
        user: String,
    },
    Promote {
        user: String,
    },
    Demote {
        user: String,
    },
    Delete {
        user: String,
    },
}

impl Admin {
    /// The operator running `gatehouse admin …` or `gatehouse provider …` on the server itself:
    /// the command line is the only door besides the API's extractor that makes an [`Admin`].
    pub(crate) fn from_cli() -> Self {
        Self { user_id: None }
    }
}

fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        user_agent: Some("gatehouse-cli".into()),
    }
}

/// Say what went wrong in operator's words (never a secret).
fn explain(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::NotFound => anyhow::anyhow!("no such user"),
        ApiError::EmailTaken => anyhow::anyhow!("a user with this email already exists"),
        ApiError::WeakPassword(_) => anyhow::anyhow!("this password is too common; choose another"),
        ApiError::Validation(fields) => anyhow::anyhow!(
            "invalid {}",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        ApiError::TenantHasMembers => {
            anyhow::anyhow!("the user owns teams with other members; hand them over first")
        }
        ApiError::Internal(e) => e,
        other => anyhow::anyhow!("{}", other.code()),
    }
}

pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::CreateUser {
        email,
        nickname,
        superuser,
    } = &command
    {
        // Validate before asking for a password or touching the database.
        let email = Email::parse(email)
            .ok_or_else(|| anyhow::anyhow!("--email: not a valid email address"))?;
        let nickname = Nickname::parse(nickname).ok_or_else(|| {
            anyhow::anyhow!("--nickname: 1–100 letters, digits, spaces or . _ ' -")
        })?;
        let password = read_new_password()?;
        let prefix = config.redis_prefix.clone();
        let state = AppState::build(config, &prefix).await?;
        let user =
            crate::accounts::service::create_user(&state, &email, &nickname, &password, *superuser)
                .await
                .map_err(explain);
        state.db.close().await;
        let user = user?;
        println!(
            "created user {} ({}){}",
            user.id,
            user.email,
            if *superuser { " as superuser" } else { "" }
        );
        return Ok(());
    }
    let prefix = config.redis_prefix.clone();
    let state = AppState::build(config, &prefix).await?;
    let result = operate(&state, command).await;
    state.db.close().await;
    result
}

fn read_new_password() -> anyhow::Result<Password> {
    match std::env::var("GATEHOUSE_NEW_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(Password::new(p)),
        _ => {
            let first = rpassword::prompt_password("New password: ")?;
            let second = rpassword::prompt_password("Repeat it: ")?;
            anyhow::ensure!(first == second, "the two passwords differ");
            Ok(Password::new(first))
        }
    }
}

async fn operate(state: &AppState, command: AdminCommand) -> anyhow::Result<()> {
    let admin = Admin::from_cli();
    let client = cli_client();
    match command {
        AdminCommand::CreateUser { .. } => Ok(()),
        AdminCommand::Seed {
            users,
            sessions,
            insecure_fast_hash,
        } => {
            let password = read_new_password()?;
            let bar = indicatif::ProgressBar::new(users);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "seeding [{bar:30}] {pos}/{len} users ({per_sec}, {eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            let options = super::seed::SeedOptions {
                users,
                sessions,
                insecure_fast_hash,
            };
            let started = std::time::Instant::now();
            let done = super::seed::seed(state, &password, options, |n| bar.set_position(n))
                .await
                .map_err(explain)?;
            bar.finish_and_clear();
            println!(
                "seeded {} users ({} … {}) and {} sessions in {:.1} s",
                done.users,
                done.first_email,
                done.last_email,
                done.sessions,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        AdminCommand::Clients { command } => crate::provider::cli::clients(state, command).await,
        AdminCommand::Keys { command } => crate::provider::cli::keys(state, command).await,
        AdminCommand::Users {
            command:
                UsersCommand::List {
                    query,
                    page,
                    per_page,
                },
        } => {
            let paging = Paging {
                page: page.max(1),
                per_page: per_page.clamp(1, 200),
            };
            let found = service::list_users(state, &admin, &query, paging)
                .await
                .map_err(explain)?;
            for u in &found.items {
                println!(
                    "{}  {}  {}{}",
                    u.user.id,
                    u.user.email,
                    u.user.nickname,
                    flags(u.is_active, u.user.is_superuser)
                );
            }
            println!(
                "{} of {} users (page {})",
                found.items.len(),
                found.total,
                found.page
            );
            Ok(())
        }
        AdminCommand::Users {
            command: UsersCommand::Show { user },
        } => {
            let user = service::find_user(state, &admin, &user)
                .await
                .map_err(explain)?;
            let view = service::get_user(state, &admin, &user.id)
                .await
                .map_err(explain)?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
        AdminCommand::Users { command } => {
            let (target, change, done) = match command {
                UsersCommand::Disable { user } => (
                    user,
                    UpdateUser {
                        is_active: Some(false),
                        ..Default::default()
                    },
                    "disabled",
                ),
                UsersCommand::Enable { user } => (
                    user,
                    UpdateUser {
                        is_active: Some(true),
                        ..Default::default()
                    },
                    "enabled",
                ),
                UsersCommand::Promote { user } => (
                    user,
                    UpdateUser {
                        is_superuser: Some(true),
                        ..Default::default()
                    },
                    "promoted to superuser",
                ),
                UsersCommand::Demote { user } => (
                    user,
                    UpdateUser {
                        is_superuser: Some(false),
                        ..Default::default()
                    },
                    "demoted",
                ),
                UsersCommand::Delete { user } => {
                    let found = service::find_user(state, &admin, &user)
                        .await
                        .map_err(explain)?;
                    service::delete_user(state, &admin, &found.id, &client)
                        .await
                        .map_err(explain)?;
                    println!("deleted {}", found.email);
                    return Ok(());
                }
                UsersCommand::List { .. } | UsersCommand::Show { .. } => return Ok(()),
            };
            let found = service::find_user(state, &admin, &target)
                .await
                .map_err(explain)?;
            service::update_user(state, &admin, &found.id, change, &client)
                .await
                .map_err(explain)?;
            println!("{} {done}", found.email);
            Ok(())
        }
        AdminCommand::ResetPassword { user } => {
            let found = service::find_user(state, &admin, &user)
                .await
                .map_err(explain)?;
            service::send_password_reset(state, &admin, &found.id, &client)
                .await
                .map_err(explain)?;
            println!(
                "queued a reset mail to {} (sent by the running server within seconds)",
                found.email
            );
            Ok(())
        }
        AdminCommand::Unlock { user } => {
            let found = service::find_user(state, &admin, &user)
                .await
                .map_err(explain)?;
            service::unlock(state, &admin, &found.id, &client)
                .await
                .map_err(explain)?;
            println!("{} unlocked", found.email);
            Ok(())
        }
        AdminCommand::ResetMfa { user } => {
            let found = service::find_user(state, &admin, &user)
                .await
                .map_err(explain)?;
            crate::mfa::service::admin_reset(state, &admin, &found.id, Some(&client))
                .await
                .map_err(explain)?;
            println!("{}: second factors removed", found.email);
            Ok(())
        }
        AdminCommand::Audit {
            user,
            since,
            event,
            limit,
        } => {
            let user_id = match user {
                Some(u) => Some(
                    service::find_user(state, &admin, &u)
                        .await
                        .map_err(explain)?
                        .id,
                ),
                None => None,
            };
            let since = since.map(|s| parse_since(state, &s)).transpose()?;
            let query = AuditQuery {
                user_id,
                event,
                since,
                until: None,
            };
            let paging = Paging {
                page: 1,
                per_page: limit.clamp(1, 200),
            };
            let page = service::audit(state, &admin, query, paging)
                .await
                .map_err(explain)?;
            for e in &page.items {
                let who = e.subject_user_id.as_deref().unwrap_or("-");
                let ip = e.ip.as_deref().unwrap_or("-");
                println!(
                    "{}  {:<30} subject={who} ip={ip} {}",
                    e.at, e.event, e.detail
                );
            }
            println!("{} of {} events", page.items.len(), page.total);
            Ok(())
        }
    }
}

fn flags(active: bool, superuser: bool) -> String {
    let mut out = String::new();
    if !active {
        out.push_str("  [disabled]");
    }
    if superuser {
        out.push_str("  [superuser]");
    }
    out
}

fn parse_since(state: &AppState, value: &str) -> anyhow::Result<i64> {
    if let Ok(ago) = humantime::parse_duration(value) {
        return Ok(state.clock.now() - i64::try_from(ago.as_secs()).unwrap_or(i64::MAX / 2));
    }
    service::parse_time("since", value)
        .map_err(|_| anyhow::anyhow!("--since: use an RFC 3339 time or a duration like 24h"))
}
