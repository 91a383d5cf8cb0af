//! BotServer's documented routes (`/api/email/*`, `/api/auth/*`) over gatehouse's services,
//! against a real Dovecot and an SMTP capture with AUTH: bodies as BotServer documents them,
//! answers and errors as the native API gives them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::mailbox::peers;

use common::TestApp;
use common::smtp::SmtpCapture;
use peers::{app_with, dovecot};
use serde_json::{Value, json};

const MAIL_PASS: &str = "mailbox-pass-4711";

/// A BotServer-registered user with a mailbox on Dovecot (IMAPS) and an SMTP capture with
/// implicit TLS: ports other than 143/587/25 mean implicit TLS to BotServer's clients.
struct Fixture {
    app: TestApp,
    token: String,
    mailbox: String,
    smtp: SmtpCapture,
}

impl Fixture {
    async fn new() -> Self {
        let app = app_with(|_| {}).await;
        let username = format!("bot{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let r = app
            .post(
                "/api/auth/register",
                None,
                json!({"username": username, "email": common::unique_email("bot"), "password": common::PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let token = r.body["token"].as_str().unwrap().to_string();
        let mailbox = dovecot().add_user("b", MAIL_PASS);
        let smtp = peers::smtp_implicit_tls(&mailbox, MAIL_PASS);
        Self {
            app,
            token,
            mailbox,
            smtp,
        }
    }

    fn add_body(&self) -> Value {
        json!({
            "email": self.mailbox,
            "display_name": "Bot Tester",
            "imap_server": "localhost",
            "imap_port": dovecot().tls_port,
            "smtp_server": "localhost",
            "smtp_port": self.smtp.port,
            "username": self.mailbox,
            "password": MAIL_PASS,
            "is_primary": true,
        })
    }

    async fn add(&self) -> String {
        let r = self.post("/api/email/accounts/add", self.add_body()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn post(&self, path: &str, body: Value) -> common::Resp {
        self.app.post(path, Some(&self.token), body).await
    }
}

#[tokio::test]
async fn register_and_login_answer_a_token_and_the_user_id() {
    let app = app_with(|_| {}).await;
    let email = common::unique_email("botreg");
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "Ann.Lee", "email": email, "password": common::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.body["token"].as_str().unwrap();
    let user_id = r.body["user_id"].as_str().unwrap();
    assert!(token.starts_with("ghs_"));
    let me = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], user_id);
    assert_eq!(me.body["username"], "Ann.Lee");
    assert_eq!(me.body["nickname"], "Ann.Lee");
    // The username is unique whatever its case.
    let r = app.post("/api/auth/register", None, json!({"username": "ann.lee", "email": common::unique_email("x"), "password": common::PASSWORD})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.code(), "username_taken");
    for bad in ["ab", "with space", "x/y"] {
        let r = app.post("/api/auth/register", None, json!({"username": bad, "email": common::unique_email("y"), "password": common::PASSWORD})).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.body);
        assert!(r.body["error"]["fields"]["username"].is_string());
    }
    let r = app.post("/api/auth/register", None, json!({"username": "weakling", "email": common::unique_email("z"), "password": "password"})).await;
    assert_eq!(r.status, 422);
    // Sign in by username (any case) or email.
    for (key, name) in [
        ("username", "ANN.LEE"),
        ("username", email.as_str()),
        ("email", email.as_str()),
    ] {
        let r = app
            .post(
                "/api/auth/login",
                None,
                json!({key: name, "password": common::PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "{key}={name}: {}", r.body);
        assert_eq!(r.body["user_id"], user_id);
        assert!(r.body["token"].as_str().unwrap().starts_with("ghs_"));
    }
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "Ann.Lee", "password": "wrong password here"}),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "invalid_credentials");
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "nobody-here", "password": "wrong password here"}),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "invalid_credentials");
}

#[tokio::test]
async fn mail_accounts_through_botservers_routes() {
    let f = Fixture::new().await;
    assert_eq!(f.app.get("/api/email/accounts", None).await.status, 401);
    let r = f.post("/api/email/accounts/add", f.add_body()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["imap_tls"], "implicit", "TLS from the port");
    assert_eq!(r.body["smtp_tls"], "implicit");
    assert_eq!(r.body["is_primary"], true);
    assert!(!r.text.contains(MAIL_PASS));
    let id = r.body["id"].as_str().unwrap().to_string();
    let list = f.app.get("/api/email/accounts", Some(&f.token)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["id"], id.as_str());
    // Username defaults to the email; a wrong password is the native connection failure.
    let mut body = f.add_body();
    body.as_object_mut().unwrap().remove("username");
    body["password"] = json!("wrong");
    let r = f.post("/api/email/accounts/add", body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "mail_connection_failed");
    assert_eq!(r.body["error"]["detail"]["imap"]["error"], "authentication");
    let mut body = f.add_body();
    body["imap_port"] = json!(0);
    assert_eq!(f.post("/api/email/accounts/add", body).await.status, 422);

    let folders = f
        .app
        .get(&format!("/api/email/folders/{id}"), Some(&f.token))
        .await;
    assert_eq!(folders.status, 200, "{}", folders.body);
    assert!(
        folders
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "INBOX" && x["role"] == "inbox")
    );

    let r = f
        .app
        .delete(&format!("/api/email/accounts/{id}"), Some(&f.token))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        f.app
            .delete(&format!("/api/email/accounts/{id}"), Some(&f.token))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn list_send_and_draft_with_botservers_bodies() {
    let f = Fixture::new().await;
    let id = f.add().await;
    for i in 1..=5 {
        peers::seed(
            &f.mailbox,
            MAIL_PASS,
            "INBOX",
            &format!("From: a@example.test\nSubject: m{i}\n\nbody {i}\n"),
        )
        .await;
    }
    let r = f
        .post(
            "/api/email/list",
            json!({"account_id": id, "folder": "INBOX", "limit": 2, "offset": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 5);
    let subjects: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["m4", "m3"], "offset need not align with pages");
    let r = f.post("/api/email/list", json!({"account_id": id})).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        f.post(
            "/api/email/list",
            json!({"account_id": id, "folder": "Nope"})
        )
        .await
        .status,
        404
    );

    let r = f.post("/api/email/send", json!({
        "account_id": id, "to": "carol@example.test, Dave <dave@example.test>", "cc": "", "bcc": "erin@example.test",
        "subject": "From BotServer", "body": "<p>Hello</p>", "is_html": true,
    })).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body["message_id"].is_string());
    let captured = f.smtp.messages();
    assert_eq!(captured.len(), 1);
    let env_to = captured[0]
        .lines()
        .find(|l| l.starts_with("X-Env-To"))
        .unwrap();
    for rcpt in [
        "carol@example.test",
        "dave@example.test",
        "erin@example.test",
    ] {
        assert!(env_to.contains(rcpt), "{env_to}");
    }
    assert!(captured[0].contains("text/html"));
    assert_eq!(
        peers::messages_in(&f.mailbox, MAIL_PASS, "Sent")
            .await
            .len(),
        1
    );
    let r = f.post("/api/email/send", json!({"account_id": id, "to": "a@example.com, not an address", "subject": "s", "body": "b"})).await;
    assert_eq!(r.status, 422);
    let r = f.post("/api/email/send", json!({"account_id": id, "to": "a@example.com", "subject": "s\r\nBcc: x@example.com", "body": "b"})).await;
    assert_eq!(r.status, 422);
    assert_eq!(f.smtp.messages().len(), 1, "nothing more sent");

    let r = f.post("/api/email/draft", json!({"account_id": id, "to": "bob@example.test", "subject": "later", "body": "draft text"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["to"], json!(["bob@example.test"]));
    let drafts = f
        .app
        .get(
            &format!("/api/v1/mail/accounts/{id}/drafts"),
            Some(&f.token),
        )
        .await;
    assert_eq!(drafts.body.as_array().unwrap().len(), 1);
    assert_eq!(
        peers::messages_in(&f.mailbox, MAIL_PASS, "Drafts")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn another_users_account_is_not_found_through_botserver() {
    let f = Fixture::new().await;
    let id = f.add().await;
    let (other, _) = f.app.register(&common::unique_email("other")).await;
    let t = Some(other.as_str());
    assert_eq!(
        f.app
            .post("/api/email/list", t, json!({"account_id": id}))
            .await
            .status,
        404
    );
    assert_eq!(
        f.app
            .post(
                "/api/email/send",
                t,
                json!({"account_id": id, "to": "a@example.com", "subject": "s", "body": "b"})
            )
            .await
            .status,
        404
    );
    assert_eq!(
        f.app
            .post("/api/email/draft", t, json!({"account_id": id}))
            .await
            .status,
        404
    );
    assert_eq!(
        f.app
            .get(&format!("/api/email/folders/{id}"), t)
            .await
            .status,
        404
    );
    assert_eq!(
        f.app
            .delete(&format!("/api/email/accounts/{id}"), t)
            .await
            .status,
        404
    );
    assert!(f.smtp.messages().is_empty());
    assert_eq!(f.app.get("/api/email/accounts", t).await.body, json!([]));
}

#[tokio::test]
async fn botserver_routes_can_be_turned_off() {
    let app = app_with(|c| c.botserver.enabled = false).await;
    let r = app.post("/api/auth/register", None, json!({"username": "nobody", "email": common::unique_email("off"), "password": common::PASSWORD})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "not_found");
    let (token, _) = app.register(&common::unique_email("off2")).await;
    assert_eq!(
        app.get("/api/email/accounts", Some(&token)).await.status,
        404
    );
    assert_eq!(
        app.get("/api/v1/mail/accounts", Some(&token)).await.status,
        200
    );
}
