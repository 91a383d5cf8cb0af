//! `gatehouse import ragflow` against a real MariaDB holding RAGFlow's tables as peewee creates
//! them (tests/data/ragflow-import-schema.sql), into a fresh gatehouse database (SQLite, or
//! PostgreSQL with `GATEHOUSE_TEST_BACKEND=postgres`). MariaDB: `GATEHOUSE_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306`); scripts/test starts it.

use crate::common;

use std::process::Command;

use common::{TestApp, base_config, ragflow_encrypt, spawn_ragflow};
use serde_json::{Value, json};
use sqlx::Connection as _;

const SCHEMA: &str = include_str!("../data/ragflow-import-schema.sql");
const SECRET: &str = "test-secret-key-0123456789abcdef0123456789";

const ALICE: &str = "aaaaaaaa11111111aaaaaaaa11111111";
const BOB: &str = "bbbbbbbb22222222bbbbbbbb22222222";
/// werkzeug hashes of base64("123"): RAGFlow hashes the base64 text. The scrypt one is
/// ragflow-compat.md §14's vector; the pbkdf2 one has the 260000 iterations of older RAGFlow
/// deployments (werkzeug's 1000000 takes seconds in a debug build).
const SCRYPT_123: &str = "scrypt:32768:8:1$abcdefghijklmnop$77627345e126bca72d58d4501231acce6482ecdb7b6e07feee36ad349e44786275c201efb14eceb78d39cca43ca302a15397106a6131432c96434260967549da";
const PBKDF2_123: &str = "pbkdf2:sha256:260000$abcdefghijklmnop$a20b67f9457b80dc7db16b320405ab6855bdc94142a855260b314d67e4cc7dba";
const TOKEN: &str = "ragflow-Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG0";

fn mysql_admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The UUID form gatehouse stores of a RAGFlow id.
fn dashed(id: &str) -> String {
    uuid::Uuid::parse_str(id).unwrap().to_string()
}

/// An id as the profile shows it, in either form, compared as RAGFlow's 32 hex digits.
fn plain(id: &Value) -> String {
    id.as_str().unwrap_or_default().replace('-', "")
}

/// A throwaway RAGFlow database `rag_import_<random>`, dropped at the end.
struct RagDb {
    name: String,
    url: String,
}

impl RagDb {
    async fn new() -> Self {
        let admin = mysql_admin_url();
        let name = format!("rag_import_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::MySqlConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("MariaDB at {admin} is needed ({e}); scripts/test starts it")
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.trim_end_matches('/'));
        let db = Self { name, url };
        let mut conn = db.conn().await;
        for statement in SCHEMA.split(';').filter(|s| s.contains("CREATE")) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        db
    }

    async fn conn(&self) -> sqlx::MySqlConnection {
        sqlx::MySqlConnection::connect(&self.url).await.unwrap()
    }

    /// Two users (scrypt and pbkdf2 hashes of "123"), their own teams, Bob a `normal` member of
    /// Alice's team, Alice invited to Bob's, and one API token of Alice's team.
    async fn seed(&self) {
        let mut conn = self.conn().await;
        let user = "INSERT INTO `user` (create_time, create_date, id, nickname, password, email, language, \
            color_schema, timezone, is_authenticated, is_active, is_anonymous, login_channel, status, is_superuser) \
            VALUES (?, NOW(), ?, ?, ?, ?, ?, ?, ?, '1', '1', '0', 'password', '1', ?)";
        for (id, nick, hash, email, lang, color, superuser) in [
            (
                ALICE,
                "alice",
                SCRYPT_123,
                "alice@example.com",
                "Chinese",
                "Bright",
                false,
            ),
            (
                BOB,
                "bob",
                PBKDF2_123,
                "Bob@Example.com",
                "English",
                "Dark",
                true,
            ),
        ] {
            sqlx::query(user)
                .bind(1_700_000_000_000_i64)
                .bind(id)
                .bind(nick)
                .bind(hash)
                .bind(email)
                .bind(lang)
                .bind(color)
                .bind("UTC+8\tAsia/Shanghai")
                .bind(superuser)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let tenant = "INSERT INTO tenant (create_time, id, name, llm_id, embd_id, asr_id, img2txt_id, rerank_id, \
            tts_id, parser_ids, credit, status) VALUES (?, ?, ?, ?, ?, '', '', '', NULL, 'naive:General', 512, '1')";
        for (id, name, llm, embd) in [
            (
                ALICE,
                "alice‘s Kingdom",
                "glm-4@ZHIPU-AI",
                "embedding-2@ZHIPU-AI",
            ),
            (BOB, "bob‘s Kingdom", "", ""),
        ] {
            sqlx::query(tenant)
                .bind(1_700_000_100_000_i64)
                .bind(id)
                .bind(name)
                .bind(llm)
                .bind(embd)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let member = "INSERT INTO user_tenant (create_time, id, user_id, tenant_id, role, invited_by, status) \
            VALUES (1700000200000, ?, ?, ?, ?, ?, '1')";
        for (id, user, tenant, role) in [
            ("c0000000000000000000000000000001", ALICE, ALICE, "owner"),
            ("c0000000000000000000000000000002", BOB, BOB, "owner"),
            ("c0000000000000000000000000000003", BOB, ALICE, "normal"),
            ("c0000000000000000000000000000004", ALICE, BOB, "invite"),
        ] {
            sqlx::query(member)
                .bind(id)
                .bind(user)
                .bind(tenant)
                .bind(role)
                .bind(tenant)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO api_token (create_time, tenant_id, token, dialog_id, source, beta) \
             VALUES (1700000300000, ?, ?, NULL, NULL, 'betabetabetabetabetabetabetabeta')",
        )
        .bind(ALICE)
        .bind(TOKEN)
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

impl Drop for RagDb {
    fn drop(&mut self) {
        let (admin, name) = (mysql_admin_url(), self.name.clone());
        // Best effort; scripts/test also drops leftovers before a run.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name}"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// `gatehouse import ragflow --from <from> [extra…]` on the test's storage: (ok, stdout, stderr).
fn import(storage: &common::Storage, from: &str, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(storage.dir.path())
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_DATABASE_URL", &storage.database_url)
        .env("GATEHOUSE_SECRET_KEY", SECRET)
        .env_remove("GATEHOUSE_REDIS_URL")
        .env_remove("RAGFLOW_DATABASE_URL")
        .arg("--data-dir")
        .arg(storage.dir.path())
        .args(["import", "ragflow", "--from", from])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ALL_IMPORTED: &str = "users: 2 imported, 0 skipped, 0 failed\n\
    tenants: 2 imported, 0 skipped, 0 failed\n\
    memberships: 4 imported, 0 skipped, 0 failed\n\
    api tokens: 1 imported, 0 skipped, 0 failed\n";

async fn app_on(storage: &common::Storage) -> TestApp {
    let mut config = base_config(storage);
    config.secret_key = Some(gatehouse::config::Secret::new(SECRET));
    TestApp::spawn_on(storage, config).await
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

async fn role(app: &TestApp, tenant: &str, user: &str) -> Option<String> {
    sqlx::query_scalar("SELECT role FROM tenant_members WHERE tenant_id = $1 AND user_id = $2")
        .bind(dashed(tenant))
        .bind(dashed(user))
        .fetch_optional(app.state.db.pool())
        .await
        .unwrap()
}

/// A call to the profile: (code, data).
async fn rag(
    base: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (i64, Value, reqwest::header::HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        body["code"].as_i64().unwrap_or(-1),
        body["data"].clone(),
        headers,
    )
}

/// Signs in through the profile with RAGFlow's encrypted password; the web token.
async fn rag_login(base: &str, email: &str, password: &str) -> String {
    let body = json!({"email": email, "password": ragflow_encrypt(password)});
    let (code, data, headers) = rag(base, "POST", "/api/v1/auth/login", None, Some(body)).await;
    assert_eq!(code, 0, "login {email}: {data}");
    headers["authorization"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn import_keeps_ids_roles_invitations_tokens_and_the_original_passwords() {
    let rag_db = RagDb::new().await;
    rag_db.seed().await;
    let storage = common::Storage::from_env().await;
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok, "{err}");
    assert_eq!(out, ALL_IMPORTED, "{err}");

    let app = app_on(&storage).await;
    // Ids keep their 128 bits; the personal team has its owner's id.
    let ids: Vec<(String, String)> =
        sqlx::query_as("SELECT id, email_normalized FROM users ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(
        ids,
        vec![
            (dashed(ALICE), "alice@example.com".to_string()),
            (dashed(BOB), "bob@example.com".to_string())
        ]
    );
    let (lang, zone, color, superuser): (String, String, String, i64) = sqlx::query_as(
        "SELECT language, timezone, color_schema, is_superuser FROM users WHERE id = $1",
    )
    .bind(dashed(BOB))
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        (lang.as_str(), zone.as_str(), color.as_str(), superuser),
        ("en", "Asia/Shanghai", "dark", 1)
    );
    assert_eq!(role(&app, ALICE, ALICE).await.as_deref(), Some("owner"));
    assert_eq!(role(&app, BOB, BOB).await.as_deref(), Some("owner"));
    assert_eq!(role(&app, ALICE, BOB).await.as_deref(), Some("member"));
    // The `invite` row is an invitation, not a membership, and nothing was mailed.
    assert_eq!(role(&app, BOB, ALICE).await, None);
    assert_eq!(count(&app, "mail_outbox").await, 0);

    // The original password signs in natively, for both werkzeug formats.
    for email in ["alice@example.com", "bob@example.com"] {
        let r = app.login(email, "123").await;
        assert_eq!(r.status, 200, "{email}: {}", r.body);
        let r = app.login(email, "124").await;
        assert_eq!(r.status, 401, "{email}: {}", r.body);
    }

    let base = spawn_ragflow(&app).await;
    // And through the profile, RAGFlow's way; the team's model settings came over.
    let alice = rag_login(&base, "alice@example.com", "123").await;
    let (code, data, _) = rag(&base, "GET", "/api/v1/users/me/models", Some(&alice), None).await;
    assert_eq!(code, 0, "{data}");
    assert_eq!(plain(&data["tenant_id"]), ALICE);
    assert_eq!(data["llm_id"], "glm-4@ZHIPU-AI");
    assert_eq!(data["embd_id"], "embedding-2@ZHIPU-AI");
    assert_eq!(data["parser_ids"], "naive:General");

    // Alice accepts Bob's invitation through the profile, by team id, without a link.
    let teams = |data: &Value| -> Vec<(String, String)> {
        let mut t: Vec<_> = data
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    plain(&t["tenant_id"]),
                    t["role"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        t.sort();
        t
    };
    let (_, data, _) = rag(&base, "GET", "/api/v1/tenants", Some(&alice), None).await;
    assert_eq!(teams(&data), vec![(ALICE.to_string(), "owner".to_string())]);
    let (code, data, _) = rag(
        &base,
        "PATCH",
        &format!("/api/v1/tenants/{BOB}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!((code, &data), (0, &json!(true)));
    let (_, data, _) = rag(&base, "GET", "/api/v1/tenants", Some(&alice), None).await;
    assert_eq!(
        teams(&data),
        vec![
            (ALICE.to_string(), "owner".to_string()),
            (BOB.to_string(), "normal".to_string())
        ]
    );
    // Only once, and only for the invited address.
    let bob = rag_login(&base, "bob@example.com", "123").await;
    let (code, _, _) = rag(
        &base,
        "PATCH",
        &format!("/api/v1/tenants/{ALICE}"),
        Some(&bob),
        None,
    )
    .await;
    assert_ne!(code, 0);

    // The RAGFlow API token works as before, and its sealed row opens to list it in full.
    let bearer = format!("Bearer {TOKEN}");
    let (code, data, _) = rag(&base, "GET", "/api/v1/system/tokens", Some(&bearer), None).await;
    assert_eq!(code, 0, "{data}");
    let list = data.as_array().unwrap();
    assert_eq!(list.len(), 1, "{data}");
    assert_eq!(list[0]["token"], TOKEN);
    assert_eq!(list[0]["beta"], "betabetabetabetabetabetabetabeta");
    assert_eq!(plain(&list[0]["tenant_id"]), ALICE);
    let (code, data, _) = rag(&base, "GET", "/api/v1/users/me", Some(&bearer), None).await;
    assert_eq!(
        (code, data["email"].as_str()),
        (0, Some("alice@example.com"))
    );
    // Stored as a hash and a sealed copy, never in clear.
    let clear: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ragflow_api_tokens r JOIN api_keys k ON k.id = r.api_key_id \
         WHERE r.sealed_token = $1 OR k.key_hash = $1",
    )
    .bind(TOKEN)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(clear, 0);
    // The trail records what came over, and no token or hash.
    for (event, n) in [
        ("user.registered", 2),
        ("tenant.created", 2),
        ("tenant.member_joined", 3),
        ("tenant.member_invited", 1),
        ("api_key.created", 1),
    ] {
        let events = app.audit_events(event).await;
        let imported: Vec<_> = events
            .iter()
            .filter(|(_, d)| d.contains(r#""imported_from":"ragflow""#))
            .collect();
        assert_eq!(imported.len(), n, "{event}: {events:?}");
        for (_, detail) in events {
            assert!(
                !detail.contains(TOKEN) && !detail.contains("abcdefghijklmnop"),
                "{detail}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_second_run_skips_everything_and_duplicates_nothing() {
    let rag_db = RagDb::new().await;
    rag_db.seed().await;
    let storage = common::Storage::from_env().await;
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok && out == ALL_IMPORTED, "{out}{err}");
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "users: 0 imported, 2 skipped, 0 failed\n\
         tenants: 0 imported, 2 skipped, 0 failed\n\
         memberships: 0 imported, 4 skipped, 0 failed\n\
         api tokens: 0 imported, 1 skipped, 0 failed\n"
    );
    let app = app_on(&storage).await;
    for (table, rows) in [
        ("users", 2),
        ("tenants", 2),
        ("tenant_members", 3),
        ("invitations", 1),
        ("api_keys", 1),
        ("ragflow_api_tokens", 1),
    ] {
        assert_eq!(count(&app, table).await, rows, "{table}");
    }
    app.stop().await;
}

#[tokio::test]
async fn dry_run_prints_what_it_would_do_and_writes_nothing() {
    let rag_db = RagDb::new().await;
    rag_db.seed().await;
    let storage = common::Storage::from_env().await;
    let (ok, out, err) = import(&storage, &rag_db.url, &["--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!("dry run: nothing was written; a real run would do this:\n{ALL_IMPORTED}")
    );
    {
        let app = app_on(&storage).await;
        for table in [
            "users",
            "tenants",
            "tenant_members",
            "invitations",
            "api_keys",
            "ragflow_api_tokens",
            "audit_events",
        ] {
            assert_eq!(count(&app, table).await, 0, "{table}");
        }
        app.stop().await;
    }
    // So the real run still has everything to do.
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok, "{err}");
    assert_eq!(out, ALL_IMPORTED);
}

#[tokio::test]
async fn an_email_taken_by_another_account_skips_that_user_and_what_hangs_on_it() {
    let rag_db = RagDb::new().await;
    rag_db.seed().await;
    let storage = common::Storage::from_env().await;
    let app = app_on(&storage).await;
    let (_, other_id) = app.register("bob@example.com").await;
    app.stop().await;
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok, "{err}");
    // Bob is skipped, so are his own team, his two memberships, and Alice's invitation to his
    // team; Alice's team, membership and token come over.
    assert_eq!(
        out,
        "users: 1 imported, 1 skipped, 0 failed\n\
         tenants: 1 imported, 1 skipped, 0 failed\n\
         memberships: 1 imported, 3 skipped, 0 failed\n\
         api tokens: 1 imported, 0 skipped, 0 failed\n"
    );
    assert!(err.contains(BOB), "{err}");
    let app = app_on(&storage).await;
    // The existing account is untouched and gained nothing.
    assert_ne!(other_id, dashed(BOB));
    let teams: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_members WHERE user_id = $1")
        .bind(&other_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(teams, 1, "only its own team");
    app.stop().await;
}

#[tokio::test]
async fn a_bad_or_unreachable_source_is_one_line_with_the_password_masked() {
    let storage = common::Storage::from_env().await;
    let refused = "mysql://root:s3cretpw@127.0.0.1:1/rag_flow".to_string();
    let mut wrong_password = url::Url::parse(&mysql_admin_url()).unwrap();
    wrong_password.set_password(Some("s3cretpw")).unwrap();
    wrong_password.set_path("/rag_flow");
    let wrong_password = wrong_password.to_string();
    for from in [
        refused.as_str(),
        wrong_password.as_str(),
        "postgres://u:s3cretpw@127.0.0.1/rag_flow",
        "mysql//u:s3cretpw@nowhere",
    ] {
        let (ok, out, err) = import(&storage, from, &[]);
        assert!(!ok, "{from}: {out}");
        assert_eq!(err.trim().lines().count(), 1, "{from}: {err}");
        assert!(err.starts_with("gatehouse: "), "{from}: {err}");
        assert!(!err.contains("s3cretpw"), "{from}: {err}");
        assert!(!err.contains("panicked"), "{from}: {err}");
        if from.contains("://") {
            assert!(err.contains("****"), "{from}: {err}");
        }
        assert_eq!(out, "", "{from}");
    }
}

#[tokio::test]
async fn rows_that_cannot_come_over_are_counted_failed_and_named_on_stderr() {
    let rag_db = RagDb::new().await;
    rag_db.seed().await;
    let mut conn = rag_db.conn().await;
    sqlx::raw_sql(
        "INSERT INTO `user` (id, nickname, password, email, is_authenticated, is_active, is_anonymous) \
         VALUES ('not-a-ragflow-id', 'x', NULL, 'x@example.com', '1', '1', '0'), \
                ('dddddddd44444444dddddddd44444444', 'y', NULL, 'not an email', '1', '1', '0'); \
         INSERT INTO user_tenant (id, user_id, tenant_id, role, invited_by, status) VALUES \
           ('c0000000000000000000000000000005', 'bbbbbbbb22222222bbbbbbbb22222222', \
            'aaaaaaaa11111111aaaaaaaa11111111', 'boss', '', '1'), \
           ('c0000000000000000000000000000006', 'eeeeeeee55555555eeeeeeee55555555', \
            'aaaaaaaa11111111aaaaaaaa11111111', 'normal', '', '1');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let storage = common::Storage::from_env().await;
    let (ok, out, err) = import(&storage, &rag_db.url, &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "users: 2 imported, 0 skipped, 2 failed\n\
         tenants: 2 imported, 0 skipped, 0 failed\n\
         memberships: 4 imported, 0 skipped, 2 failed\n\
         api tokens: 1 imported, 0 skipped, 0 failed\n"
    );
    for id in [
        "not-a-ragflow-id",
        "dddddddd44444444dddddddd44444444",
        "c0000000000000000000000000000005",
        "c0000000000000000000000000000006",
    ] {
        assert_eq!(err.matches(id).count(), 1, "{id}: {err}");
    }
    assert!(!err.contains("abcdefghijklmnop"), "{err}");
}
