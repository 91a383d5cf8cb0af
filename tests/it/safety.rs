//! Account safety under attack (API.md "Account safety rules"): parallel guessing gets no more
//! tries than sequential guessing, a cap on consecutive failures that no time forgives, planted
//! accounts lose what was made before the owner's proof, limits on mail others can trigger,
//! notices for sign-in changes, and `password_login_enabled = false` enforced everywhere.

use crate::common;

use common::{PASSWORD, Resp, TestApp, superuser, unique_email};
use serde_json::json;

const NEW_PASSWORD: &str = "quiet lantern meadow";

/// Send `n` requests at once and gather (status, code) of each answer.
async fn at_once<F, Fut>(n: usize, request: F) -> Vec<(u16, String)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Resp> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(request())).collect();
    let mut answers = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        answers.push((r.status, r.code().to_string()));
    }
    answers
}

fn count(answers: &[(u16, String)], status: u16, code: &str) -> usize {
    answers
        .iter()
        .filter(|(s, c)| *s == status && c == code)
        .count()
}

#[tokio::test]
async fn parallel_wrong_logins_get_no_more_tries_than_sequential_ones() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("parallel");
    app.register(&email).await;
    let app = std::sync::Arc::new(app);
    let answers = at_once(100, || {
        let (app, email) = (app.clone(), email.clone());
        async move { app.login(&email, "wrong password guess").await }
    })
    .await;
    let wrong = count(&answers, 401, "invalid_credentials");
    let captcha = count(&answers, 400, "captcha_required");
    let limited = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(
        wrong, 3,
        "captcha_after_failures answers of 401: {answers:?}"
    );
    assert_eq!(wrong + captcha + limited, 100, "{answers:?}");
    // Three failures were counted, not 100: the account is not locked, only captcha-guarded.
    let (id, answer) = app.solved_captcha().await;
    let ok = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD, "captcha_id": id, "captcha_answer": answer}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[tokio::test]
async fn parallel_wrong_recovery_codes_get_five_tries() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("codes");
    app.register(&email).await;
    assert_eq!(app.forgot(&email).await.status, 202);
    let mails = app.mails_to(&email).await;
    let (code, _) = common::code_and_token(&mails[0].2);
    let wrong_code = if code == "000000" { "000001" } else { "000000" };
    let app = std::sync::Arc::new(app);
    let answers = at_once(30, || {
        let (app, email) = (app.clone(), email.clone());
        async move {
            app.post(
                "/api/v1/auth/password/forgot/verify",
                None,
                json!({"email": email, "code": wrong_code}),
            )
            .await
        }
    })
    .await;
    assert_eq!(count(&answers, 400, "invalid_code"), 5, "{answers:?}");
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 429).count(),
        25,
        "{answers:?}"
    );
    let right = app
        .post(
            "/api/v1/auth/password/forgot/verify",
            None,
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(right.status, 429, "the code died with the fifth wrong try");
}

/// A deployment where the permanent cap comes before anything else: no captcha, no temporary lock.
async fn capped_app(max: u32) -> (TestApp, common::Storage) {
    TestApp::spawn_with(|c| {
        c.captcha.enabled = false;
        c.lockout_threshold = 100;
        c.max_consecutive_failures = max;
    })
    .await
}

async fn fail_until_locked(app: &TestApp, email: &str, max: u32) {
    for attempt in 1..max {
        let r = app.login(email, "not the password").await;
        assert_eq!(
            (r.status, r.code()),
            (401, "invalid_credentials"),
            "attempt {attempt}"
        );
    }
    let last = app.login(email, "not the password").await;
    assert_eq!((last.status, last.code()), (429, "account_locked"));
}

#[tokio::test]
async fn max_consecutive_failures_lock_password_sign_in_until_an_unlock() {
    let (app, _s) = capped_app(6).await;
    let email = unique_email("capped");
    let (_, user_id) = app.register(&email).await;
    fail_until_locked(&app, &email, 6).await;
    let right = app.login(&email, PASSWORD).await;
    assert_eq!(
        (right.status, right.code()),
        (429, "account_locked"),
        "even the right password"
    );
    assert!(right.header("retry-after").is_none(), "no time lifts it");
    let kinds: Vec<String> = app
        .mails_to(&email)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(kinds, ["account_locked"], "the owner is told once");
    let locked = app.audit_events("user.locked").await;
    assert!(locked.iter().any(|(subject, detail)| {
        subject.as_deref() == Some(user_id.as_str()) && detail.contains("\"until_reset\":true")
    }));

    let (plain, _) = app.register(&unique_email("plain")).await;
    let path = format!("/api/v1/admin/users/{user_id}/unlock");
    let refused = app.post(&path, Some(&plain), json!({})).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let root = superuser(&app).await;
    let unlocked = app.post(&path, Some(&root), json!({})).await;
    assert_eq!(unlocked.status, 204, "{}", unlocked.body);
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    assert_eq!(app.audit_events("user.unlocked").await.len(), 1);
}

#[tokio::test]
async fn unknown_addresses_are_capped_alike() {
    let (app, _s) = capped_app(3).await;
    let nobody = unique_email("nobody");
    fail_until_locked(&app, &nobody, 3).await;
}

#[tokio::test]
async fn a_reset_by_mail_lifts_the_permanent_lock() {
    let (app, _s) = capped_app(4).await;
    let email = unique_email("reset-lock");
    app.register(&email).await;
    fail_until_locked(&app, &email, 4).await;
    reset_by_link(&app, &email).await;
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status, 200);
}

#[tokio::test]
async fn failures_are_recorded_by_a_keyed_tag_not_a_plain_hash_of_the_address() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("tagged");
    app.login(&email, "wrong password").await;
    let failed = app.audit_events("user.login_failed").await;
    let detail = &failed.last().unwrap().1;
    let plain_hash = gatehouse::tokens::sha256_hex(&email.to_lowercase());
    assert!(detail.contains("email_tag"), "{detail}");
    assert!(
        !detail.contains(&plain_hash),
        "an unsalted hash can be checked against guesses"
    );
}

/// Request a reset mail and use its link to set [`NEW_PASSWORD`].
async fn reset_by_link(app: &TestApp, email: &str) {
    assert_eq!(app.forgot(email).await.status, 202);
    let mails = app.mails_to(email).await;
    let (_, token) = common::code_and_token(&mails.last().unwrap().2);
    let reset = app
        .post(
            "/api/v1/auth/password/reset",
            None,
            json!({"reset_token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(reset.status, 204, "{}", reset.body);
}

/// An API key and a pending email change made by whoever holds `token`; returns the key and
/// the link token mailed to `new_email`.
async fn plant(app: &TestApp, token: &str, new_email: &str) -> (String, String) {
    let key = app
        .post("/api/v1/api-keys", Some(token), json!({"name": "planted"}))
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    let change = app
        .post(
            "/api/v1/users/me/email",
            Some(token),
            json!({"new_email": new_email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(change.status, 202, "{}", change.body);
    let mails = app.mails_to(new_email).await;
    let (_, link_token) = common::code_and_token(&mails[0].2);
    (key.body["key"].as_str().unwrap().to_string(), link_token)
}

#[tokio::test]
async fn a_planted_account_loses_its_keys_sessions_and_pending_change_at_the_owners_reset() {
    let (app, _s) = TestApp::spawn().await;
    let victim = unique_email("victim");
    let attacker = unique_email("attacker");
    // The attacker registers the victim's address (never verified) and plants access.
    let (session, _) = app.register(&victim).await;
    let (key, change_token) = plant(&app, &session, &attacker).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 200);
    // The real owner proves the address by resetting the password.
    reset_by_link(&app, &victim).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 401);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        401
    );
    let moved = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"token": change_token}),
        )
        .await;
    assert_eq!((moved.status, moved.code()), (400, "invalid_token"));
    let me = app.login(&victim, NEW_PASSWORD).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], victim.as_str());
    assert_eq!(me.body["user"]["email_verified"], true);
}

#[tokio::test]
async fn any_reset_revokes_api_keys_and_cancels_pending_email_changes() {
    let (app, _s) = TestApp::spawn().await;
    let owner = unique_email("owner");
    let (session, _) = app.register(&owner).await;
    sqlx::query("UPDATE users SET email_verified = 1 WHERE email = $1")
        .bind(&owner)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let (key, change_token) = plant(&app, &session, &unique_email("elsewhere")).await;
    reset_by_link(&app, &owner).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 401);
    let moved = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"token": change_token}),
        )
        .await;
    assert_eq!((moved.status, moved.code()), (400, "invalid_token"));
}

#[tokio::test]
async fn invitations_are_limited_per_user_per_hour() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("inviter")).await;
    let teams = app.get("/api/v1/tenants", Some(&token)).await;
    let tenant = teams.body[0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tenants/{tenant}/invitations");
    for i in 0..20 {
        let r = app
            .post(
                &path,
                Some(&token),
                json!({"email": unique_email(&format!("inv{i}")), "role": "member"}),
            )
            .await;
        assert_eq!(r.status, 201, "invitation {i}: {}", r.body);
    }
    let r = app
        .post(
            &path,
            Some(&token),
            json!({"email": unique_email("one-too-many"), "role": "member"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600, "{retry}");
}

#[tokio::test]
async fn email_change_requests_are_limited_per_user_per_hour() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("changer")).await;
    for i in 0..5 {
        let r = app
            .post(
                "/api/v1/users/me/email",
                Some(&token),
                json!({"new_email": unique_email(&format!("new{i}")), "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 202, "request {i}: {}", r.body);
    }
    let r = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": unique_email("sixth"), "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn verification_resends_mail_once_a_minute_and_are_limited_per_ip() {
    let (app, _s) = TestApp::spawn_with(|c| c.email_verification_required = true).await;
    let email = unique_email("resend");
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "nickname": "R"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = app
            .post(
                "/api/v1/auth/email/verification",
                None,
                json!({"email": email}),
            )
            .await;
        statuses.push(r.status);
    }
    // The registration counted as the first of 20 requests from this IP.
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 19);
    assert_eq!(*statuses.last().unwrap(), 429);
    assert_eq!(
        app.mails_to(&email).await.len(),
        1,
        "one mail within the minute: the registration's"
    );
}

#[tokio::test]
async fn a_password_change_and_an_email_change_mail_a_notice() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("notice");
    let (token, _) = app.register(&email).await;
    let changed = app
        .post(
            "/api/v1/users/me/password",
            Some(&token),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    let new_email = unique_email("moved");
    let requested = app
        .post(
            "/api/v1/users/me/email",
            Some(&token),
            json!({"new_email": new_email, "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(requested.status, 202);
    let (_, link) = common::code_and_token(&app.mails_to(&new_email).await[0].2);
    let confirmed = app
        .post("/api/v1/auth/email/verify", None, json!({"token": link}))
        .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);
    let kinds: Vec<String> = app
        .mails_to(&email)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        kinds,
        ["password_changed", "email_change_notice", "sign_in_changed"]
    );
    let notice = app.mails_to(&email).await.pop().unwrap();
    assert!(notice.2.contains(&new_email), "{}", notice.2);
}

#[tokio::test]
async fn with_password_login_off_no_route_creates_or_uses_a_password() {
    let (app, _s) = TestApp::spawn_with(|c| c.password_login_enabled = false).await;
    let email = unique_email("nopassword");
    let checks = [
        (
            "/api/v1/auth/register",
            json!({"email": email, "password": PASSWORD, "nickname": "N"}),
        ),
        (
            "/api/v1/auth/login",
            json!({"email": email, "password": PASSWORD}),
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": email, "captcha_id": "x", "captcha_answer": "y"}),
        ),
        (
            "/api/v1/auth/password/forgot/verify",
            json!({"email": email, "code": "123456"}),
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"reset_token": "whatever", "new_password": NEW_PASSWORD}),
        ),
    ];
    for (path, body) in checks {
        let r = app.post(path, None, body).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "password_login_disabled"),
            "{path}"
        );
    }
}

#[test]
fn ipv6_clients_are_counted_by_their_64() {
    use gatehouse::tokens::ip_bucket;
    let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: std::net::IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
    let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(ip_bucket(a), ip_bucket(b));
    assert_ne!(ip_bucket(a), ip_bucket(other));
    let v4: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(ip_bucket(v4), "192.0.2.7");
    assert_eq!(ip_bucket(mapped), ip_bucket(v4));
}
