//! Two-factor authentication with TOTP and recovery codes: enrolment, the sign-in's second step,
//! disabling, new recovery codes, the administrator's reset, `[mfa] required_for`, sessions'
//! `amr`, and the RAGFlow profile's answer.

use crate::common;

use common::{PASSWORD, TestApp, ragflow_encrypt, spawn_ragflow, unique_email};
use serde_json::{Value, json};

/// The current code of the authenticator app that scanned `uri`, at the server's clock.
fn code_at(app: &TestApp, uri: &str) -> String {
    let totp = totp_rs::Totp::from_url(uri).unwrap();
    totp.generate(app.state.clock.now() as u64).to_string()
}

/// A new user with TOTP in force: (session, user id, otpauth URI, recovery codes).
async fn enrolled(app: &TestApp, tag: &str) -> (String, String, String, Vec<String>, String) {
    let email = unique_email(tag);
    let (session, id) = app.register(&email).await;
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": code_at(app, &uri)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    // A code's time step is used once: later tests' codes come from the next step.
    app.state.clock.advance(30);
    (session, id, uri, codes, email)
}

async fn mfa_token(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["mfa_required"], true, "{}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_string()
}

async fn second_step(app: &TestApp, token: &str, code: &str) -> common::Resp {
    app.post(
        "/api/v1/auth/login/mfa",
        None,
        json!({"mfa_token": token, "code": code}),
    )
    .await
}

#[tokio::test]
async fn enrolment_gives_a_secret_uri_and_qr_then_a_code_turns_it_on() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("enrol");
    let (session, user_id) = app.register(&email).await;
    let other = app.login(&email, PASSWORD).await;
    let other = other.body["session"]["token"].as_str().unwrap().to_string();

    let wrong = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": "not the password"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_credentials"));
    let no_pending = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": "123456"}),
        )
        .await;
    assert_eq!(
        (no_pending.status, no_pending.code()),
        (400, "invalid_token")
    );

    let r = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "20 bytes in base32 without padding");
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
    );
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/gatehouse:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=gatehouse"));
    assert!(
        r.body["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || r.body["qr_svg"].as_str().unwrap().contains("<svg")
    );
    // Pending only: a sign-in still needs no second step.
    let plain = app.login(&email, PASSWORD).await;
    assert!(plain.body["session"]["token"].is_string(), "{}", plain.body);

    let bad = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": "000000"}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_code"));
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": code_at(&app, uri)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes = r.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for c in codes {
        let c = c.as_str().unwrap();
        assert_eq!((c.len(), &c[5..6]), (11, "-"), "{c}");
    }
    // Every other session ended; this one stays.
    assert_eq!(app.get("/api/v1/users/me", Some(&other)).await.status, 401);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        200
    );
    let again = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "mfa_already_enabled"));

    let status = app.get("/api/v1/users/me/mfa", Some(&session)).await;
    assert_eq!(status.status, 200);
    assert_eq!(
        status.body,
        json!({"totp_enabled": true, "recovery_codes_left": 10, "passkeys": []})
    );
    let events = app.audit_events("mfa.enabled").await;
    assert!(events.iter().any(|(s, _)| s.as_deref() == Some(&user_id)));
    let mails = app.mails_to(&email).await;
    assert!(
        mails
            .iter()
            .any(|(kind, subject, _)| kind == "sign_in_changed"
                && subject.contains("Two-factor authentication was turned on")),
        "{mails:?}"
    );
    // The secret is sealed at rest: the table never holds it in the clear.
    let stored: String =
        sqlx::query_scalar("SELECT secret_sealed FROM totp_secrets WHERE user_id = $1")
            .bind(&user_id)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert!(!stored.contains(secret));
}

#[tokio::test]
async fn a_pending_secret_expires_after_ten_minutes() {
    let (app, _s) = TestApp::spawn().await;
    let (session, _) = app.register(&unique_email("pending")).await;
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_string();
    app.state.clock.advance(601);
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": code_at(&app, &uri)}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_token"));
}

#[tokio::test]
async fn login_then_second_step_with_totp_and_amr_in_the_session_list() {
    let (app, _s) = TestApp::spawn().await;
    let (_, user_id, uri, _, email) = enrolled(&app, "step").await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("set-cookie").is_none(),
        "no cookie before the second step"
    );
    assert!(r.body.get("session").is_none() && r.body.get("user").is_none());
    assert_eq!(r.body["mfa_required"], true);
    assert_eq!(r.body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(r.body["expires_in"], 300);
    let token = r.body["mfa_token"].as_str().unwrap().to_string();

    let wrong = second_step(&app, &token, "000000").await;
    assert_eq!((wrong.status, wrong.code()), (400, "invalid_code"));
    let ok = second_step(&app, &token, &code_at(&app, &uri)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.header("set-cookie")
            .unwrap()
            .starts_with("gatehouse_session=")
    );
    assert_eq!(ok.body["user"]["id"], user_id.as_str());
    let session = ok.body["session"]["token"].as_str().unwrap().to_string();

    // The token is single-use, and the code's time step is spent.
    let reused = second_step(&app, &token, &code_at(&app, &uri)).await;
    assert_eq!((reused.status, reused.code()), (400, "invalid_token"));
    let token2 = mfa_token(&app, &email).await;
    let replay = second_step(&app, &token2, &code_at(&app, &uri)).await;
    assert_eq!((replay.status, replay.code()), (400, "invalid_code"));
    // One step of drift either way is accepted.
    let totp = totp_rs::Totp::from_url(&uri).unwrap();
    app.state.clock.advance(60);
    let late = totp
        .generate((app.state.clock.now() - 30) as u64)
        .to_string();
    let r = second_step(&app, &token2, &late).await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.state.clock.advance(30);
    let token3 = mfa_token(&app, &email).await;
    let stale = totp
        .generate((app.state.clock.now() - 90) as u64)
        .to_string();
    let r = second_step(&app, &token3, &stale).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code"));

    let list = app.get("/api/v1/users/me/sessions", Some(&session)).await;
    let current = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["amr"], json!(["pwd", "otp"]));
    let logins = app.audit_events("user.login").await;
    let (_, detail) = logins.last().unwrap();
    let detail: Value = serde_json::from_str(detail).unwrap();
    assert_eq!(detail["methods"], json!(["pwd", "otp"]));
}

#[tokio::test]
async fn recovery_codes_work_once_in_any_case_and_a_new_set_replaces_the_old() {
    let (app, _s) = TestApp::spawn().await;
    let (session, _, _, codes, email) = enrolled(&app, "recovery").await;
    let token = mfa_token(&app, &email).await;
    let typed = codes[0].replace('-', "").to_uppercase();
    let r = second_step(&app, &token, &typed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = mfa_token(&app, &email).await;
    let again = second_step(&app, &token, &codes[0]).await;
    assert_eq!((again.status, again.code()), (400, "invalid_code"));
    let status = app.get("/api/v1/users/me/mfa", Some(&session)).await;
    assert_eq!(status.body["recovery_codes_left"], 9);

    let wrong = app
        .post(
            "/api/v1/users/me/mfa/recovery-codes",
            Some(&session),
            json!({"password": "nope nope nope"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_credentials"));
    let fresh = app
        .post(
            "/api/v1/users/me/mfa/recovery-codes",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["recovery_codes"].as_array().unwrap().len(), 10);
    let old = second_step(&app, &token, &codes[1]).await;
    assert_eq!((old.status, old.code()), (400, "invalid_code"));
    let new_code = fresh.body["recovery_codes"][3].as_str().unwrap();
    assert_eq!(second_step(&app, &token, new_code).await.status, 200);

    let (plain, _) = app.register(&unique_email("nocodes")).await;
    let r = app
        .post(
            "/api/v1/users/me/mfa/recovery-codes",
            Some(&plain),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "mfa_not_enabled"));
}

#[tokio::test]
async fn a_token_dies_after_five_wrong_codes() {
    let (app, _s) = TestApp::spawn_with(|c| c.lockout_threshold = 50).await;
    let (_, _, uri, _, email) = enrolled(&app, "dies").await;
    let token = mfa_token(&app, &email).await;
    for _ in 0..5 {
        let r = second_step(&app, &token, "999999").await;
        assert_eq!((r.status, r.code()), (400, "invalid_code"));
    }
    let r = second_step(&app, &token, &code_at(&app, &uri)).await;
    assert_eq!((r.status, r.code()), (400, "invalid_token"));
    let events = app.audit_events("user.login_failed").await;
    let mfa_failures = events
        .iter()
        .filter(|(_, d)| d.contains("\"channel\":\"mfa\""))
        .count();
    assert_eq!(mfa_failures, 5);
    for (_, detail) in &events {
        assert!(!detail.contains("999999"), "no code in an event: {detail}");
    }
}

#[tokio::test]
async fn wrong_second_step_codes_count_toward_the_accounts_lockout() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.lockout_threshold = 3;
        c.captcha.enabled = false;
    })
    .await;
    let (_, _, uri, _, email) = enrolled(&app, "lockout").await;
    let token = mfa_token(&app, &email).await;
    for _ in 0..3 {
        let r = second_step(&app, &token, "999999").await;
        assert_eq!((r.status, r.code()), (400, "invalid_code"));
    }
    // The account is now locked for a while: even the right code waits.
    let r = second_step(&app, &token, &code_at(&app, &uri)).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let r = app.login(&email, PASSWORD).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
}

#[tokio::test]
async fn a_complete_sign_in_resets_the_count_but_the_password_step_alone_does_not() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.lockout_threshold = 4;
        c.captcha.enabled = false;
    })
    .await;
    let (_, _, uri, _, email) = enrolled(&app, "reset").await;
    let token = mfa_token(&app, &email).await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, &token, "999999").await.status, 400);
    }
    // A right password now does not forgive the three wrong codes …
    let token = mfa_token(&app, &email).await;
    let r = second_step(&app, &token, "999999").await;
    assert_eq!(r.code(), "invalid_code");
    let r = second_step(&app, &token, "999999").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));

    // … a complete sign-in does.
    let (app, _s) = TestApp::spawn_with(|c| {
        c.lockout_threshold = 4;
        c.captcha.enabled = false;
    })
    .await;
    let (_, _, uri2, _, email) = enrolled(&app, "reset2").await;
    let token = mfa_token(&app, &email).await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, &token, "999999").await.status, 400);
    }
    assert_eq!(
        second_step(&app, &token, &code_at(&app, &uri2))
            .await
            .status,
        200
    );
    app.state.clock.advance(30);
    let token = mfa_token(&app, &email).await;
    for _ in 0..3 {
        assert_eq!(second_step(&app, &token, "999999").await.status, 400);
    }
    let _ = uri;
}

#[tokio::test]
async fn bad_second_step_inputs_are_4xx() {
    let (app, _s) = TestApp::spawn().await;
    let (_, _, _, _, email) = enrolled(&app, "bad").await;
    let token = mfa_token(&app, &email).await;
    let post = |body: Value| app.post("/api/v1/auth/login/mfa", None, body);
    let r = post(json!({"code": "123456"})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = post(json!({"mfa_token": token})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = post(json!({"mfa_token": token, "code": 123456})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = post(json!({"mfa_token": token, "code": "1", "extra": 1})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r =
        post(json!({"mfa_token": token, "code": "123456", "challenge_id": "x", "credential": {}}))
            .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    for code in [
        "",
        "abc",
        "12345678901234567890",
        "１２３４５６",
        &"9".repeat(5000),
    ] {
        let r = post(json!({"mfa_token": token, "code": code})).await;
        assert_eq!((r.status, r.code()), (400, "invalid_code"), "{code:.20}");
    }
    for bad in ["", "nope", &"x".repeat(300)] {
        let r = post(json!({"mfa_token": bad, "code": "123456"})).await;
        assert_eq!((r.status, r.code()), (400, "invalid_token"));
    }
    let r = app
        .request(reqwest::Method::POST, "/api/v1/auth/login/mfa", None, None)
        .await;
    assert_eq!(r.status, 415);
    let raw = app
        .http
        .post(app.url("/api/v1/auth/login/mfa"))
        .header("content-type", "application/json")
        .body("{\"mfa_token\":")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_code() {
    let (app, _s) = TestApp::spawn().await;
    let (session, user_id, uri, codes, email) = enrolled(&app, "disable").await;
    let del = |body: Value| {
        app.request(
            reqwest::Method::DELETE,
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            Some(body),
        )
    };
    let r = del(json!({"password": "wrong wrong", "code": code_at(&app, &uri)})).await;
    assert_eq!((r.status, r.code()), (403, "invalid_credentials"));
    let r = del(json!({"password": PASSWORD, "code": "000000"})).await;
    assert_eq!((r.status, r.code()), (400, "invalid_code"));
    let r = del(json!({"password": PASSWORD, "code": codes[2]})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        app.get("/api/v1/users/me/mfa", Some(&session)).await.body,
        json!({"totp_enabled": false, "recovery_codes_left": 0, "passkeys": []})
    );
    let r = app.login(&email, PASSWORD).await;
    assert!(r.body["session"]["token"].is_string(), "{}", r.body);
    assert!(
        app.audit_events("mfa.disabled")
            .await
            .iter()
            .any(|(s, _)| s.as_deref() == Some(&user_id))
    );
    let mails = app.mails_to(&email).await;
    assert!(mails.iter().any(|(_, s, _)| s.contains("turned off")));
}

#[tokio::test]
async fn api_keys_cannot_reach_the_mfa_routes() {
    let (app, _s) = TestApp::spawn().await;
    let (session, _) = app.register(&unique_email("keys")).await;
    let key = app
        .post("/api/v1/api-keys", Some(&session), json!({"name": "ci"}))
        .await;
    let key = key.body["key"].as_str().unwrap().to_string();
    let r = app.get("/api/v1/users/me/mfa", Some(&key)).await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&key),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
}

#[tokio::test]
async fn an_administrator_resets_the_second_factors() {
    let (app, _s) = TestApp::spawn().await;
    let (_, user_id, _, _, email) = enrolled(&app, "lost").await;
    let admin_email = unique_email("root");
    let (admin, admin_id) = app.register(&admin_email).await;
    let path = format!("/api/v1/admin/users/{user_id}/mfa");
    let r = app.delete(&path, Some(&admin)).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&admin_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let unknown = app
        .delete(
            "/api/v1/admin/users/0190d7a4-0000-7000-8000-000000000000/mfa",
            Some(&admin),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    assert_eq!(
        app.delete("/api/v1/admin/users/nope/mfa", Some(&admin))
            .await
            .status,
        404
    );
    let r = app.delete(&path, Some(&admin)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = app.login(&email, PASSWORD).await;
    assert!(r.body["session"]["token"].is_string(), "{}", r.body);
    let events = app.audit_events("admin.mfa_reset").await;
    assert!(events.iter().any(|(s, _)| s.as_deref() == Some(&user_id)));
    let mails = app.mails_to(&email).await;
    assert!(
        mails.iter().any(|(_, s, _)| s.contains("administrator")),
        "{mails:?}"
    );
}

#[tokio::test]
async fn required_for_all_sends_users_without_a_factor_to_enrol() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.mfa.required_for = gatehouse::mfa::config::RequiredFor::All;
    })
    .await;
    let email = unique_email("required");
    let (session, _) = app.register(&email).await;
    let r = app.get("/api/v1/tenants", Some(&session)).await;
    assert_eq!((r.status, r.code()), (403, "mfa_enrolment_required"));
    let r = app.get("/api/v1/users/me/sessions", Some(&session)).await;
    assert_eq!((r.status, r.code()), (403, "mfa_enrolment_required"));
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            Some(&session),
            Some(json!({"nickname": "X"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "mfa_enrolment_required"));
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        200
    );
    assert_eq!(
        app.get("/api/v1/users/me/mfa", Some(&session)).await.status,
        200
    );
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200);
    let uri = r.body["otpauth_uri"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&session),
            json!({"code": code_at(&app, &uri)}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.get("/api/v1/tenants", Some(&session)).await.status, 200);

    // Superusers only: a plain user is not covered.
    let (app, _s) = TestApp::spawn_with(|c| {
        c.mfa.required_for = gatehouse::mfa::config::RequiredFor::Superusers;
    })
    .await;
    let (plain, _) = app.register(&unique_email("plain")).await;
    assert_eq!(app.get("/api/v1/tenants", Some(&plain)).await.status, 200);
    let (root, root_id) = app.register(&unique_email("root")).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&root_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = app.get("/api/v1/tenants", Some(&root)).await;
    assert_eq!((r.status, r.code()), (403, "mfa_enrolment_required"));
    let r = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn the_ragflow_profile_refuses_a_password_login_that_owes_a_second_step() {
    let (app, _s) = TestApp::spawn().await;
    let (_, _, _, _, email) = enrolled(&app, "rag").await;
    let base = spawn_ragflow(&app).await;
    let r = app
        .http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": ragflow_encrypt(PASSWORD)}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("authorization").is_none(), "no token");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], 109, "{body}");
    assert_eq!(
        body["message"],
        "Two-factor authentication is on for this account: sign in on the web page."
    );
}

#[tokio::test]
async fn botservers_login_answers_the_second_step_like_the_native_one() {
    let (app, _s) = TestApp::spawn().await;
    let (_, id, uri, _, email) = enrolled(&app, "botserver").await;
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["mfa_required"], true, "{}", r.body);
    assert!(
        r.body.get("token").is_none(),
        "no session before the second step"
    );
    let methods = r.body["methods"].as_array().unwrap();
    assert!(methods.contains(&json!("totp")), "{}", r.body);
    let token = r.body["mfa_token"].as_str().unwrap();
    let r = second_step(&app, token, &code_at(&app, &uri)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["id"], json!(id));
}

#[tokio::test]
async fn password_recovery_does_not_bypass_the_second_step() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let (_, _, _, _, email) = enrolled(&app, "forgot").await;
    let r = app.forgot(&email).await;
    assert_eq!(r.status, 202);
    let mails = app.mails_to(&email).await;
    let (_, _, text) = mails
        .iter()
        .rev()
        .find(|(k, _, _)| k == "recovery")
        .unwrap();
    let (_, token) = common::code_and_token(text);
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = app.login(&email, "a brand new passphrase").await;
    assert_eq!(r.body["mfa_required"], true, "{}", r.body);
}

#[tokio::test]
async fn every_mfa_and_passkey_route_is_in_the_openapi_document() {
    let (app, _s) = TestApp::spawn().await;
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    for (path, method) in [
        ("/api/v1/users/me/mfa", "get"),
        ("/api/v1/users/me/mfa/totp", "post"),
        ("/api/v1/users/me/mfa/totp", "delete"),
        ("/api/v1/users/me/mfa/totp/confirm", "post"),
        ("/api/v1/users/me/mfa/recovery-codes", "post"),
        ("/api/v1/auth/login/mfa", "post"),
        ("/api/v1/auth/login/mfa/passkey", "post"),
        ("/api/v1/users/me/passkeys/options", "post"),
        ("/api/v1/users/me/passkeys", "post"),
        ("/api/v1/users/me/passkeys/{id}", "patch"),
        ("/api/v1/users/me/passkeys/{id}", "delete"),
        ("/api/v1/auth/passkey/options", "post"),
        ("/api/v1/auth/passkey", "post"),
        ("/api/v1/admin/users/{id}/mfa", "delete"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    let sessions = &spec["components"]["schemas"]["SessionInfo"]["properties"];
    assert!(sessions["amr"].is_object(), "sessions list their amr");
}
