//! Single-use tokens and locks across two instances on one PostgreSQL + Redis: whatever is used
//! up, revoked or locked on instance A is refused by instance B at once. (Like the two-instance
//! tests of tests/it/protection.rs, these always run on PostgreSQL + Redis: two instances with
//! in-process state would not share it, which is why a scaled deployment needs Redis.)

use crate::common;

use common::{PASSWORD, Resp, Storage, TestApp, assert_error, base_config, unique_email};
use gatehouse::config::Config;
use serde_json::json;

const NEW_PASSWORD: &str = "quiet lantern meadow";

/// Two instances on one fresh PostgreSQL database and one Redis prefix, both built from `config`.
async fn pair(tweak: impl Fn(&mut Config)) -> (TestApp, TestApp, Storage) {
    let storage = Storage::new(true, true).await;
    let config = || {
        let mut c = base_config(&storage);
        tweak(&mut c);
        c
    };
    let a = TestApp::spawn_on(&storage, config()).await;
    let b = TestApp::spawn_on(&storage, config()).await;
    (a, b, storage)
}

/// The text of the newest queued mail of `kind` to `to` (both instances share the outbox).
async fn last_mail(app: &TestApp, to: &str, kind: &str) -> String {
    sqlx::query_scalar(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(to)
    .bind(kind)
    .fetch_optional(app.state.db.pool())
    .await
    .unwrap()
    .unwrap_or_else(|| panic!("no {kind} mail to {to}"))
}

/// The six-digit code of a mail body.
fn code_of(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in the mail"))
        .to_string()
}

/// The token of the first link in a mail body that holds `marker` (`token=` or `/invitations/`).
fn token_after(text: &str, marker: &str) -> String {
    text.split(marker)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {marker} link in the mail"))
        .to_string()
}

async fn forgot(app: &TestApp, email: &str, captcha_id: &str, answer: &str) -> Resp {
    app.post(
        "/api/v1/auth/password/forgot",
        None,
        json!({"email": email, "captcha_id": captcha_id, "captcha_answer": answer}),
    )
    .await
}

async fn verify_code(app: &TestApp, email: &str, code: &str) -> Resp {
    app.post(
        "/api/v1/auth/password/forgot/verify",
        None,
        json!({"email": email, "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_captcha_answered_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let nobody = unique_email("captcha");

    let (id, answer) = a.solved_captcha().await;
    let r = forgot(&a, &nobody, &id, &answer).await;
    assert_eq!(r.status, 202, "the right answer on A: {}", r.text);
    let r = forgot(&b, &nobody, &id, &answer).await;
    assert_error(&r, 400, "invalid_captcha", "the same answer again on B");

    // One answer attempt per captcha: a wrong answer on A uses it up for B as well.
    let (id, answer) = a.solved_captcha().await;
    let wrong = if answer.eq_ignore_ascii_case("AAAAA") {
        "BBBBB"
    } else {
        "AAAAA"
    };
    let r = forgot(&a, &nobody, &id, wrong).await;
    assert_error(&r, 400, "invalid_captcha", "a wrong answer on A");
    let r = forgot(&b, &nobody, &id, &answer).await;
    assert_error(
        &r,
        400,
        "invalid_captcha",
        "the right answer on B after A's try",
    );
}

#[tokio::test]
async fn a_reset_token_used_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let email = unique_email("reset2");
    a.register(&email).await;
    let (id, answer) = a.solved_captcha().await;
    assert_eq!(forgot(&a, &email, &id, &answer).await.status, 202);
    let mail = last_mail(&a, &email, "recovery").await;
    let code = code_of(&mail);

    let v = verify_code(&a, &email, &code).await;
    assert_eq!(v.status, 200, "the code on A: {}", v.text);
    let reset_token = v.body["reset_token"].as_str().unwrap().to_string();
    let again = verify_code(&b, &email, &code).await;
    assert_error(&again, 400, "invalid_code", "the same code again on B");

    let ok = a
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": reset_token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, 204, "the reset token on A: {}", ok.text);
    let reused = b
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": reset_token, "new_password": "another fine passphrase"}),
        )
        .await;
    assert_error(&reused, 400, "invalid_token", "the same reset token on B");
    assert_eq!(
        b.login(&email, NEW_PASSWORD).await.status,
        200,
        "the password set on A holds on B"
    );
}

#[tokio::test]
async fn a_mailed_reset_link_used_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let email = unique_email("resetlink2");
    a.register(&email).await;
    let (id, answer) = a.solved_captcha().await;
    assert_eq!(forgot(&a, &email, &id, &answer).await.status, 202);
    let token = token_after(&last_mail(&a, &email, "recovery").await, "token=");

    let ok = a
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(ok.status, 204, "the link token on A: {}", ok.text);
    let reused = b
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": "another fine passphrase"}),
        )
        .await;
    assert_error(&reused, 400, "invalid_token", "the same link token on B");
}

#[tokio::test]
async fn a_recovery_lock_made_on_one_instance_holds_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let email = unique_email("codelock2");
    a.register(&email).await;
    let (id, answer) = a.solved_captcha().await;
    assert_eq!(forgot(&a, &email, &id, &answer).await.status, 202);
    let code = code_of(&last_mail(&a, &email, "recovery").await);
    let wrong = if code == "000000" { "111111" } else { "000000" };

    // Five wrong codes spread over both instances: each one alone saw fewer than five.
    for (attempt, app) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let r = verify_code(app, &email, wrong).await;
        assert_error(
            &r,
            400,
            "invalid_code",
            &format!("wrong code {}", attempt + 1),
        );
    }
    for (name, app) in [("B", &b), ("A", &a)] {
        let r = verify_code(app, &email, &code).await;
        assert_error(
            &r,
            429,
            "too_many_attempts",
            &format!("the right code on {name} after five wrong ones"),
        );
        assert!(r.header("retry-after").is_some(), "Retry-After on {name}");
    }
}

#[tokio::test]
async fn a_verification_link_or_code_used_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|c| c.email_verification_required = true).await;
    let register = |email: String| {
        let a = &a;
        async move {
            let r = a
                .post(
                    "/api/v1/auth/register",
                    None,
                    json!({"email": email, "password": PASSWORD, "nickname": "V"}),
                )
                .await;
            assert_eq!(r.status, 202, "register {email}: {}", r.text);
        }
    };

    let by_link = unique_email("vlink2");
    register(by_link.clone()).await;
    let token = token_after(&last_mail(&a, &by_link, "verification").await, "token=");
    let ok = a
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_eq!(ok.status, 204, "the link on A: {}", ok.text);
    let again = b
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_error(&again, 400, "invalid_token", "the same link on B");

    let by_code = unique_email("vcode2");
    register(by_code.clone()).await;
    let code = code_of(&last_mail(&a, &by_code, "verification").await);
    let body = json!({"email": by_code, "code": code});
    let ok = a
        .post("/api/v1/auth/email/verify", None, body.clone())
        .await;
    assert_eq!(ok.status, 204, "the code on A: {}", ok.text);
    let again = b.post("/api/v1/auth/email/verify", None, body).await;
    assert_error(&again, 400, "invalid_code", "the same code on B");
    assert_eq!(b.login(&by_code, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn an_email_change_link_used_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let old = unique_email("chg-old");
    let new = unique_email("chg-new");
    let (session, _) = a.register(&old).await;
    let r = a
        .post(
            "/api/v1/users/me/email",
            Some(&session),
            json!({"new_email": new, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let token = token_after(&last_mail(&a, &new, "email_change_confirm").await, "token=");
    let ok = a
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_eq!(ok.status, 204, "the confirmation on A: {}", ok.text);
    let again = b
        .post("/api/v1/auth/email/verify", None, json!({"token": token}))
        .await;
    assert_error(&again, 400, "invalid_token", "the same confirmation on B");
    let me = b.get("/api/v1/users/me", Some(&session)).await;
    assert_eq!(me.body["email"], new.as_str(), "{}", me.text);
}

#[tokio::test]
async fn an_invitation_accepted_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let (owner, _) = a.register(&unique_email("inv-owner")).await;
    let t = a
        .post("/api/v1/tenants", Some(&owner), json!({"name": "Crew"}))
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let tenant = t.body["id"].as_str().unwrap().to_string();
    let guest = unique_email("inv-guest");
    let r = a
        .post(
            &format!("/api/v1/tenants/{tenant}/invitations"),
            Some(&owner),
            json!({"email": guest, "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = token_after(&last_mail(&a, &guest, "invitation").await, "/invitations/");
    let (guest_session, _) = b.register(&guest).await;

    let ok = a
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_session),
            json!({}),
        )
        .await;
    assert_eq!(ok.status, 204, "accepted on A: {}", ok.text);
    let again = b
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_session),
            json!({}),
        )
        .await;
    assert_error(&again, 400, "invalid_token", "the same invitation on B");
    let offer = b.get(&format!("/api/v1/invitations/{token}"), None).await;
    assert_error(&offer, 400, "invalid_token", "its preview on B");
}

#[tokio::test]
async fn an_api_key_revoked_on_one_instance_is_refused_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let (session, _) = a.register(&unique_email("key2")).await;
    let k = a
        .post("/api/v1/api-keys", Some(&session), json!({"name": "ci"}))
        .await;
    assert_eq!(k.status, 201, "{}", k.text);
    let key = k.body["key"].as_str().unwrap().to_string();
    let key_id = k.body["id"].as_str().unwrap().to_string();
    let r = b.get("/api/v1/users/me", Some(&key)).await;
    assert_eq!(r.status, 200, "a key made on A used on B: {}", r.text);

    let r = a
        .delete(&format!("/api/v1/api-keys/{key_id}"), Some(&session))
        .await;
    assert_eq!(r.status, 204, "revoked on A: {}", r.text);
    let r = b.get("/api/v1/users/me", Some(&key)).await;
    assert_error(&r, 401, "unauthenticated", "the revoked key on B");
    let r = a.get("/api/v1/users/me", Some(&key)).await;
    assert_error(&r, 401, "unauthenticated", "the revoked key on A");
}

#[tokio::test]
async fn a_logout_on_one_instance_ends_the_session_on_the_other() {
    let (a, b, _s) = pair(|_| {}).await;
    let (session, _) = a.register(&unique_email("logout2")).await;
    assert_eq!(b.get("/api/v1/users/me", Some(&session)).await.status, 200);
    let r = a
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            Some(&session),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "logout on A: {}", r.text);
    let r = b.get("/api/v1/users/me", Some(&session)).await;
    assert_error(&r, 401, "unauthenticated", "the logged-out session on B");
}
