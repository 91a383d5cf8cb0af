//! Forward authentication (`GET /api/v1/auth/forward`) on its own, and behind Debian's real
//! nginx with `auth_request` in front of a tiny upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::{Child, Command, Stdio};

use common::{TestApp, free_port, unique_email};
use serde_json::{Value, json};

async fn forward(app: &TestApp, headers: &[(&str, &str)], query: &str) -> reqwest::Response {
    let mut req = app
        .http
        .get(app.url(&format!("/api/v1/auth/forward{query}")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn forward_auth_answers_who_is_signed_in() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.forward_auth.allowed_hosts = vec!["app.example.test".into(), "127.0.0.1:8443".into()];
    })
    .await;
    let (session, user_id) = app.register(&unique_email("fwd")).await;
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            Some(&session),
            Some(json!({"nickname": "Zoë 小明"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let team = app
        .post("/api/v1/tenants", Some(&session), json!({"name": "Crew"}))
        .await;
    let team_id = team.body["id"].as_str().unwrap().to_string();

    // No credential: 401 for nginx.
    let r = forward(&app, &[], "").await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "x-auth-user-id").is_empty());

    // A session by cookie, and by bearer: the identity headers.
    for h in [
        ("cookie", format!("gatehouse_session={session}")),
        ("authorization", format!("Bearer {session}")),
    ] {
        let r = forward(&app, &[(h.0, &h.1)], "").await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-auth-user-id"), user_id);
        assert!(header(&r, "x-auth-email").starts_with("fwd"));
        assert_eq!(header(&r, "x-auth-name"), "Zo%C3%AB%20%E5%B0%8F%E6%98%8E");
        let groups = header(&r, "x-auth-groups");
        let list: Vec<&str> = groups.split(',').collect();
        assert!(
            list.contains(&format!("{team_id}:owner").as_str()),
            "{groups}"
        );
        assert!(list.len() >= 2, "personal team and Crew: {groups}");
    }
    // An API key counts too; a revoked session does not.
    let key = app
        .post(
            "/api/v1/api-keys",
            Some(&session),
            json!({"name": "proxy", "tenant_id": team_id}),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let k = key.body["key"].as_str().unwrap();
    let r = forward(&app, &[("authorization", &format!("Bearer {k}"))], "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-user-id"), user_id);
    let r = app
        .post("/api/v1/auth/logout", Some(&session), json!({}))
        .await;
    assert!(r.status < 300);
    let r = forward(
        &app,
        &[("cookie", &format!("gatehouse_session={session}"))],
        "",
    )
    .await;
    assert_eq!(r.status(), 401);

    // redirect=1 from a trusted proxy (the test client is 127.0.0.1): back to the original URL
    // on an allowed host; any other host or an untrusted header set gets the bare sign-in page.
    let from_proxy = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.test"),
        ("x-forwarded-uri", "/docs/a?b=1"),
    ];
    let r = forward(&app, &from_proxy, "?redirect=1").await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        header(&r, "location"),
        format!(
            "{}/login?return_to=https%3A%2F%2Fapp.example.test%2Fdocs%2Fa%3Fb%3D1",
            app.state.public_base_url
        )
    );
    for bad in [
        [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-uri", "/"),
        ],
        [
            ("x-forwarded-proto", "javascript"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "/"),
        ],
        [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "//evil.example/"),
        ],
        [
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.test@evil.example"),
            ("x-forwarded-uri", "/"),
        ],
    ] {
        let r = forward(&app, &bad, "?redirect=1").await;
        assert_eq!(r.status(), 302);
        assert_eq!(
            header(&r, "location"),
            format!("{}/login", app.state.public_base_url),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.forward_auth.allowed_hosts = vec!["app.example.test".into()];
    })
    .await;
    let r = forward(
        &app,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.test"),
            ("x-forwarded-uri", "/"),
        ],
        "?redirect=1",
    )
    .await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        header(&r, "location"),
        format!("{}/login", app.state.public_base_url)
    );
}

#[tokio::test]
async fn sign_in_returns_to_an_allowed_absolute_url_only() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.forward_auth.allowed_hosts = vec!["app.example.test".into()];
    })
    .await;
    let email = unique_email("back");
    app.register(&email).await;
    let login = |return_to: &'static str| {
        let app = &app;
        let email = email.clone();
        async move {
            let page = app
                .http
                .get(app.url(&format!(
                    "/login?return_to={}",
                    url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
                )))
                .header("cookie", "gatehouse_csrf=seed-abcdef0123")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = page
                .split("name=\"csrf_token\" value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let r = app
                .http
                .post(app.url("/login"))
                .header("cookie", "gatehouse_csrf=seed-abcdef0123")
                .header("origin", &app.base)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", common::PASSWORD),
                    ("return_to", return_to),
                ])
                .send()
                .await
                .unwrap();
            header(&r, "location")
        }
    };
    assert_eq!(
        login("https://app.example.test/wiki?x=1").await,
        "https://app.example.test/wiki?x=1"
    );
    assert_eq!(login("https://evil.example/").await, "/account");
    assert_eq!(login("javascript:alert(1)").await, "/account");
}

// ---------------------------------------------------------------------------------------------
// Debian's nginx with auth_request.

fn nginx_bin() -> String {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
        .expect("nginx is needed for this test (apt-get install nginx; scripts/test does)")
}

/// The nginx configuration the README shows, with test paths and ports filled in.
fn nginx_conf(dir: &std::path::Path, port: u16, gatehouse: &str, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};

    location = /_gatehouse_auth {{
      internal;
      proxy_pass {gatehouse}/api/v1/auth/forward;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }}

    location @gatehouse_login {{
      return 302 {gatehouse}/login?return_to=$scheme://$http_host$request_uri;
    }}

    location / {{
      auth_request /_gatehouse_auth;
      auth_request_set $gh_user $upstream_http_x_auth_user_id;
      auth_request_set $gh_email $upstream_http_x_auth_email;
      auth_request_set $gh_name $upstream_http_x_auth_name;
      auth_request_set $gh_groups $upstream_http_x_auth_groups;
      proxy_set_header X-Auth-User-Id $gh_user;
      proxy_set_header X-Auth-Email $gh_email;
      proxy_set_header X-Auth-Name $gh_name;
      proxy_set_header X-Auth-Groups $gh_groups;
      error_page 401 = @gatehouse_login;
      proxy_pass {upstream};
    }}
  }}
}}
"#
    )
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The upstream application: answers with the identity headers it received.
async fn upstream() -> String {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let get = |n: &str| {
            headers
                .get(n)
                .map(|v| v.to_str().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        axum::Json(json!({
            "user": get("x-auth-user-id"), "email": get("x-auth-email"),
            "name": get("x-auth-name"), "groups": get("x-auth-groups"),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn nginx_auth_request_guards_an_upstream() {
    let port = free_port();
    let (app, _s) = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.forward_auth.allowed_hosts = vec![format!("127.0.0.1:{port}")];
    })
    .await;
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), port, &app.base, &up)).unwrap();
    let child = Command::new(nginx_bin())
        .args([
            "-c",
            conf.to_str().unwrap(),
            "-p",
            dir.path().to_str().unwrap(),
            "-e",
            dir.path().join("error.log").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    let _nginx = Nginx(child);
    let front = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut up_yet = false;
    for _ in 0..50 {
        if client.get(format!("{front}/")).send().await.is_ok() {
            up_yet = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up_yet,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );

    // Signed out: redirected to gatehouse's sign-in page, coming back here.
    let r = client
        .get(format!("{front}/wiki/page?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = header(&r, "location");
    assert_eq!(
        to,
        format!(
            "{}/login?return_to=http://127.0.0.1:{port}/wiki/page?x=1",
            app.base
        )
    );

    // Signed in: the upstream sees who it is.
    let (session, user_id) = app.register(&unique_email("nginx")).await;
    let r = client
        .get(format!("{front}/wiki/page"))
        .header("cookie", format!("gatehouse_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["user"], user_id.as_str());
    assert!(seen["email"].as_str().unwrap().starts_with("nginx"));
    assert_eq!(seen["name"], "Tester");
    assert!(
        seen["groups"]
            .as_str()
            .unwrap()
            .contains(&format!("{user_id}:owner")),
        "{seen}"
    );

    // A forged identity header from the client does not reach the upstream as truth.
    let r = client
        .get(format!("{front}/"))
        .header("cookie", format!("gatehouse_session={session}"))
        .header("x-auth-user-id", "someone-else")
        .send()
        .await
        .unwrap();
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["user"], user_id.as_str());

    // Signed out again: refused.
    app.post("/api/v1/auth/logout", Some(&session), json!({}))
        .await;
    let r = client
        .get(format!("{front}/"))
        .header("cookie", format!("gatehouse_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
}

/// API.md settled 7: over https with `[forward_auth] cookie_domain`, the session cookie is
/// `__Secure-gatehouse_session` with that `Domain`, so the apps of the domain share it; the
/// host-only name then no longer counts.
#[tokio::test]
async fn a_cookie_domain_shares_the_session_cookie_with_the_domains_apps() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.public_base_url = Some("https://auth.example.test".into());
        c.forward_auth.cookie_domain = Some("example.test".into());
    })
    .await;
    let email = unique_email("shared");
    let (_, user_id) = app.register(&email).await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = header(&r, "set-cookie");
    assert!(
        set.starts_with("__Secure-gatehouse_session=")
            && set.contains("; Domain=example.test")
            && set.ends_with("; Secure"),
        "{set}"
    );
    let token = set
        .trim_start_matches("__Secure-gatehouse_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = forward(
        &app,
        &[("cookie", &format!("__Secure-gatehouse_session={token}"))],
        "",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-auth-user-id"), user_id);
    let r = forward(
        &app,
        &[("cookie", &format!("__Host-gatehouse_session={token}"))],
        "",
    )
    .await;
    assert_eq!(
        r.status(),
        401,
        "the host-only name is not this deployment's cookie"
    );
}

#[test]
fn a_cookie_domain_that_does_not_cover_gatehouses_host_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_PUBLIC_BASE_URL", "https://auth.example.test")
        .env("GATEHOUSE_FORWARD_AUTH__COOKIE_DOMAIN", "example.org")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("forward_auth.cookie_domain") && err.lines().count() <= 2,
        "{err}"
    );
}
