//! gatehouse as OpenID Provider: discovery, JWKS, the admin API of clients, the code flow with
//! PKCE and consent, the token endpoint's grants and errors, userinfo, introspection, revocation,
//! key rotation and RP-initiated logout — plus the certified relying party `openid-client`
//! (tests/peers/oidc-rp) and one gatehouse signing in through another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Storage, TestApp, superuser, unique_email};
use gatehouse::config::{Config, ProviderConfig, ProviderKind, Secret};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CB: &str = "https://app.example.test/callback";

async fn spawn() -> (TestApp, Storage) {
    TestApp::spawn_bound(|_, _| {}).await
}

async fn new_client(app: &TestApp, admin: &str, body: Value) -> Value {
    let r = app.post("/api/v1/admin/clients", Some(admin), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// A confidential, not first-party client with every scope and a logout URI.
async fn confidential(app: &TestApp, admin: &str) -> Value {
    new_client(
        app,
        admin,
        json!({"name": "Wiki", "redirect_uris": [CB],
               "post_logout_redirect_uris": ["https://app.example.test/bye"]}),
    )
    .await
}

fn pkce() -> (String, String) {
    let verifier = gatehouse::tokens::new_token("v");
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("client_id", client_id);
    ser.append_pair("redirect_uri", CB);
    ser.append_pair("response_type", "code");
    ser.append_pair("scope", "openid email profile groups offline_access");
    ser.append_pair("state", "st-1");
    ser.append_pair("nonce", "n-1");
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    format!("/oauth/authorize?{}", ser.finish())
}

/// GET with the session cookie (and a fixed CSRF seed), no redirects followed.
async fn browse(app: &TestApp, session: Option<&str>, path: &str) -> reqwest::Response {
    let mut cookie = "gatehouse_csrf=seed-0123456789".to_string();
    if let Some(s) = session {
        cookie.push_str(&format!("; gatehouse_session={s}"));
    }
    app.http
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn post_page(
    app: &TestApp,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header(
            "cookie",
            format!("gatehouse_csrf=seed-0123456789; gatehouse_session={session}"),
        )
        .header("origin", &app.base)
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let raw = html
        .split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        .split('"')
        .next()
        .unwrap();
    raw.replace("&amp;", "&")
        .replace("&#x3d;", "=")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

/// Authorize as `session`, answering the consent page with "allow" when it comes; the code.
async fn authorize(app: &TestApp, session: &str, url: &str) -> String {
    let r = browse(app, Some(session), url).await;
    let r = if r.status() == 200 {
        let html = r.text().await.unwrap();
        assert!(html.contains("name=\"decision\""), "{html}");
        let csrf = field(&html, "csrf_token");
        let request = field(&html, "request");
        post_page(
            app,
            session,
            "/oauth/authorize",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await
    } else {
        r
    };
    assert_eq!(r.status(), 302, "{:?}", r.headers());
    let to = location(&r);
    assert!(to.starts_with(CB), "{to}");
    let q = query(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    assert_eq!(q.get("iss"), Some(&app.base));
    q.get("code").cloned().unwrap_or_else(|| panic!("{to}"))
}

async fn token(app: &TestApp, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = app.http.post(app.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(
            r.headers().get("cache-control").unwrap(),
            "no-store",
            "token answers are not cached"
        );
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn exchange(app: &TestApp, c: &Value, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CB),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token(app, Some(creds(c)), &form).await
}

fn creds(c: &Value) -> (&str, &str) {
    (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    )
}

async fn form_post(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = app.http.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn introspect(app: &TestApp, c: &Value, tok: &str) -> Value {
    let (status, body) =
        form_post(app, "/oauth/introspect", Some(creds(c)), &[("token", tok)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn userinfo(app: &TestApp, access: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 401 {
        assert!(
            r.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Verify a JWT against the published JWKS, as a relying party would.
async fn verify_jwt(app: &TestApp, jwt: &str, aud: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .http
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[&app.base]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap();
    (header, data.claims)
}

/// A user with a team and a session; (session token, user id).
async fn member(app: &TestApp) -> (String, String) {
    let (session, id) = app.register(&unique_email("user")).await;
    let r = app
        .post("/api/v1/tenants", Some(&session), json!({"name": "Crew"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (session, id)
}

/// A full code flow for a fresh user: (session, user id, tokens).
async fn signed_in_tokens(app: &TestApp, c: &Value) -> (String, String, Value) {
    let (session, id) = member(app).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        c["client_id"].as_str().unwrap(),
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = authorize(app, &session, &url).await;
    let (status, tokens) = exchange(app, c, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    (session, id, tokens)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_and_jwks_describe_the_provider() {
    let (app, _s) = spawn().await;
    let d: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], app.base.as_str());
    for (k, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/oauth/jwks"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("end_session_endpoint", "/oauth/logout"),
    ] {
        assert_eq!(d[k], format!("{}{path}", app.base), "{k}");
    }
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["EdDSA", "RS256"])
    );
    let jwks: Value = app
        .http
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"EdDSA") && algs.contains(&"RS256"), "{jwks}");
    for k in keys {
        assert!(k["kid"].is_string() && k["use"] == "sig", "{k}");
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private part: {k}"
        );
    }
    // The private halves are sealed at rest: no PEM/DER in the table.
    let stored: Vec<String> = sqlx::query_scalar("SELECT private_key FROM oidc_signing_keys")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for s in stored {
        let raw = STANDARD.decode(&s).unwrap();
        assert!(
            !raw.windows(4).any(|w| w == [0x30, 0x82, 0x04, 0xa3]),
            "RSA DER in clear"
        );
    }
}

#[tokio::test]
async fn superusers_manage_clients_and_secrets_show_once() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let (user, _) = app.register(&unique_email("plain")).await;
    let r = app.get("/api/v1/admin/clients", Some(&user)).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = app
        .post(
            "/api/v1/admin/clients",
            None,
            json!({"name": "x", "redirect_uris": [CB]}),
        )
        .await;
    assert_eq!(r.status, 401);

    let c = confidential(&app, &admin).await;
    for k in ["id", "client_id", "created_at", "client_secret"] {
        assert!(c[k].is_string(), "{k}: {c}");
    }
    assert_eq!(c["type"], "confidential");
    assert_eq!(c["first_party"], false);
    assert_eq!(c["redirect_uris"], json!([CB]));
    assert_eq!(c["id_token_signed_response_alg"], "EdDSA");
    assert_eq!(
        c["allowed_scopes"],
        json!(["openid", "email", "profile", "groups", "offline_access"])
    );
    let secret = c["client_secret"].as_str().unwrap();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT secret_hash FROM oauth_clients WHERE id = $1")
            .bind(c["id"].as_str().unwrap())
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_ne!(stored.as_deref(), Some(secret), "stored hashed");
    let id = c["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/admin/clients/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("client_secret").is_none(), "secret shown once");
    let r = app
        .get("/api/v1/admin/clients?per_page=1", Some(&admin))
        .await;
    assert_eq!(
        (r.body["total"].as_i64(), r.body["per_page"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(!r.text.contains(secret));

    let p = new_client(
        &app,
        &admin,
        json!({"name": "SPA", "redirect_uris": [CB], "type": "public", "first_party": true,
               "allowed_scopes": ["openid"], "id_token_signed_response_alg": "RS256"}),
    )
    .await;
    assert!(p.get("client_secret").is_none(), "{p}");
    assert_eq!(p["id_token_signed_response_alg"], "RS256");

    // Validation: every bad field named, nothing stored.
    for (body, bad) in [
        (
            json!({"name": "x", "redirect_uris": ["https://a.test/cb#frag"]}),
            "redirect_uris",
        ),
        (json!({"name": "x", "redirect_uris": []}), "redirect_uris"),
        (
            json!({"name": "x", "redirect_uris": ["/relative"]}),
            "redirect_uris",
        ),
        (json!({"name": "", "redirect_uris": [CB]}), "name"),
        (
            json!({"name": "x", "redirect_uris": [CB], "allowed_scopes": ["admin"]}),
            "allowed_scopes",
        ),
        (
            json!({"name": "x", "redirect_uris": [CB], "id_token_signed_response_alg": "HS256"}),
            "id_token_signed_response_alg",
        ),
        (
            json!({"name": "x", "redirect_uris": [CB], "post_logout_redirect_uris": ["javascript:alert(1)"]}),
            "post_logout_redirect_uris",
        ),
    ] {
        let r = app.post("/api/v1/admin/clients", Some(&admin), body).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "validation_failed"),
            "{}",
            r.text
        );
        assert!(
            r.body["error"]["fields"][bad].is_string(),
            "{bad}: {}",
            r.text
        );
    }
    let r = app
        .post(
            "/api/v1/admin/clients",
            Some(&admin),
            json!({"name": "x", "redirect_uris": [CB], "colour": 1}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/admin/clients/not-a-uuid",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 404);

    // Update, rotate, delete.
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/clients/{id}"),
            Some(&admin),
            Some(json!({"name": "Wiki 2", "first_party": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["name"].as_str(), r.body["first_party"].as_bool()),
        (Some("Wiki 2"), Some(true))
    );
    let r = app
        .post(
            &format!("/api/v1/admin/clients/{id}/secret"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new_secret = r.body["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let cid = c["client_id"].as_str().unwrap();
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "old secret"
    );
    let (status, _) = token(
        &app,
        Some((cid, &new_secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, 200, "new secret");
    let pid = p["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/admin/clients/{pid}/secret"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 422, "a public client has no secret");
    let r = app
        .delete(&format!("/api/v1/admin/clients/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 204);
    let r = app
        .get(&format!("/api/v1/admin/clients/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 404);

    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event || ' ' || detail FROM audit_events WHERE event LIKE 'oauth_client.%' ORDER BY at, id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.split(' ').next().unwrap())
        .collect();
    assert!(
        names.contains(&"oauth_client.created")
            && names.contains(&"oauth_client.updated")
            && names.contains(&"oauth_client.deleted"),
        "{events:?}"
    );
    for e in &events {
        assert!(!e.contains(secret) && !e.contains(&new_secret), "{e}");
    }
}

#[tokio::test]
async fn code_flow_with_pkce_consent_and_claims() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let cid = c["client_id"].as_str().unwrap();
    let (session, user_id) = member(&app).await;
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        cid,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );

    // Signed out: to the sign-in page, coming back to this very request.
    let r = browse(&app, None, &url).await;
    assert_eq!(r.status(), 302);
    let to = location(&r);
    assert!(to.starts_with("/login?"), "{to}");
    assert_eq!(query(&format!("http://x{to}"))["return_to"], url);

    // Signed in: the consent page, in the user's language.
    let r = browse(&app, Some(&session), &url).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Wiki") && html.contains("Your email address"),
        "{html}"
    );
    // Declining sends the client access_denied.
    let request = field(&html, "request");
    let csrf = field(&html, "csrf_token");
    let r = post_page(
        &app,
        &session,
        "/oauth/authorize",
        &[
            ("csrf_token", &csrf),
            ("request", &request),
            ("decision", "deny"),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let q = query(&location(&r));
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-1")
    );
    // A forged form (no CSRF token) does not grant anything.
    let r = post_page(
        &app,
        &session,
        "/oauth/authorize",
        &[("request", &request), ("decision", "allow")],
    )
    .await;
    assert_eq!(r.status(), 403);

    let code = authorize(&app, &session, &url).await;
    let (status, tokens) = exchange(&app, &c, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("ghr_")
    );
    let (header, id) = verify_jwt(&app, tokens["id_token"].as_str().unwrap(), cid).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], "1");
    assert_eq!(id["email_verified"], false);
    assert_eq!(id["name"], "Tester");
    assert_eq!(id["locale"], "en");
    let groups = id["groups"].as_array().unwrap();
    assert!(
        !groups.is_empty() && groups.iter().all(|g| g.as_str().unwrap().contains(':')),
        "{id}"
    );
    assert!(
        groups
            .iter()
            .any(|g| g.as_str().unwrap().ends_with(":owner")),
        "{id}"
    );
    let (aheader, access) = verify_jwt(&app, tokens["access_token"].as_str().unwrap(), cid).await;
    assert_eq!(aheader.typ.as_deref(), Some("at+jwt"));
    assert_eq!(access["client_id"], cid);
    assert_eq!(
        access["scope"],
        "openid email profile groups offline_access"
    );

    let (status, info) = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], user_id.as_str());
    assert_eq!(info["groups"], id["groups"]);
    assert!(info.get("nonce").is_none());

    // The code is single use.
    let (status, body) = exchange(&app, &c, &code, Some(&verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Consent is remembered: the next request comes straight back; prompt=consent asks again.
    let r = browse(&app, Some(&session), &authorize_url(cid, &[])).await;
    assert_eq!(r.status(), 302);
    assert!(query(&location(&r)).contains_key("code"));
    let r = browse(
        &app,
        Some(&session),
        &authorize_url(cid, &[("prompt", "consent")]),
    )
    .await;
    assert_eq!(r.status(), 200);
    // A scope not yet granted is asked for.
    let events = app.audit_events("oauth.consent_granted").await;
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn pkce_and_code_errors_are_invalid_grant() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let cid = c["client_id"].as_str().unwrap();
    let pub_c = new_client(
        &app,
        &admin,
        json!({"name": "SPA", "redirect_uris": [CB], "type": "public", "first_party": true}),
    )
    .await;
    let pid = pub_c["client_id"].as_str().unwrap();
    let (session, _) = member(&app).await;

    // A public client without PKCE, or with `plain`: an error at its redirect URI.
    for extra in [
        vec![],
        vec![
            ("code_challenge", "x".repeat(43)),
            ("code_challenge_method", "plain".into()),
        ],
    ] {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = browse(&app, Some(&session), &authorize_url(pid, &extra)).await;
        assert_eq!(r.status(), 302);
        let q = query(&location(&r));
        assert_eq!(q["error"], "invalid_request", "{q:?}");
    }

    let (verifier, challenge) = pkce();
    let with_pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // Public client: no secret, PKCE checked.
    let code = authorize(&app, &session, &authorize_url(pid, &with_pkce)).await;
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", pid),
            ("code", &code),
            ("redirect_uri", CB),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-1",
            ),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "wrong verifier"
    );
    // The failed attempt used the code up.
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", pid),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "code used"
    );
    let code = authorize(&app, &session, &authorize_url(pid, &with_pkce)).await;
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", pid),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "missing verifier"
    );
    let code = authorize(&app, &session, &authorize_url(pid, &with_pkce)).await;
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", pid),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (header, _) = verify_jwt(&app, body["id_token"].as_str().unwrap(), pid).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);

    // Confidential client: a verifier without a challenge, a wrong redirect URI, another
    // client's code, an expired code.
    let code = authorize(&app, &session, &authorize_url(cid, &[])).await;
    let (status, body) = exchange(&app, &c, &code, Some(&verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let code = authorize(&app, &session, &authorize_url(cid, &[])).await;
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.test/other"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "redirect_uri mismatch"
    );
    let code = authorize(&app, &session, &authorize_url(cid, &[])).await;
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", pid),
            ("code", &code),
            ("redirect_uri", CB),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another client's code"
    );
    let code = authorize(&app, &session, &authorize_url(cid, &[])).await;
    app.state.clock.advance(61);
    let (status, body) = exchange(&app, &c, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "expired code"
    );
    let (status, body) = exchange(&app, &c, "ghac_forged", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn authorize_errors_never_redirect_to_untrusted_places() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let cid = c["client_id"].as_str().unwrap();
    let (session, _) = member(&app).await;

    // Unknown client, unregistered or near-miss redirect URIs: an error page, no Location.
    for url in [
        authorize_url("no-such-client", &[]),
        authorize_url(cid, &[]).replace("app.example.test%2Fcallback", "evil.example%2Fcallback"),
        authorize_url(cid, &[]).replace("%2Fcallback", "%2Fcallback%2Fx"),
        authorize_url(cid, &[]).replace("https%3A", "http%3A"),
        format!("/oauth/authorize?client_id={cid}&response_type=code&scope=openid"),
    ] {
        let r = browse(&app, Some(&session), &url).await;
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("<html"), "a page: {html}");
    }

    // Errors the client may hear about go to its redirect URI with the state.
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
    ] {
        let base = authorize_url(cid, &[]);
        let mut url = base.clone();
        for (k, v) in &extra {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.append_pair(k, v);
            let pair = ser.finish();
            // Replace an existing parameter, else add it.
            let key = format!("{k}=");
            url = if let Some(start) = url.find(&format!("&{key}")) {
                let end = url[start + 1..]
                    .find('&')
                    .map_or(url.len(), |e| start + 1 + e);
                format!("{}&{pair}{}", &url[..start], &url[end..])
            } else {
                format!("{url}&{pair}")
            };
        }
        let r = browse(&app, Some(&session), &url).await;
        assert_eq!(r.status(), 302, "{url}");
        let q = query(&location(&r));
        assert_eq!(q["error"], error, "{url}");
        assert_eq!(q["state"], "st-1");
        assert!(location(&r).starts_with(CB));
    }

    // prompt=none: login_required without a session, consent_required before consent.
    let r = browse(&app, None, &authorize_url(cid, &[("prompt", "none")])).await;
    assert_eq!(query(&location(&r))["error"], "login_required");
    let r = browse(
        &app,
        Some(&session),
        &authorize_url(cid, &[("prompt", "none")]),
    )
    .await;
    assert_eq!(query(&location(&r))["error"], "consent_required");

    // First-party clients skip consent.
    let fp = new_client(
        &app,
        &admin,
        json!({"name": "Own", "redirect_uris": [CB], "first_party": true}),
    )
    .await;
    let r = browse(
        &app,
        Some(&session),
        &authorize_url(fp["client_id"].as_str().unwrap(), &[("prompt", "none")]),
    )
    .await;
    assert!(query(&location(&r)).contains_key("code"));

    // prompt=login and max_age=0 send a signed-in user to sign in again (the form, not a
    // bounce), with the login hint filled in; coming back after a fresh sign-in succeeds.
    let fid = fp["client_id"].as_str().unwrap();
    app.state.clock.advance(1);
    let r = browse(
        &app,
        Some(&session),
        &authorize_url(
            fid,
            &[("prompt", "login"), ("login_hint", "who@example.test")],
        ),
    )
    .await;
    assert_eq!(r.status(), 302);
    let to = location(&r);
    let q = query(&format!("http://x{to}"));
    assert_eq!(q["reauth"], "1");
    let back = q["return_to"].clone();
    assert!(
        !back.contains("prompt=login") && back.contains("gh_login_after="),
        "{back}"
    );
    let r = browse(&app, Some(&session), &to).await;
    assert_eq!(r.status(), 200, "the sign-in form even when signed in");
    assert!(r.text().await.unwrap().contains("who@example.test"));
    // Coming back with the old session still asks; with a newer one it goes through.
    let r = browse(&app, Some(&session), &back).await;
    assert!(location(&r).starts_with("/login?"));
    app.state.clock.advance(2);
    let email: String = sqlx::query_scalar(
        "SELECT u.email FROM users u JOIN sessions s ON s.user_id = u.id WHERE s.token_hash = $1",
    )
    .bind(gatehouse::tokens::sha256_hex(&session))
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let fresh = app.login(&email, common::PASSWORD).await;
    let fresh = fresh.body["session"]["token"].as_str().unwrap().to_string();
    let r = browse(&app, Some(&fresh), &back).await;
    assert!(
        query(&location(&r)).contains_key("code"),
        "{}",
        location(&r)
    );
    app.state.clock.advance(5);
    let r = browse(&app, Some(&fresh), &authorize_url(fid, &[("max_age", "1")])).await;
    assert!(location(&r).contains("reauth=1"), "{}", location(&r));
    let r = browse(
        &app,
        Some(&fresh),
        &authorize_url(fid, &[("max_age", "1"), ("prompt", "none")]),
    )
    .await;
    assert_eq!(query(&location(&r))["error"], "login_required");
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let cid = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();

    let (status, body) = token(
        &app,
        Some(("nobody", "x")),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(cid, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", cid),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "client_secret_post"
    );
    let (status, body) = token(
        &app,
        None,
        &[("grant_type", "client_credentials"), ("client_id", cid)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no secret for a confidential client"
    );
    let (status, _) = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", cid),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "client_secret_post works");
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[
            ("grant_type", "password"),
            ("username", "a"),
            ("password", "b"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token(&app, Some((cid, secret)), &[("grant_type", "implicit")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = token(&app, Some((cid, secret)), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[("grant_type", "authorization_code")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "no code"
    );
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "ghr_nope"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // JSON, repeated parameters, garbage Basic: still OAuth errors, never 5xx.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=refresh_token")
        .basic_auth(cid, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // client_credentials: a token about the client; a public client may not.
    let (status, body) = token(
        &app,
        Some((cid, secret)),
        &[("grant_type", "client_credentials"), ("scope", "email")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let i = introspect(&app, &c, body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (
            i["active"].as_bool(),
            i["sub"].as_str(),
            i["scope"].as_str()
        ),
        (Some(true), Some(cid), Some("email"))
    );
    let (status, _) = userinfo(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "no user behind a client's own token");
    let p = new_client(
        &app,
        &admin,
        json!({"name": "SPA", "redirect_uris": [CB], "type": "public"}),
    )
    .await;
    let (status, body) = token(
        &app,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", p["client_id"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let first = tokens["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second_refresh, first);
    assert!(second["id_token"].is_string());
    // Narrowing the scope is allowed, widening is not.
    let (status, narrowed) = token(
        &app,
        Some(creds(&c)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_refresh),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid offline_access");
    let third = narrowed["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &third),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // `third` was not used by the refused request? It was claimed first: a refusal for scope
    // still spends the token, so start again from a live one.
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let a = tokens["refresh_token"].as_str().unwrap().to_string();
    let (_, b) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &a)],
    )
    .await;
    let b = b["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&app, &c, &b).await["active"], true);
    // Reusing `a` (a thief's replay) revokes the whole family, `b` included.
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &a)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &b)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "family revoked"
    );
    assert_eq!(introspect(&app, &c, &b).await["active"], false);

    let other = confidential(&app, &admin).await;
    // Expired refresh tokens fail (30 days by default). The session lives as long, so move
    // the session along too to prove it is the refresh token's own expiry.
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let r = tokens["refresh_token"].as_str().unwrap().to_string();
    sqlx::query("UPDATE sessions SET expires_at = expires_at + 100000000")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.state.clock.advance(30 * 86400 + 1);
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &r)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "expired"
    );

    // Another client cannot use it.
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let r = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = token(
        &app,
        Some(creds(&other)),
        &[("grant_type", "refresh_token"), ("refresh_token", r)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn ending_the_session_or_disabling_the_user_ends_every_token() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;

    // Session revoked (signed out).
    let (session, _, tokens) = signed_in_tokens(&app, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &c, access).await["active"], true);
    let r = app
        .post("/api/v1/auth/logout", Some(&session), json!({}))
        .await;
    assert!(r.status < 300, "{}", r.text);
    assert_eq!(introspect(&app, &c, access).await, json!({"active": false}));
    assert_eq!(
        introspect(&app, &c, refresh).await,
        json!({"active": false})
    );
    assert_eq!(userinfo(&app, access).await.0, 401);
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // User disabled by an administrator.
    let (_, user_id, tokens) = signed_in_tokens(&app, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let r = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/users/{user_id}"),
            Some(&admin),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(introspect(&app, &c, access).await["active"], false);
    assert_eq!(userinfo(&app, access).await.0, 401);
    let (status, _) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 400);

    // Access tokens expire on gatehouse's clock.
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.state.clock.advance(601);
    assert_eq!(introspect(&app, &c, access).await["active"], false);
}

#[tokio::test]
async fn introspection_revocation_and_tampered_tokens() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let cid = c["client_id"].as_str().unwrap();
    let (_, user_id, tokens) = signed_in_tokens(&app, &c).await;
    let access = tokens["access_token"].as_str().unwrap();
    let i = introspect(&app, &c, access).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], user_id.as_str());
    assert_eq!(i["client_id"], cid);
    assert_eq!(i["iss"], app.base.as_str());
    assert!(i["exp"].as_i64().unwrap() > i["iat"].as_i64().unwrap());
    let i = introspect(&app, &c, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (i["active"].as_bool(), i["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );

    // Tampered: a changed claim, a changed signature, an ID token in place of an access token,
    // another issuer's alg=none token.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("00000000-0000-7000-8000-000000000000");
    let forged_claims = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[0] ^= 1;
    let forged_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    for bad in [
        forged_claims.as_str(),
        &forged_sig,
        tokens["id_token"].as_str().unwrap(),
        &none,
        "garbage",
        "a.b.c",
    ] {
        assert_eq!(
            introspect(&app, &c, bad).await,
            json!({"active": false}),
            "{bad}"
        );
        assert_eq!(userinfo(&app, bad).await.0, 401, "{bad}");
    }
    let r = app
        .http
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Introspection is for authenticated confidential clients.
    let (status, body) = form_post(&app, "/oauth/introspect", None, &[("token", access)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let p = new_client(
        &app,
        &admin,
        json!({"name": "SPA", "redirect_uris": [CB], "type": "public"}),
    )
    .await;
    let (status, _) = form_post(
        &app,
        "/oauth/introspect",
        None,
        &[
            ("token", access),
            ("client_id", p["client_id"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = form_post(&app, "/oauth/introspect", Some(creds(&c)), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Revocation (RFC 7009): another client's revocation is ignored; the owner's works.
    let other = confidential(&app, &admin).await;
    let (status, _) = form_post(
        &app,
        "/oauth/revoke",
        Some(creds(&other)),
        &[("token", access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&app, &c, access).await["active"], true);
    let (status, _) = form_post(
        &app,
        "/oauth/revoke",
        Some(creds(&c)),
        &[("token", access), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&app, &c, access).await["active"], false);
    assert_eq!(userinfo(&app, access).await.0, 401);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, _) = form_post(
        &app,
        "/oauth/revoke",
        Some(creds(&c)),
        &[("token", refresh)],
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = token(
        &app,
        Some(creds(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "revoked refresh"
    );
    let (status, _) = form_post(
        &app,
        "/oauth/revoke",
        Some(creds(&c)),
        &[("token", "unknown")],
    )
    .await;
    assert_eq!(status, 200, "unknown tokens are not an error");
    let (status, body) = form_post(
        &app,
        "/oauth/revoke",
        Some((cid, "wrong")),
        &[("token", "x")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn rs256_clients_and_key_rotation() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = new_client(&app, &admin, json!({"name": "Legacy", "redirect_uris": [CB], "first_party": true, "id_token_signed_response_alg": "RS256"})).await;
    let cid = c["client_id"].as_str().unwrap();
    let (_, _, tokens) = signed_in_tokens(&app, &c).await;
    let (header, _) = verify_jwt(&app, tokens["id_token"].as_str().unwrap(), cid).await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let old_kid = header.kid.unwrap();

    let kids = gatehouse::provider::keys::rotate(&app.state).await.unwrap();
    assert_eq!(kids.len(), 2);
    let jwks: Value = app
        .http
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&old_kid.as_str()),
        "old key kept while its tokens live"
    );
    assert!(kids.iter().all(|k| listed.contains(&k.as_str())));
    // Old tokens still verify; new ones use the new key.
    assert_eq!(
        introspect(&app, &c, tokens["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let (_, _, fresh) = signed_in_tokens(&app, &c).await;
    let (header, _) = verify_jwt(&app, fresh["id_token"].as_str().unwrap(), cid).await;
    assert!(kids.contains(&header.kid.unwrap()));
    // Once its tokens have expired, the old key leaves the JWKS.
    app.state.clock.advance(700);
    let jwks: Value = app
        .http
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks.to_string().contains(&old_kid));
}

#[tokio::test]
async fn rp_initiated_logout() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let (session, _, tokens) = signed_in_tokens(&app, &c).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let bye = "https://app.example.test/bye";
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    // Not registered: an error page, the session stays.
    let r = browse(
        &app,
        Some(&session),
        &format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
            enc("https://evil.example/")
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        200
    );
    // A forged hint: an error page.
    let r = browse(
        &app,
        Some(&session),
        &format!("/oauth/logout?id_token_hint={}x", &hint[..hint.len() - 2]),
    )
    .await;
    assert_eq!(r.status(), 400);
    // No hint: the user is asked, not signed out by a bare GET.
    let r = browse(&app, Some(&session), "/oauth/logout").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("action=\"/oauth/logout\""));
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        200
    );
    // The hint naming this session: signed out and sent back with the state.
    let r = browse(
        &app,
        Some(&session),
        &format!(
            "/oauth/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=s9",
            enc(bye)
        ),
    )
    .await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{bye}?state=s9"));
    assert_eq!(
        app.get("/api/v1/users/me", Some(&session)).await.status,
        401
    );
    assert_eq!(
        introspect(&app, &c, tokens["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

#[tokio::test]
async fn pages_in_both_languages() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    let c = confidential(&app, &admin).await;
    let (session, _) = member(&app).await;
    let url = authorize_url(c["client_id"].as_str().unwrap(), &[]);
    sqlx::query("UPDATE users SET language = 'zh-CN' WHERE id = (SELECT user_id FROM sessions WHERE token_hash = $1)")
        .bind(gatehouse::tokens::sha256_hex(&session))
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = browse(&app, Some(&session), &url).await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains("允许访问你的账户") && html.contains("你的邮箱地址"),
        "{html}"
    );
    let r = browse(&app, Some(&admin), "/admin/clients").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(c["client_id"].as_str().unwrap()) && html.contains("Applications"),
        "{html}"
    );
    assert!(!html.contains(c["client_secret"].as_str().unwrap()));
    let r = browse(&app, Some(&session), "/admin/clients").await;
    assert_eq!(r.status(), 403);
}

// ---------------------------------------------------------------------------------------------
// The certified relying party (openid-client) and gatehouse signing in through gatehouse.

fn rp_dir() -> std::path::PathBuf {
    common::project_dir().join("tests/peers/oidc-rp")
}

async fn run_rp(app: &TestApp, c: &Value, session: &str, alg: &str) -> Value {
    assert!(
        rp_dir().join("node_modules/openid-client").is_dir(),
        "the relying party peer is not installed: run `npm install --prefix tests/peers/oidc-rp` (scripts/test does)"
    );
    let mut child = Command::new("node")
        .arg("rp.mjs")
        .current_dir(rp_dir())
        .env("ISSUER", &app.base)
        .env("CLIENT_ID", c["client_id"].as_str().unwrap())
        .env("CLIENT_SECRET", c["client_secret"].as_str().unwrap())
        .env("REDIRECT_URI", CB)
        .env("ALG", alg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node for the relying party peer");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first: Value = serde_json::from_str(&rx.recv().await.expect("rp output")).unwrap();
    let url = first["authorize_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"));
    let path = url.strip_prefix(&app.base).unwrap();
    // The browser (signed in, first-party client: no consent) lands on the callback; hand its
    // URL to the relying party.
    let r = browse(app, Some(session), path).await;
    assert_eq!(r.status(), 302);
    let callback = location(&r);
    writeln!(stdin, "{callback}").unwrap();
    let out: Value = serde_json::from_str(&rx.recv().await.expect("rp result")).unwrap();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    out
}

#[tokio::test]
async fn openid_client_runs_the_code_flow_refresh_and_userinfo() {
    let (app, _s) = spawn().await;
    let admin = superuser(&app).await;
    for alg in ["EdDSA", "RS256"] {
        let c = new_client(
            &app,
            &admin,
            json!({"name": "RP", "redirect_uris": [CB], "post_logout_redirect_uris": ["https://app.example.test/bye"],
                   "first_party": true, "id_token_signed_response_alg": alg}),
        )
        .await;
        let (session, user_id) = member(&app).await;
        let out = run_rp(&app, &c, &session, alg).await;
        assert!(out.get("error").is_none(), "{alg}: {out}");
        assert_eq!(out["claims"]["sub"], user_id.as_str(), "{out}");
        assert_eq!(out["claims"]["amr"], json!(["pwd"]));
        assert_eq!(out["userinfo"]["sub"], user_id.as_str());
        assert!(out["userinfo"]["email"].is_string());
        assert!(
            out["userinfo"]["groups"]
                .as_array()
                .is_some_and(|g| !g.is_empty())
        );
        assert_eq!(out["refreshed_has_refresh"], true, "rotation: {out}");
        assert_eq!(out["introspection"]["active"], true, "{out}");
        assert_eq!(out["reuse"], "invalid_grant", "reuse detected: {out}");
        let end = out["end_session"].as_str().unwrap();
        assert!(
            end.starts_with(&format!("{}/oauth/logout?", app.base)),
            "{end}"
        );
    }
}

/// gatehouse "B" signs its users in through gatehouse "A"'s OpenID Provider with an ordinary
/// `[providers.a] type = "oidc"` channel: both halves checked against each other.
#[tokio::test]
async fn gatehouse_signs_in_through_gatehouse() {
    let (a, _sa) = spawn().await;
    let admin = superuser(&a).await;
    // B's address must be known before A registers its callback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b_base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let callback = format!("{b_base}/api/v1/auth/providers/a/callback");
    let c = new_client(
        &a,
        &admin,
        json!({"name": "gatehouse B", "redirect_uris": [callback], "first_party": true,
        "allowed_scopes": ["openid", "email", "profile"], "id_token_signed_response_alg": "RS256"}),
    )
    .await;
    let (a_session, _) = a.register(&unique_email("fed")).await;
    let email: String = a.get("/api/v1/users/me", Some(&a_session)).await.body["email"]
        .as_str()
        .unwrap()
        .to_string();

    let storage_b = Storage::from_env().await;
    let mut config: Config = common::base_config(&storage_b);
    config.listen = b_base.trim_start_matches("http://").parse().unwrap();
    config.public_base_url = Some(b_base.clone());
    config.providers.insert(
        "a".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Oidc),
            name: Some("Gatehouse A".into()),
            client_id: Some(c["client_id"].as_str().unwrap().into()),
            client_secret: Some(Secret::new(c["client_secret"].as_str().unwrap())),
            issuer: Some(a.base.clone()),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            trust_email: true,
            ..ProviderConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let b = TestApp::spawn_on_listener(&storage_b, config, listener).await;

    // The browser starts at B, goes to A (signed in there), and comes back to B.
    let r = b
        .http
        .get(b.url("/api/v1/auth/providers/a/authorize"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16() / 100, 3, "{:?}", r.text().await);
    let binding: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let to_a = location(&r);
    assert!(
        to_a.starts_with(&format!("{}/oauth/authorize?", a.base)),
        "{to_a}"
    );
    let r = browse(&a, Some(&a_session), to_a.strip_prefix(&a.base).unwrap()).await;
    assert_eq!(r.status(), 302);
    let back = location(&r);
    assert!(back.starts_with(&callback), "{back}");
    let r = b
        .http
        .get(&back)
        .header("cookie", binding.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16() / 100, 3, "{:?}", r.text().await);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("B signed the user in");
    let token = cookie
        .trim_start_matches("gatehouse_session=")
        .split(';')
        .next()
        .unwrap();
    let me = b.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"].as_str(), Some(email.as_str()));
    assert_eq!(me.body["login_channel"], "a");
}

#[test]
fn cli_manages_clients_and_rotates_keys() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .args(args)
            .env_remove("GATEHOUSE_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&[
        "admin",
        "clients",
        "add",
        "--name",
        "Wiki",
        "--redirect-uri",
        CB,
        "--redirect-uri",
        "https://app.example.test/cb2",
        "--scope",
        "openid",
        "--scope",
        "email",
    ]);
    assert!(ok, "{out}{err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    let secret = made["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("ghcs_"));
    assert_eq!(made["redirect_uris"].as_array().unwrap().len(), 2);
    assert!(err.contains("shown only now"));
    let cid = made["client_id"].as_str().unwrap();
    let (ok, out, _) = run(&["admin", "clients", "list"]);
    assert!(ok && out.contains(cid) && !out.contains(secret), "{out}");
    let (ok, out, _) = run(&["admin", "clients", "show", cid]);
    assert!(
        ok && out.contains("\"Wiki\"") && !out.contains("client_secret"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "admin",
        "clients",
        "update",
        cid,
        "--name",
        "Wiki 2",
        "--first-party",
        "true",
    ]);
    assert!(ok && out.contains("Wiki 2"), "{out}");
    let (ok, out, _) = run(&["admin", "clients", "rotate-secret", cid]);
    let rotated: Value = serde_json::from_str(&out).unwrap();
    assert!(ok && rotated["client_secret"].as_str().unwrap() != secret);
    let (ok, out, _) = run(&[
        "admin",
        "clients",
        "add",
        "--name",
        "SPA",
        "--redirect-uri",
        CB,
        "--public",
        "--first-party",
    ]);
    assert!(ok, "{out}");
    assert!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .get("client_secret")
            .is_none()
    );
    let (ok, _, err) = run(&[
        "admin",
        "clients",
        "add",
        "--name",
        "Bad",
        "--redirect-uri",
        "not a url",
    ]);
    assert!(!ok && err.contains("redirect_uris"), "{err}");
    let (ok, out, _) = run(&["admin", "keys", "rotate"]);
    assert!(ok && out.starts_with("new signing keys: "), "{out}");
    let (ok, out, _) = run(&["admin", "clients", "remove", cid]);
    assert!(ok && out.contains("removed"), "{out}");
    let (ok, _, err) = run(&["admin", "clients", "show", cid]);
    assert!(!ok && err.contains("no such client"), "{err}");
}
