//! Passkeys through the real server and a software authenticator (P-256 keys, CBOR attestation,
//! real signatures): registration, usernameless sign-in, the second step, removal, and every
//! way an answer can be wrong.

use crate::common;

use crate::common::authenticator;

use authenticator::{Authenticator, Tamper, UP, UV, random_bytes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{PASSWORD, TestApp, unique_email};
use serde_json::{Value, json};

/// A server whose relying party is `localhost` (passkeys need a domain).
async fn spawn() -> (TestApp, common::Storage, String) {
    let (app, storage) = TestApp::spawn_bound(|c, base| {
        c.public_base_url = Some(base.replace("127.0.0.1", "localhost"));
    })
    .await;
    let origin = app.state.public_base_url.to_string();
    (app, storage, origin)
}

/// Register a user and give them a passkey: (session, user id, email, authenticator).
async fn with_passkey(
    app: &TestApp,
    origin: &str,
    tag: &str,
) -> (String, String, String, Authenticator) {
    let email = unique_email(tag);
    let (session, id) = app.register(&email).await;
    let mut authenticator = Authenticator::new();
    let r = add_passkey(app, &session, origin, &mut authenticator, "Laptop").await;
    assert_eq!(r.status, 201, "{}", r.body);
    (session, id, email, authenticator)
}

async fn add_passkey(
    app: &TestApp,
    session: &str,
    origin: &str,
    authenticator: &mut Authenticator,
    name: &str,
) -> common::Resp {
    let o = app
        .post(
            "/api/v1/users/me/passkeys/options",
            Some(session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(o.status, 200, "{}", o.body);
    let credential = authenticator.register(&o.body["options"], origin, UP | UV);
    app.post(
        "/api/v1/users/me/passkeys",
        Some(session),
        json!({"challenge_id": o.body["challenge_id"], "name": name, "credential": credential}),
    )
    .await
}

async fn sign_in_options(app: &TestApp) -> (String, Value) {
    let r = app
        .post("/api/v1/auth/passkey/options", None, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (
        r.body["challenge_id"].as_str().unwrap().to_string(),
        r.body["options"].clone(),
    )
}

async fn sign_in(app: &TestApp, challenge_id: &str, credential: Value) -> common::Resp {
    app.post(
        "/api/v1/auth/passkey",
        None,
        json!({"challenge_id": challenge_id, "credential": credential}),
    )
    .await
}

#[tokio::test]
async fn register_a_discoverable_passkey_then_list_rename_and_remove_it() {
    let (app, _s, origin) = spawn().await;
    let email = unique_email("add");
    let (session, user_id) = app.register(&email).await;
    let wrong = app
        .post(
            "/api/v1/users/me/passkeys/options",
            Some(&session),
            json!({"password": "not mine at all"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (403, "invalid_credentials"));
    let o = app
        .post(
            "/api/v1/users/me/passkeys/options",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(o.status, 200, "{}", o.body);
    let pk = &o.body["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert!(pk["challenge"].is_string() && pk["user"]["id"].is_string());

    let mut authenticator = Authenticator::new();
    let credential = authenticator.register(&o.body["options"], &origin, UP | UV);
    let add = |challenge: Value, credential: Value, name: &str| {
        app.post(
            "/api/v1/users/me/passkeys",
            Some(&session),
            json!({"challenge_id": challenge, "name": name, "credential": credential}),
        )
    };
    let r = add(
        o.body["challenge_id"].clone(),
        credential.clone(),
        "  Laptop  ",
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "Laptop");
    assert!(r.body["last_used_at"].is_null());
    let id = r.body["id"].as_str().unwrap().to_string();
    // The challenge was single-use.
    let r = add(o.body["challenge_id"].clone(), credential, "Again").await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));

    let status = app.get("/api/v1/users/me/mfa", Some(&session)).await;
    assert_eq!(status.body["totp_enabled"], false);
    assert_eq!(status.body["passkeys"][0]["id"], id.as_str());
    assert!(
        app.audit_events("passkey.added")
            .await
            .iter()
            .any(|(s, _)| s.as_deref() == Some(&user_id))
    );
    let mails = app.mails_to(&email).await;
    assert!(
        mails
            .iter()
            .any(|(_, s, _)| s.contains("passkey was added")),
        "{mails:?}"
    );

    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/me/passkeys/{id}"),
            Some(&session),
            Some(json!({"name": "Work laptop"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["name"].as_str()),
        (200, Some("Work laptop"))
    );

    let (stranger, _) = app.register(&unique_email("stranger")).await;
    let r = app
        .delete(&format!("/api/v1/users/me/passkeys/{id}"), Some(&stranger))
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = app
        .delete(&format!("/api/v1/users/me/passkeys/{id}"), Some(&session))
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .delete(&format!("/api/v1/users/me/passkeys/{id}"), Some(&session))
        .await;
    assert_eq!(r.status, 404);
    assert!(
        app.audit_events("passkey.removed")
            .await
            .iter()
            .any(|(s, _)| s.as_deref() == Some(&user_id))
    );
    let (options, auth) = sign_in_options(&app).await;
    let credential = authenticator.assert(&auth, &origin, Tamper::default());
    let r = sign_in(&app, &options, credential).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_credentials"),
        "a removed passkey no longer signs in"
    );
}

#[tokio::test]
async fn bad_registrations_change_nothing() {
    let (app, _s, origin) = spawn().await;
    let app = &app;
    let (session, _) = app.register(&unique_email("badreg")).await;
    let (other, _) = app.register(&unique_email("otherreg")).await;
    let options = |s: String| async move {
        app.post(
            "/api/v1/users/me/passkeys/options",
            Some(&s),
            json!({"password": PASSWORD}),
        )
        .await
    };
    let add = |s: String, body: Value| async move {
        app.post("/api/v1/users/me/passkeys", Some(&s), body).await
    };
    let mut authenticator = Authenticator::new();

    // Wrong origin, missing user verification, bad base64, another user's challenge.
    let o = options(session.clone()).await;
    let cred = authenticator.register(&o.body["options"], "http://evil.example", UP | UV);
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x", "credential": cred}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let o = options(session.clone()).await;
    let cred = authenticator.register(&o.body["options"], &origin, UP);
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x", "credential": cred}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let o = options(session.clone()).await;
    let mut cred = authenticator.register(&o.body["options"], &origin, UP | UV);
    cred["response"]["attestationObject"] = json!("!!not base64!!");
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x", "credential": cred}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let o = options(session.clone()).await;
    let cred = authenticator.register(&o.body["options"], &origin, UP | UV);
    let r = add(
        other.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x", "credential": cred.clone()}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    for bad in [
        json!("nope"),
        json!(""),
        json!("../../etc"),
        json!("x".repeat(500)),
    ] {
        let r = add(
            session.clone(),
            json!({"challenge_id": bad, "name": "x", "credential": cred.clone()}),
        )
        .await;
        assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    }
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "", "credential": cred.clone()}),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = add(
        session.clone(),
        json!({"challenge_id": o.body["challenge_id"], "name": "x", "credential": "text"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let status = app.get("/api/v1/users/me/mfa", Some(&session)).await;
    assert_eq!(status.body["passkeys"], json!([]), "nothing was registered");

    // The same credential cannot be registered to a second account.
    let r = add_passkey(app, &session, &origin, &mut authenticator, "mine").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = add_passkey(app, &other, &origin, &mut authenticator, "theirs").await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
}

#[tokio::test]
async fn usernameless_sign_in_is_complete_by_itself() {
    let (app, _s, origin) = spawn().await;
    let (_, user_id, email, mut authenticator) = with_passkey(&app, &origin, "signin").await;
    // Even with TOTP on, a passkey sign-in owes no second step.
    let (challenge, options) = sign_in_options(&app).await;
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let credential = authenticator.assert(&options, &origin, Tamper::default());
    let r = sign_in(&app, &challenge, credential.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["user"]["id"], user_id.as_str());
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("gatehouse_session=")
    );
    let session = r.body["session"]["token"].as_str().unwrap().to_string();
    let list = app.get("/api/v1/users/me/sessions", Some(&session)).await;
    let current = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["amr"], json!(["hwk"]));
    let status = app.get("/api/v1/users/me/mfa", Some(&session)).await;
    assert!(status.body["passkeys"][0]["last_used_at"].is_string());
    // The challenge was used.
    let r = sign_in(&app, &challenge, credential).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    let _ = email;
}

#[tokio::test]
async fn wrong_assertions_are_refused_and_change_nothing() {
    let (app, _s, origin) = spawn().await;
    let (_, _, _, mut authenticator) = with_passkey(&app, &origin, "wrong").await;
    let (_, other_id, _, _) = with_passkey(&app, &origin, "victim").await;
    let other_handle = uuid::Uuid::parse_str(&other_id)
        .unwrap()
        .as_bytes()
        .to_vec();
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "wrong origin",
            Tamper {
                origin: Some("http://evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "wrong RP id hash",
            Tamper {
                rp_id: Some("evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "no user verification",
            Tamper {
                flags: Some(UP),
                ..Tamper::default()
            },
        ),
        (
            "another user's handle",
            Tamper {
                user_handle: Some(other_handle),
                ..Tamper::default()
            },
        ),
        (
            "another challenge",
            Tamper {
                challenge: Some(B64.encode(random_bytes(32))),
                ..Tamper::default()
            },
        ),
    ];
    for (what, tamper) in cases {
        let (challenge, options) = sign_in_options(&app).await;
        let credential = authenticator.assert(&options, &origin, tamper);
        let r = sign_in(&app, &challenge, credential).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "invalid_credentials"),
            "{what}: {}",
            r.body
        );
    }
    // An honest assertion, then one whose counter does not move on (a cloned authenticator or a
    // replay).
    let (challenge, options) = sign_in_options(&app).await;
    let credential = authenticator.assert(&options, &origin, Tamper::default());
    assert_eq!(sign_in(&app, &challenge, credential).await.status, 200);
    let seen = authenticator.counter;
    let (challenge, options) = sign_in_options(&app).await;
    let credential = authenticator.assert(
        &options,
        &origin,
        Tamper {
            counter: Some(seen),
            ..Tamper::default()
        },
    );
    let r = sign_in(&app, &challenge, credential).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_credentials"),
        "replayed counter"
    );

    // Malformed answers.
    let (challenge, options) = sign_in_options(&app).await;
    let mut credential = authenticator.assert(&options, &origin, Tamper::default());
    credential["response"]["signature"] = json!("%%%");
    assert_eq!(sign_in(&app, &challenge, credential).await.status, 401);
    let (challenge, options) = sign_in_options(&app).await;
    let mut credential = authenticator.assert(&options, &origin, Tamper::default());
    credential["response"]["userHandle"] = Value::Null;
    assert_eq!(sign_in(&app, &challenge, credential).await.status, 401);
    for body in [
        json!({"challenge_id": "nope", "credential": {}}),
        json!({"challenge_id": "", "credential": 5}),
    ] {
        let r = app.post("/api/v1/auth/passkey", None, body).await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    let r = app
        .post("/api/v1/auth/passkey", None, json!({"credential": {}}))
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    // Still works afterwards: nothing was changed by the refusals.
    let (challenge, options) = sign_in_options(&app).await;
    let credential = authenticator.assert(&options, &origin, Tamper::default());
    assert_eq!(sign_in(&app, &challenge, credential).await.status, 200);
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_with_its_passkey() {
    let (app, _s, origin) = spawn().await;
    let (_, user_id, _, mut authenticator) = with_passkey(&app, &origin, "disabled").await;
    sqlx::query("UPDATE users SET is_active = 0 WHERE id = $1")
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let (challenge, options) = sign_in_options(&app).await;
    let credential = authenticator.assert(&options, &origin, Tamper::default());
    let r = sign_in(&app, &challenge, credential).await;
    assert_eq!((r.status, r.code()), (403, "account_disabled"));
}

#[tokio::test]
async fn a_passkey_answers_the_second_step() {
    let (app, _s, origin) = spawn().await;
    let (session, _, email, mut authenticator) = with_passkey(&app, &origin, "step").await;
    let r = app.login(&email, PASSWORD).await;
    assert_eq!(
        r.body["mfa_required"], true,
        "a passkey makes the second step due: {}",
        r.body
    );
    assert_eq!(r.body["methods"], json!(["passkey"]));
    let token = r.body["mfa_token"].as_str().unwrap().to_string();

    let r = app
        .post(
            "/api/v1/auth/login/mfa/passkey",
            None,
            json!({"mfa_token": "nope"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_token"));
    let o = app
        .post(
            "/api/v1/auth/login/mfa/passkey",
            None,
            json!({"mfa_token": token}),
        )
        .await;
    assert_eq!(o.status, 200, "{}", o.body);
    assert_eq!(
        o.body["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A wrong answer counts like a wrong code.
    let bad = authenticator.assert(
        &o.body["options"],
        &origin,
        Tamper {
            flags: Some(UP),
            ..Tamper::default()
        },
    );
    let r = app
        .post(
            "/api/v1/auth/login/mfa",
            None,
            json!({"mfa_token": token, "challenge_id": o.body["challenge_id"], "credential": bad}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let o = app
        .post(
            "/api/v1/auth/login/mfa/passkey",
            None,
            json!({"mfa_token": token}),
        )
        .await;
    let credential = authenticator.assert(&o.body["options"], &origin, Tamper::default());
    let r = app.post("/api/v1/auth/login/mfa", None, json!({"mfa_token": token, "challenge_id": o.body["challenge_id"], "credential": credential})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_session = r.body["session"]["token"].as_str().unwrap().to_string();
    let list = app
        .get("/api/v1/users/me/sessions", Some(&new_session))
        .await;
    let current = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["amr"], json!(["pwd", "hwk"]));

    // Another user's passkey cannot answer this user's second step.
    let (_, _, _, mut stranger) = with_passkey(&app, &origin, "stranger").await;
    let token = app.login(&email, PASSWORD).await.body["mfa_token"]
        .as_str()
        .unwrap()
        .to_string();
    let o = app
        .post(
            "/api/v1/auth/login/mfa/passkey",
            None,
            json!({"mfa_token": token}),
        )
        .await;
    let credential = stranger.assert(&o.body["options"], &origin, Tamper::default());
    let r = app.post("/api/v1/auth/login/mfa", None, json!({"mfa_token": token, "challenge_id": o.body["challenge_id"], "credential": credential})).await;
    assert_eq!((r.status, r.code()), (400, "invalid_credential"));
    let _ = session;
}

#[tokio::test]
async fn passkeys_are_unavailable_when_the_service_is_reached_by_an_ip_address() {
    let (app, _s) = TestApp::spawn().await;
    let (session, _) = app.register(&unique_email("ip")).await;
    let r = app
        .post(
            "/api/v1/users/me/passkeys/options",
            Some(&session),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "passkeys_unavailable"));
    let r = app
        .post("/api/v1/auth/passkey/options", None, json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "passkeys_unavailable"));
    let page = app
        .http
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("passkey-sign-in"), "the page hides passkeys");
}

#[tokio::test]
async fn sign_in_options_are_limited_per_ip() {
    let (app, _s, _) = spawn().await;
    let mut last = 0;
    for _ in 0..101 {
        last = app
            .post("/api/v1/auth/passkey/options", None, json!({}))
            .await
            .status;
    }
    assert_eq!(last, 429);
}
