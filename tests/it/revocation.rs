//! Every way a session can be ended takes effect for the very next request, on the backend
//! the environment chooses: the session check reads the database on every request (on SQLite
//! through its own same-thread connections), so nothing may keep a revoked session alive.

use crate::common;

use common::{PASSWORD, TestApp, superuser, unique_email};
use serde_json::json;

async fn second_session(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["session"]["token"].as_str().unwrap().to_string()
}

async fn assert_live(app: &TestApp, token: &str, what: &str) {
    let r = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(r.status, 200, "{what} should still work: {}", r.text);
}

async fn assert_ended(app: &TestApp, token: &str, what: &str) {
    let r = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthenticated"),
        "{what}: {}",
        r.text
    );
}

#[tokio::test]
async fn the_owners_revocations_end_sessions_at_once() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let email = unique_email("owner");
    let (first, _) = app.register(&email).await;

    // One session revoked by id from another.
    let second = second_session(&app, &email).await;
    assert_live(&app, &second, "the second session").await;
    let sessions = app.get("/api/v1/users/me/sessions", Some(&first)).await;
    let id =
        sessions.body.as_array().unwrap().iter().find_map(|s| {
            (s["current"] != json!(true)).then(|| s["id"].as_str().unwrap().to_string())
        });
    let r = app
        .delete(
            &format!("/api/v1/users/me/sessions/{}", id.unwrap()),
            Some(&first),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_ended(&app, &second, "a session revoked by id").await;
    assert_live(&app, &first, "the revoking session").await;

    // All others at once.
    let third = second_session(&app, &email).await;
    let r = app.delete("/api/v1/users/me/sessions", Some(&first)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_ended(&app, &third, "a session after 'sign out everywhere else'").await;

    // Logout.
    let r = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&first),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_ended(&app, &first, "a logged-out session").await;
}

#[tokio::test]
async fn an_administrators_revocations_end_sessions_at_once() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let root = superuser(&app).await;
    let (token, id) = app.register(&unique_email("member")).await;
    assert_live(&app, &token, "the member's session").await;
    let r = app
        .delete(&format!("/api/v1/admin/users/{id}/sessions"), Some(&root))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_ended(&app, &token, "a session the admin API revoked").await;

    let (token, id) = app.register(&unique_email("disabled")).await;
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/users/{id}"),
            Some(&root),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ended(&app, &token, "a session of a user the admin API disabled").await;
}

#[tokio::test]
async fn the_command_line_in_another_process_ends_sessions_at_once() {
    let (app, storage) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let email = unique_email("cli");
    let (token, _) = app.register(&email).await;
    assert_live(&app, &token, "the session before the CLI runs").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_DATABASE_URL", &storage.database_url)
        .env(
            "GATEHOUSE_SECRET_KEY",
            "test-secret-key-0123456789abcdef0123456789",
        )
        .args(["--data-dir"])
        .arg(storage.dir.path())
        .args(["admin", "users", "disable", &email])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ended(&app, &token, "a session of a user the CLI disabled").await;
}

/// Session checks arriving together (on PostgreSQL they share one statement) each answer for
/// their own session: the right user for a live token, 401 for an unknown or revoked one.
#[tokio::test]
async fn session_checks_made_at_once_each_answer_for_their_own_session() {
    let (app, _s) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let mut users = Vec::new();
    for n in 0..12 {
        let email = unique_email(&format!("crowd{n}"));
        let (token, _) = app.register(&email).await;
        users.push((email, token));
    }
    let (revoked_email, revoked) = users.pop().unwrap();
    let r = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&revoked),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    let unknown = "ghs_0000000000000000000000000000000000000000000".to_string();
    let mut checks = Vec::new();
    for round in 0..4 {
        for (email, token) in &users {
            checks.push((Some(email.clone()), token.clone()));
        }
        checks.push((None, unknown.clone()));
        if round % 2 == 0 {
            checks.push((None, revoked.clone()));
        }
    }
    let answers = futures_util::future::join_all(
        checks
            .iter()
            .map(|(_, token)| app.get("/api/v1/users/me", Some(token))),
    )
    .await;
    for ((expected, _), r) in checks.iter().zip(&answers) {
        match expected {
            Some(email) => {
                assert_eq!(r.status, 200, "{email}: {}", r.text);
                assert_eq!(r.body["email"], json!(email), "{}", r.text);
            }
            None => assert_eq!(
                (r.status, r.code()),
                (401, "unauthenticated"),
                "an unknown token, or {revoked_email}'s revoked one: {}",
                r.text
            ),
        }
    }
}
