//! `gatehouse import ragflow --from mysql://…`: RAGFlow's `user`, `tenant`, `user_tenant` and
//! `api_token` rows become gatehouse users, teams, memberships (or pending invitations) and
//! sealed API tokens, keeping RAGFlow's ids (the 32-hex id is the UUID with the same 128 bits),
//! so RAGFlow's other tables still point at the right rows.
//!
//! Every row is inserted only if absent, so a second run skips everything. Rows are written in
//! one transaction per page; `--dry-run` runs the same code in a single transaction that is
//! rolled back, so its counts are exactly what a real run would do.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{AssertSqlSafe, Connection as _, Row as _};

use super::{Keys, store};
use crate::accounts::store::{self as accounts, ImportedUser, NewUser};
use crate::api_keys::service::ImportedKey;
use crate::audit::{self, AuditEvent};
use crate::config::{Config, shown_url};
use crate::db::{Conn, Db, Tx};
use crate::domain::Email;
use crate::http::inputs::{Avatar, Timezone};
use crate::i18n::Lang;
use crate::state::{AppState, DEFAULT_KV_PREFIX};
use crate::tenants::service::INVITATION_TTL;
use crate::tenants::store as tenants;
use crate::tokens::{new_token, sha256_hex};

/// How long RAGFlow's database may take to answer a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows read and written per round trip (and per transaction of a real run).
const PAGE: usize = 1000;

const USER_COLUMNS: &[&str] = &[
    "id",
    "email",
    "nickname",
    "password",
    "avatar",
    "language",
    "color_schema",
    "timezone",
    "is_active",
    "status",
    "is_superuser",
    "login_channel",
    "create_time",
];
/// The tenant's model settings, kept under `ragflow` in the team's settings (where the profile's
/// `/users/me/models` reads them).
const TENANT_SETTINGS: &[&str] = &[
    "llm_id",
    "tenant_llm_id",
    "embd_id",
    "tenant_embd_id",
    "asr_id",
    "tenant_asr_id",
    "img2txt_id",
    "tenant_img2txt_id",
    "rerank_id",
    "tenant_rerank_id",
    "tts_id",
    "tenant_tts_id",
    "ocr_id",
    "tenant_ocr_id",
    "parser_ids",
];
const TENANT_COLUMNS: &[&str] = &["id", "name", "credit", "status", "create_time"];
const MEMBER_COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "tenant_id",
    "role",
    "invited_by",
    "status",
    "create_time",
];
const TOKEN_COLUMNS: &[&str] = &["tenant_id", "token", "beta", "create_time"];

/// What happened to the rows of one kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub imported: u64,
    pub skipped: u64,
    pub failed: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub users: Counts,
    pub tenants: Counts,
    pub memberships: Counts,
    pub api_tokens: Counts,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (kind, c) in [
            ("users", self.users),
            ("tenants", self.tenants),
            ("memberships", self.memberships),
            ("api tokens", self.api_tokens),
        ] {
            writeln!(
                f,
                "{kind}: {} imported, {} skipped, {} failed",
                c.imported, c.skipped, c.failed
            )?;
        }
        Ok(())
    }
}

/// Run the import and print the summary on stdout.
pub async fn run(config: Config, from: &str, dry_run: bool) -> anyhow::Result<()> {
    let source = Source::connect(from).await?;
    let state = AppState::build(config, DEFAULT_KV_PREFIX).await?;
    let keys = Keys::load(&state)?;
    let result = import(&state, &keys, &source, dry_run).await;
    source.pool.close().await;
    state.db.close().await;
    let summary = result?;
    if dry_run {
        println!("dry run: nothing was written; a real run would do this:");
    }
    print!("{summary}");
    Ok(())
}

/// RAGFlow's MySQL/MariaDB database.
struct Source {
    pool: MySqlPool,
    shown: String,
    password: Option<String>,
}

impl Source {
    async fn connect(from: &str) -> anyhow::Result<Self> {
        let shown = shown_url(from);
        let url = url::Url::parse(from)
            .ok()
            .filter(|u| matches!(u.scheme(), "mysql" | "mariadb") && u.host().is_some());
        let Some(url) = url else {
            anyhow::bail!(
                "--from must be a mysql://user:password@host:port/database URL, got {shown}"
            );
        };
        let password = url
            .password()
            .filter(|p| !p.is_empty())
            .map(|p| p.to_string());
        let options = MySqlConnectOptions::from_str(from)
            .map_err(|_| anyhow::anyhow!("cannot use the URL {shown}"))?;
        let source = Self {
            pool: MySqlPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(CONNECT_TIMEOUT)
                .connect_lazy_with(options.clone()),
            shown,
            password,
        };
        // One direct attempt first: the pool would only report its own timeout, not why.
        match tokio::time::timeout(CONNECT_TIMEOUT, MySqlConnection::connect_with(&options)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => anyhow::bail!("{}", source.failure(&e)),
            Err(_) => anyhow::bail!(
                "cannot read RAGFlow's database at {}: no answer within {} s",
                source.shown,
                CONNECT_TIMEOUT.as_secs()
            ),
        }
        Ok(source)
    }

    /// One line about a failed read, naming the database with its password masked (and the
    /// password scrubbed from the driver's text, in case it quotes the URL).
    fn failure(&self, e: &sqlx::Error) -> String {
        let mut text = e.to_string();
        if let Some(pw) = &self.password {
            text = text.replace(pw.as_str(), "****");
        }
        let text = text.lines().next().unwrap_or_default().to_string();
        format!("cannot read RAGFlow's database at {}: {text}", self.shown)
    }

    async fn columns(&self, table: &str) -> anyhow::Result<HashSet<String>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| anyhow::anyhow!("{}", self.failure(&e)))?;
        if names.is_empty() {
            anyhow::bail!(
                "{} has no table `{table}`: is it RAGFlow's database?",
                self.shown
            );
        }
        Ok(names.into_iter().map(|n| n.to_lowercase()).collect())
    }

    async fn count(&self, table: &str) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM `{table}`")))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("{}", self.failure(&e)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Pages through one table in key order, every column as text (absent columns read as NULL, so
/// older RAGFlow schemas work too).
struct Pages<'a> {
    source: &'a Source,
    /// `SELECT … FROM table`, then the key condition of later pages, then the order and limit.
    select: String,
    after_key: String,
    order: String,
    keys: Vec<usize>,
    after: Option<Vec<String>>,
    done: bool,
}

impl<'a> Pages<'a> {
    async fn new(
        source: &'a Source,
        table: &str,
        wanted: &[&str],
        key: &[&str],
    ) -> anyhow::Result<Self> {
        let present = source.columns(table).await?;
        for k in key {
            if !present.contains(*k) {
                anyhow::bail!("{}: table `{table}` has no column `{k}`", source.shown);
            }
        }
        // Table and column names come from the constants above, never from input.
        let columns: Vec<String> = wanted
            .iter()
            .map(|c| {
                if present.contains(*c) {
                    format!("CAST(`{c}` AS CHAR) AS `{c}`")
                } else {
                    format!("CAST(NULL AS CHAR) AS `{c}`")
                }
            })
            .collect();
        let key_list = key
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let marks = vec!["?"; key.len()].join(", ");
        Ok(Self {
            source,
            select: format!("SELECT {} FROM `{table}`", columns.join(", ")),
            after_key: format!(" WHERE ({key_list}) > ({marks})"),
            order: format!(" ORDER BY {key_list} LIMIT {PAGE}"),
            keys: key
                .iter()
                .map(|k| wanted.iter().position(|c| c == k).unwrap_or(0))
                .collect(),
            after: None,
            done: false,
        })
    }

    async fn next(&mut self) -> anyhow::Result<Option<Vec<Fields>>> {
        if self.done {
            return Ok(None);
        }
        let rows: Vec<MySqlRow> = match &self.after {
            None => {
                let sql = format!("{}{}", self.select, self.order);
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.source.pool)
                    .await
            }
            Some(after) => {
                let sql = format!("{}{}{}", self.select, self.after_key, self.order);
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for v in after {
                    q = q.bind(v.clone());
                }
                q.fetch_all(&self.source.pool).await
            }
        }
        .map_err(|e| anyhow::anyhow!("{}", self.source.failure(&e)))?;
        if rows.len() < PAGE {
            self.done = true;
        }
        let page = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<Option<String>, _>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Fields)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{}", self.source.failure(&e)))?;
        if let Some(last) = page.last() {
            self.after = Some(
                self.keys
                    .iter()
                    .map(|&i| last.0.get(i).cloned().flatten().unwrap_or_default())
                    .collect(),
            );
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

/// One row, its columns in the order asked for.
struct Fields(Vec<Option<String>>);

impl Fields {
    fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(|v| v.as_deref())
    }
    fn text(&self, i: usize) -> &str {
        self.get(i).unwrap_or_default()
    }
}

/// RAGFlow's 32-hex id as the UUID with the same 128 bits.
fn uuid_of(id: &str) -> Option<String> {
    let id = id.trim();
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| uuid::Uuid::parse_str(id).ok())
        .flatten()
        .map(|u| u.to_string())
}

/// RAGFlow's epoch milliseconds as unix seconds.
fn seconds(create_time: Option<&str>, now: i64) -> i64 {
    create_time
        .and_then(|t| t.trim().parse::<i64>().ok())
        .filter(|t| *t > 0)
        .map_or(now, |ms| ms / 1000)
}

fn language(ragflow: Option<&str>) -> Lang {
    match ragflow.map(str::trim) {
        Some(l) if l.eq_ignore_ascii_case("chinese") => Lang::ZhCn,
        _ => Lang::En,
    }
}

fn color_schema(ragflow: Option<&str>) -> &'static str {
    match ragflow.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        Some("dark") => "dark",
        Some("bright" | "light") => "light",
        _ => "system",
    }
}

/// RAGFlow writes `UTC+8\tAsia/Shanghai`: the IANA name after the tab, when it is one.
fn timezone(ragflow: Option<&str>) -> String {
    let raw = ragflow.unwrap_or_default();
    let name = raw.rsplit('\t').next().unwrap_or_default().trim();
    serde_json::from_value::<Timezone>(Value::String(name.to_string()))
        .map_or_else(|_| "UTC".to_string(), |t| t.0)
}

/// A werkzeug hash as RAGFlow stores it; anything else cannot be verified and is left out (the
/// user then sets a password through recovery).
fn werkzeug_hash(ragflow: Option<&str>) -> Option<&str> {
    ragflow
        .map(str::trim)
        .filter(|h| (h.starts_with("scrypt:") || h.starts_with("pbkdf2:")) && h.contains('$'))
}

fn nickname(ragflow: &str, email: &Email) -> String {
    let nick: String = ragflow
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if nick.trim().is_empty() {
        email
            .display
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        nick
    }
}

/// Where the rows go: a transaction per page, or one rolled-back transaction for a dry run.
struct Sink {
    db: Db,
    tx: Option<Tx>,
    dry_run: bool,
}

impl Sink {
    async fn conn(&mut self) -> anyhow::Result<&mut Conn> {
        if self.tx.is_none() {
            self.tx = Some(self.db.begin().await?);
        }
        let tx = self.tx.as_mut().context("no transaction")?;
        Ok(&mut **tx)
    }

    async fn checkpoint(&mut self) -> anyhow::Result<()> {
        if !self.dry_run
            && let Some(tx) = self.tx.take()
        {
            tx.commit().await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.tx.take() {
            if self.dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// What is known while importing, by gatehouse id.
#[derive(Default)]
struct Known {
    /// Every user id in RAGFlow's table.
    source_users: HashSet<String>,
    /// Users present in gatehouse under their RAGFlow id: (email as written, normalised).
    users: HashMap<String, (String, String)>,
    source_tenants: HashSet<String>,
    tenants: HashSet<String>,
}

struct Progress {
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {pos}/{len} rows ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar }
    }

    /// A line about one row on stderr, above the bar (no secrets: ids and reasons only).
    fn warn(&self, kind: &str, id: &str, reason: &str) {
        let id: String = id.chars().take(64).collect();
        self.bar.suspend(|| eprintln!("{kind} {id:?}: {reason}"));
    }
}

async fn import(
    state: &AppState,
    keys: &Keys,
    source: &Source,
    dry_run: bool,
) -> anyhow::Result<Summary> {
    let mut total = 0;
    for table in ["user", "tenant", "user_tenant", "api_token"] {
        total += source.count(table).await?;
    }
    let progress = Progress::new(total);
    let mut sink = Sink {
        db: state.db.clone(),
        tx: None,
        dry_run,
    };
    let mut known = Known::default();
    let mut summary = Summary::default();
    let now = state.clock.now();

    progress.bar.set_message("users");
    let mut pages = Pages::new(source, "user", USER_COLUMNS, &["id"]).await?;
    while let Some(page) = pages.next().await? {
        for row in &page {
            let counted = user(&mut sink, &mut known, row, now, &progress).await?;
            bump(&mut summary.users, counted);
            progress.bar.inc(1);
        }
        sink.checkpoint().await?;
    }

    progress.bar.set_message("tenants");
    let mut wanted = TENANT_COLUMNS.to_vec();
    wanted.extend_from_slice(TENANT_SETTINGS);
    let mut pages = Pages::new(source, "tenant", &wanted, &["id"]).await?;
    while let Some(page) = pages.next().await? {
        for row in &page {
            let counted = tenant(&mut sink, &mut known, row, now, &progress).await?;
            bump(&mut summary.tenants, counted);
            progress.bar.inc(1);
        }
        sink.checkpoint().await?;
    }

    progress.bar.set_message("memberships");
    let mut pages = Pages::new(source, "user_tenant", MEMBER_COLUMNS, &["id"]).await?;
    while let Some(page) = pages.next().await? {
        for row in &page {
            let counted = membership(&mut sink, &known, row, now, &progress).await?;
            bump(&mut summary.memberships, counted);
            progress.bar.inc(1);
        }
        sink.checkpoint().await?;
    }

    progress.bar.set_message("api tokens");
    let mut pages = Pages::new(source, "api_token", TOKEN_COLUMNS, &["tenant_id", "token"]).await?;
    while let Some(page) = pages.next().await? {
        for row in &page {
            let counted = api_token(&mut sink, keys, &known, row, now, &progress).await?;
            bump(&mut summary.api_tokens, counted);
            progress.bar.inc(1);
        }
        sink.checkpoint().await?;
    }

    sink.finish().await?;
    progress.bar.finish_and_clear();
    Ok(summary)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Imported,
    Skipped,
    Failed,
}

fn bump(c: &mut Counts, o: Outcome) {
    match o {
        Outcome::Imported => c.imported += 1,
        Outcome::Skipped => c.skipped += 1,
        Outcome::Failed => c.failed += 1,
    }
}

async fn user(
    sink: &mut Sink,
    known: &mut Known,
    row: &Fields,
    now: i64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let raw_id = row.text(0);
    let Some(id) = uuid_of(raw_id) else {
        progress.warn("user", raw_id, "the id is not 32 hex digits");
        return Ok(Outcome::Failed);
    };
    known.source_users.insert(id.clone());
    let Some(email) = Email::parse(row.text(1)) else {
        progress.warn("user", raw_id, "the email address is not valid");
        return Ok(Outcome::Failed);
    };
    let conn = sink.conn().await?;
    if let Some(existing) = accounts::id_by_email(&mut *conn, &email.normalized).await? {
        // Present from an earlier run under the same id: still the member of its teams.
        if existing == id {
            known.users.insert(id, (email.display, email.normalized));
        } else {
            progress.warn(
                "user",
                raw_id,
                "the email belongs to another gatehouse account; its teams and tokens are skipped",
            );
        }
        return Ok(Outcome::Skipped);
    }
    let hash = werkzeug_hash(row.get(3));
    if hash.is_none() && row.get(3).is_some_and(|h| !h.trim().is_empty()) {
        progress.warn(
            "user",
            raw_id,
            "the password hash is not werkzeug's; the user must reset the password",
        );
    }
    let nick = nickname(row.text(2), &email);
    let avatar = row.get(4).and_then(Avatar::parse);
    let zone = timezone(row.get(7));
    let active =
        row.get(8).is_none_or(|v| v.trim() != "0") && row.get(9).is_none_or(|v| v.trim() != "0");
    let superuser = row
        .get(10)
        .is_some_and(|v| matches!(v.trim(), "1" | "true"));
    let channel = row
        .get(11)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or("password");
    let created = seconds(row.get(12), now);
    let imported = ImportedUser {
        user: NewUser {
            id: &id,
            email: &email.display,
            email_normalized: &email.normalized,
            password_hash: hash,
            nickname: &nick,
            language: language(row.get(5)).as_str(),
            timezone: &zone,
            // RAGFlow never verified addresses; gatehouse asks when its configuration says so.
            email_verified: false,
            is_superuser: superuser,
            login_channel: channel,
            now: created,
        },
        avatar: avatar.as_ref().map(|a| a.0.as_str()),
        color_schema: color_schema(row.get(6)),
        is_active: active,
    };
    if !accounts::insert_imported(&mut *conn, imported).await? {
        // The id is taken by another address (changed since an earlier run).
        progress.warn("user", raw_id, "the id exists with another email");
        return Ok(Outcome::Skipped);
    }
    record(
        &mut *conn,
        now,
        audit::Event::UserRegistered,
        Some(&id),
        None,
        json!({"channel": channel}),
    )
    .await?;
    known.users.insert(id, (email.display, email.normalized));
    Ok(Outcome::Imported)
}

async fn tenant(
    sink: &mut Sink,
    known: &mut Known,
    row: &Fields,
    now: i64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let raw_id = row.text(0);
    let Some(id) = uuid_of(raw_id) else {
        progress.warn("tenant", raw_id, "the id is not 32 hex digits");
        return Ok(Outcome::Failed);
    };
    known.source_tenants.insert(id.clone());
    // A user's own team has the user's id (RAGFlow's rule); if that user was not brought over,
    // the team would have no owner.
    let personal = known.source_users.contains(&id);
    if personal && !known.users.contains_key(&id) {
        return Ok(Outcome::Skipped);
    }
    let mut ragflow = Map::new();
    let first_setting = TENANT_COLUMNS.len();
    for (i, key) in TENANT_SETTINGS.iter().enumerate() {
        if let Some(v) = row.get(first_setting + i) {
            ragflow.insert((*key).to_string(), Value::String(v.to_string()));
        }
    }
    if let Some(credit) = row.get(2).and_then(|c| c.trim().parse::<i64>().ok()) {
        ragflow.insert("credit".into(), json!(credit));
    }
    let settings = json!({ "ragflow": ragflow }).to_string();
    let name: String = row.text(1).trim().chars().take(100).collect();
    let created = seconds(row.get(4), now);
    let conn = sink.conn().await?;
    let inserted =
        tenants::insert_imported(&mut *conn, &id, &name, personal, &settings, created).await?;
    if inserted {
        record(
            &mut *conn,
            now,
            audit::Event::TenantCreated,
            None,
            Some(&id),
            json!({"personal": personal}),
        )
        .await?;
    }
    known.tenants.insert(id);
    Ok(if inserted {
        Outcome::Imported
    } else {
        Outcome::Skipped
    })
}

/// An audit event of the import (no actor: the operator ran it), marked as imported.
async fn record(
    conn: &mut Conn,
    now: i64,
    event: audit::Event,
    subject: Option<&str>,
    tenant: Option<&str>,
    mut detail: Value,
) -> anyhow::Result<()> {
    if let Some(d) = detail.as_object_mut() {
        d.insert("imported_from".into(), json!("ragflow"));
    }
    let event = AuditEvent {
        event,
        actor_user_id: None,
        subject_user_id: subject,
        tenant_id: tenant,
        client: None,
        detail,
    };
    Ok(audit::record(&mut *conn, now, event).await?)
}

/// A reference to a user or tenant: present, left out on purpose (skipped) or unknown (failed).
fn reference(present: bool, in_source: bool) -> Option<Outcome> {
    match (present, in_source) {
        (true, _) => None,
        (false, true) => Some(Outcome::Skipped),
        (false, false) => Some(Outcome::Failed),
    }
}

/// The outcome of a row whose references, each `(imported, in RAGFlow's tables)`, must all have
/// come over (`None`: they did); a reference to nothing is named on stderr.
fn references(
    progress: &Progress,
    kind: &str,
    raw_id: &str,
    refs: [(bool, bool); 2],
    why: &str,
) -> Option<Outcome> {
    let o = refs
        .into_iter()
        .find_map(|(present, in_source)| reference(present, in_source))?;
    if o == Outcome::Failed {
        progress.warn(kind, raw_id, why);
    }
    Some(o)
}

async fn membership(
    sink: &mut Sink,
    known: &Known,
    row: &Fields,
    now: i64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let raw_id = row.text(0);
    let (Some(user_id), Some(tenant_id)) = (uuid_of(row.text(1)), uuid_of(row.text(2))) else {
        progress.warn(
            "membership",
            raw_id,
            "a user or tenant id is not 32 hex digits",
        );
        return Ok(Outcome::Failed);
    };
    // RAGFlow marks removed rows with status 0.
    if row.get(5).is_some_and(|s| s.trim() == "0") {
        return Ok(Outcome::Skipped);
    }
    let user = (
        known.users.contains_key(&user_id),
        known.source_users.contains(&user_id),
    );
    let tenant = (
        known.tenants.contains(&tenant_id),
        known.source_tenants.contains(&tenant_id),
    );
    let why = "its user or tenant is not in RAGFlow's tables";
    if let Some(o) = references(progress, "membership", raw_id, [user, tenant], why) {
        return Ok(o);
    }
    let joined = seconds(row.get(6), now);
    let role = match row.text(3).trim() {
        "owner" => "owner",
        "admin" => "admin",
        "normal" => "member",
        "invite" => {
            return invitation(sink, known, row, &user_id, &tenant_id, now, progress).await;
        }
        _ => {
            progress.warn(
                "membership",
                raw_id,
                "the role is not owner, admin, normal or invite",
            );
            return Ok(Outcome::Failed);
        }
    };
    let conn = sink.conn().await?;
    if !tenants::add_member(&mut *conn, &tenant_id, &user_id, role, joined).await? {
        return Ok(Outcome::Skipped);
    }
    let detail = json!({"role": role});
    record(
        &mut *conn,
        now,
        audit::Event::TenantMemberJoined,
        Some(&user_id),
        Some(&tenant_id),
        detail,
    )
    .await?;
    Ok(Outcome::Imported)
}

/// An `invite` row: a pending invitation, accepted through the profile's `PATCH /tenants/{id}`
/// or the account page. No mail goes out and nobody holds its link.
async fn invitation(
    sink: &mut Sink,
    known: &Known,
    row: &Fields,
    user_id: &str,
    tenant_id: &str,
    now: i64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let raw_id = row.text(0);
    let Some(id) = uuid_of(raw_id) else {
        progress.warn("membership", raw_id, "the id is not 32 hex digits");
        return Ok(Outcome::Failed);
    };
    let Some((email, normalized)) = known.users.get(user_id) else {
        return Ok(Outcome::Skipped);
    };
    let invited_by = uuid_of(row.text(4)).unwrap_or_else(|| tenant_id.to_string());
    let conn = sink.conn().await?;
    if tenants::role_of(&mut *conn, tenant_id, user_id)
        .await?
        .is_some()
    {
        return Ok(Outcome::Skipped);
    }
    let inserted = tenants::insert_invitation_once(
        &mut *conn,
        tenants::NewInvitation {
            id: &id,
            tenant_id,
            email,
            email_normalized: normalized,
            role: "member",
            token_hash: &sha256_hex(&new_token("")),
            invited_by: &invited_by,
            now,
            expires_at: now + INVITATION_TTL,
        },
    )
    .await?;
    if !inserted {
        return Ok(Outcome::Skipped);
    }
    let detail = json!({"invitation_id": id, "role": "member", "mailed": false});
    record(
        &mut *conn,
        now,
        audit::Event::TenantMemberInvited,
        Some(user_id),
        Some(tenant_id),
        detail,
    )
    .await?;
    Ok(Outcome::Imported)
}

async fn api_token(
    sink: &mut Sink,
    keys: &Keys,
    known: &Known,
    row: &Fields,
    now: i64,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    let raw_tenant = row.text(0);
    let token = row.text(1).trim();
    let Some(tenant_id) = uuid_of(raw_tenant) else {
        progress.warn(
            "api token of tenant",
            raw_tenant,
            "the tenant id is not 32 hex digits",
        );
        return Ok(Outcome::Failed);
    };
    if token.is_empty() {
        progress.warn("api token of tenant", raw_tenant, "the token is empty");
        return Ok(Outcome::Failed);
    }
    // A token acts as the tenant's owner, whose id is the tenant's (RAGFlow's rule).
    let tenant = (
        known.tenants.contains(&tenant_id),
        known.source_tenants.contains(&tenant_id),
    );
    let owner = (
        known.users.contains_key(&tenant_id),
        known.source_users.contains(&tenant_id),
    );
    let why = "the tenant or its owner is not in RAGFlow's tables";
    if let Some(o) = references(
        progress,
        "api token of tenant",
        raw_tenant,
        [tenant, owner],
        why,
    ) {
        return Ok(o);
    }
    let created = seconds(row.get(3), now);
    let name = "RAGFlow API token";
    let imported = ImportedKey {
        source: "ragflow",
        user_id: &tenant_id,
        tenant_id: &tenant_id,
        name,
        key: token,
        created_at: created,
    };
    let conn = sink.conn().await?;
    let Some(key_id) = crate::api_keys::service::import(conn, imported, now).await? else {
        return Ok(Outcome::Skipped);
    };
    let sealed = keys.seal(token).context("sealing an API token failed")?;
    let beta = row
        .get(2)
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map_or_else(|| new_token("").chars().take(32).collect(), str::to_string);
    store::insert_api_token(
        &mut *conn,
        &key_id,
        &sha256_hex(token),
        &sealed,
        &beta,
        created,
    )
    .await?;
    Ok(Outcome::Imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragflow_ids_keep_their_bits() {
        assert_eq!(
            uuid_of("3f2b1c0e9d8a11efb2c40242ac120002").as_deref(),
            Some("3f2b1c0e-9d8a-11ef-b2c4-0242ac120002")
        );
        assert_eq!(uuid_of("3f2b1c0e-9d8a-11ef-b2c4-0242ac120002"), None);
        assert_eq!(uuid_of("not-an-id"), None);
    }

    #[test]
    fn profile_fields_map_to_gatehouse_values() {
        assert_eq!(timezone(Some("UTC+8\tAsia/Shanghai")), "Asia/Shanghai");
        assert_eq!(timezone(Some("somewhere")), "UTC");
        assert_eq!(language(Some("Chinese")), Lang::ZhCn);
        assert_eq!(language(Some("English")), Lang::En);
        assert_eq!(color_schema(Some("Bright")), "light");
        assert_eq!(color_schema(Some("Dark")), "dark");
        assert_eq!(werkzeug_hash(Some("md5$x")), None);
        assert!(werkzeug_hash(Some("scrypt:32768:8:1$salt$abcd")).is_some());
        assert_eq!(seconds(Some("1700000000123"), 5), 1_700_000_000);
        assert_eq!(seconds(None, 5), 5);
    }
}
