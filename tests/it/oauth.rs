//! Sign-in with providers: OpenID Connect against a real `oidc-provider` (tests/peers/oidc-op),
//! the generic OAuth2 channel against the same provider with explicit URLs, id_token checks
//! against a wiremock provider that hands out crafted tokens, GitHub against a wiremock stub of
//! its endpoints, and the identity list with its last-login-method guard.

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Lines};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{PASSWORD, Storage, TestApp};
use gatehouse::config::{Config, ProviderConfig, ProviderKind, Secret};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The OpenID provider peer's folder (found at run time; see `common::project_dir`).
fn op_dir() -> PathBuf {
    common::project_dir().join("tests/peers/oidc-op")
}
/// A throwaway RSA key for signing test id_tokens; it protects nothing.
const TEST_KEY: &str = include_str!("../fixtures/oidc-test-key.pem");

// ---------------------------------------------------------------------------------------------
// The OpenID provider peer and a browser that follows redirects by hand.

struct Op {
    child: Child,
    issuer: String,
    _stdout: Lines<BufReader<ChildStdout>>,
}

impl Op {
    fn start(redirects: &[String]) -> Self {
        let installed = op_dir().join("node_modules/oidc-provider");
        assert!(
            installed.is_dir(),
            "the OpenID provider peer is not installed: run `npm install --prefix tests/peers/oidc-op` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg("op.mjs")
            .current_dir(op_dir())
            .env("PORT", "0")
            .env("RP_REDIRECTS", redirects.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node for the OpenID provider peer: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(issuer) = line.strip_prefix("OP listening on ") {
                        break issuer.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("the OpenID provider peer did not start");
                }
            }
        };
        Self {
            child,
            issuer,
            _stdout: lines,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Cookies by host:port, redirects followed by the test.
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, HashMap<String, String>>,
}

fn authority(url: &str) -> String {
    let u = reqwest::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    )
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn set_cookie(&mut self, url: &str, name: &str, value: &str) {
        self.jar
            .entry(authority(url))
            .or_default()
            .insert(name.into(), value.into());
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&authority(url))?.get(name).cloned()
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let request = self.http.get(url);
        self.send(url, request).await
    }

    /// A form post from a page of `url`'s own site (its `Origin`).
    async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let origin = reqwest::Url::parse(url)
            .unwrap()
            .origin()
            .ascii_serialization();
        let request = self.http.post(url).header("origin", origin).form(fields);
        self.send(url, request).await
    }

    async fn send(&mut self, url: &str, mut request: reqwest::RequestBuilder) -> reqwest::Response {
        let cookies = self.jar.entry(authority(url)).or_default();
        let header = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !header.is_empty() {
            request = request.header("cookie", header);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0") {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().into(), value.trim().into());
            }
        }
        response
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn authorize_url(app: &TestApp, provider: &str, return_to: Option<&str>) -> String {
    let mut url = app.url(&format!("/api/v1/auth/providers/{provider}/authorize"));
    if let Some(r) = return_to {
        let encoded: String = url::form_urlencoded::byte_serialize(r.as_bytes()).collect();
        url = format!("{url}?return_to={encoded}");
    }
    url
}

/// Authorize at gatehouse, then play the provider's pages (as `account`) until it sends the
/// browser back; returns the callback URL, not yet visited.
async fn to_callback(
    app: &TestApp,
    b: &mut Browser,
    provider: &str,
    return_to: Option<&str>,
    account: &str,
) -> String {
    play_provider(
        b,
        &authorize_url(app, provider, return_to),
        &app.base,
        account,
    )
    .await
}

/// Open `start` (a sign-in start that 302s to the provider), then play the provider's pages
/// (as `account`) until it sends the browser back to `home`; returns that URL, not yet visited.
async fn play_provider(b: &mut Browser, start: &str, home: &str, account: &str) -> String {
    let r = b.get(start).await;
    assert_eq!(r.status(), 302, "authorize");
    follow_provider(b, &location(&r), home, account).await
}

/// Play the provider's pages from `to` (its authorization URL) as `account` until it sends the
/// browser back to `home`; returns that URL, not yet visited.
async fn follow_provider(b: &mut Browser, to: &str, home: &str, account: &str) -> String {
    let mut next = format!("{to}&login_hint={account}");
    loop {
        let r = b.get(&next).await;
        assert!(
            r.status().is_redirection(),
            "provider page {next}: {}",
            r.status()
        );
        let abs = reqwest::Url::parse(&next)
            .unwrap()
            .join(&location(&r))
            .unwrap()
            .to_string();
        if abs.starts_with(home) {
            return abs;
        }
        next = abs;
    }
}

/// Where a callback sent the browser, and the session it got.
#[derive(Debug)]
struct Landing {
    status: u16,
    location: String,
    session: Option<String>,
}

async fn visit(b: &mut Browser, url: &str) -> Landing {
    let r = b.get(url).await;
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("gatehouse_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string);
    Landing {
        status: r.status().as_u16(),
        location: location(&r),
        session,
    }
}

/// The value of the first form's CSRF token on a page.
fn csrf_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form with a CSRF token")
        .to_string()
}

/// Link `provider` for the signed-in browser `b` as a person does: the start sends it to the
/// confirmation page, whose form starts the flow; then play the provider's pages (as
/// `account`) and return the callback URL, not yet visited.
async fn link_callback(
    app: &TestApp,
    b: &mut Browser,
    provider: &str,
    return_to: Option<&str>,
    account: &str,
) -> String {
    let r = b.get(&authorize_url(app, provider, return_to)).await;
    assert_eq!(r.status(), 302, "authorize while signed in");
    let confirm = app.url(&location(&r));
    assert!(
        confirm.starts_with(&app.url(&format!("/account/link?provider={provider}"))),
        "{confirm}"
    );
    let page = b.get(&confirm).await;
    assert_eq!(page.status(), 200, "the link page");
    let token = csrf_token(&page.text().await.unwrap());
    let mut fields = vec![("csrf_token", token.as_str()), ("provider", provider)];
    if let Some(to) = return_to {
        fields.push(("return_to", to));
    }
    let started = b.post_form(&app.url("/account/link"), &fields).await;
    assert_eq!(started.status(), 302, "the confirmed link starts");
    follow_provider(b, &location(&started), &app.base, account).await
}

async fn sign_in(app: &TestApp, provider: &str, account: &str) -> Landing {
    let mut b = Browser::new();
    let callback = to_callback(app, &mut b, provider, None, account).await;
    visit(&mut b, &callback).await
}

fn oidc_provider(issuer: &str) -> ProviderConfig {
    ProviderConfig {
        kind: Some(ProviderKind::Oidc),
        name: Some("Corp SSO".into()),
        icon: Some("sso".into()),
        client_id: Some("authsvc".into()),
        client_secret: Some(Secret::new("authsvc-secret")),
        issuer: Some(issuer.into()),
        ..ProviderConfig::default()
    }
}

/// The same provider as a plain OAuth2 server: explicit URLs, secret from a file.
fn generic_provider(issuer: &str, secret_file: PathBuf) -> ProviderConfig {
    ProviderConfig {
        kind: Some(ProviderKind::Oauth2),
        name: Some("Generic".into()),
        client_id: Some("generic".into()),
        client_secret_file: Some(secret_file),
        authorization_url: Some(format!("{issuer}/auth")),
        token_url: Some(format!("{issuer}/token")),
        userinfo_url: Some(format!("{issuer}/me")),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
        ..ProviderConfig::default()
    }
}

/// A server with `corp` (oidc) and `generic` (oauth2) channels at a fresh OpenID provider.
async fn spawn_with_op(tweak: impl FnOnce(&mut Config)) -> (TestApp, Storage, Op) {
    spawn_with_op_allowing(&[], tweak).await
}

/// As [`spawn_with_op`], plus the RAGFlow profile on its own listener, whose `corp` callback
/// the provider accepts; returns the profile's base URL too.
async fn spawn_with_op_and_ragflow() -> (TestApp, Storage, Op, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rag = format!("http://{}", listener.local_addr().unwrap());
    let redirect = format!("{rag}/api/v1/auth/oauth/corp/callback");
    let (app, storage, op) = spawn_with_op_allowing(&[redirect], |config| {
        config.ragflow.public_base_url = Some(rag.clone());
    })
    .await;
    let base = common::serve_ragflow(&app, listener);
    (app, storage, op, base)
}

async fn spawn_with_op_allowing(
    extra_redirects: &[String],
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, Storage, Op) {
    let mut op = None;
    let (app, storage) = TestApp::spawn_bound(|config, base| {
        let mut redirects: Vec<String> = ["corp", "generic"]
            .iter()
            .map(|id| format!("{base}/api/v1/auth/providers/{id}/callback"))
            .collect();
        redirects.extend_from_slice(extra_redirects);
        let started = Op::start(&redirects);
        let secret_file = config.data_dir.join("generic.secret");
        std::fs::write(&secret_file, "generic-secret\n").unwrap();
        config
            .providers
            .insert("corp".into(), oidc_provider(&started.issuer));
        config.providers.insert(
            "generic".into(),
            generic_provider(&started.issuer, secret_file),
        );
        op = Some(started);
        tweak(config);
    })
    .await;
    (app, storage, op.unwrap())
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn set_active(app: &TestApp, user_id: &str, active: bool) {
    sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
        .bind(i64::from(active))
        .bind(user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect against the real provider.

#[tokio::test]
async fn oidc_registers_a_new_user_and_signs_in() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let list = app.get("/api/v1/auth/providers", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body,
        json!([
            {"id": "corp", "name": "Corp SSO", "icon": "sso", "type": "oidc"},
            {"id": "generic", "name": "Generic", "icon": null, "type": "oauth2"},
        ])
    );
    let missing = app.get("/api/v1/auth/providers/nope/authorize", None).await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));

    let mut b = Browser::new();
    let r = b
        .get(&authorize_url(&app, "corp", Some("/teams?tab=1")))
        .await;
    assert_eq!(r.status(), 302);
    let to = location(&r);
    assert_eq!(
        query_param(&to, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(&to, "code_challenge").is_some());
    assert!(query_param(&to, "nonce").is_some_and(|n| n.len() >= 16));
    assert!(query_param(&to, "state").is_some_and(|s| s.len() >= 16));
    assert!(query_param(&to, "scope").is_some_and(|s| s.split(' ').any(|x| x == "openid")));
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("gatehouse_oauth=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax")
            && cookie.contains("Max-Age=600"),
        "{cookie}"
    );

    let mut next = format!("{to}&login_hint=alice");
    let callback = loop {
        let r = b.get(&next).await;
        let abs = reqwest::Url::parse(&next)
            .unwrap()
            .join(&location(&r))
            .unwrap()
            .to_string();
        if abs.starts_with(&app.base) {
            break abs;
        }
        next = abs;
    };
    let landing = visit(&mut b, &callback).await;
    assert_eq!(
        (landing.status, landing.location.as_str()),
        (302, "/teams?tab=1")
    );
    let token = landing.session.expect("a session cookie");
    let user = me(&app, &token).await;
    assert_eq!(user["email"], "alice@example.test");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["login_channel"], "corp");
    assert_eq!(user["nickname"], "Test alice");

    let ids = app.get("/api/v1/users/me/identities", Some(&token)).await;
    assert_eq!(ids.status, 200);
    assert_eq!(ids.body.as_array().unwrap().len(), 1);
    assert_eq!(ids.body[0]["provider"], "corp");
    assert_eq!(ids.body[0]["subject"], "alice");
    assert_eq!(ids.body[0]["email"], "alice@example.test");

    let registered = app.audit_events("user.registered").await;
    assert!(registered[0].1.contains("\"corp\""), "{registered:?}");
    let logins = app.audit_events("user.login").await;
    assert!(logins[0].1.contains("\"corp\""), "{logins:?}");
    assert_eq!(app.audit_events("identity.linked").await.len(), 1);
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("gatehouse_oauth_provider_seconds"),
        "{metrics}"
    );
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    for p in [
        "/api/v1/auth/providers",
        "/api/v1/auth/providers/{id}/authorize",
        "/api/v1/auth/providers/{id}/callback",
        "/api/v1/users/me/identities",
        "/api/v1/users/me/identities/{id}",
    ] {
        assert!(spec["paths"][p].is_object(), "{p} missing from OpenAPI");
    }
}

#[tokio::test]
async fn verified_email_links_an_existing_account_then_the_identity_is_used() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let (password_session, user_id) = app.register("carol@example.test").await;
    // Whoever registered the address plants a key and an email change towards their own.
    let key = app
        .post(
            "/api/v1/api-keys",
            Some(&password_session),
            json!({"name": "planted"}),
        )
        .await;
    let key = key.body["key"].as_str().unwrap().to_string();
    let change = app
        .post(
            "/api/v1/users/me/email",
            Some(&password_session),
            json!({"new_email": "mallory@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(change.status, 202);
    let first = sign_in(&app, "corp", "carol").await;
    assert_eq!(first.location, "/account");
    let token = first.session.unwrap();
    assert_eq!(me(&app, &token).await["id"], user_id);
    let linked = app.audit_events("identity.linked").await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].0.as_deref(), Some(user_id.as_str()));
    assert!(linked[0].1.contains("\"email\""), "{:?}", linked[0]);
    // The account's address had never been verified: whoever set that password never proved
    // the address, so the password and its sessions are gone (pre-hijacking defence).
    assert_eq!(me(&app, &token).await["email_verified"], true);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&password_session))
            .await
            .status,
        401
    );
    assert_eq!(app.login("carol@example.test", PASSWORD).await.status, 401);
    assert_eq!(app.get("/api/v1/users/me", Some(&key)).await.status, 401);
    let mallory = app.mails_to("mallory@example.test").await;
    let (_, change_token) = common::code_and_token(&mallory[0].2);
    let moved = app
        .post(
            "/api/v1/auth/email/verify",
            None,
            json!({"token": change_token}),
        )
        .await;
    assert_eq!((moved.status, moved.code()), (400, "invalid_token"));
    let notices: Vec<String> = app
        .mails_to("carol@example.test")
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert!(
        notices.contains(&"sign_in_changed".to_string()),
        "{notices:?}"
    );

    let second = sign_in(&app, "corp", "carol").await;
    assert_eq!(me(&app, &second.session.unwrap()).await["id"], user_id);
    assert_eq!(app.audit_events("identity.linked").await.len(), 1);
    assert_eq!(app.audit_events("user.registered").await.len(), 1);
}

#[tokio::test]
async fn a_verified_account_keeps_its_password_when_linked() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let (_, user_id) = app.register("dora@example.test").await;
    sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
        .bind(&user_id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let landing = sign_in(&app, "corp", "dora").await;
    assert_eq!(me(&app, &landing.session.unwrap()).await["id"], user_id);
    assert_eq!(app.login("dora@example.test", PASSWORD).await.status, 200);
}

#[tokio::test]
async fn unverified_email_never_links() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let (_, user_id) = app.register("unverified1@example.test").await;
    let refused = sign_in(&app, "corp", "unverified1").await;
    assert_eq!(refused.location, "/login?error=email_unverified");
    assert!(refused.session.is_none());
    assert!(app.audit_events("identity.linked").await.is_empty());
    assert_eq!(
        app.login("unverified1@example.test", PASSWORD).await.body["user"]["id"],
        user_id
    );

    // A new address the provider does not vouch for registers, unverified.
    let fresh = sign_in(&app, "corp", "unverified2").await;
    assert_eq!(fresh.location, "/account");
    let user = me(&app, &fresh.session.unwrap()).await;
    assert_eq!(user["email"], "unverified2@example.test");
    assert_eq!(user["email_verified"], false);
}

#[tokio::test]
async fn disabled_accounts_are_refused() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let (_, linked_id) = app.register("erin@example.test").await;
    set_active(&app, &linked_id, false).await;
    let by_email = sign_in(&app, "corp", "erin").await;
    assert_eq!(by_email.location, "/login?error=account_disabled");

    let known = sign_in(&app, "corp", "frank").await;
    let token = known.session.unwrap();
    let frank = me(&app, &token).await["id"].as_str().unwrap().to_string();
    set_active(&app, &frank, false).await;
    let again = sign_in(&app, "corp", "frank").await;
    assert_eq!(again.location, "/login?error=account_disabled");
    assert!(again.session.is_none());
}

#[tokio::test]
async fn registration_can_be_closed_per_provider_and_globally() {
    let (app, _s, _op) = spawn_with_op(|c| {
        if let Some(p) = c.providers.get_mut("corp") {
            p.allow_registration = false;
        }
    })
    .await;
    let refused = sign_in(&app, "corp", "gina").await;
    assert_eq!(refused.location, "/login?error=registration_disabled");
    let other_channel = sign_in(&app, "generic", "gina").await;
    assert_eq!(other_channel.location, "/account", "only `corp` is closed");
    // An existing account still signs in through the closed channel (by its verified email).
    let existing = sign_in(&app, "corp", "gina").await;
    assert_eq!(existing.location, "/account");

    let (closed, _s2, _op2) = spawn_with_op(|c| c.registration_enabled = false).await;
    let refused = sign_in(&closed, "corp", "hank").await;
    assert_eq!(refused.location, "/login?error=registration_disabled");
}

#[tokio::test]
async fn the_state_is_bound_to_the_browser_and_used_once() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;

    // Another browser (no binding cookie) cannot finish this browser's flow.
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "ivan").await;
    assert!(b.cookie(&app.base, "gatehouse_oauth").is_some());
    let mut stranger = Browser::new();
    let landing = visit(&mut stranger, &callback).await;
    assert_eq!(landing.location, "/login?error=invalid_state");
    assert!(landing.session.is_none());
    // …and the state is spent by that attempt.
    assert_eq!(
        visit(&mut b, &callback).await.location,
        "/login?error=invalid_state"
    );

    // A wrong state value.
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "ivan").await;
    let state = query_param(&callback, "state").unwrap();
    let forged = callback.replace(&state, "forged-state-value-0123456789");
    assert_eq!(
        visit(&mut b, &forged).await.location,
        "/login?error=invalid_state"
    );
    // No state at all.
    assert_eq!(
        visit(
            &mut b,
            &app.url("/api/v1/auth/providers/corp/callback?code=x")
        )
        .await
        .location,
        "/login?error=invalid_state"
    );
    // The right one still works once, and a replay is refused.
    let ok = visit(&mut b, &callback).await;
    assert_eq!(ok.location, "/account");
    assert!(ok.session.is_some());
    let replay = visit(&mut b, &callback).await;
    assert_eq!(replay.location, "/login?error=invalid_state");
    assert!(replay.session.is_none());

    // A valid state without a code.
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "ivan").await;
    let state = query_param(&callback, "state").unwrap();
    let no_code = app.url(&format!(
        "/api/v1/auth/providers/corp/callback?state={}",
        url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
    ));
    assert_eq!(
        visit(&mut b, &no_code).await.location,
        "/login?error=missing_code"
    );

    // The provider said no.
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "deny-me").await;
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        visit(&mut b, &callback).await.location,
        "/login?error=provider_error"
    );

    // A state from one provider's flow is not accepted at another's callback.
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "ivan").await;
    let elsewhere = callback.replace("/providers/corp/", "/providers/generic/");
    assert_eq!(
        visit(&mut b, &elsewhere).await.location,
        "/login?error=invalid_state"
    );
}

/// RAGFlow's web client signs in through the profile's channel routes: the provider comes back
/// to the profile's callback, which hands over a RAGFlow token in `/?auth=`; failures land on
/// `/?error=CODE` with RAGFlow's codes; a flow started at one door cannot be finished at the other.
#[tokio::test]
async fn ragflow_clients_sign_in_through_the_profile_channels() {
    let (app, _s, _op, rag) = spawn_with_op_and_ragflow().await;
    let http = reqwest::Client::new();
    let channels: Value = http
        .get(format!("{rag}/api/v1/auth/login/channels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(channels["code"], 0);
    assert!(
        channels["data"]
            .as_array()
            .unwrap()
            .contains(&json!({"channel": "corp", "display_name": "Corp SSO", "icon": "sso"})),
        "{channels}"
    );

    let mut b = Browser::new();
    let start = format!("{rag}/api/v1/auth/login/corp");
    let callback = play_provider(&mut b, &start, &rag, "grace").await;
    assert!(
        callback.starts_with(&format!("{rag}/api/v1/auth/oauth/corp/callback?")),
        "{callback}"
    );
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok()),
        Some("no-referrer"),
        "the token in the URL must not travel on in Referer"
    );
    let landing = location(&r);
    let token = landing
        .strip_prefix("/?auth=")
        .unwrap_or_else(|| panic!("not signed in: {landing}"))
        .to_string();
    let me: Value = http
        .get(format!("{rag}/api/v1/users/me"))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["code"], 0, "{me}");
    assert_eq!(me["data"]["email"], "grace@example.test");
    assert_eq!(me["data"]["login_channel"], "corp");
    // The same account on the native API, through the identity the profile created.
    assert_eq!(app.audit_events("identity.linked").await.len(), 1);

    let replay = b.get(&callback).await;
    assert_eq!(location(&replay), "/?error=invalid_state");
    for hostile in [
        format!("state={}&code=x", "s".repeat(5000)),
        "state=%00&code=%ff".to_string(),
        String::new(),
    ] {
        let r = b
            .get(&format!("{rag}/api/v1/auth/oauth/corp/callback?{hostile}"))
            .await;
        assert_eq!(location(&r), "/?error=invalid_state", "{hostile:.40}");
    }
    let unknown = b
        .get(&format!(
            "{rag}/api/v1/auth/oauth/nope/callback?state=x&code=y"
        ))
        .await;
    assert_eq!(location(&unknown), "/?error=invalid_state");

    // A flow started natively is not finished by the profile's callback.
    let native = to_callback(&app, &mut b, "corp", None, "grace").await;
    let query = native.split_once('?').unwrap().1;
    let crossed = b
        .get(&format!("{rag}/api/v1/auth/oauth/corp/callback?{query}"))
        .await;
    assert_eq!(location(&crossed), "/?error=invalid_state");

    // The profile shows RAGFlow's 32-hex form of the id.
    let user_id = uuid::Uuid::parse_str(me["data"]["id"].as_str().unwrap()).unwrap();
    set_active(&app, &user_id.to_string(), false).await;
    let callback = play_provider(&mut b, &start, &rag, "grace").await;
    let refused = b.get(&callback).await;
    assert_eq!(location(&refused), "/?error=user_inactive");

    // The legacy start route works too; the binding cookie goes only to the profile's callback.
    let legacy = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{rag}/v1/user/login/corp"))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 302);
    let cookie = legacy.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Path=/api/v1/auth/oauth;"), "{cookie}");
    let to = location(&legacy);
    let redirect_uri = query_param(&to, "redirect_uri").unwrap();
    assert_eq!(
        redirect_uri,
        format!("{rag}/api/v1/auth/oauth/corp/callback")
    );

    let unknown: Value = http
        .get(format!("{rag}/api/v1/auth/login/nope"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["code"], 100, "{unknown}");
}

#[tokio::test]
async fn return_to_must_be_a_local_path() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    for (given, expected) in [
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/x", "/account"),
        ("/teams/1", "/teams/1"),
    ] {
        let mut b = Browser::new();
        let callback = to_callback(&app, &mut b, "corp", Some(given), "judy").await;
        let landing = visit(&mut b, &callback).await;
        assert_eq!(landing.location, expected, "return_to {given}");
    }
}

#[tokio::test]
async fn an_unreachable_token_endpoint_fails_cleanly() {
    let (app, _s, mut op) = spawn_with_op(|_| {}).await;
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "kate").await;
    op.stop();
    let landing = visit(&mut b, &callback).await;
    assert_eq!(landing.status, 302);
    assert!(
        landing.location == "/login?error=token_failed"
            || landing.location == "/login?error=provider_error",
        "{}",
        landing.location
    );
    // Starting a sign-in at a provider that cannot be reached does not answer 5xx either.
    let r = b.get(&authorize_url(&app, "generic", None)).await;
    assert_eq!(r.status(), 302);
}

// ---------------------------------------------------------------------------------------------
// The generic OAuth2 channel against the same provider, with explicit URLs.

#[tokio::test]
async fn generic_oauth2_channel_maps_claims() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let r = Browser::new()
        .get(&authorize_url(&app, "generic", None))
        .await;
    let to = location(&r);
    assert!(to.contains("/auth?"), "{to}");
    assert_eq!(
        query_param(&to, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(&to, "nonce"), None, "no nonce without OpenID");

    let landing = sign_in(&app, "generic", "liam").await;
    assert_eq!(landing.location, "/account");
    let user = me(&app, &landing.session.unwrap()).await;
    assert_eq!(user["email"], "liam@example.test");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["login_channel"], "generic");
    assert_eq!(user["nickname"], "Test liam");

    // Without an `email_verified` claim the address counts as unverified (no `trust_email`).
    let (_, _) = app.register("noflag1@example.test").await;
    let refused = sign_in(&app, "generic", "noflag1").await;
    assert_eq!(refused.location, "/login?error=email_unverified");
    let fresh = sign_in(&app, "generic", "noflag2").await;
    assert_eq!(
        me(&app, &fresh.session.unwrap()).await["email_verified"],
        false
    );
    let none = sign_in(&app, "generic", "noemail1").await;
    assert_eq!(none.location, "/login?error=email_missing");
}

#[tokio::test]
async fn trust_email_makes_a_missing_claim_count_as_verified() {
    let (app, _s, _op) = spawn_with_op(|c| {
        if let Some(p) = c.providers.get_mut("generic") {
            p.trust_email = true;
        }
    })
    .await;
    let (_, user_id) = app.register("noflag3@example.test").await;
    let landing = sign_in(&app, "generic", "noflag3").await;
    assert_eq!(me(&app, &landing.session.unwrap()).await["id"], user_id);
    // An explicit `email_verified: false` still wins.
    app.register("unverified3@example.test").await;
    let refused = sign_in(&app, "generic", "unverified3").await;
    assert_eq!(refused.location, "/login?error=email_unverified");
}

// ---------------------------------------------------------------------------------------------
// Linked identities.

#[tokio::test]
async fn identities_are_listed_linked_and_unlinked_with_a_guard() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", None, "mia").await;
    let first = visit(&mut b, &callback).await;
    let token = first.session.unwrap();
    let ids = app.get("/api/v1/users/me/identities", Some(&token)).await;
    let corp_id = ids.body[0]["id"].as_str().unwrap().to_string();

    // The only way in: no password, no other identity.
    let r = app
        .delete(
            &format!("/api/v1/users/me/identities/{corp_id}"),
            Some(&token),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "last_login_method"));

    // Signed in (the browser holds the session cookie): the next provider is linked once the
    // link page's form confirms it, and no new session is made.
    let callback = link_callback(&app, &mut b, "generic", Some("/account/security"), "mia").await;
    let linked = visit(&mut b, &callback).await;
    assert_eq!(linked.location, "/account/security");
    assert!(linked.session.is_none());
    let ids = app.get("/api/v1/users/me/identities", Some(&token)).await;
    let list = ids.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["provider"], "generic");
    let generic_id = list[1]["id"].as_str().unwrap().to_string();

    // Another user's identity, a missing one and a non-UUID are all simply not found.
    let other = sign_in(&app, "corp", "nora").await.session.unwrap();
    for id in [
        generic_id.as_str(),
        "01890000-0000-7000-8000-000000000000",
        "nope",
    ] {
        let r = app
            .delete(&format!("/api/v1/users/me/identities/{id}"), Some(&other))
            .await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{id}");
    }

    let r = app
        .delete(
            &format!("/api/v1/users/me/identities/{corp_id}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let unlinked = app.audit_events("identity.unlinked").await;
    assert_eq!(unlinked.len(), 1);
    assert!(unlinked[0].1.contains("\"corp\""));
    let r = app
        .delete(
            &format!("/api/v1/users/me/identities/{generic_id}"),
            Some(&token),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "last_login_method"));

    // A subject already linked to another account cannot be linked while signed in.
    let mut nb = Browser::new();
    nb.set_cookie(&app.base, "gatehouse_session", &other);
    let callback = link_callback(&app, &mut nb, "generic", None, "mia").await;
    let taken = visit(&mut nb, &callback).await;
    assert_eq!(taken.location, "/account?error=identity_taken");
    // Any other failure while linking also goes back to the account page, which shows it.
    let mut db = Browser::new();
    db.set_cookie(&app.base, "gatehouse_session", &other);
    let callback = link_callback(&app, &mut db, "generic", None, "deny-mia").await;
    let denied = visit(&mut db, &callback).await;
    assert_eq!(denied.location, "/account?error=provider_error");

    // A password account may drop its only identity.
    let (pw_token, _) = app.register("olga@example.test").await;
    let mut pb = Browser::new();
    pb.set_cookie(&app.base, "gatehouse_session", &pw_token);
    let callback = link_callback(&app, &mut pb, "corp", None, "olga-elsewhere").await;
    assert_eq!(visit(&mut pb, &callback).await.location, "/account");
    let ids = app
        .get("/api/v1/users/me/identities", Some(&pw_token))
        .await;
    assert_eq!(ids.body[0]["email"], "olga-elsewhere@example.test");
    let id = ids.body[0]["id"].as_str().unwrap().to_string();
    let r = app
        .delete(
            &format!("/api/v1/users/me/identities/{id}"),
            Some(&pw_token),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get("/api/v1/users/me/identities", None).await.status,
        401
    );
}

/// A start any site can make a signed-in browser open (an image, a link) links nothing: it
/// lands on a page that names the provider and the account, and only that page's same-origin,
/// CSRF-checked form starts the flow.
#[tokio::test]
async fn a_signed_in_start_asks_on_a_page_before_linking() {
    let (app, _s, op) = spawn_with_op(|_| {}).await;
    let (token, _) = app.register("pia@example.test").await;
    let mut b = Browser::new();
    b.set_cookie(&app.base, "gatehouse_session", &token);
    let r = b
        .get(&authorize_url(&app, "corp", Some("/account?tab=1")))
        .await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        location(&r),
        "/account/link?provider=corp&return_to=%2Faccount%3Ftab%3D1"
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no flow is started by the GET"
    );
    // An API key is no session: its GET starts a sign-in as before.
    let key = app
        .post("/api/v1/api-keys", Some(&token), json!({"name": "k"}))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let with_key = app
        .http
        .get(authorize_url(&app, "corp", None))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(
        location(&with_key).starts_with(&op.issuer),
        "{}",
        location(&with_key)
    );

    let page = b.get(&app.url("/account/link?provider=corp")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Corp SSO") && html.contains("pia@example.test"),
        "{html}"
    );
    assert!(html.contains("action=\"/account/link\""), "{html}");
    let csrf = csrf_token(&html);
    let missing = b.get(&app.url("/account/link?provider=nope")).await;
    assert_eq!(missing.status(), 404);

    // The form's post from another site, without any origin, or without the token: refused.
    let fields = [("csrf_token", csrf.as_str()), ("provider", "corp")];
    let url = app.url("/account/link");
    let cookie = format!(
        "gatehouse_session={token}; gatehouse_csrf={}",
        b.cookie(&app.base, "gatehouse_csrf").unwrap()
    );
    for origin in [Some("https://evil.example"), None] {
        let mut request = app.http.post(&url).header("cookie", &cookie).form(&fields);
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), 403, "origin {origin:?}");
    }
    let forged = b
        .post_form(&url, &[("csrf_token", "forged"), ("provider", "corp")])
        .await;
    assert_eq!(forged.status(), 403);
    assert!(b.cookie(&app.base, "gatehouse_oauth").is_none());

    let started = b.post_form(&url, &fields).await;
    assert_eq!(started.status(), 302);
    let to = location(&started);
    assert!(to.starts_with(&op.issuer), "{to}");
    assert!(b.cookie(&app.base, "gatehouse_oauth").is_some());
    let callback = follow_provider(&mut b, &to, &app.base, "pia-corp").await;
    let linked = visit(&mut b, &callback).await;
    assert_eq!(linked.location, "/account");
    assert!(linked.session.is_none());
    let ids = app.get("/api/v1/users/me/identities", Some(&token)).await;
    assert_eq!(
        ids.body[0]["email"], "pia-corp@example.test",
        "{}",
        ids.text
    );
}

// ---------------------------------------------------------------------------------------------
// id_token checks against a provider that hands out crafted tokens.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(TEST_KEY, Some(JsonWebKeyId::new("test-key".into())))
        .unwrap()
}

fn rs256(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "test-key"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = signing_key()
        .sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            input.as_bytes(),
        )
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn hs256(claims: &Value, secret: &str) -> String {
    use hmac::{KeyInit, Mac};
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn unsigned(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT"});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

async fn mount_stub_provider(server: &MockServer, id_token: &str) {
    let uri = server.uri();
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": uri,
            "authorization_endpoint": format!("{uri}/authorize"),
            "token_endpoint": format!("{uri}/token"),
            "jwks_uri": format!("{uri}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            // Advertised, and still refused: never `none`, never a MAC keyed by our secret.
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
        })))
        .mount(server)
        .await;
    let jwks = CoreJsonWebKeySet::new(vec![signing_key().as_verification_key()]);
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&jwks))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("code_verifier="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "stub-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn id_tokens_are_verified() {
    let server = MockServer::start().await;
    let issuer = server.uri();
    mount_stub_provider(&server, "").await;
    let stub_issuer = issuer.clone();
    let (app, _s) = TestApp::spawn_bound(move |config, _| {
        config.providers.insert(
            "stub".into(),
            ProviderConfig {
                kind: Some(ProviderKind::Oidc),
                client_id: Some("stub-client".into()),
                client_secret: Some(Secret::new("stub-secret-0123456789")),
                issuer: Some(stub_issuer),
                ..ProviderConfig::default()
            },
        );
    })
    .await;
    let now = jiff::Timestamp::now().as_second();
    let iss = issuer.clone();
    let claims = move |nonce: &str| {
        json!({
            "iss": iss, "aud": "stub-client", "sub": "stub-user", "nonce": nonce,
            "iat": now, "exp": now + 300,
            "email": "stub@example.test", "email_verified": true, "name": "Stub User",
        })
    };
    type Make = Box<dyn Fn(&str) -> String>;
    let cases: Vec<(&str, Make, &str)> = {
        let c = claims.clone();
        let mk = move |change: fn(&mut Value)| -> Make {
            let c = c.clone();
            Box::new(move |nonce: &str| {
                let mut v = c(nonce);
                change(&mut v);
                rs256(&v)
            })
        };
        let c2 = claims.clone();
        let c3 = claims.clone();
        vec![
            (
                "wrong aud",
                mk(|v| v["aud"] = json!("someone-else")),
                "invalid_id_token",
            ),
            (
                "wrong iss",
                mk(|v| v["iss"] = json!("https://evil.example")),
                "invalid_id_token",
            ),
            (
                "expired",
                mk(|v| {
                    let past = v["iat"].as_i64().unwrap() - 3600;
                    v["iat"] = json!(past);
                    v["exp"] = json!(past + 60);
                }),
                "invalid_id_token",
            ),
            (
                "wrong nonce",
                mk(|v| v["nonce"] = json!("not-the-nonce")),
                "invalid_id_token",
            ),
            (
                "alg none",
                Box::new(move |n: &str| unsigned(&c2(n))),
                "invalid_id_token",
            ),
            (
                "HS256 with the client secret",
                Box::new(move |n: &str| hs256(&c3(n), "stub-secret-0123456789")),
                "invalid_id_token",
            ),
            (
                "garbage",
                Box::new(|_: &str| "not.a.jwt".to_string()),
                "invalid_id_token",
            ),
            ("valid", mk(|_| {}), ""),
        ]
    };
    for (name, make, expected) in cases {
        let mut b = Browser::new();
        let r = b.get(&authorize_url(&app, "stub", None)).await;
        let to = location(&r);
        assert!(to.starts_with(&format!("{issuer}/authorize")), "{to}");
        let state = query_param(&to, "state").unwrap();
        let nonce = query_param(&to, "nonce").unwrap();
        mount_stub_provider(&server, &make(&nonce)).await;
        let callback = app.url(&format!(
            "/api/v1/auth/providers/stub/callback?code=stub-code&state={}",
            url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
        ));
        let landing = visit(&mut b, &callback).await;
        if expected.is_empty() {
            assert_eq!(landing.location, "/account", "{name}");
            let user = me(&app, &landing.session.unwrap()).await;
            assert_eq!(user["email"], "stub@example.test");
            assert_eq!(user["nickname"], "Stub User");
        } else {
            assert_eq!(
                landing.location,
                format!("/login?error={expected}"),
                "{name}"
            );
            assert!(landing.session.is_none(), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GitHub against a stub of its endpoints.

async fn mount_github(server: &MockServer, user: Value, emails: Option<Value>) {
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(body_string_contains("code_verifier="))
        .and(body_string_contains("client_secret=gh-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "gho_stubtoken", "token_type": "bearer", "scope": "read:user,user:email",
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user))
        .mount(server)
        .await;
    let emails = match emails {
        Some(list) => ResponseTemplate::new(200).set_body_json(list),
        None => ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})),
    };
    Mock::given(method("GET"))
        .and(path("/user/emails"))
        .respond_with(emails)
        .mount(server)
        .await;
}

#[tokio::test]
async fn github_uses_the_primary_verified_email() {
    let server = MockServer::start().await;
    let uri = server.uri();
    let (app, _s) = TestApp::spawn_bound(|config, _| {
        config.providers.insert(
            "github".into(),
            ProviderConfig {
                kind: Some(ProviderKind::Github),
                name: Some("GitHub".into()),
                client_id: Some("gh-client".into()),
                client_secret: Some(Secret::new("gh-secret")),
                api_base_url: Some(uri.clone()),
                web_base_url: Some(uri.clone()),
                ..ProviderConfig::default()
            },
        );
    })
    .await;
    let (_, pat_id) = app.register("pat@example.test").await;
    let octo = json!({"id": 1001, "login": "octo", "name": "Octo Cat", "avatar_url": "https://avatars.example/u/1001"});
    let cases = [
        (
            octo.clone(),
            Some(json!([
                {"email": "octo-work@example.test", "primary": false, "verified": true},
                {"email": "octo@example.test", "primary": true, "verified": true},
            ])),
            "/account",
        ),
        // Known identity: signs in without needing an email.
        (octo.clone(), Some(json!([])), "/account"),
        (
            json!({"id": 2002, "login": "pat"}),
            Some(json!([{"email": "pat@example.test", "primary": true, "verified": false}])),
            "/login?error=email_unverified",
        ),
        (
            json!({"id": 3003, "login": "nomail"}),
            Some(json!([])),
            "/login?error=email_missing",
        ),
        (
            json!({"id": 4004, "login": "noscope"}),
            None,
            "/login?error=email_missing",
        ),
    ];
    let mut octo_id = None;
    for (i, (user, emails, expected)) in cases.into_iter().enumerate() {
        let mut b = Browser::new();
        let r = b.get(&authorize_url(&app, "github", None)).await;
        let to = location(&r);
        assert!(
            to.starts_with(&format!("{uri}/login/oauth/authorize?")),
            "{to}"
        );
        assert!(query_param(&to, "scope").is_some_and(|s| s.contains("user:email")));
        assert_eq!(
            query_param(&to, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let state = query_param(&to, "state").unwrap();
        mount_github(&server, user, emails).await;
        let callback = app.url(&format!(
            "/api/v1/auth/providers/github/callback?code=gh-code&state={}",
            url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
        ));
        let landing = visit(&mut b, &callback).await;
        assert_eq!(landing.location, expected, "case {i}");
        if let Some(token) = landing.session {
            let me = me(&app, &token).await;
            assert_eq!(me["email"], "octo@example.test");
            assert_eq!(me["email_verified"], true);
            assert_eq!(me["login_channel"], "github");
            assert_eq!(me["nickname"], "Octo Cat");
            assert_eq!(me["avatar"], "https://avatars.example/u/1001");
            match &octo_id {
                None => octo_id = Some(me["id"].clone()),
                Some(id) => assert_eq!(&me["id"], id, "the identity signs the same user in"),
            }
        }
    }
    let ids = sqlx::query_scalar::<_, String>("SELECT subject FROM identities ORDER BY subject")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(ids, vec!["1001".to_string()]);
    assert_eq!(
        identity_count(&app, &pat_id).await,
        0,
        "an unverified address linked nothing"
    );
}

async fn identity_count(app: &TestApp, id: &str) -> i64 {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE user_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn a_provider_sign_in_of_an_account_with_totp_finishes_at_the_second_step_page() {
    let (app, _s, _op) = spawn_with_op(|_| {}).await;
    let first = sign_in(&app, "corp", "dora").await;
    let token = first.session.expect("a session");
    // No password: a provider sign-in of the last minutes stands in for it.
    let r = app
        .post("/api/v1/users/me/mfa/totp", Some(&token), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let totp = totp_rs::Totp::from_url(r.body["otpauth_uri"].as_str().unwrap()).unwrap();
    let code = |app: &TestApp| totp.generate(app.state.clock.now() as u64).to_string();
    let r = app
        .post(
            "/api/v1/users/me/mfa/totp/confirm",
            Some(&token),
            json!({"code": code(&app)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.state.clock.advance(30);

    let mut b = Browser::new();
    let callback = to_callback(&app, &mut b, "corp", Some("/account/security"), "dora").await;
    let r = b.get(&callback).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), "/login/mfa", "the token never rides in a URL");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("gatehouse_mfa=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(!cookies.iter().any(|c| c.starts_with("gatehouse_session=")));
    let page = b.get(&app.url("/login/mfa")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let fields = [
        ("csrf_token", csrf_token(&html)),
        ("code", "000000".to_string()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wrong = b.post_form(&app.url("/login/mfa"), &fields).await;
    assert_eq!(wrong.status(), 422, "the form again, with the error");
    let html = wrong.text().await.unwrap();
    let fields = [("csrf_token", csrf_token(&html)), ("code", code(&app))];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = visit_post(&mut b, &app.url("/login/mfa"), &fields).await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/account/security")
    );
    let session = done.session.expect("a session after the second step");
    let list = app.get("/api/v1/users/me/sessions", Some(&session)).await;
    let current = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["amr"], json!(["fed", "otp"]));
}

async fn visit_post(b: &mut Browser, url: &str, fields: &[(&str, &str)]) -> Landing {
    let r = b.post_form(url, fields).await;
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("gatehouse_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string);
    Landing {
        status: r.status().as_u16(),
        location: location(&r),
        session,
    }
}
