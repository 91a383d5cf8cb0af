//! Password recovery (code and link), email verification and email change, read from the
//! durable outbox the way the mail worker reads it.

use crate::common;

use common::{PASSWORD, TestApp, unique_email};
use serde_json::json;

const NEW_PASSWORD: &str = "quiet lantern meadow";

#[tokio::test]
async fn forgot_answers_alike_for_known_and_unknown_addresses() {
    let (app, _s) = TestApp::spawn().await;
    let known = unique_email("known");
    app.register(&known).await;
    let unknown = unique_email("unknown");
    let a = app.forgot(&known).await;
    let b = app.forgot(&unknown).await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(a.text, b.text);
    assert_eq!(a.body, json!({"status": "sent"}));
    let mails = app.mails_to(&known).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "recovery");
    assert!(mails[0].2.contains(&format!(
        "{}/reset-password?token=",
        app.state.public_base_url
    )));
    assert!(app.mails_to(&unknown).await.is_empty());
    let again = app.forgot(&known).await;
    assert_eq!(again.status, 202);
    assert_eq!(
        app.mails_to(&known).await.len(),
        1,
        "at most one mail per address per minute"
    );
    assert_eq!(
        app.audit_events("user.password_reset_requested")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn forgot_needs_a_right_captcha_unless_it_is_off() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("cap");
    app.register(&email).await;
    let none = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": email}),
        )
        .await;
    assert_eq!((none.status, none.code()), (400, "invalid_captcha"));
    let (id, _) = app.solved_captcha().await;
    let wrong = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": email, "captcha_id": id, "captcha_answer": "zzzzz"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (400, "invalid_captcha"));
    assert!(app.mails_to(&email).await.is_empty());

    let (off, _s2) = TestApp::spawn_with(|c| c.captcha.enabled = false).await;
    let email = unique_email("nocap");
    off.register(&email).await;
    let r = off
        .post(
            "/api/v1/auth/password/forgot",
            None,
            json!({"email": email}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(off.mails_to(&email).await.len(), 1);
}

#[tokio::test]
async fn code_then_reset_signs_everyone_out_and_sets_the_password() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("reset");
    let (old_token, user_id) = app.register(&email).await;
    app.forgot(&email).await;
    let (code, _) = common::code_and_token(&app.mails_to(&email).await[0].2);
    let v = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email.to_uppercase(), "code": code}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["expires_in"], 1800);
    let reset_token = v.body["reset_token"].as_str().unwrap().to_string();
    let again = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (400, "invalid_code"),
        "a code works once"
    );

    let weak = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": reset_token, "new_password": "password1"}),
        )
        .await;
    assert_eq!((weak.status, weak.code()), (422, "weak_password"));
    let ok = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": reset_token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert!(ok.header("set-cookie").is_none(), "no automatic login");
    assert_eq!(
        app.get("/api/v1/users/me", Some(&old_token)).await.status,
        401
    );
    let reused = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": reset_token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!((reused.status, reused.code()), (400, "invalid_token"));
    assert_eq!(app.login(&email, PASSWORD).await.status, 401);
    let login = app.login(&email, NEW_PASSWORD).await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["user"]["email_verified"], true);
    let kinds: Vec<String> = app
        .mails_to(&email)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(kinds, ["recovery", "password_changed"]);
    let resets = app.audit_events("user.password_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].0.as_deref(), Some(user_id.as_str()));
}

#[tokio::test]
async fn the_mailed_link_token_resets_directly() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("link");
    app.register(&email).await;
    app.forgot(&email).await;
    let (_, token) = common::code_and_token(&app.mails_to(&email).await[0].2);
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
    let bad = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": "nonsense", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_token"));
}

#[tokio::test]
async fn link_tokens_expire_after_thirty_minutes() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("late");
    app.register(&email).await;
    app.forgot(&email).await;
    let (code, token) = common::code_and_token(&app.mails_to(&email).await[0].2);
    app.state.clock.advance(31 * 60);
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_token"));
    let v = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(
        (v.status, v.code()),
        (400, "invalid_code"),
        "codes expire after 15 minutes"
    );
}

#[tokio::test]
async fn five_wrong_codes_lock_the_address_and_a_new_mail_does_not_unlock_it() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("brute");
    app.register(&email).await;
    app.forgot(&email).await;
    let (code, _) = common::code_and_token(&app.mails_to(&email).await[0].2);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for attempt in 1..=5 {
        let r = app
            .post(
                "/api/v1/auth/password/forgot/verify",
                None,
                json!({"email": email, "code": wrong}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_code"),
            "attempt {attempt}"
        );
    }
    let right = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!((right.status, right.code()), (429, "too_many_attempts"));
    assert!(right.header("retry-after").is_some());
    // A minute later a new mail may be sent; its code is refused while the lock holds.
    app.state
        .kv
        .del(&gatehouse::codes::key(
            &app.state,
            "mail",
            "recovery",
            &email.to_lowercase(),
        ))
        .await
        .unwrap();
    app.forgot(&email).await;
    let mails = app.mails_to(&email).await;
    assert_eq!(mails.len(), 2);
    let (fresh, _) = common::code_and_token(&mails[1].2);
    let r = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email, "code": fresh}),
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "too_many_attempts"));
    let unknown = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": unique_email("ghost"), "code": "123456"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (400, "invalid_code"),
        "unknown addresses answer like wrong codes"
    );
}

#[tokio::test]
async fn eight_concurrent_resets_with_one_token_succeed_once() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("race");
    app.register(&email).await;
    app.forgot(&email).await;
    let (_, token) = common::code_and_token(&app.mails_to(&email).await[0].2);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let request = app.http.post(app.url("/api/v1/auth/password/reset")).json(
                &json!({"reset_token": token, "new_password": format!("{NEW_PASSWORD} {i}")}),
            );
            tokio::spawn(async move { common::Resp::from(request.send().await.unwrap()).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.status == 204).count();
    let refused = results
        .iter()
        .filter(|r| r.status == 400 && r.code() == "invalid_token")
        .count();
    assert_eq!(
        (ok, refused),
        (1, 7),
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn verification_required_flow_by_code_and_by_link() {
    let (app, _s) = TestApp::spawn_with(|c| c.email_verification_required = true).await;
    let email = unique_email("v");
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "nickname": "V", "language": "zh-CN"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let mails = app.mails_to(&email).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "verification");
    assert!(
        mails[0].1.contains("确认"),
        "the chosen language: {}",
        mails[0].1
    );
    let (code, _) = common::code_and_token(&mails[0].2);
    assert_eq!(app.login(&email, PASSWORD).await.code(), "email_unverified");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let bad = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"email": email, "code": wrong}),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_code"));
    let ok = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    assert_eq!(app.audit_events("user.email_verified").await.len(), 1);

    let other = unique_email("vlink");
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": other, "password": PASSWORD, "nickname": "W"}),
    )
    .await;
    let resend = app
        .post(
            "/api/v1/auth/email/verification",
            None,
            json!({"email": other}),
        )
        .await;
    assert_eq!(resend.status, 202);
    let ghost = app
        .post(
            "/api/v1/auth/email/verification",
            None,
            json!({"email": unique_email("ghost")}),
        )
        .await;
    assert_eq!((ghost.status, &ghost.text), (202, &resend.text));
    let mails = app.mails_to(&other).await;
    assert_eq!(
        mails.len(),
        1,
        "the resend came within the minute of the first mail"
    );
    let (_, token) = common::code_and_token(&mails[0].2);
    let ok = app
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_eq!(ok.status, 204);
    let again = app
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_eq!((again.status, again.code()), (400, "invalid_token"));
    let neither = app.post("/api/v1/auth/email/verify", None, json!({})).await;
    assert_eq!(neither.status, 422);
}

#[tokio::test]
async fn registering_a_taken_address_mails_its_owner_and_answers_alike() {
    let (app, _s) = TestApp::spawn_with(|c| c.email_verification_required = true).await;
    let email = unique_email("dup");
    let body = json!({"email": email, "password": PASSWORD, "nickname": "D"});
    let first = app.post("/api/v1/auth/register", None, body.clone()).await;
    let second = app.post("/api/v1/auth/register", None, body).await;
    assert_eq!(first.text, second.text);
    let kinds: Vec<String> = app
        .mails_to(&email)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(kinds, ["verification", "signup_attempt"]);
}

#[tokio::test]
async fn login_after_verification_signs_in() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.email_verification_required = true;
        c.login_after_verification = true;
    })
    .await;
    let email = unique_email("auto");
    app.post(
        "/api/v1/auth/register",
        None,
        json!({"email": email, "password": PASSWORD, "nickname": "A"}),
    )
    .await;
    let (_, token) = common::code_and_token(&app.mails_to(&email).await[0].2);
    let r = app
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let session = r.body["session"]["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/users/me", Some(session)).await.body["email_verified"],
        true
    );
    assert!(r.header("set-cookie").is_some());
}

#[tokio::test]
async fn email_change_is_confirmed_from_the_new_address() {
    let (app, _s) = TestApp::spawn().await;
    let old = unique_email("old");
    let (token, _) = app.register(&old).await;
    let new = unique_email("new");
    let r = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": new, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 202);
    let notice = app.mails_to(&old).await;
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].0, "email_change_notice");
    assert!(notice[0].2.contains(&new));
    let confirm = app.mails_to(&new).await;
    assert_eq!(confirm[0].0, "email_change_confirm");
    let (code, _) = common::code_and_token(&confirm[0].2);
    let ok = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"email": new, "code": code}),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let me = app.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(
        (
            me.body["email"].as_str(),
            me.body["email_verified"].as_bool()
        ),
        (Some(new.as_str()), Some(true))
    );
    assert_eq!(app.login(&new, PASSWORD).await.status, 200);
    assert_eq!(app.login(&old, PASSWORD).await.status, 401);
    assert_eq!(app.audit_events("user.email_changed").await.len(), 1);
}

#[tokio::test]
async fn email_change_by_link_fails_if_the_address_was_taken_meanwhile() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("mover")).await;
    let target = unique_email("target");
    app.post(
        "/api/v1/users/me/email",
        Some(&token),
        json!({"new_email": target, "password": PASSWORD}),
    )
    .await;
    let (_, link) = common::code_and_token(&app.mails_to(&target).await[0].2);
    app.register(&target).await;
    let r = app
        .post("/api/v1/auth/email/verify", None, json!({"token": link}))
        .await;
    assert_eq!((r.status, r.code()), (409, "email_taken"));
}
