//! `gatehouse admin seed`: many verified users (and a live session each) for measuring the
//! service at scale. Rows go in by batches of multi-row inserts, one transaction per batch.

use crate::accounts::store::{self as accounts_store, NewUser};
use crate::domain::Password;
use crate::error::ApiError;
use crate::sessions::store::{self as sessions_store, SessionInsert};
use crate::state::AppState;

/// Users per batch. Binding is what a batch costs on SQLite: sqlx looks every `$n` up among the
/// statement's parameters by name, so a statement's binding grows with the square of its
/// parameters. 100,000 users with sessions took 30 s in batches of 500 (6,000 parameters a
/// statement; 86 % of the time in that lookup), 9.9 s in batches of 50 (26 %).
const BATCH: usize = 50;

#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    pub users: u64,
    /// One live session per user (its token is thrown away: the rows are load, not logins).
    pub sessions: bool,
    /// One cheap hash shared by every seeded user instead of an Argon2id hash each. For
    /// benchmarks only: such a password is rehashed properly at its first sign-in.
    pub insecure_fast_hash: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Seeded {
    pub users: u64,
    pub sessions: u64,
    /// The first and last seeded address (`seed-<run>-0@seed.example` …).
    pub first_email: String,
    pub last_email: String,
}

/// Create `options.users` users named `seed-<run>-<n>@seed.example`, all with `password`;
/// `progress` is told the running count after each batch.
pub async fn seed(
    state: &AppState,
    password: &Password,
    options: SeedOptions,
    progress: impl Fn(u64),
) -> Result<Seeded, ApiError> {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let shared_hash = if options.insecure_fast_hash {
        Some(crate::passwords::insecure_fast_hash(password)?)
    } else {
        None
    };
    let email = |n: u64| format!("seed-{run}-{n}@seed.example");
    let mut done = Seeded {
        first_email: email(0),
        last_email: email(options.users.saturating_sub(1)),
        ..Seeded::default()
    };
    while done.users < options.users {
        let size = usize::try_from(options.users - done.users)
            .unwrap_or(BATCH)
            .min(BATCH);
        let first = done.users;
        let ids: Vec<String> = (0..size)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let emails: Vec<String> = (0..size).map(|i| email(first + i as u64)).collect();
        let hashes: Vec<String> = match &shared_hash {
            Some(hash) => vec![hash.clone(); size],
            None => hash_each(state, password, size).await?,
        };
        let now = state.clock.now();
        let users: Vec<NewUser<'_>> = (0..size)
            .map(|i| NewUser {
                id: &ids[i],
                email: &emails[i],
                email_normalized: &emails[i],
                password_hash: Some(&hashes[i]),
                nickname: "Seeded user",
                language: "en",
                timezone: "UTC",
                email_verified: true,
                is_superuser: false,
                login_channel: "password",
                now,
            })
            .collect();
        let owners: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "Seeded user")).collect();
        let tokens: Vec<(String, String)> = if options.sessions {
            (0..size)
                .map(|_| {
                    let token = crate::tokens::new_token(crate::sessions::TOKEN_PREFIX);
                    (
                        uuid::Uuid::now_v7().to_string(),
                        crate::tokens::sha256_hex(&token),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let expires_at = now + state.config.session_lifetime.secs();
        let sessions: Vec<SessionInsert<'_>> = tokens
            .iter()
            .zip(&ids)
            .map(|((id, token_hash), user_id)| SessionInsert {
                id,
                user_id,
                token_hash,
                now,
                expires_at,
                ip: "127.0.0.1",
                user_agent: Some("gatehouse admin seed"),
                auth_method: "password",
                amr: r#"["pwd"]"#,
            })
            .collect();
        let mut tx = state.db.begin().await?;
        accounts_store::insert_many(&mut tx, &users).await?;
        crate::tenants::store::create_personal_many(&mut tx, &owners, now).await?;
        sessions_store::insert_many(&mut tx, &sessions).await?;
        tx.commit().await?;
        done.users += size as u64;
        done.sessions += sessions.len() as u64;
        progress(done.users);
    }
    Ok(done)
}

/// `count` Argon2id hashes of `password`, each with its own salt, as fast as the hasher allows.
async fn hash_each(
    state: &AppState,
    password: &Password,
    count: usize,
) -> Result<Vec<String>, ApiError> {
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (hasher, password) = (state.hasher.clone(), password.clone());
        running.spawn(async move { hasher.hash(&password).await });
    }
    let mut hashes = Vec::with_capacity(count);
    while let Some(done) = running.join_next().await {
        let hash = done.map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task: {e}")))?;
        hashes.push(hash?);
    }
    Ok(hashes)
}
