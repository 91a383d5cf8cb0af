//! Login protection and session safety: captcha after failures, lockout, per-IP counting behind
//! trusted proxies, the cookie same-origin rule, racing registrations, password changes, session
//! revocation, and the guarantees that must hold across several instances on shared storage.

use crate::common;

use common::{PASSWORD, Resp, Storage, TestApp, assert_error, base_config, unique_email};
use gatehouse::config::HumanDuration;
use serde_json::{Value, json};

/// A request with extra headers (and no bearer token unless given in `headers`).
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut req = app.http.request(method, app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Resp::from(req.send().await.unwrap()).await
}

/// A login attempt sent with extra headers (e.g. `X-Forwarded-For`).
async fn login_with(app: &TestApp, email: &str, password: &str, headers: &[(&str, &str)]) -> Resp {
    send(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        headers,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// A login attempt carrying captcha fields.
async fn login_captcha(app: &TestApp, email: &str, password: &str, id: &str, answer: &str) -> Resp {
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password, "captcha_id": id, "captcha_answer": answer}),
    )
    .await
}

#[tokio::test]
async fn captcha_is_required_after_consecutive_failures() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("cap");
    app.register(&email).await;

    for i in 1..=3 {
        let r = app.login(&email, "wrong password here").await;
        assert_error(&r, 401, "invalid_credentials", &format!("failure {i}"));
    }

    // The streak makes the captcha due, even for the right password.
    let r = app.login(&email, PASSWORD).await;
    assert_error(&r, 400, "captcha_required", "4th attempt without captcha");

    // A wrong answer is refused, and uses the challenge up.
    let (id, answer) = app.solved_captcha().await;
    let r = login_captcha(&app, &email, PASSWORD, &id, "!!!!!").await;
    assert_error(&r, 400, "invalid_captcha", "wrong captcha answer");
    let r = login_captcha(&app, &email, PASSWORD, &id, &answer).await;
    assert_error(
        &r,
        400,
        "invalid_captcha",
        "reusing an answered captcha, even with its right answer",
    );

    // A fresh, correctly answered captcha with the right password signs in...
    let (id, answer) = app.solved_captcha().await;
    let r = login_captcha(&app, &email, PASSWORD, &id, &answer).await;
    assert_eq!(r.status, 200, "right captcha and password: {}", r.text);
    assert!(r.body["session"]["token"].as_str().is_some());

    // ...and a success resets the account's streak: captcha is no longer due.
    let r = app.login(&email, "wrong password here").await;
    assert_error(
        &r,
        401,
        "invalid_credentials",
        "first failure after a success",
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_identically() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("known");
    app.register(&email).await;

    let wrong = app.login(&email, "not the password at all").await;
    let unknown = app
        .login(&unique_email("nobody"), "not the password at all")
        .await;
    assert_error(&wrong, 401, "invalid_credentials", "wrong password");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.text, unknown.text, "bodies must be identical");
    assert_eq!(
        wrong.header("www-authenticate"),
        unknown.header("www-authenticate")
    );
}

#[tokio::test]
async fn account_locks_after_threshold() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.lockout_threshold = 5;
        c.captcha.enabled = false;
        c.lockout_duration = HumanDuration::from_secs(2);
    })
    .await;
    let email = unique_email("lock");
    let (_, user_id) = app.register(&email).await;

    for i in 1..=5 {
        let r = app.login(&email, "wrong password here").await;
        assert_error(&r, 401, "invalid_credentials", &format!("failure {i}"));
    }

    let r = app.login(&email, PASSWORD).await;
    assert_error(
        &r,
        429,
        "rate_limited",
        "right password on a locked account",
    );
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After header on 429")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=2).contains(&retry),
        "Retry-After {retry} outside 1..=2 for a 2 s lock"
    );

    let locked = app.audit_events("user.locked").await;
    assert!(
        locked
            .iter()
            .any(|(subject, _)| subject.as_deref() == Some(user_id.as_str())),
        "no user.locked event for {user_id}: {locked:?}"
    );

    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(r.status, 200, "after the lock expired: {}", r.text);
}

#[tokio::test]
async fn ip_captcha_after_many_failures_from_one_ip() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.ip_captcha_after_failures = 4;
        c.captcha_after_failures = 100;
    })
    .await;

    for i in 1..=4 {
        let r = app
            .login(&unique_email("spray"), "wrong password here")
            .await;
        assert_error(&r, 401, "invalid_credentials", &format!("failure {i}"));
    }
    let r = app
        .login(&unique_email("spray"), "wrong password here")
        .await;
    assert_error(&r, 400, "captcha_required", "5th email from the same IP");
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    // Behind a trusted proxy (the test client connects from 127.0.0.1), the forwarded address counts.
    let (app, _s) = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.ip_captcha_after_failures = 2;
        c.captcha_after_failures = 100;
    })
    .await;
    let seven = [("x-forwarded-for", "203.0.113.7")];
    let eight = [("x-forwarded-for", "203.0.113.8")];
    for i in 1..=2 {
        let r = login_with(&app, &unique_email("xff"), "wrong password here", &seven).await;
        assert_error(
            &r,
            401,
            "invalid_credentials",
            &format!("failure {i} from .7"),
        );
    }
    let r = login_with(&app, &unique_email("xff"), "wrong password here", &seven).await;
    assert_error(&r, 400, "captcha_required", "203.0.113.7 after 2 failures");
    let r = login_with(&app, &unique_email("xff"), "wrong password here", &eight).await;
    assert_error(
        &r,
        401,
        "invalid_credentials",
        "203.0.113.8 must not share the count of .7",
    );
    app.stop().await;

    // Without trusted proxies the header is the client's own claim: changing it escapes nothing.
    let (app, _s) = TestApp::spawn_with(|c| {
        c.ip_captcha_after_failures = 2;
        c.captcha_after_failures = 100;
    })
    .await;
    for (i, xff) in ["203.0.113.7", "203.0.113.8"].iter().enumerate() {
        let r = login_with(
            &app,
            &unique_email("xff"),
            "wrong password here",
            &[("x-forwarded-for", xff)],
        )
        .await;
        assert_error(
            &r,
            401,
            "invalid_credentials",
            &format!("failure {}", i + 1),
        );
    }
    let r = login_with(
        &app,
        &unique_email("xff"),
        "wrong password here",
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await;
    assert_error(
        &r,
        400,
        "captcha_required",
        "an untrusted peer changing X-Forwarded-For",
    );
}

#[tokio::test]
async fn csrf_same_origin_rule_for_cookie_writes() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("csrf")).await;
    let cookie = format!("gatehouse_session={token}");
    let patch = |headers: Vec<(&'static str, String)>, nickname: &'static str| {
        let app = &app;
        async move {
            let mut req = app
                .http
                .patch(app.url("/api/v1/users/me"))
                .json(&json!({"nickname": nickname}));
            for (name, value) in headers {
                req = req.header(name, value);
            }
            Resp::from(req.send().await.unwrap()).await
        }
    };

    let r = patch(vec![("cookie", cookie.clone())], "NoOrigin").await;
    assert_error(&r, 403, "csrf_failed", "cookie PATCH without Origin");

    let r = patch(
        vec![
            ("cookie", cookie.clone()),
            ("origin", "https://evil.example".into()),
        ],
        "Evil",
    )
    .await;
    assert_error(&r, 403, "csrf_failed", "cookie PATCH from a foreign Origin");

    let r = patch(
        vec![
            ("cookie", cookie.clone()),
            ("sec-fetch-site", "same-origin".into()),
        ],
        "FetchSite",
    )
    .await;
    assert_eq!(r.status, 200, "Sec-Fetch-Site: same-origin: {}", r.text);
    assert_eq!(r.body["nickname"], "FetchSite");

    let r = patch(
        vec![("cookie", cookie.clone()), ("origin", app.base.clone())],
        "SameOrigin",
    )
    .await;
    assert_eq!(r.status, 200, "Origin = own origin: {}", r.text);
    assert_eq!(r.body["nickname"], "SameOrigin");

    let r = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/users/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "cookie GET without Origin: {}", r.text);
    assert_eq!(r.body["nickname"], "SameOrigin");

    let r = patch(vec![("authorization", format!("Bearer {token}"))], "Bearer").await;
    assert_eq!(r.status, 200, "Bearer PATCH without Origin: {}", r.text);
    assert_eq!(r.body["nickname"], "Bearer");
}

/// Over https the session cookie is `__Host-gatehouse_session` (Secure, Path=/, no Domain), the
/// only name that authenticates there; over http it stays `gatehouse_session`.
#[tokio::test]
async fn over_https_the_session_cookie_carries_the_host_prefix() {
    const HTTPS: &str = "https://id.example.test";
    let (app, _s) = TestApp::spawn_with(|c| c.public_base_url = Some(HTTPS.into())).await;
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": unique_email("host"), "password": PASSWORD, "nickname": "Host"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let set = r.header("set-cookie").unwrap();
    let token = r.body["session"]["token"].as_str().unwrap().to_string();
    assert!(
        set.starts_with(&format!("__Host-gatehouse_session={token};")),
        "{set}"
    );
    assert!(
        set.contains("; Secure") && set.contains("; Path=/;") && !set.contains("Domain"),
        "{set}"
    );
    let me = |cookie: String| {
        let app = &app;
        async move {
            send(
                app,
                reqwest::Method::GET,
                "/api/v1/users/me",
                &[("cookie", &cookie)],
                None,
            )
            .await
        }
    };
    let ok = me(format!("__Host-gatehouse_session={token}")).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let plain = me(format!("gatehouse_session={token}")).await;
    assert_error(&plain, 401, "unauthenticated", "the plain name over https");
    let page = send(
        &app,
        reqwest::Method::GET,
        "/account",
        &[("cookie", &format!("__Host-gatehouse_session={token}"))],
        None,
    )
    .await;
    assert_eq!(page.status, 200, "the account page reads the cookie too");
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    assert_eq!(
        spec["components"]["securitySchemes"]["cookie"]["name"],
        "__Host-gatehouse_session"
    );
    let out = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/logout",
        &[
            ("cookie", &format!("__Host-gatehouse_session={token}")),
            ("origin", HTTPS),
        ],
        None,
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let cleared = out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("__Host-gatehouse_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("plain")).await;
    let plain = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/users/me",
        &[("cookie", &format!("gatehouse_session={token}"))],
        None,
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.text);
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    assert_eq!(
        spec["components"]["securitySchemes"]["cookie"]["name"],
        "gatehouse_session"
    );
}

#[tokio::test]
async fn ten_concurrent_registrations_of_one_email_make_one_account() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("race");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let address = match i % 3 {
            0 => email.clone(),
            1 => email.to_uppercase(),
            _ => {
                let (local, domain) = email.split_once('@').unwrap();
                format!("{local}@{}", domain.to_uppercase())
            }
        };
        let http = app.http.clone();
        let url = app.url("/api/v1/auth/register");
        tasks.spawn(async move {
            let r = http
                .post(url)
                .json(&json!({"email": address, "password": PASSWORD, "nickname": "Racer"}))
                .send()
                .await
                .unwrap();
            Resp::from(r).await
        });
    }
    let mut created = 0;
    let mut taken = 0;
    let mut other = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match (r.status, r.code()) {
            (201, _) => created += 1,
            (409, "email_taken") => taken += 1,
            _ => other.push(format!("{} {}", r.status, r.text)),
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!((created, taken), (1, 9));
}

#[tokio::test]
async fn password_change_revokes_other_sessions_and_counts_failures() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("pw");
    app.register(&email).await;
    let a = app.login(&email, PASSWORD).await;
    let b = app.login(&email, PASSWORD).await;
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.text, b.text);
    let token_a = a.body["session"]["token"].as_str().unwrap().to_string();
    let token_b = b.body["session"]["token"].as_str().unwrap().to_string();
    let new_password = "saffron lighthouse accordion";

    let r = app
        .post(
            "/api/v1/users/me/password",
            Some(&token_a),
            json!({"current_password": "not my password", "new_password": new_password}),
        )
        .await;
    assert_error(&r, 403, "invalid_credentials", "wrong current password");

    let r = app
        .post(
            "/api/v1/users/me/password",
            Some(&token_a),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status, 204, "password change: {}", r.text);

    let r = app.get("/api/v1/users/me", Some(&token_b)).await;
    assert_error(
        &r,
        401,
        "unauthenticated",
        "the other session after the change",
    );
    let r = app.get("/api/v1/users/me", Some(&token_a)).await;
    assert_eq!(r.status, 200, "the current session: {}", r.text);

    let r = app.login(&email, PASSWORD).await;
    assert_error(
        &r,
        401,
        "invalid_credentials",
        "login with the old password",
    );
    let r = app.login(&email, new_password).await;
    assert_eq!(r.status, 200, "login with the new password: {}", r.text);
}

#[tokio::test]
async fn revoked_session_is_refused_by_a_second_instance() {
    let storage = Storage::new(true, true).await;
    let a = TestApp::spawn_on(&storage, base_config(&storage)).await;
    let b = TestApp::spawn_on(&storage, base_config(&storage)).await;
    let email = unique_email("multi");
    let (owner, _) = a.register(&email).await;
    let r = a.login(&email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let victim = r.body["session"]["token"].as_str().unwrap().to_string();
    let victim_id = r.body["session"]["id"].as_str().unwrap().to_string();

    let r = b.get("/api/v1/users/me", Some(&victim)).await;
    assert_eq!(r.status, 200, "a session made on A used on B: {}", r.text);

    let list = a.get("/api/v1/users/me/sessions", Some(&owner)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let listed = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == victim_id.as_str() && s["current"] == false)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("session {victim_id} not listed: {}", list.text));

    let r = a
        .delete(&format!("/api/v1/users/me/sessions/{listed}"), Some(&owner))
        .await;
    assert_eq!(r.status, 204, "revoke on A: {}", r.text);

    let r = b.get("/api/v1/users/me", Some(&victim)).await;
    assert_error(&r, 401, "unauthenticated", "the revoked session on B");
    let r = b.get("/api/v1/users/me", Some(&owner)).await;
    assert_eq!(r.status, 200, "the revoking session on B: {}", r.text);
}

#[tokio::test]
async fn lockout_on_one_instance_holds_on_the_other() {
    let storage = Storage::new(true, true).await;
    let config = || {
        let mut c = base_config(&storage);
        c.lockout_threshold = 3;
        c.captcha.enabled = false;
        c
    };
    let a = TestApp::spawn_on(&storage, config()).await;
    let b = TestApp::spawn_on(&storage, config()).await;
    let email = unique_email("multilock");
    a.register(&email).await;

    for i in 1..=3 {
        let r = a.login(&email, "wrong password here").await;
        assert_error(&r, 401, "invalid_credentials", &format!("failure {i} on A"));
    }
    let r = b.login(&email, PASSWORD).await;
    assert_error(
        &r,
        429,
        "rate_limited",
        "right password on B after a lock on A",
    );
    assert!(r.header("retry-after").is_some(), "Retry-After missing");
}

#[tokio::test]
async fn session_list_marks_the_current_one_and_revoke_all_others() {
    let (app, _s) = TestApp::spawn().await;
    let email = unique_email("list");
    let (first, _) = app.register(&email).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let r = app.login(&email, PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.text);
        others.push(r.body["session"]["token"].as_str().unwrap().to_string());
    }
    let current = app.login(&email, PASSWORD).await;
    let current_id = current.body["session"]["id"].as_str().unwrap().to_string();
    let current = current.body["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    others.push(first);

    let list = app.get("/api/v1/users/me/sessions", Some(&current)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body.as_array().unwrap();
    assert_eq!(items.len(), 4, "{}", list.text);
    let marked: Vec<&str> = items
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(marked, vec![current_id.as_str()], "{}", list.text);
    assert!(
        items.iter().all(|s| s["current"].is_boolean()),
        "{}",
        list.text
    );

    // Another user's session id is not even visible.
    let stranger_email = unique_email("stranger");
    app.register(&stranger_email).await;
    let stranger = app.login(&stranger_email, PASSWORD).await;
    let stranger_id = stranger.body["session"]["id"].as_str().unwrap().to_string();
    let stranger_token = stranger.body["session"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .delete(
            &format!("/api/v1/users/me/sessions/{stranger_id}"),
            Some(&current),
        )
        .await;
    assert_error(&r, 404, "not_found", "revoking another user's session");
    let r = app.get("/api/v1/users/me", Some(&stranger_token)).await;
    assert_eq!(r.status, 200, "the stranger's session survives: {}", r.text);

    let r = app
        .delete("/api/v1/users/me/sessions", Some(&current))
        .await;
    assert_eq!(r.status, 204, "revoke all others: {}", r.text);
    for t in &others {
        let r = app.get("/api/v1/users/me", Some(t)).await;
        assert_error(
            &r,
            401,
            "unauthenticated",
            "another session after revoke-all",
        );
    }
    let r = app.get("/api/v1/users/me", Some(&current)).await;
    assert_eq!(r.status, 200, "the current session survives: {}", r.text);
    let list = app.get("/api/v1/users/me/sessions", Some(&current)).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{}", list.text);
}
