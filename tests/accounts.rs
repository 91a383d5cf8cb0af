//! Registration, sign-in, profile, password and email changes, deletion.

mod common;

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
    let out = app
        .post("/api/v1/auth/logout", Some(&token), json!({}))
        .await;
    assert_eq!(out.status, 204);
    let me = app.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(me.status, 401);
    assert_eq!(me.code(), "unauthenticated");
    assert_eq!(me.header("www-authenticate").as_deref(), Some("Bearer"));
}
