//! Registration, sign-in, profile, password and email changes, deletion.

use crate::common;

use common::{PASSWORD, TestApp, unique_email};
use serde_json::json;

#[tokio::test]
async fn register_then_me_then_logout() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("ann");
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "nickname": "Ann"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("gatehouse_session=ghs_")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
    );
    let token = r.body["session"]["token"].as_str().unwrap().to_string();
    assert_eq!(r.body["user"]["email"], email);
    let me = app.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], r.body["user"]["id"]);
    // API answers are kept by no cache; an anonymous health check may be.
    assert_eq!(me.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "the new session"
    );
    assert_eq!(
        app.get("/healthz", None).await.header("cache-control"),
        None
    );
    // A sign-in's answer shows the sign-in it made, as the stored user does.
    sqlx::query("UPDATE users SET last_login_at = NULL, login_channel = 'github' WHERE id = $1")
        .bind(r.body["user"]["id"].as_str().unwrap())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let after = app
        .get(
            "/api/v1/users/me",
            Some(login.body["session"]["token"].as_str().unwrap()),
        )
        .await;
    assert!(
        login.body["user"]["last_login_at"].is_string(),
        "{}",
        login.body
    );
    assert_eq!(login.body["user"]["login_channel"], "password");
    assert_eq!(
        login.body["user"]["last_login_at"],
        after.body["last_login_at"]
    );
    assert_eq!(after.body["login_channel"], "password");
    let out = app
        .post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(out.status, 204);
    let me = app.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(me.status, 401);
    assert_eq!(me.code(), "unauthenticated");
    assert_eq!(me.header("www-authenticate").as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn profile_patch_rules() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("pat")).await;
    let patch = |body: serde_json::Value| {
        let app = &app;
        let token = token.clone();
        async move {
            common::Resp::from(
                app.http
                    .patch(app.url("/api/v1/users/me"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = patch(
        json!({"nickname": "  Zhang Wei ", "timezone": "Asia/Shanghai", "color_schema": "dark",
        "avatar": "https://example.com/a.png", "preferences": {"layout": "wide"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["nickname"], "Zhang Wei");
    assert_eq!(r.body["timezone"], "Asia/Shanghai");
    assert_eq!(r.body["color_schema"], "dark");
    assert_eq!(r.body["preferences"], json!({"layout": "wide"}));
    let r = patch(json!({"avatar": null, "preferences": {"n": 1}})).await;
    assert_eq!(r.body["avatar"], serde_json::Value::Null);
    assert_eq!(
        r.body["preferences"],
        json!({"n": 1}),
        "preferences are replaced whole"
    );
    for (body, field) in [
        (json!({"email": "new@example.com"}), "email"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"language": "fr"}), "language"),
        (json!({"color_schema": "pink"}), "color_schema"),
        (json!({"nickname": null}), "nickname"),
        (json!({"avatar": "http://insecure.example/a.png"}), "avatar"),
        (
            json!({"preferences": {"big": "x".repeat(17 * 1024)}}),
            "preferences",
        ),
        (json!({"shoe_size": 44}), "shoe_size"),
    ] {
        let r = patch(body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.code(), "validation_failed");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn the_users_language_wins_over_accept_language() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("zh")).await;
    let r = common::Resp::from(
        app.http
            .patch(app.url("/api/v1/users/me"))
            .bearer_auth(&token)
            .json(&json!({"language": "zh-CN"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = common::Resp::from(
        app.http
            .patch(app.url("/api/v1/users/me"))
            .bearer_auth(&token)
            .header("accept-language", "en")
            .json(&json!({"timezone": "Nowhere/Land"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.code(), "validation_failed");
    assert_eq!(r.body["error"]["message"], "部分字段无效。");
}

#[tokio::test]
async fn email_change_request_checks_password_and_uniqueness() {
    let (app, _s) = TestApp::spawn().await;
    let taken = unique_email("taken");
    app.register(&taken).await;
    let (token, user_id) = app.register(&unique_email("mover")).await;
    let wrong = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": unique_email("n"), "password": "nope nope nope"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_credentials"));
    let dup = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": taken.to_uppercase(), "password": PASSWORD}),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "email_taken"));
    let ok = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": "  Fresh@Example.com ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, 202, "{}", ok.text);
    let pending: (String, String) = sqlx::query_as(
        "SELECT new_email, new_email_normalized FROM email_changes WHERE user_id = $1",
    )
    .bind(&user_id)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        pending,
        (
            "Fresh@Example.com".to_string(),
            "fresh@example.com".to_string()
        )
    );
    let me = app.get("/api/v1/users/me", Some(&token)).await;
    assert_ne!(
        me.body["email"], "Fresh@Example.com",
        "the change waits for confirmation"
    );
}

#[tokio::test]
async fn account_deletion_needs_the_password_and_removes_everything() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("bye");
    let (token, user_id) = app.register(&email).await;
    let wrong = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": "not it at all"})),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_credentials"));
    let ok = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert_eq!(app.get("/api/v1/users/me", Some(&token)).await.status, 401);
    assert_eq!(app.login(&email, PASSWORD).await.status, 401);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_members WHERE user_id = $1")
        .bind(&user_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(tenants, 0, "the personal tenant went with its only member");
}

#[tokio::test]
async fn account_with_a_team_to_hand_over_cannot_be_deleted() {
    let (app, _s) = TestApp::spawn().await;
    let (token, owner) = app.register(&unique_email("owner")).await;
    let (_, member) = app.register(&unique_email("member")).await;
    let tenant: String =
        sqlx::query_scalar("SELECT tenant_id FROM tenant_members WHERE user_id = $1")
            .bind(&owner)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    sqlx::query("INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, 'member', 0)")
        .bind(&tenant)
        .bind(&member)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "tenant_has_members"));
}

#[tokio::test]
async fn werkzeug_hash_logs_in_and_is_rehashed_to_argon2id() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("legacy");
    let (_, user_id) = app.register(&email).await;
    // The hash werkzeug makes of the text "MTIz" (salt "abcdefghijklmnop").
    let scrypt = "scrypt:32768:8:1$abcdefghijklmnop$77627345e126bca72d58d4501231acce6482ecdb7b6e07feee36ad349e44786275c201efb14eceb78d39cca43ca302a15397106a6131432c96434260967549da";
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(scrypt)
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(app.login(&email, "MTI0").await.status, 401);
    let r = app.login(&email, "MTIz").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(&user_id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "rehashed: {stored}"
    );
    assert_eq!(app.login(&email, "MTIz").await.status, 200);
}

#[tokio::test]
async fn registration_can_be_closed() {
    let (app, _s) = TestApp::spawn_with(|c| c.registration_enabled = false).await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": unique_email("x"), "password": PASSWORD, "nickname": "X"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "registration_disabled"));
}

#[tokio::test]
async fn with_verification_required_register_answers_alike_and_login_waits() {
    let (app, _s) = TestApp::spawn_with(|c| c.email_verification_required = true).await;
    let email = unique_email("verify");
    let body = json!({"email": email, "password": PASSWORD, "nickname": "V"});
    let first = app.post("/api/v1/auth/register", None, body.clone()).await;
    let again = app.post("/api/v1/auth/register", None, body).await;
    assert_eq!((first.status, again.status), (202, 202));
    assert_eq!(first.text, again.text);
    assert_eq!(first.body["status"], "verification_sent");
    assert!(first.header("set-cookie").is_none());
    let login = app.login(&email, PASSWORD).await;
    assert_eq!((login.status, login.code()), (403, "email_unverified"));
}

#[tokio::test]
async fn a_disabled_account_is_refused_only_after_the_right_password() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("off");
    let (token, user_id) = app.register(&email).await;
    sqlx::query("UPDATE users SET is_active = 0 WHERE id = $1")
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        401,
        "its sessions stop at once"
    );
    let right = app.login(&email, PASSWORD).await;
    assert_eq!((right.status, right.code()), (403, "account_disabled"));
    let wrong = app.login(&email, "wrong password here").await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_lifetime() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("idle");
    let (token, _) = app.register(&email).await;
    app.state.clock.advance(6 * 86400);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        200,
        "6 idle days are fine"
    );
    app.state.clock.advance(6 * 86400);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        200,
        "activity renewed the idle window"
    );
    app.state.clock.advance(8 * 86400);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        401,
        "8 idle days end it"
    );

    let r = app.login(&email, PASSWORD).await;
    let token = r.body["session"]["token"].as_str().unwrap().to_string();
    for _ in 0..5 {
        app.state.clock.advance(6 * 86400);
        let _ = app.get("/api/v1/users/me", Some(&token)).await;
    }
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status,
        401,
        "30 days is the absolute limit"
    );
}

#[tokio::test]
async fn audit_records_registration_login_failure_and_logout_without_secrets() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("audit");
    let (token, user_id) = app.register(&email).await;
    app.login(&email, "a wrong password 1").await;
    app.login(&email, PASSWORD).await;
    app.post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    for event in [
        "user.registered",
        "user.login_failed",
        "user.login",
        "user.logout",
    ] {
        let rows = app.audit_events(event).await;
        assert!(
            rows.iter()
                .any(|(subject, _)| subject.as_deref() == Some(user_id.as_str())),
            "{event} for the user"
        );
    }
    let all: Vec<(String, Option<String>, Option<String>, String)> =
        sqlx::query_as("SELECT event, ip, user_agent, detail FROM audit_events")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    let text = format!("{all:?}");
    for secret in [PASSWORD, "a wrong password 1", &token, &email] {
        assert!(!text.contains(secret), "audit holds {secret:?}");
    }
}

#[tokio::test]
async fn system_routes() {
    let (app, _s) = TestApp::spawn().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let config = app.get("/api/v1/system/config", None).await;
    assert_eq!(config.body["registration_enabled"], true);
    assert_eq!(config.body["captcha_after_failures"], 3);
    assert_eq!(config.body["languages"], json!(["en", "zh-CN"]));
    let spec = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(
        spec.body["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/users/me",
        "/api/v1/users/me/sessions/{id}",
        "/api/v1/captcha",
    ] {
        assert!(spec.body["paths"][path].is_object(), "openapi lacks {path}");
    }
    let docs = app.http.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    // The document is served as JSON made once at startup; Swagger UI must read that URL.
    let raw = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "application/json");
    let init = app
        .http
        .get(app.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    assert!(init.contains("\"/api/v1/openapi.json\""), "{init}");
    app.register(&unique_email("m")).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gatehouse_http_requests_total"),
        "{metrics}"
    );
    assert!(metrics.contains("gatehouse_sessions_created_total"));
}

#[tokio::test]
async fn captcha_images_and_the_off_switch() {
    let (app, _s) = TestApp::spawn().await;
    let r = app.post("/api/v1/captcha", None, json!({})).await;
    assert_eq!(r.status, 201);
    assert!(
        r.body["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR")
    );
    assert_eq!(r.body["expires_in"], 120);
    let (_, answer) = app.solved_captcha().await;
    assert_eq!(answer.len(), 5);
    let (off, _s2) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let r = off.post("/api/v1/captcha", None, json!({})).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(
        off.get("/api/v1/system/config", None).await.body["captcha_after_failures"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn deletion_without_password_needs_a_recent_provider_sign_in() {
    let (app, _s) = TestApp::spawn().await;
    let (token, user_id) = app.register(&unique_email("sso")).await;
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "invalid_credentials"),
        "a password session must give the password"
    );
    sqlx::query("UPDATE sessions SET auth_method = 'corp' WHERE user_id = $1")
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.state.clock.advance(11 * 60);
    let late = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        late.status, 403,
        "a provider sign-in older than 10 minutes is not enough"
    );
    sqlx::query("UPDATE sessions SET created_at = $1 WHERE user_id = $2")
        .bind(app.state.clock.now())
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let ok = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
}
