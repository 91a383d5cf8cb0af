//! Malformed and hostile requests: every one gets a 4xx with the API's error body, and the server
//! stays healthy afterwards (health check, register and login still work).

use crate::common;

use common::{PASSWORD, Resp, TestApp, unique_email};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const ME: &str = "/api/v1/users/me";

/// One hostile request and the answer the contract demands for it.
#[derive(Default)]
struct Row {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// For 422: the field that must be named in `fields`.
    field: Option<&'static str>,
    /// hyper itself may refuse the request before the router sees it (431, no body): then any
    /// 4xx is accepted. Should the router answer instead, the expected status and body apply.
    any_4xx: bool,
}

fn row(name: &'static str, method: Method, path: impl Into<String>) -> Row {
    Row {
        name,
        method,
        path: path.into(),
        ..Row::default()
    }
}

fn post(name: &'static str, path: &str) -> Row {
    row(name, Method::POST, path)
}

fn get(name: &'static str, path: &str) -> Row {
    row(name, Method::GET, path)
}

impl Row {
    fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    /// A body sent as `application/json`, whatever its bytes are.
    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").raw(body)
    }
    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
    fn malformed(self) -> Self {
        self.expect(400, "malformed_json")
    }
    fn unsupported(self) -> Self {
        self.expect(415, "unsupported_media_type")
    }
    fn unauthenticated(self) -> Self {
        self.expect(401, "unauthenticated")
    }
    /// 422 `validation_failed` naming `field`.
    fn invalid(self, field: &'static str) -> Self {
        self.expect(422, "validation_failed").field(field)
    }
    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
    fn any_4xx(mut self) -> Self {
        self.any_4xx = true;
        self
    }
}

async fn send(app: &TestApp, row: &Row) -> Result<Resp, reqwest::Error> {
    let mut req = app.http.request(row.method.clone(), app.url(&row.path));
    for (name, value) in &row.headers {
        req = req.header(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    if row.method != Method::GET || !row.body.is_empty() {
        req = req.body(row.body.clone());
    }
    Ok(Resp::from(req.send().await?).await)
}

/// What is wrong with `r` as the answer to `row`; empty when it is right.
fn problems(row: &Row, r: &Resp) -> Vec<String> {
    let mut out = Vec::new();
    if row.any_4xx && r.status != row.status {
        if !(400..500).contains(&r.status) || !r.text.is_empty() && r.code().is_empty() {
            out.push(format!("status {} with body {:?}", r.status, r.text));
        }
        return out;
    }
    if r.status != row.status {
        out.push(format!("status {} (expected {})", r.status, row.status));
    }
    if r.code() != row.code {
        out.push(format!("code {:?} (expected {:?})", r.code(), row.code));
    }
    let content_type = r.header("content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        out.push(format!("content-type {content_type:?}"));
    }
    if r.body["error"]["message"]
        .as_str()
        .is_none_or(|m| m.trim().is_empty())
    {
        out.push("no error.message".into());
    }
    let fields = &r.body["error"]["fields"];
    if row.status == 422 {
        match fields.as_object() {
            Some(f) if !f.is_empty() => {}
            _ => out.push("422 without a non-empty error.fields".into()),
        }
    } else if !fields.is_null() {
        out.push(format!("error.fields on a {}", r.status));
    }
    if let Some(name) = row.field
        && fields[name].as_str().is_none_or(str::is_empty)
    {
        out.push(format!("error.fields.{name} missing"));
    }
    if row.status == 401 && r.header("www-authenticate").as_deref() != Some("Bearer") {
        out.push("401 without `WWW-Authenticate: Bearer`".into());
    }
    match r.header("x-request-id") {
        Some(id) if !id.is_empty() && id.len() <= 64 => {}
        other => out.push(format!("x-request-id {other:?}")),
    }
    out
}

/// A registration whose `field` is replaced by `value`: 422 naming `field`.
fn register_with(name: &'static str, field: &'static str, value: serde_json::Value) -> Row {
    let mut body = json!({"email": unique_email("m"), "password": PASSWORD, "nickname": "Mal"});
    body[field] = value;
    post(name, REGISTER).json(body.to_string()).invalid(field)
}

/// A profile change by a signed-in user: 422 naming `field`.
fn patch_me(name: &'static str, token: &str, body: &str, field: &'static str) -> Row {
    row(name, Method::PATCH, ME)
        .bearer(token)
        .json(body)
        .invalid(field)
}

fn uuid7() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn nested(depth: usize, closed: bool) -> Vec<u8> {
    let mut body = "[".repeat(depth);
    if closed {
        body.push_str(&"]".repeat(depth));
    }
    body.into_bytes()
}

fn table(token: &str) -> Vec<Row> {
    let patch = |name, body, field| patch_me(name, token, body, field);
    let sessions = |id: &str| format!("/api/v1/users/me/sessions/{id}");
    let mut bad_utf8 = br#"{"email":"a"#.to_vec();
    bad_utf8.extend_from_slice(b"\xff\xfe\xc3(@example.com\",\"password\":\"x\"}");
    let login = r#"{"email":"a@example.com","password":"x"}"#;
    let email = unique_email("self");
    let no_nickname = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
    let same = format!(r#"{{"email":"{email}","password":"{email}","nickname":"Mal"}}"#);
    let huge = format!(r#"{{"nickname":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let long_email = json!(format!("{}@example.com", "a".repeat(288)));
    let cookie = format!("gatehouse_session=ghs_{}", "B".repeat(43));
    vec![
        // Broken JSON.
        post("truncated JSON", LOGIN)
            .json(r#"{"email":"#)
            .malformed(),
        post("single quotes", LOGIN)
            .json("{'email': 'a'}")
            .malformed(),
        post("trailing garbage", LOGIN)
            .json(format!("{login} junk"))
            .malformed(),
        post("empty JSON body", LOGIN).json("").malformed(),
        post("whitespace body", LOGIN).json(" \r\n\t ").malformed(),
        post("10000 [", LOGIN)
            .json(nested(10_000, false))
            .malformed(),
        post("10000 [ and ]", REGISTER)
            .json(nested(10_000, true))
            .malformed(),
        post("bad UTF-8 in a string", LOGIN)
            .json(bad_utf8)
            .malformed(),
        post("bad UTF-8 only", LOGIN)
            .json(&b"\xff\xfe\x00\x80"[..])
            .malformed(),
        // JSON that is not an object.
        post("JSON array", LOGIN).json("[]").invalid("body"),
        post("JSON string", LOGIN)
            .json(r#""hello""#)
            .invalid("body"),
        post("JSON number", REGISTER).json("42").invalid("body"),
        post("JSON null", REGISTER).json("null").invalid("body"),
        // Wrong types, missing and unknown fields.
        register_with("email a number", "email", json!(5)),
        register_with("password an object", "password", json!({"$ne": 1})),
        post("login password an object", LOGIN)
            .json(r#"{"email":"a@example.com","password":{"$gt":""}}"#)
            .invalid("password"),
        register_with("nickname an array", "nickname", json!(["a"])),
        post("no nickname", REGISTER)
            .json(no_nickname)
            .invalid("nickname"),
        post("no password", LOGIN)
            .json(r#"{"email":"a@b.co"}"#)
            .invalid("password"),
        post("empty object", REGISTER).json("{}").invalid("email"),
        register_with("is_superuser", "is_superuser", json!(true)),
        patch("PATCH email", r#"{"email":"a@b.co"}"#, "email"),
        patch("PATCH role", r#"{"role":"admin"}"#, "role"),
        patch("PATCH null nickname", r#"{"nickname":null}"#, "nickname"),
        patch("PATCH language", r#"{"language":"tlh"}"#, "language"),
        patch(
            "PATCH timezone",
            r#"{"timezone":"Mars/Olympus"}"#,
            "timezone",
        ),
        patch("PATCH avatar", r#"{"avatar":"javascript:x"}"#, "avatar"),
        // Bad values.
        register_with("NUL in email", "email", json!("a\u{0}b@example.com")),
        register_with("NUL in nickname", "nickname", json!("Ma\u{0}l")),
        register_with("email without @", "email", json!("a.example.com")),
        register_with("email without dot", "email", json!("a@localhost")),
        register_with("email, no local", "email", json!("@example.com")),
        register_with("email markup", "email", json!("<a>@example.com")),
        register_with("email 300 chars", "email", long_email),
        register_with("nickname 101", "nickname", json!("n".repeat(101))),
        register_with("nickname <script>", "nickname", json!("<script>")),
        register_with("nickname blank", "nickname", json!("   ")),
        register_with("password 7", "password", json!("abcdefg")),
        register_with("password 257", "password", json!("p".repeat(257))),
        register_with("common password", "password", json!("password123"))
            .expect(422, "weak_password"),
        post("password = email", REGISTER)
            .json(same)
            .expect(422, "weak_password")
            .field("password"),
        // Media types and sizes.
        post("no content type", LOGIN).raw(login).unsupported(),
        post("text/plain", LOGIN)
            .header("content-type", "text/plain")
            .raw(login)
            .unsupported(),
        post("form content type", LOGIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .raw("email=a%40example.com&password=x")
            .unsupported(),
        post("multipart", REGISTER)
            .header("content-type", "multipart/form-data; boundary=xyz")
            .raw("--xyz--\r\n")
            .unsupported(),
        row("PATCH no content type", Method::PATCH, ME)
            .bearer(token)
            .raw(r#"{"nickname":"Mal"}"#)
            .unsupported(),
        post("2 MiB body", REGISTER)
            .json(huge)
            .expect(413, "payload_too_large"),
        // Routes, methods, ids.
        get("unknown route", "/api/v1/nope").expect(404, "not_found"),
        post("unknown version", "/api/v2/auth/login")
            .json("{}")
            .expect(404, "not_found"),
        row("PUT login", Method::PUT, LOGIN)
            .json("{}")
            .expect(405, "method_not_allowed"),
        get("GET register", REGISTER).expect(405, "method_not_allowed"),
        row("non-UUID session", Method::DELETE, sessions("not-a-uuid"))
            .bearer(token)
            .expect(404, "not_found"),
        row("nobody's session", Method::DELETE, sessions(&uuid7()))
            .bearer(token)
            .expect(404, "not_found"),
        // Invitation links: any token is only ever unknown.
        get("unknown invitation", "/api/v1/invitations/nope").expect(400, "invalid_token"),
        get(
            "4000-char invitation",
            &format!("/api/v1/invitations/{}", "x".repeat(4000)),
        )
        .expect(400, "invalid_token"),
        get("NUL in invitation", "/api/v1/invitations/a%00b").expect(400, "invalid_token"),
        get("unknown provider", "/api/v1/auth/providers/nope/authorize").expect(404, "not_found"),
        // Credentials.
        get("Bearer", ME)
            .header("authorization", "Bearer")
            .unauthenticated(),
        get("Bearer ghs_garbage", ME)
            .bearer("ghs_garbage")
            .unauthenticated(),
        get("Basic abc", ME)
            .header("authorization", "Basic abc")
            .unauthenticated(),
        get("5000-char token", ME)
            .bearer(&format!("ghs_{}", "A".repeat(5000)))
            .unauthenticated(),
        get("Bearer ghk_x", ME).bearer("ghk_x").unauthenticated(),
        get("non-ASCII Authorization", ME)
            .header("authorization", &b"Bearer ghs_\xff\xfe"[..])
            .unauthenticated(),
        get("garbage cookie", ME)
            .header("cookie", "gatehouse_session=%00garbage; other=1")
            .unauthenticated(),
        get("unknown session cookie", ME)
            .header("cookie", cookie)
            .unauthenticated(),
        // Oversized headers: hyper may refuse them itself (431, no body), so any 4xx will do;
        // if the router answers, it is the usual 401 (no credentials).
        get("20 KB header", ME)
            .header("x-junk", "j".repeat(20 * 1024))
            .unauthenticated()
            .any_4xx(),
        get("1 MiB header", ME)
            .header("x-junk", "j".repeat(1024 * 1024))
            .unauthenticated()
            .any_4xx(),
    ]
}

#[tokio::test]
async fn hostile_requests_get_api_errors_and_the_server_stays_healthy() {
    let (app, _s) = TestApp::spawn().await;
    let (token, _) = app.register(&unique_email("x")).await;
    let rows = table(&token);
    assert!(rows.len() >= 35, "only {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        match send(&app, row).await {
            Ok(r) => {
                let found = problems(row, &r);
                if !found.is_empty() {
                    let text: String = r.text.chars().take(300).collect();
                    failures.push(format!("{}: {} — body {text}", row.name, found.join("; ")));
                }
            }
            Err(e) => failures.push(format!("{}: request failed: {e}", row.name)),
        }
    }

    // Still healthy: the probe answers, and a new account can register and sign in.
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    let email = unique_email("after");
    let (_, id) = app.register(&email).await;
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.body["user"]["id"], id);
    let me = app.get(ME, login.body["session"]["token"].as_str()).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(app.get(ME, Some(&token)).await.status, 200);

    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_safe() {
    let (app, _s) = TestApp::spawn().await;
    let app = &app;
    let with_id = |id: String| async move {
        let r = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send();
        Resp::from(r.await.unwrap())
            .await
            .header("x-request-id")
            .unwrap()
    };
    for good in ["abc-123.XYZ_9".to_string(), "a".repeat(64)] {
        assert_eq!(with_id(good.clone()).await, good);
    }
    for bad in [
        "a".repeat(65),
        "x".repeat(10_000),
        "bad!id".into(),
        "semi;colon".into(),
    ] {
        let fresh = with_id(bad.clone()).await;
        assert_ne!(fresh, bad);
        assert!(!fresh.is_empty() && fresh.len() <= 64, "{fresh}");
        assert!(
            fresh
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{fresh}"
        );
    }
    // An error answer carries one too, and a fresh one for every request.
    let a = app
        .get("/api/v1/nowhere", None)
        .await
        .header("x-request-id");
    let b = app
        .get("/api/v1/nowhere", None)
        .await
        .header("x-request-id");
    assert!(a.is_some() && b.is_some() && a != b);
}

#[tokio::test]
async fn error_messages_follow_accept_language_and_codes_do_not() {
    let (app, _s) = TestApp::spawn().await;
    let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let weak = json!({"email": unique_email("zh"), "password": "password123", "nickname": "Zh"});
    let cases = vec![
        post("malformed", LOGIN).json("{").malformed(),
        post("validation", REGISTER).json("[]").invalid("body"),
        post("weak", REGISTER)
            .json(weak.to_string())
            .expect(422, "weak_password")
            .field("password"),
        post("media type", LOGIN).raw("{}").unsupported(),
        get("not found", "/api/v1/nowhere").expect(404, "not_found"),
        row("method", Method::PUT, LOGIN)
            .json("{}")
            .expect(405, "method_not_allowed"),
        get("unauthenticated", ME)
            .bearer("ghs_nope")
            .unauthenticated(),
    ];
    for case in cases {
        let en = send(&app, &case).await.unwrap();
        let zh_case = Row {
            headers: [
                case.headers.clone(),
                vec![("accept-language".into(), b"zh-CN".to_vec())],
            ]
            .concat(),
            ..case
        };
        let zh = send(&app, &zh_case).await.unwrap();
        for r in [&en, &zh] {
            let found = problems(&zh_case, r);
            assert!(found.is_empty(), "{}: {found:?} {}", zh_case.name, r.text);
        }
        assert_eq!(en.code(), zh.code(), "{}", zh_case.name);
        let (en_msg, zh_msg) = (&en.body["error"]["message"], &zh.body["error"]["message"]);
        assert!(!cjk(en_msg.as_str().unwrap()), "{}: {en_msg}", zh_case.name);
        assert!(cjk(zh_msg.as_str().unwrap()), "{}: {zh_msg}", zh_case.name);
        if let Some(field) = zh_case.field {
            let msg = zh.body["error"]["fields"][field].as_str().unwrap();
            assert!(cjk(msg), "{}: fields.{field} = {msg}", zh_case.name);
        }
    }
}
