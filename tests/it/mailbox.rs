//! Personal mail accounts and the mail client against a real Dovecot (plain, STARTTLS, IMAPS
//! with a test CA, SPECIAL-USE folders) and an SMTP capture server with AUTH: every row of the
//! contract and the bad inputs, on the backend chosen by the environment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
pub mod peers;

use std::time::{Duration, Instant};

use base64::Engine;
use common::smtp::SmtpCapture;
use common::{TestApp, csrf};
use gatehouse::config::HumanDuration;
use peers::{app_with, dovecot};
use serde_json::{Value, json};

const MAIL_PASS: &str = "mailbox-pass-4711";

async fn app() -> TestApp {
    app_with(|_| {}).await
}

/// A signed-in user with a mailbox on Dovecot and an SMTP capture for it.
struct Fixture {
    app: TestApp,
    token: String,
    user_id: String,
    mailbox: String,
    smtp: SmtpCapture,
}

impl Fixture {
    async fn new() -> Self {
        Self::on(app().await).await
    }

    async fn on(app: TestApp) -> Self {
        let (token, user_id) = app.register(&common::unique_email("mail")).await;
        let mailbox = dovecot().add_user("u", MAIL_PASS);
        let smtp = peers::smtp(&mailbox, MAIL_PASS);
        Self {
            app,
            token,
            user_id,
            mailbox,
            smtp,
        }
    }

    fn account_body(&self) -> Value {
        json!({
            "email": self.mailbox,
            "display_name": "Mail Tester",
            "imap_host": "127.0.0.1",
            "imap_port": dovecot().port,
            "imap_tls": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp.port,
            "smtp_tls": "none",
            "username": self.mailbox,
            "password": MAIL_PASS,
        })
    }

    async fn add_account(&self) -> String {
        let r = self
            .post("/api/v1/mail/accounts", self.account_body())
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn post(&self, path: &str, body: Value) -> common::Resp {
        self.app.post(path, Some(&self.token), body).await
    }

    async fn get(&self, path: &str) -> common::Resp {
        self.app.get(path, Some(&self.token)).await
    }

    async fn patch(&self, path: &str, body: Value) -> common::Resp {
        self.app
            .request(reqwest::Method::PATCH, path, Some(&self.token), Some(body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> common::Resp {
        self.app
            .request(reqwest::Method::PUT, path, Some(&self.token), Some(body))
            .await
    }

    async fn delete(&self, path: &str) -> common::Resp {
        self.app.delete(path, Some(&self.token)).await
    }

    async fn seed(&self, folder: &str, raw: &str) {
        peers::seed(&self.mailbox, MAIL_PASS, folder, raw).await;
    }

    async fn folder(&self, folder: &str) -> Vec<String> {
        peers::messages_in(&self.mailbox, MAIL_PASS, folder).await
    }
}

fn simple(subject: &str, body: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\nTo: you@example.test\nSubject: {subject}\nDate: Mon, 30 Nov 2026 08:00:00 +0000\nMessage-ID: <{}@example.test>\n\n{body}\n",
        uuid::Uuid::new_v4().simple()
    )
}

const RICH: &str = "From: Bob <bob@example.test>\nTo: you@example.test\nSubject: Rich\nDate: Mon, 30 Nov 2026 09:00:00 +0000\nMessage-ID: <rich-1@example.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: multipart/alternative; boundary=\"b2\"\n\n--b2\nContent-Type: text/plain; charset=utf-8\n\nPlain words here\n--b2\nContent-Type: text/html; charset=utf-8\n\n<p onclick=\"steal()\">Hello <b>there</b><script>alert(1)</script><img src=\"https://tracker.example/p.gif\"></p>\n--b2--\n--b1\nContent-Type: text/plain; name=\"notes.txt\"\nContent-Disposition: attachment; filename=\"notes.txt\"\nContent-Transfer-Encoding: base64\n\naGVsbG8gYXR0YWNobWVudA==\n--b1--\n";

// ------------------------------------------------------------------ accounts

#[tokio::test]
async fn presets_are_public_and_name_the_four_providers() {
    let app = app().await;
    let r = app.get("/api/v1/mail/presets", None).await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gmail", "outlook", "yahoo", "custom"]);
    let gmail = &r.body[0];
    assert_eq!(gmail["imap_host"], "imap.gmail.com");
    assert_eq!(gmail["imap_port"], 993);
    assert_eq!(gmail["imap_tls"], "implicit");
    for key in ["smtp_host", "smtp_port", "smtp_tls", "note", "name"] {
        assert!(gmail.get(key).is_some(), "{key}");
    }
}

#[tokio::test]
async fn adding_an_account_verifies_both_logins_and_seals_the_password() {
    let f = Fixture::new().await;
    let r = f.post("/api/v1/mail/accounts", f.account_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let account = &r.body;
    assert_eq!(account["email"], f.mailbox.as_str());
    assert_eq!(account["is_primary"], true, "the first account is primary");
    assert_eq!(account["imap_tls"], "none");
    assert!(account["last_checked_at"].is_string());
    for key in [
        "id",
        "display_name",
        "imap_host",
        "imap_port",
        "smtp_host",
        "smtp_port",
        "smtp_tls",
        "username",
        "created_at",
        "last_error",
    ] {
        assert!(account.get(key).is_some(), "{key} missing");
    }
    assert!(
        !r.text.contains(MAIL_PASS),
        "the password is never returned"
    );

    let list = f.get("/api/v1/mail/accounts").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(!list.text.contains(MAIL_PASS));

    let sealed: String = sqlx::query_scalar("SELECT password_sealed FROM mail_accounts")
        .fetch_one(f.app.state.db.pool())
        .await
        .unwrap();
    assert!(!sealed.contains(MAIL_PASS), "stored sealed");
    let sealer = gatehouse::sealing::Sealer::derive(&f.app.state.key, "mailbox-passwords");
    assert_eq!(sealer.open_str(&sealed).as_deref(), Some(MAIL_PASS));

    let events = f.app.audit_events("mail_account.added").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0.as_deref(), Some(f.user_id.as_str()));
    assert!(!events[0].1.contains(MAIL_PASS));

    // A second account marked primary takes the flag over.
    let mut second = f.account_body();
    second["is_primary"] = json!(true);
    second["display_name"] = json!("Second");
    let r = f.post("/api/v1/mail/accounts", second).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = f.get("/api/v1/mail/accounts").await;
    let primaries: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["is_primary"] == true)
        .map(|a| a["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["Second"]);
    // Removing the primary account makes the oldest remaining one primary.
    let second_id = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["display_name"] == "Second")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        f.delete(&format!("/api/v1/mail/accounts/{second_id}"))
            .await
            .status,
        204
    );
    let list = f.get("/api/v1/mail/accounts").await;
    assert_eq!(list.body[0]["is_primary"], true, "{}", list.body);
}

#[tokio::test]
async fn starttls_and_implicit_tls_log_in_with_the_configured_ca() {
    let f = Fixture::new().await;
    for (tls, port) in [
        ("starttls", dovecot().port),
        ("implicit", dovecot().tls_port),
    ] {
        let mut body = f.account_body();
        body["imap_host"] = json!("localhost");
        body["imap_tls"] = json!(tls);
        body["imap_port"] = json!(port);
        let r = f.post("/api/v1/mail/accounts", body).await;
        assert_eq!(r.status, 201, "{tls}: {}", r.body);
        let id = r.body["id"].as_str().unwrap();
        let folders = f.get(&format!("/api/v1/mail/accounts/{id}/folders")).await;
        assert_eq!(folders.status, 200, "{tls}: {}", folders.body);
    }
    // Without the test CA the certificate is not trusted: a TLS failure.
    let app = app_with(|c| c.mail_accounts.ca_file = None).await;
    let g = Fixture::on(app).await;
    let mut body = g.account_body();
    body["imap_host"] = json!("localhost");
    body["imap_tls"] = json!("implicit");
    body["imap_port"] = json!(dovecot().tls_port);
    let r = g.post("/api/v1/mail/accounts", body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "mail_connection_failed");
    assert_eq!(r.body["error"]["detail"]["imap"]["error"], "tls");
    assert_eq!(r.body["error"]["detail"]["smtp"]["ok"], true);
}

#[tokio::test]
async fn failed_logins_are_classed_and_nothing_is_saved() {
    let f = Fixture::new().await;
    let silent = peers::silent_server().await;
    let closed = common::free_port();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"password": "wrong-password"}),
            "authentication",
            "authentication",
        ),
        (json!({"imap_port": closed}), "connect", ""),
        (
            json!({"imap_host": "no-such-host.invalid", "imap_tls": "implicit"}),
            "dns",
            "",
        ),
        (json!({"imap_tls": "implicit"}), "tls", ""),
    ];
    for (change, imap_error, smtp_error) in cases {
        let mut body = f.account_body();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = f.post("/api/v1/mail/accounts", body).await;
        assert_eq!(r.status, 400, "{change}: {}", r.body);
        assert_eq!(r.code(), "mail_connection_failed");
        let detail = &r.body["error"]["detail"];
        assert_eq!(detail["imap"]["ok"], false, "{detail}");
        assert_eq!(detail["imap"]["error"], imap_error, "{change}: {detail}");
        if smtp_error.is_empty() {
            assert_eq!(detail["smtp"]["ok"], true, "{detail}");
        } else {
            assert_eq!(detail["smtp"]["error"], smtp_error, "{detail}");
        }
        assert!(!r.text.contains("wrong-password"));
    }
    // A server that accepts and never speaks: a timeout within the configured bound.
    let app = app_with(|c| c.mail_accounts.timeout = HumanDuration::from_secs(2)).await;
    let g = Fixture::on(app).await;
    let mut body = g.account_body();
    body["imap_port"] = json!(silent);
    let started = Instant::now();
    let r = g.post("/api/v1/mail/accounts", body).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["detail"]["imap"]["error"], "timeout");
    assert_eq!(f.get("/api/v1/mail/accounts").await.body, json!([]));
    assert_eq!(g.get("/api/v1/mail/accounts").await.body, json!([]));
}

#[tokio::test]
async fn unverified_accounts_are_saved_without_logging_in() {
    let f = Fixture::new().await;
    let mut body = f.account_body();
    body["password"] = json!("not-the-password");
    body["verify"] = json!(false);
    let r = f.post("/api/v1/mail/accounts", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["last_checked_at"].is_null());
    let id = r.body["id"].as_str().unwrap();
    let t = f
        .post(&format!("/api/v1/mail/accounts/{id}/test"), json!({}))
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(
        t.body["imap"],
        json!({"ok": false, "error": "authentication"})
    );
    assert_eq!(
        t.body["smtp"],
        json!({"ok": false, "error": "authentication"})
    );
    let list = f.get("/api/v1/mail/accounts").await;
    assert!(list.body[0]["last_checked_at"].is_string());
    assert!(
        list.body[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("authentication")
    );
    // Using it is a server error, not a connection-test error.
    let folders = f.get(&format!("/api/v1/mail/accounts/{id}/folders")).await;
    assert_eq!(folders.status, 502, "{}", folders.body);
    assert_eq!(folders.code(), "mail_server_error");
}

#[tokio::test]
async fn private_hosts_and_plain_connections_need_allow_private_hosts() {
    let app = app_with(|c| c.mail_accounts.allow_private_hosts = false).await;
    let f = Fixture::on(app).await;
    let r = f.post("/api/v1/mail/accounts", f.account_body()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.code(), "validation_failed");
    assert!(
        r.body["error"]["fields"]["imap_host"].is_string(),
        "{}",
        r.body
    );
    for host in ["localhost", "10.0.0.1", "169.254.169.254", "::1"] {
        let mut body = f.account_body();
        body["imap_host"] = json!(host);
        body["imap_tls"] = json!("implicit");
        body["smtp_tls"] = json!("implicit");
        let r = f.post("/api/v1/mail/accounts", body).await;
        assert_eq!(r.status, 422, "{host}: {}", r.body);
        assert!(
            r.body["error"]["fields"]["imap_host"].is_string(),
            "{host}: {}",
            r.body
        );
    }
    // tls = none towards a name that is not a private host: refused even when allowed.
    let g = Fixture::new().await;
    let mut body = g.account_body();
    body["smtp_host"] = json!("no-such-host.invalid");
    let r = g.post("/api/v1/mail/accounts", body).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body["error"]["fields"]["smtp_tls"].is_string(),
        "{}",
        r.body
    );
    assert_eq!(f.get("/api/v1/mail/accounts").await.body, json!([]));
}

#[tokio::test]
async fn bad_account_input_is_422_with_the_field() {
    let f = Fixture::new().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"imap_tls": "ssl"}), "imap_tls"),
        (json!({"smtp_tls": "tls"}), "smtp_tls"),
        (json!({"imap_port": 0}), "imap_port"),
        (json!({"smtp_port": 70000}), "smtp_port"),
        (json!({"imap_port": "993"}), "imap_port"),
        (json!({"email": "not-an-address"}), "email"),
        (json!({"imap_host": "imap.example.com:993"}), "imap_host"),
        (
            json!({"display_name": "Evil\r\nBcc: x@example.com"}),
            "display_name",
        ),
        (json!({"password": ""}), "password"),
        (json!({"surprise": true}), "surprise"),
    ];
    for (change, field) in cases {
        let mut body = f.account_body();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = f.post("/api/v1/mail/accounts", body).await;
        assert_eq!(r.status, 422, "{change}: {}", r.body);
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{change}: {}",
            r.body
        );
    }
    let mut body = f.account_body();
    body.as_object_mut().unwrap().remove("password");
    let r = f.post("/api/v1/mail/accounts", body).await;
    assert_eq!(r.status, 422);
    assert!(r.body["error"]["fields"]["password"].is_string());
    assert_eq!(f.get("/api/v1/mail/accounts").await.body, json!([]));
}

#[tokio::test]
async fn accounts_need_a_session_not_an_api_key() {
    let f = Fixture::new().await;
    assert_eq!(f.app.get("/api/v1/mail/accounts", None).await.status, 401);
    let key = f.post("/api/v1/api-keys", json!({"name": "k"})).await;
    assert_eq!(key.status, 201, "{}", key.body);
    let r = f
        .app
        .get("/api/v1/mail/accounts", key.body["key"].as_str())
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "session_required");
}

#[tokio::test]
async fn editing_verifies_new_settings_and_removing_takes_folders_and_drafts() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    let base = format!("/api/v1/mail/accounts/{id}");
    let r = f.patch(&base, json!({"display_name": "Renamed"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["display_name"], "Renamed");
    let r = f.patch(&base, json!({"password": "wrong-one"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "mail_connection_failed");
    assert_eq!(r.body["error"]["detail"]["imap"]["error"], "authentication");
    // The old password still works: nothing was changed.
    assert_eq!(f.get(&format!("{base}/folders")).await.status, 200);
    let r = f.patch(&base, json!({"imap_tls": "bogus"})).await;
    assert_eq!(r.status, 422);
    let r = f
        .patch(&base, json!({"password": MAIL_PASS, "is_primary": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let d = f
        .post(&format!("{base}/drafts"), json!({"subject": "keep me"}))
        .await;
    assert_eq!(d.status, 201, "{}", d.body);
    let r = f.delete(&base).await;
    assert_eq!(r.status, 204);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_drafts")
        .fetch_one(f.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let folders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_folders")
        .fetch_one(f.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(folders, 0);
    assert_eq!(f.delete(&base).await.status, 404);
    assert_eq!(f.app.audit_events("mail_account.removed").await.len(), 1);
    assert_eq!(
        f.patch(&base, json!({"display_name": "x"})).await.status,
        404
    );
}

#[tokio::test]
async fn another_users_account_is_not_found_everywhere() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    f.seed("INBOX", &simple("private", "secret words")).await;
    let (other, _) = f.app.register(&common::unique_email("other")).await;
    let base = format!("/api/v1/mail/accounts/{id}");
    let t = Some(other.as_str());
    let app = &f.app;
    use reqwest::Method as M;
    let cases: Vec<(M, String, Option<Value>)> = vec![
        (
            M::PATCH,
            base.clone(),
            Some(json!({"display_name": "mine"})),
        ),
        (M::DELETE, base.clone(), None),
        (M::POST, format!("{base}/test"), Some(json!({}))),
        (M::GET, format!("{base}/folders"), None),
        (M::GET, format!("{base}/messages"), None),
        (M::GET, format!("{base}/messages/1"), None),
        (
            M::PATCH,
            format!("{base}/messages/1"),
            Some(json!({"seen": true})),
        ),
        (M::DELETE, format!("{base}/messages/1"), None),
        (M::GET, format!("{base}/messages/1/attachments/0"), None),
        (
            M::POST,
            format!("{base}/send"),
            Some(json!({"to": ["a@example.com"], "subject": "x", "text": "y"})),
        ),
        (M::GET, format!("{base}/drafts"), None),
        (
            M::POST,
            format!("{base}/drafts"),
            Some(json!({"subject": "x"})),
        ),
    ];
    for (method, path, body) in cases {
        let r = app.request(method.clone(), &path, t, body).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    assert!(f.smtp.messages().is_empty(), "nothing sent");
    assert_eq!(
        f.get("/api/v1/mail/accounts").await.body[0]["display_name"],
        "Mail Tester"
    );
    assert_eq!(
        f.app
            .get("/api/v1/mail/accounts/not-a-uuid/folders", Some(&f.token))
            .await
            .status,
        404
    );
}

// ------------------------------------------------------------------ reading

#[tokio::test]
async fn folders_have_roles_and_counts_from_the_server() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    f.seed("INBOX", &simple("one", "first")).await;
    f.seed("INBOX", &simple("two", "second")).await;
    let r = f.get(&format!("/api/v1/mail/accounts/{id}/folders")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let find = |name: &str| {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        find("INBOX"),
        json!({"name": "INBOX", "role": "inbox", "total": 2, "unread": 2})
    );
    assert_eq!(find("Sent")["role"], "sent");
    assert_eq!(find("Drafts")["role"], "drafts");
    assert_eq!(find("Trash")["role"], "trash");
    assert_eq!(find("Junk")["role"], "junk");
    // The cache follows the server.
    let cached: i64 = sqlx::query_scalar("SELECT total FROM mail_folders WHERE name = 'INBOX'")
        .fetch_one(f.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(cached, 2);
    f.seed("INBOX", &simple("three", "third")).await;
    let r = f.get(&format!("/api/v1/mail/accounts/{id}/folders")).await;
    let inbox = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "INBOX")
        .unwrap()
        .clone();
    assert_eq!(inbox["total"], 3);
}

#[tokio::test]
async fn messages_page_newest_first_and_search_on_the_server() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    for i in 1..=5 {
        f.seed(
            "INBOX",
            &simple(&format!("note {i}"), &format!("body number {i}")),
        )
        .await;
    }
    f.seed("INBOX", &simple("quarterly report", "numbers inside"))
        .await;
    let base = format!("/api/v1/mail/accounts/{id}/messages");
    let r = f.get(&format!("{base}?per_page=4")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 6);
    assert_eq!(r.body["page"], 1);
    assert_eq!(r.body["per_page"], 4);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["subject"], "quarterly report");
    assert_eq!(items[1]["subject"], "note 5");
    let first = &items[1];
    assert_eq!(first["from"], "Alice <alice@example.test>");
    assert_eq!(first["to"], json!(["you@example.test"]));
    assert_eq!(first["seen"], false);
    assert_eq!(first["flagged"], false);
    assert_eq!(first["has_attachments"], false);
    assert_eq!(first["preview"], "body number 5");
    assert_eq!(first["date"], "2026-11-30T08:00:00Z");
    assert!(first["uid"].as_u64().unwrap() > 0);
    let r = f.get(&format!("{base}?per_page=4&page=2")).await;
    let subjects: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["note 2", "note 1"]);
    let r = f.get(&format!("{base}?q=quarterly")).await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
    let r = f.get(&format!("{base}?q=number%203")).await;
    assert_eq!(r.body["total"], 1, "body search: {}", r.body);
    assert_eq!(r.body["items"][0]["subject"], "note 3");
    let r = f.get(&format!("{base}?q=alice")).await;
    assert_eq!(r.body["total"], 6, "from search: {}", r.body);
    // Bad paging and folders.
    assert_eq!(f.get(&format!("{base}?per_page=500")).await.status, 422);
    let r = f.get(&format!("{base}?folder=Nope")).await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(f.get(&format!("{base}?folder=Sent")).await.body["total"], 0);
}

#[tokio::test]
async fn reading_a_message_sanitises_html_lists_attachments_and_marks_it_seen() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    f.seed("INBOX", RICH).await;
    let base = format!("/api/v1/mail/accounts/{id}/messages");
    let list = f.get(&base).await;
    let item = &list.body["items"][0];
    assert_eq!(item["has_attachments"], true);
    assert_eq!(item["seen"], false);
    let uid = item["uid"].as_u64().unwrap();
    let r = f.get(&format!("{base}/{uid}?folder=INBOX")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = &r.body;
    assert_eq!(m["subject"], "Rich");
    assert_eq!(m["from"], "Bob <bob@example.test>");
    assert_eq!(m["message_id"], "rich-1@example.test");
    assert!(m["text"].as_str().unwrap().contains("Plain words here"));
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("<b>there</b>"), "{html}");
    for bad in ["script", "onclick", "tracker.example"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    assert_eq!(
        m["attachments"],
        json!([{"id": "0", "filename": "notes.txt", "content_type": "text/plain", "size": 16}])
    );
    for key in ["to", "cc", "date", "seen", "in_reply_to"] {
        assert!(m.get(key).is_some(), "{key}");
    }
    let list = f.get(&base).await;
    assert_eq!(list.body["items"][0]["seen"], true, "reading marks it seen");
    let with_images = f.get(&format!("{base}/{uid}?remote_images=true")).await;
    assert!(
        with_images.body["html"]
            .as_str()
            .unwrap()
            .contains("tracker.example")
    );
    assert!(
        !with_images.body["html"]
            .as_str()
            .unwrap()
            .contains("script")
    );

    let a = f
        .app
        .http
        .get(f.app.url(&format!("{base}/{uid}/attachments/0")))
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    let disposition = a.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("notes.txt"));
    assert_eq!(a.bytes().await.unwrap().as_ref(), b"hello attachment");
    assert_eq!(
        f.get(&format!("{base}/{uid}/attachments/1")).await.status,
        404
    );
    assert_eq!(
        f.get(&format!("{base}/{uid}/attachments/x")).await.status,
        404
    );
    // A UID this folder does not have, and a folder that does not exist.
    assert_eq!(f.get(&format!("{base}/{}", uid + 100)).await.status, 404);
    assert_eq!(
        f.get(&format!("{base}/{uid}?folder=Sent")).await.status,
        404
    );
    assert_eq!(
        f.get(&format!("{base}/{uid}?folder=Missing")).await.status,
        404
    );
    assert_eq!(f.get(&format!("{base}/abc")).await.status, 404);
}

#[tokio::test]
async fn flags_change_and_delete_moves_to_trash_then_deletes_for_good() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    f.seed("INBOX", &simple("flag me", "x")).await;
    let base = format!("/api/v1/mail/accounts/{id}/messages");
    let uid = f.get(&base).await.body["items"][0]["uid"].as_u64().unwrap();
    let r = f
        .patch(
            &format!("{base}/{uid}"),
            json!({"seen": true, "flagged": true}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let item = f.get(&base).await.body["items"][0].clone();
    assert_eq!(
        (item["seen"].clone(), item["flagged"].clone()),
        (json!(true), json!(true))
    );
    let r = f
        .patch(&format!("{base}/{uid}"), json!({"seen": false}))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(f.get(&base).await.body["items"][0]["seen"], false);
    assert_eq!(
        f.patch(&format!("{base}/{uid}"), json!({"seen": "yes"}))
            .await
            .status,
        422
    );
    assert_eq!(
        f.patch(&format!("{base}/{}", uid + 50), json!({"seen": true}))
            .await
            .status,
        404
    );
    assert_eq!(
        f.patch(&format!("{base}/{uid}?folder=Nope"), json!({"seen": true}))
            .await
            .status,
        404
    );

    assert_eq!(
        f.delete(&format!("{base}/{}?folder=INBOX", uid + 50))
            .await
            .status,
        404
    );
    let r = f.delete(&format!("{base}/{uid}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(f.get(&base).await.body["total"], 0);
    let trash = f.get(&format!("{base}?folder=Trash")).await;
    assert_eq!(trash.body["total"], 1);
    let trash_uid = trash.body["items"][0]["uid"].as_u64().unwrap();
    let r = f.delete(&format!("{base}/{trash_uid}?folder=Trash")).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        f.get(&format!("{base}?folder=Trash")).await.body["total"],
        0
    );
    assert!(f.folder("Trash").await.is_empty(), "expunged on the server");
}

#[tokio::test]
async fn a_hanging_mail_server_answers_502_within_the_timeout() {
    let app = app_with(|c| c.mail_accounts.timeout = HumanDuration::from_secs(2)).await;
    let f = Fixture::on(app).await;
    let silent = peers::silent_server().await;
    let mut body = f.account_body();
    body["imap_port"] = json!(silent);
    body["smtp_port"] = json!(silent);
    body["verify"] = json!(false);
    let r = f.post("/api/v1/mail/accounts", body).await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap().to_string();
    for path in ["folders", "messages", "messages/1"] {
        let started = Instant::now();
        let r = f.get(&format!("/api/v1/mail/accounts/{id}/{path}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{path}: {:?}",
            started.elapsed()
        );
        assert_eq!(r.status, 502, "{path}: {}", r.body);
        assert_eq!(r.code(), "mail_server_error");
    }
    let started = Instant::now();
    let r = f
        .post(
            &format!("/api/v1/mail/accounts/{id}/send"),
            json!({"to": ["x@example.com"], "subject": "s", "text": "t"}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(r.status, 502, "{}", r.body);
    // While one request waits on the silent server, other requests are answered: the session
    // check finishes first. Order, not a stopwatch, so a busy machine cannot flake it.
    let folders_path = format!("/api/v1/mail/accounts/{id}/folders");
    let waiting = f.get(&folders_path);
    tokio::pin!(waiting);
    // Give it time to reach the server and hang there (it cannot end before the 2 s timeout).
    let early = tokio::time::timeout(Duration::from_millis(300), &mut waiting).await;
    assert!(early.is_err(), "the silent server cannot answer");
    tokio::select! {
        me = f.get("/api/v1/users/me") => assert_eq!(me.status, 200),
        r = &mut waiting => panic!("the request to the silent server ended first: {}", r.status),
    }
    assert_eq!(waiting.await.status, 502);
}

// ------------------------------------------------------------------ sending

#[tokio::test]
async fn sending_goes_through_smtp_with_a_copy_in_sent_and_an_audit_event() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    let data = base64::engine::general_purpose::STANDARD.encode(b"attached bytes");
    let r = f
        .post(
            &format!("/api/v1/mail/accounts/{id}/send"),
            json!({
                "to": ["Carol <carol@example.test>"],
                "cc": ["dave@example.test"],
                "bcc": ["erin@example.test"],
                "subject": "Hello from gatehouse",
                "text": "plain body",
                "html": "<p>html body</p>",
                "attachments": [{"filename": "a.txt", "content_type": "text/plain", "data": data}],
            }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let message_id = r.body["message_id"].as_str().unwrap().to_string();
    let captured = f.smtp.messages();
    assert_eq!(captured.len(), 1);
    let eml = &captured[0];
    assert!(eml.contains(&format!("X-Env-From: {}", f.mailbox)), "{eml}");
    let env_to = eml.lines().find(|l| l.starts_with("X-Env-To")).unwrap();
    for rcpt in [
        "carol@example.test",
        "dave@example.test",
        "erin@example.test",
    ] {
        assert!(env_to.contains(rcpt), "{rcpt} not in {env_to}");
    }
    assert!(
        eml.contains(&format!("X-Env-Auth: {}", f.mailbox)),
        "sent with the account's login"
    );
    assert!(eml.contains("Subject: Hello from gatehouse"));
    assert!(eml.contains(&message_id));
    assert!(!eml.contains("Bcc:"), "Bcc is not in the delivered message");
    assert!(eml.contains("a.txt"));
    let sent = f.folder("Sent").await;
    assert_eq!(sent.len(), 1, "a copy in Sent");
    assert!(sent[0].contains(&message_id));
    let events = f.app.audit_events("mail.sent").await;
    assert_eq!(events.len(), 1);
    let detail: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(detail["recipients"], 3);
    assert!(!events[0].1.contains("plain body") && !events[0].1.contains("Hello from"));
}

#[tokio::test]
async fn replies_thread_and_forwards_attach_the_original() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    f.seed("INBOX", "From: Bob <bob@example.test>\nTo: you@example.test\nSubject: Question\nMessage-ID: <q-1@example.test>\nReferences: <root@example.test>\n\nWhat time?\n").await;
    let uid = f
        .get(&format!("/api/v1/mail/accounts/{id}/messages"))
        .await
        .body["items"][0]["uid"]
        .as_u64()
        .unwrap();
    let r = f.post(&format!("/api/v1/mail/accounts/{id}/send"), json!({
        "to": ["bob@example.test"], "subject": "Re: Question", "text": "Noon.", "reply_to_uid": uid, "folder": "INBOX",
    })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = f.post(&format!("/api/v1/mail/accounts/{id}/send"), json!({
        "to": ["carol@example.test"], "subject": "Fwd: Question", "text": "See below.", "forward_uid": uid,
    })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let captured = f.smtp.messages();
    assert_eq!(captured.len(), 2);
    assert!(
        captured[0].contains("In-Reply-To: <q-1@example.test>"),
        "{}",
        captured[0]
    );
    assert!(
        captured[0].contains("<root@example.test> <q-1@example.test>"),
        "{}",
        captured[0]
    );
    assert!(captured[1].contains("message/rfc822"), "{}", captured[1]);
    assert!(captured[1].contains("What time?"));
    let r = f
        .post(
            &format!("/api/v1/mail/accounts/{id}/send"),
            json!({
                "to": ["bob@example.test"], "subject": "x", "text": "y", "reply_to_uid": uid + 40,
            }),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(f.smtp.messages().len(), 2);
}

#[tokio::test]
async fn bad_messages_are_refused_and_nothing_is_sent() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    let path = format!("/api/v1/mail/accounts/{id}/send");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"to": ["not an address"], "subject": "s", "text": "t"}),
            "to",
        ),
        (
            json!({"to": ["a@example.com"], "cc": ["bad@"], "subject": "s", "text": "t"}),
            "cc",
        ),
        (
            json!({"to": ["a@example.com"], "bcc": ["x@example.com\r\nBcc: y@example.com"], "subject": "s", "text": "t"}),
            "bcc",
        ),
        (
            json!({"to": ["a@example.com"], "subject": "Hi\r\nBcc: evil@example.com", "text": "t"}),
            "subject",
        ),
        (
            json!({"to": ["Evil\r\nBcc: e@example.com <a@example.com>"], "subject": "s", "text": "t"}),
            "to",
        ),
        (json!({"to": [], "subject": "s", "text": "t"}), "to"),
        (json!({"to": ["a@example.com"], "subject": "s"}), "text"),
        (
            json!({"to": ["a@example.com"], "subject": "s", "attachments": [{"filename": "a", "content_type": "text/plain", "data": "***not base64***"}]}),
            "attachments[0].data",
        ),
        (
            json!({"to": ["a@example.com"], "subject": "s", "attachments": [{"filename": "a\r\nX: y", "content_type": "text/plain", "data": "aGk="}]}),
            "attachments[0].filename",
        ),
        (
            json!({"to": ["a@example.com"], "subject": "s", "text": "t", "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let r = f.post(&path, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        assert_eq!(r.code(), "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.body
        );
    }
    // Over 25 MiB decoded (the body itself may be up to 36 MiB).
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 26 * 1024 * 1024]);
    let r = f.post(&path, json!({"to": ["a@example.com"], "subject": "big", "attachments": [{"filename": "big.bin", "content_type": "application/octet-stream", "data": big}]})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.code(), "message_too_large");
    assert!(f.smtp.messages().is_empty());
    assert!(f.folder("Sent").await.is_empty());
    assert!(f.app.audit_events("mail.sent").await.is_empty());
}

#[tokio::test]
async fn sending_is_limited_per_user_per_hour() {
    let app = app_with(|c| c.mail_accounts.send_per_hour = 2).await;
    let f = Fixture::on(app).await;
    let id = f.add_account().await;
    let path = format!("/api/v1/mail/accounts/{id}/send");
    let body = json!({"to": ["a@example.com"], "subject": "s", "text": "t"});
    assert_eq!(f.post(&path, body.clone()).await.status, 202);
    assert_eq!(f.post(&path, body.clone()).await.status, 202);
    let r = f.post(&path, body).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.code(), "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait));
    assert_eq!(f.smtp.messages().len(), 2);
}

// ------------------------------------------------------------------ drafts

#[tokio::test]
async fn drafts_are_kept_and_mirrored_in_the_drafts_folder() {
    let f = Fixture::new().await;
    let id = f.add_account().await;
    let base = format!("/api/v1/mail/accounts/{id}/drafts");
    let r = f
        .post(
            &base,
            json!({"to": ["bob@example.test"], "subject": "Plan", "text": "first try"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let draft_id = r.body["id"].as_str().unwrap().to_string();
    for key in ["to", "cc", "bcc", "subject", "text", "html", "updated_at"] {
        assert!(r.body.get(key).is_some(), "{key}");
    }
    assert_eq!(r.body["to"], json!(["bob@example.test"]));
    let copies = f.folder("Drafts").await;
    assert_eq!(copies.len(), 1);
    assert!(copies[0].contains("first try"));
    let r = f
        .put(
            &format!("{base}/{draft_id}"),
            json!({"to": ["bob@example.test"], "subject": "Plan v2", "text": "second try"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subject"], "Plan v2");
    let copies = f.folder("Drafts").await;
    assert_eq!(copies.len(), 1, "the old copy is replaced");
    assert!(copies[0].contains("second try"));
    let list = f.get(&base).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(
        f.get(&format!("{base}/{draft_id}")).await.body["text"],
        "second try"
    );
    assert_eq!(
        f.put(&format!("{base}/{draft_id}"), json!({"subject": "a\nb"}))
            .await
            .status,
        422
    );
    assert_eq!(f.post(&base, json!({"to": ["nope"]})).await.status, 422);
    assert_eq!(f.delete(&format!("{base}/{draft_id}")).await.status, 204);
    assert!(f.folder("Drafts").await.is_empty());
    assert_eq!(f.get(&format!("{base}/{draft_id}")).await.status, 404);
    assert_eq!(f.delete(&format!("{base}/{draft_id}")).await.status, 404);
    assert_eq!(
        f.put(&format!("{base}/{}", uuid::Uuid::now_v7()), json!({}))
            .await
            .status,
        404
    );
}

// ------------------------------------------------------------------ pages

/// A cookie-keeping browser signed in as `email` (with the test password), in `lang`.
async fn browser(app: &TestApp, email: &str, lang: &str) -> reqwest::Client {
    use reqwest::header;
    let mut headers = header::HeaderMap::new();
    headers.insert(header::ORIGIN, app.base.parse().unwrap());
    headers.insert(header::ACCEPT_LANGUAGE, lang.parse().unwrap());
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let login = page(&c, app, "/login").await;
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf(&login).as_str()),
            ("email", email),
            ("password", common::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    c
}

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let r = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text()
        .await
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_pages_add_an_account_read_and_reply() {
    let app = app().await;
    let email = common::unique_email("pages");
    let (token, _) = app.register(&email).await;
    let mailbox = dovecot().add_user("p", MAIL_PASS);
    let smtp = peers::smtp(&mailbox, MAIL_PASS);
    peers::seed(&mailbox, MAIL_PASS, "INBOX", RICH).await;
    let c = browser(&app, &email, "en").await;

    let html = page(&c, &app, "/account/mail").await;
    assert!(html.contains("Add a mail account"), "{html}");
    assert!(
        html.contains("aria-current=\"page\""),
        "the side menu marks the section"
    );
    let port = dovecot().port.to_string();
    let smtp_port = smtp.port.to_string();
    let r = c
        .post(app.url("/account/mail"))
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("preset", "custom"),
            ("email", mailbox.as_str()),
            ("password", MAIL_PASS),
            ("imap_host", "127.0.0.1"),
            ("imap_port", port.as_str()),
            ("imap_tls", "none"),
            ("smtp_host", "127.0.0.1"),
            ("smtp_port", smtp_port.as_str()),
            ("smtp_tls", "none"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let html = page(&c, &app, "/account/mail?done=mail_account_added").await;
    assert!(html.contains("Mail account added.") && html.contains(&mailbox));
    assert!(!html.contains(MAIL_PASS));

    // A wrong password is shown beside the form, naming what failed.
    let r = c
        .post(app.url("/account/mail"))
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("preset", "custom"),
            ("email", mailbox.as_str()),
            ("password", "wrong"),
            ("imap_host", "127.0.0.1"),
            ("imap_port", port.as_str()),
            ("imap_tls", "none"),
            ("smtp_host", "127.0.0.1"),
            ("smtp_port", smtp_port.as_str()),
            ("smtp_tls", "none"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.text().await.unwrap().contains("sign-in refused"));

    let html = page(&c, &app, "/mail").await;
    assert!(html.contains("Rich") && html.contains("Inbox"), "{html}");
    let uid = html
        .split("&uid=")
        .nth(1)
        .unwrap()
        .split(['"', '&'])
        .next()
        .unwrap()
        .to_string();
    let html = page(&c, &app, &format!("/mail?folder=INBOX&uid={uid}")).await;
    assert!(html.contains("<iframe class=\"mail-body\""), "{html}");
    assert!(html.contains("sandbox srcdoc="));
    assert!(
        !html.contains("<script>alert"),
        "the reading pane shows sanitised HTML only"
    );
    assert!(html.contains("notes.txt"));
    let html = page(
        &c,
        &app,
        &format!("/mail?folder=INBOX&uid={uid}&compose=reply"),
    )
    .await;
    assert!(html.contains("Re: Rich"));
    let r = c
        .post(app.url("/mail/compose"))
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("account", ""),
            ("folder", "INBOX"),
            ("reply_to_uid", uid.as_str()),
            ("to", "Bob <bob@example.test>"),
            ("subject", "Re: Rich"),
            ("text", "Thanks, got it."),
            ("intent", "send"),
        ])
        .send()
        .await
        .unwrap();
    // The account field is empty: no account of that id.
    assert_eq!(r.status(), 404);
    let account_id: String = sqlx::query_scalar("SELECT id FROM mail_accounts")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let r = c
        .post(app.url("/mail/compose"))
        .form(&[
            ("csrf_token", csrf(&html).as_str()),
            ("account", account_id.as_str()),
            ("folder", "INBOX"),
            ("reply_to_uid", uid.as_str()),
            ("to", "Bob <bob@example.test>"),
            ("subject", "Re: Rich"),
            ("text", "Thanks, got it."),
            ("intent", "send"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let captured = smtp.messages();
    assert_eq!(captured.len(), 1);
    assert!(captured[0].contains("In-Reply-To: <rich-1@example.test>"));
    assert!(captured[0].contains("Thanks, got it."));
    let sent = peers::messages_in(&mailbox, MAIL_PASS, "Sent").await;
    assert_eq!(sent.len(), 1);
    let html = page(
        &c,
        &app,
        &format!("/mail?account={account_id}&folder=INBOX&done=mail_sent"),
    )
    .await;
    assert!(html.contains("Message sent."));
    // The same pages in Chinese (the user's language wins).
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"language": "zh-CN"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let zh = browser(&app, &email, "zh-CN").await;
    let html = page(&zh, &app, "/mail").await;
    assert!(html.contains("收件箱"), "{html}");
    let html = page(&zh, &app, "/account/mail").await;
    assert!(html.contains("添加邮箱账户"));
    for path in ["/account/profile", "/account/teams", "/account/keys"] {
        let html = page(&c, &app, path).await;
        assert!(html.contains("aria-current=\"page\""), "{path}");
    }
}
