//! The RAGFlow compatibility profile, spoken to exactly as RAGFlow's web client, SDK and tests
//! do: RSA-encrypted passwords, the `Authorization` response header sent back raw or as Bearer,
//! the `{code, message, data}` envelope.

use crate::common;

use common::{PASSWORD, TestApp, ragflow_encrypt, spawn_ragflow, unique_email};
use serde_json::{Value, json};

/// RAGFlow's test account (`test/testcases/configs.py`).
const EMAIL: &str = "qa@infiniflow.org";
/// RAGFlow's `configs.PASSWORD`: the ciphertext of base64("123"), newlines included.
const TEST_PASSWORD: &str = include_str!("../data/ragflow-test-password.txt");
const UNAUTHORIZED: &str =
    r#"{"code":401,"data":null,"message":"<Unauthorized '401: Unauthorized'>"}"#;

struct Rag {
    base: String,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    body: Value,
}

impl Reply {
    fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    fn token(&self) -> String {
        self.header("authorization")
            .unwrap_or_else(|| panic!("no Authorization header: {}", self.text))
    }
}

impl Rag {
    async fn new(app: &TestApp) -> Self {
        Self {
            base: spawn_ragflow(app).await,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// `auth` is sent as-is: the raw web token, or `Bearer ragflow-…`.
    async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    async fn register(&self, email: &str, nickname: &str, password: &str) -> Reply {
        let body = json!({"nickname": nickname, "email": email, "password": password});
        self.call("POST", "/api/v1/users", None, Some(body)).await
    }

    async fn login(&self, email: &str, password: &str) -> Reply {
        let body = json!({"email": email, "password": password});
        self.call("POST", "/api/v1/auth/login", None, Some(body))
            .await
    }
}

/// RAGFlow's own account and password ("123") need `password_policy = "ragflow"`.
async fn ragflow_policy() -> (TestApp, common::Storage, Rag) {
    let (app, storage) = TestApp::spawn_with(|c| {
        c.ragflow.password_policy = gatehouse::passwords::PasswordPolicy::Ragflow
    })
    .await;
    let rag = Rag::new(&app).await;
    (app, storage, rag)
}

fn assert_http_date(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(
        s.ends_with(" GMT") && s.len() == 29 && s.as_bytes()[3] == b',',
        "{s}"
    );
}

#[tokio::test]
async fn register_and_login_with_ragflows_test_account() {
    let (_app, _s, rag) = ragflow_policy().await;
    let r = rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    assert_eq!((r.status, r.code()), (200, 0), "{}", r.text);
    assert_eq!(r.message(), "qa, welcome aboard!");
    let register_token = r.token();
    assert_eq!(
        r.header("access-control-expose-headers").as_deref(),
        Some("Authorization")
    );
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(
        r.header("access-control-allow-method").as_deref(),
        Some("*")
    );
    let user = &r.body["data"];
    assert_eq!(user["email"], EMAIL);
    assert!(user.get("password").is_none() && user.get("access_token").is_none());
    assert_eq!(
        (user["is_active"].as_str(), user["status"].as_str()),
        (Some("1"), Some("1"))
    );
    assert_http_date(&user["create_date"]);
    assert!(
        r.text.starts_with(r#"{"code":0,"data":{"avatar":"#),
        "sorted keys: {}",
        r.text
    );

    let again = rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    assert_eq!(again.code(), 103);
    assert_eq!(
        again.message(),
        format!("Email: {EMAIL} has already registered!")
    );

    let login = rag.login(EMAIL, TEST_PASSWORD).await;
    assert_eq!((login.status, login.code()), (200, 0), "{}", login.text);
    assert_eq!(login.message(), "Welcome back!");
    let token = login.token();
    assert_ne!(token, register_token);
    assert_eq!(token.split('.').count(), 3, "itsdangerous format");
    assert_http_date(&login.body["data"]["last_login_time"]);

    for auth in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
    ] {
        let me = rag.call("GET", "/api/v1/users/me", Some(&auth), None).await;
        assert_eq!((me.status, me.code()), (200, 0), "{}", me.text);
        assert_eq!(me.body["data"]["email"], EMAIL);
    }

    let wrong = rag.login(EMAIL, &ragflow_encrypt("124")).await;
    assert_eq!(
        (wrong.code(), wrong.message()),
        (109, "Email and password do not match!")
    );
    let unknown = rag.login("nobody@example.com", TEST_PASSWORD).await;
    assert_eq!(
        unknown.text, wrong.text,
        "unknown email answers like a wrong password"
    );
    let garbled = rag.login(EMAIL, "not a ciphertext").await;
    assert_eq!(
        (garbled.code(), garbled.message()),
        (500, "Fail to crypt password")
    );
    let empty = rag.call("POST", "/api/v1/auth/login", None, None).await;
    assert_eq!(
        (empty.code(), &empty.body["data"]),
        (109, &Value::Bool(false))
    );

    // Every login is its own session: logging out ends this one only.
    let out = rag
        .call("POST", "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!((out.code(), &out.body["data"]), (0, &Value::Bool(true)));
    let gone = rag
        .call("GET", "/api/v1/users/me", Some(&token), None)
        .await;
    assert_eq!((gone.status, gone.text.as_str()), (401, UNAUTHORIZED));
    let still = rag
        .call("GET", "/api/v1/users/me", Some(&register_token), None)
        .await;
    assert_eq!(still.code(), 0);
}

#[tokio::test]
async fn the_native_policy_refuses_weak_passwords_by_default() {
    let (app, _s) = TestApp::spawn().await;
    let rag = Rag::new(&app).await;
    let r = rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    assert_eq!(r.code(), 101, "{}", r.text);
    assert!(r.header("authorization").is_none());
}

#[tokio::test]
async fn api_tokens_create_list_delete() {
    let (_app, _s, rag) = ragflow_policy().await;
    let web = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    let created = rag
        .call("POST", "/api/v1/system/tokens", Some(&web), None)
        .await;
    assert_eq!(created.code(), 0, "{}", created.text);
    let api_token = created.body["data"]["token"].as_str().unwrap().to_string();
    assert!(
        api_token.starts_with("ragflow-") && api_token.len() == 51,
        "{api_token}"
    );
    assert_eq!(
        created.body["data"]["beta"].as_str().map(str::len),
        Some(32)
    );

    let list = rag
        .call("GET", "/api/v1/system/tokens", Some(&web), None)
        .await;
    assert_eq!(list.code(), 0);
    assert_eq!(
        list.body["data"][0]["token"],
        api_token.as_str(),
        "listed in full"
    );
    assert_http_date(&list.body["data"][0]["create_date"]);

    let bearer = format!("Bearer {api_token}");
    let me = rag
        .call("GET", "/api/v1/users/me", Some(&bearer), None)
        .await;
    assert_eq!(me.body["data"]["email"], EMAIL);
    let stored: String = sqlx::query_scalar("SELECT sealed_token FROM ragflow_api_tokens")
        .fetch_one(_app.state.db.pool())
        .await
        .unwrap();
    assert!(
        !stored.contains(&api_token[8..]),
        "stored sealed, not in plain text"
    );

    let path = format!("/api/v1/system/tokens/{api_token}");
    let deleted = rag.call("DELETE", &path, Some(&web), None).await;
    assert_eq!(
        (deleted.code(), &deleted.body["data"]),
        (0, &Value::Bool(true))
    );
    let missing = rag.call("DELETE", &path, Some(&web), None).await;
    assert_eq!(
        (missing.code(), &missing.body["data"]),
        (0, &Value::Bool(true))
    );
    let list = rag
        .call("GET", "/api/v1/system/tokens", Some(&web), None)
        .await;
    assert_eq!(list.body["data"], json!([]));
    let revoked = rag
        .call("GET", "/api/v1/users/me", Some(&bearer), None)
        .await;
    assert_eq!((revoked.status, revoked.text.as_str()), (401, UNAUTHORIZED));

    // The legacy aliases reach the same tokens.
    let old = rag
        .call("POST", "/v1/system/new_token", Some(&web), None)
        .await;
    assert_eq!(old.code(), 0);
    let listed = rag
        .call("GET", "/v1/system/token_list", Some(&web), None)
        .await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn system_config_needs_no_authentication() {
    let (app, _s) = TestApp::spawn_with(|c| c.ragflow.disable_password_login = true).await;
    let rag = Rag::new(&app).await;
    let r = rag.call("GET", "/api/v1/system/config", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text,
        r#"{"code":0,"data":{"disablePasswordLogin":true,"registerEnabled":1},"message":"success"}"#
    );
}

#[tokio::test]
async fn every_authenticated_route_answers_the_exact_401() {
    let (_app, _s, rag) = ragflow_policy().await;
    let routes = [
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("GET", "/api/v1/users/me/models"),
        ("PATCH", "/api/v1/users/me/models"),
        ("GET", "/api/v1/system/status"),
        ("GET", "/api/v1/system/version"),
        ("GET", "/api/v1/system/tokens"),
        ("POST", "/api/v1/system/tokens"),
        ("DELETE", "/api/v1/system/tokens/ragflow-x"),
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/tenants/t/users"),
        ("POST", "/api/v1/tenants/t/users"),
        ("DELETE", "/api/v1/tenants/t/users"),
        ("PATCH", "/api/v1/tenants/t"),
        ("GET", "/api/v1/models"),
        ("PATCH", "/api/v1/models/default"),
        ("PUT", "/api/v1/providers"),
        ("POST", "/api/v1/providers/ZHIPU-AI/instances"),
        ("GET", "/v1/user/info"),
        ("GET", "/v1/user/logout"),
        ("POST", "/v1/user/setting"),
        ("GET", "/v1/system/token_list"),
    ];
    let forged =
        "IjNmMmIxYzBlOWQ4YTExZWZiMmM0MDI0MmFjMTIwMDAyIg.ZVPxAA.162RrrF_0qYJvVk3-OZPJ_yNCfc";
    for (method, path) in routes {
        for auth in [None, Some("Bearer ragflow-invalid"), Some(forged), Some("")] {
            let r = rag.call(method, path, auth, None).await;
            assert_eq!(
                (r.status, r.text.as_str()),
                (401, UNAUTHORIZED),
                "{method} {path} {auth:?}"
            );
        }
    }
    let r = rag.call("GET", "/api/v1/no/such/route", None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text,
        r#"{"code":404,"data":null,"error":"Not Found","message":"Not Found: /api/v1/no/such/route"}"#
    );
}

/// The OTP of the newest mail to `email`, read from the outbox as a person reads the mail.
async fn mailed_otp(app: &TestApp, email: &str) -> Option<String> {
    let body: Option<String> = sqlx::query_scalar(
        "SELECT body_text FROM mail_outbox WHERE recipient = $1 AND kind = 'reset_code' ORDER BY created_at DESC, id DESC",
    )
    .bind(email)
    .fetch_optional(app.state.db.pool())
    .await
    .unwrap();
    let body = body?;
    let code = body
        .split("code is: ")
        .nth(1)?
        .chars()
        .take(4)
        .collect::<String>();
    assert!(code.chars().all(|c| c.is_ascii_uppercase()), "{body}");
    Some(code)
}

/// Ask for a captcha image for `email` and read its answer from the short-lived store.
async fn solved_captcha(app: &TestApp, rag: &Rag, email: &str) -> String {
    let r = rag
        .http
        .post(format!(
            "{}/api/v1/auth/password/forgot/captcha?email={email}",
            rag.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let png = r.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "an image");
    let key = format!(
        "ragflow:captcha:{}",
        gatehouse::tokens::sha256_hex(&email.to_lowercase())
    );
    let id = app.state.kv.get(&key).await.unwrap().unwrap();
    app.state
        .kv
        .get(&gatehouse::captcha::service::key(&id))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn forgot_password_captcha_otp_verify_reset() {
    let (app, _s, rag) = ragflow_policy().await;
    let old = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();

    // A wrong answer uses the captcha up: the right one does not work after it.
    let answer = solved_captcha(&app, &rag, EMAIL).await;
    let otp_path = "/api/v1/auth/password/forgot/otp";
    let wrong = rag
        .call(
            "POST",
            otp_path,
            None,
            Some(json!({"email": EMAIL, "captcha": "0000"})),
        )
        .await;
    assert_eq!(
        (wrong.code(), wrong.message()),
        (109, "invalid or expired captcha")
    );
    let late = rag
        .call(
            "POST",
            otp_path,
            None,
            Some(json!({"email": EMAIL, "captcha": answer})),
        )
        .await;
    assert_eq!(late.code(), 109, "one answer per captcha");

    let answer = solved_captcha(&app, &rag, EMAIL).await;
    let sent = rag
        .call(
            "POST",
            otp_path,
            None,
            Some(json!({"email": EMAIL, "captcha": answer.to_lowercase()})),
        )
        .await;
    assert_eq!(
        (sent.code(), sent.message()),
        (0, "verification passed, email sent"),
        "{}",
        sent.text
    );
    let otp = mailed_otp(&app, EMAIL).await.expect("a mail with the code");

    let verify = "/api/v1/auth/password/forgot/otp/verify";
    let reset = "/api/v1/auth/password/reset";
    let early = rag
        .call(
            "POST",
            reset,
            None,
            Some(json!({"email": EMAIL,
        "new_password": ragflow_encrypt("456"), "confirm_new_password": ragflow_encrypt("456")})),
        )
        .await;
    assert_eq!((early.code(), early.message()), (109, "email not verified"));
    let bad = if otp == "AAAA" { "BBBB" } else { "AAAA" };
    let r = rag
        .call(
            "POST",
            verify,
            None,
            Some(json!({"email": EMAIL, "otp": bad})),
        )
        .await;
    assert_eq!((r.code(), r.message()), (109, "expired otp"));
    let r = rag
        .call(
            "POST",
            verify,
            None,
            Some(json!({"email": EMAIL, "otp": otp.to_lowercase()})),
        )
        .await;
    assert_eq!((r.code(), r.message()), (0, "otp verified"), "{}", r.text);

    let mismatch = rag
        .call(
            "POST",
            reset,
            None,
            Some(json!({"email": EMAIL,
        "new_password": ragflow_encrypt("456"), "confirm_new_password": ragflow_encrypt("457")})),
        )
        .await;
    assert_eq!(
        (mismatch.code(), mismatch.message()),
        (101, "passwords do not match")
    );
    let done = rag
        .call(
            "POST",
            reset,
            None,
            Some(json!({"email": EMAIL,
        "new_password": ragflow_encrypt("456"), "confirm_new_password": ragflow_encrypt("456")})),
        )
        .await;
    assert_eq!(
        (done.code(), done.message()),
        (0, "Password reset successful. Logged in."),
        "{}",
        done.text
    );
    let fresh = done.token();
    assert_eq!(done.body["data"]["email"], EMAIL);

    let me = rag
        .call("GET", "/api/v1/users/me", Some(&fresh), None)
        .await;
    assert_eq!(me.code(), 0);
    let revoked = rag.call("GET", "/api/v1/users/me", Some(&old), None).await;
    assert_eq!(revoked.status, 401, "a reset ends the other sessions");
    assert_eq!(rag.login(EMAIL, TEST_PASSWORD).await.code(), 109);
    assert_eq!(rag.login(EMAIL, &ragflow_encrypt("456")).await.code(), 0);
    assert_eq!(
        app.login(EMAIL, "456").await.status,
        200,
        "the same account on the native API"
    );
}

#[tokio::test]
async fn recovery_does_not_reveal_whether_an_email_is_registered() {
    let (app, _s, rag) = ragflow_policy().await;
    rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    let mut answers = Vec::new();
    for email in [EMAIL, "stranger@example.com"] {
        let answer = solved_captcha(&app, &rag, email).await;
        let r = rag
            .call(
                "POST",
                "/api/v1/auth/password/forgot/otp",
                None,
                Some(json!({"email": email, "captcha": answer})),
            )
            .await;
        answers.push(r.text);
    }
    assert_eq!(answers[0], answers[1]);
    assert!(mailed_otp(&app, "stranger@example.com").await.is_none());
    let r = rag
        .call(
            "POST",
            "/api/v1/auth/password/forgot/otp/verify",
            None,
            Some(json!({"email": "stranger@example.com", "otp": "ABCD"})),
        )
        .await;
    assert_eq!((r.code(), r.message()), (109, "expired otp"));
}

#[tokio::test]
async fn five_wrong_codes_lock_even_the_right_one() {
    let (app, _s, rag) = ragflow_policy().await;
    rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    let answer = solved_captcha(&app, &rag, EMAIL).await;
    rag.call(
        "POST",
        "/api/v1/auth/password/forgot/otp",
        None,
        Some(json!({"email": EMAIL, "captcha": answer})),
    )
    .await;
    let otp = mailed_otp(&app, EMAIL).await.unwrap();
    let bad = if otp == "AAAA" { "BBBB" } else { "AAAA" };
    let verify = "/api/v1/auth/password/forgot/otp/verify";
    for _ in 0..5 {
        let r = rag
            .call(
                "POST",
                verify,
                None,
                Some(json!({"email": EMAIL, "otp": bad})),
            )
            .await;
        assert_eq!(r.code(), 109);
    }
    let r = rag
        .call(
            "POST",
            verify,
            None,
            Some(json!({"email": EMAIL, "otp": otp})),
        )
        .await;
    assert_eq!(
        (r.code(), r.message()),
        (10, "too many attempts, try later")
    );
}

#[tokio::test]
async fn native_accounts_log_in_through_the_profile_and_back() {
    let (app, _s) = TestApp::spawn().await;
    let rag = Rag::new(&app).await;
    let native = unique_email("native");
    app.register(&native).await;
    let r = rag.login(&native, &ragflow_encrypt(PASSWORD)).await;
    assert_eq!(r.code(), 0, "{}", r.text);

    let profiled = unique_email("profiled");
    let r = rag
        .register(&profiled, "Pro", &ragflow_encrypt(PASSWORD))
        .await;
    assert_eq!(r.code(), 0, "{}", r.text);
    assert_eq!(app.login(&profiled, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn an_imported_ragflow_hash_logs_in_and_becomes_argon2id() {
    let (app, _s, rag) = ragflow_policy().await;
    rag.register(EMAIL, "qa", &ragflow_encrypt("something else"))
        .await;
    // werkzeug's hash of "MTIz" = base64("123"), as RAGFlow stores it.
    let scrypt = "scrypt:32768:8:1$abcdefghijklmnop$77627345e126bca72d58d4501231acce6482ecdb7b6e07feee36ad349e44786275c201efb14eceb78d39cca43ca302a15397106a6131432c96434260967549da";
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email = $2")
        .bind(scrypt)
        .bind(EMAIL)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(rag.login(EMAIL, TEST_PASSWORD).await.code(), 0);
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(EMAIL)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert_eq!(app.login(EMAIL, "123").await.status, 200);
}

#[tokio::test]
async fn signed_tokens_expire_after_token_max_age() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.ragflow.password_policy = gatehouse::passwords::PasswordPolicy::Ragflow;
        c.ragflow.token_max_age = gatehouse::config::HumanDuration::from_secs(60);
    })
    .await;
    let rag = Rag::new(&app).await;
    let token = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    assert_eq!(
        rag.call("GET", "/api/v1/users/me", Some(&token), None)
            .await
            .code(),
        0
    );
    app.state.clock.advance(120);
    let r = rag
        .call("GET", "/api/v1/users/me", Some(&token), None)
        .await;
    assert_eq!((r.status, r.text.as_str()), (401, UNAUTHORIZED));
}

#[tokio::test]
async fn tenant_routes_check_membership() {
    let (_app, _s, rag) = ragflow_policy().await;
    let ann = rag
        .register("ann@example.com", "Ann", TEST_PASSWORD)
        .await
        .token();
    let bob = rag
        .register("bob@example.com", "Bob", TEST_PASSWORD)
        .await
        .token();
    let info = rag
        .call("GET", "/api/v1/users/me/models", Some(&ann), None)
        .await;
    assert_eq!(info.code(), 0, "{}", info.text);
    let tenant = info.body["data"]["tenant_id"].as_str().unwrap().to_string();
    assert_eq!(info.body["data"]["role"], "owner");

    let models = json!({"tenant_id": tenant, "llm_id": "glm-4", "embd_id": "e", "asr_id": "a", "img2txt_id": "i"});
    let r = rag
        .call(
            "PATCH",
            "/api/v1/users/me/models",
            Some(&bob),
            Some(models.clone()),
        )
        .await;
    assert_eq!((r.code(), r.message()), (109, "no authorization"));
    let r = rag
        .call("PATCH", "/api/v1/users/me/models", Some(&ann), Some(models))
        .await;
    assert_eq!(r.code(), 0);
    let info = rag
        .call("GET", "/api/v1/users/me/models", Some(&ann), None)
        .await;
    assert_eq!(info.body["data"]["llm_id"], "glm-4");

    let members = format!("/api/v1/tenants/{tenant}/users");
    let r = rag.call("GET", &members, Some(&bob), None).await;
    assert_eq!((r.code(), r.message()), (109, "no authorization"));
    let r = rag
        .call(
            "POST",
            &members,
            Some(&bob),
            Some(json!({"email": "eve@example.com"})),
        )
        .await;
    assert_eq!(r.code(), 109);
    let r = rag
        .call(
            "POST",
            &members,
            Some(&ann),
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(r.code(), 0, "{}", r.text);
    let r = rag.call("GET", &members, Some(&ann), None).await;
    assert_eq!(
        r.body["data"],
        json!([]),
        "owners are not listed; the invitee has not joined"
    );
    let r = rag.call("GET", "/api/v1/tenants", Some(&bob), None).await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(1));
}

/// Is `v` an id in RAGFlow's form (`uuid1().hex`: 32 lowercase hex digits)?
fn is_rag_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The `ragflow` settings stored for a tenant, as the database holds them.
async fn stored_settings(app: &TestApp, tenant_hex: &str) -> String {
    let id = uuid::Uuid::parse_str(tenant_hex).unwrap().to_string();
    sqlx::query_scalar("SELECT settings FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// RAGFlow's test fixture (`conftest.py` `add_model_instance`): SILICONFLOW's instance body.
fn siliconflow_instance(api_key: &str) -> Value {
    json!({
        "instance_name": "CI", "api_key": api_key, "region": "default", "base_url": "",
        "model_info": [
            {"model_type": ["rerank"], "model_name": "BAAI/bge-reranker-v2-m3", "max_tokens": 8192},
            {"model_type": ["embedding"], "model_name": "BAAI/bge-m3", "max_tokens": 8192},
            {"model_type": ["embedding"], "model_name": "BAAI/bge-large-en-v1.5", "max_tokens": 512},
            {"model_type": ["embedding"], "model_name": "BAAI/bge-large-zh-v1.5", "max_tokens": 512},
        ],
    })
}

#[tokio::test]
async fn providers_instances_and_models_follow_ragflows_wire() {
    let (app, _s, rag) = ragflow_policy().await;
    let web = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    let r = rag.call("GET", "/api/v1/models", Some(&web), None).await;
    assert_eq!(r.text, r#"{"code":0,"data":[]}"#);

    let put = |body: Value| rag.call("PUT", "/api/v1/providers", Some(&web), Some(body));
    let r = put(json!({"llm_factory": "SILICONFLOW"})).await;
    assert_eq!(
        r.text,
        r#"{"code":101,"message":"provider_name is required"}"#
    );
    let instances = "/api/v1/providers/SILICONFLOW/instances";
    let r = rag
        .call(
            "POST",
            instances,
            Some(&web),
            Some(siliconflow_instance("k")),
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"code":102,"message":"Provider 'SILICONFLOW' does not exist"}"#
    );
    assert_eq!(
        put(json!({"provider_name": "SILICONFLOW"})).await.text,
        r#"{"code":0}"#
    );
    let r = put(json!({"provider_name": "SILICONFLOW"})).await;
    assert_eq!(
        (r.code(), r.message()),
        (102, "Provider SILICONFLOW already exists")
    );

    let secret = "sk-siliconflow-0123456789abcdef";
    let r = rag
        .call(
            "POST",
            instances,
            Some(&web),
            Some(json!({"api_key": secret})),
        )
        .await;
    assert_eq!(
        r.text,
        r#"{"code":101,"message":"instance_name is required"}"#
    );
    let mut reserved = siliconflow_instance(secret);
    reserved["instance_name"] = json!("default");
    let r = rag
        .call("POST", instances, Some(&web), Some(reserved))
        .await;
    assert_eq!(
        (r.code(), r.message()),
        (102, "Instance name cannot be 'default'")
    );
    let r = rag
        .call(
            "POST",
            instances,
            Some(&web),
            Some(siliconflow_instance(secret)),
        )
        .await;
    assert_eq!(r.text, r#"{"code":0}"#);

    let r = rag.call("GET", "/api/v1/models", Some(&web), None).await;
    assert_eq!(r.code(), 0, "{}", r.text);
    let models = r.body["data"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = models.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "BAAI/bge-large-en-v1.5",
            "BAAI/bge-large-zh-v1.5",
            "BAAI/bge-m3",
            "BAAI/bge-reranker-v2-m3"
        ]
    );
    let me = rag.call("GET", "/api/v1/users/me", Some(&web), None).await;
    let rerank = &models[3];
    assert_eq!(rerank["provider_name"], "SILICONFLOW");
    assert_eq!(rerank["model_provider"], "SILICONFLOW");
    assert_eq!(rerank["model_name"], rerank["name"]);
    assert_eq!(rerank["instance_name"], "CI");
    assert_eq!(rerank["model_type"], json!(["rerank"]));
    assert_eq!(rerank["tenant_id"], me.body["data"]["id"]);
    assert_eq!(rerank["tenant_name"], "qa");
    for key in ["model_id", "provider_id", "instance_id"] {
        assert!(is_rag_id(&rerank[key]), "{key}: {}", r.text);
    }
    let r = rag
        .call("GET", "/api/v1/models?type=embedding", Some(&web), None)
        .await;
    assert_eq!(
        r.body["data"].as_array().map(Vec::len),
        Some(3),
        "{}",
        r.text
    );

    // The API key is sealed at rest and never answered.
    assert!(!r.text.contains(secret));
    let stored = stored_settings(&app, me.body["data"]["id"].as_str().unwrap()).await;
    assert!(stored.contains("bge-reranker"), "{stored}");
    assert!(!stored.contains(secret), "the key is stored sealed");

    // A second instance of the same name gets RAGFlow's `(1)` suffix.
    let r = rag
        .call(
            "POST",
            instances,
            Some(&web),
            Some(json!({"instance_name": "CI"})),
        )
        .await;
    assert_eq!(r.text, r#"{"code":0}"#);
    let r = rag.call("GET", "/api/v1/models", Some(&web), None).await;
    assert_eq!(
        r.body["data"].as_array().map(Vec::len),
        Some(4),
        "no models bound"
    );
}

#[tokio::test]
async fn with_ragflows_catalog_unknown_providers_are_refused_and_models_bound() {
    let catalog = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/ragflow-llm-factories.json"
    );
    let (_app, _s) = TestApp::spawn_with(|c| {
        c.ragflow.password_policy = gatehouse::passwords::PasswordPolicy::Ragflow;
        c.ragflow.llm_factories = Some(catalog.into());
    })
    .await;
    let rag = Rag::new(&_app).await;
    let web = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    let put = |body: Value| rag.call("PUT", "/api/v1/providers", Some(&web), Some(body));
    let r = put(json!({"provider_name": "NoSuchAI"})).await;
    assert_eq!(
        r.text,
        r#"{"code":102,"message":"Provider 'NoSuchAI' is not allowed"}"#
    );
    assert_eq!(put(json!({"provider_name": "ZHIPU-AI"})).await.code(), 0);
    // The fixture's ZHIPU-AI instance has no model_info: the catalog's models are bound.
    let body = json!({"instance_name": "CI", "api_key": "k", "region": "default", "base_url": ""});
    let r = rag
        .call(
            "POST",
            "/api/v1/providers/ZHIPU-AI/instances",
            Some(&web),
            Some(body),
        )
        .await;
    assert_eq!(r.text, r#"{"code":0}"#);
    let r = rag.call("GET", "/api/v1/models", Some(&web), None).await;
    let got: Vec<(String, Value)> = r.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m["model_type"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("glm-4-flash".to_string(), json!(["chat"])),
            ("glm-4v".to_string(), json!(["chat", "vision"])),
            ("embedding-3".to_string(), json!(["embedding"])),
        ],
        "ordered by the catalog's rank: {}",
        r.text
    );
}

#[tokio::test]
async fn log_levels_are_read_by_anyone_and_changed_only_by_a_superuser() {
    let (app, _s, rag) = ragflow_policy().await;
    let path = "/api/v1/system/config/log";
    let r = rag.call("GET", path, None, None).await;
    assert_eq!((r.status, r.text.as_str()), (401, UNAUTHORIZED));
    let web = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    let r = rag.call("GET", path, Some(&web), None).await;
    assert_eq!(r.code(), 0, "{}", r.text);
    assert!(r.body["data"].is_object(), "{}", r.text);
    assert_eq!(r.body["data"]["root"], "INFO", "{}", r.text);

    let r = rag.call("PUT", path, Some(&web), Some(json!({}))).await;
    assert_eq!(
        r.text,
        r#"{"code":102,"message":"pkg_name and level are required"}"#
    );
    let bad = json!({"pkg_name": "rag", "level": "NOT_A_LEVEL"});
    let r = rag.call("PUT", path, Some(&web), Some(bad)).await;
    assert_eq!(
        r.text,
        r#"{"code":102,"message":"Invalid log level: NOT_A_LEVEL"}"#
    );
    let change = json!({"pkg_name": "gatehouse::audit", "level": "debug"});
    let r = rag
        .call("PUT", path, Some(&web), Some(change.clone()))
        .await;
    assert_eq!((r.code(), r.message()), (108, "No permission."));
    let r = rag.call("GET", path, Some(&web), None).await;
    assert!(
        r.body["data"].get("gatehouse::audit").is_none(),
        "{}",
        r.text
    );

    let me = rag.call("GET", "/api/v1/users/me", Some(&web), None).await;
    let id = uuid::Uuid::parse_str(me.body["data"]["id"].as_str().unwrap()).unwrap();
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(id.to_string())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = rag
        .call("PUT", path, Some(&web), Some(change.clone()))
        .await;
    assert_eq!(r.code(), 0, "{}", r.text);
    assert_eq!(r.body["data"], change);
    let r = rag.call("GET", path, Some(&web), None).await;
    assert_eq!(r.body["data"]["gatehouse::audit"], "DEBUG", "{}", r.text);
    let r = rag
        .call(
            "PUT",
            path,
            Some(&web),
            Some(json!({"pkg_name": "a=b", "level": "INFO"})),
        )
        .await;
    assert_eq!(r.code(), 102, "not a target: {}", r.text);
}

#[tokio::test]
async fn ids_are_shown_as_32_hex_digits_and_taken_in_either_form() {
    let (_app, _s, rag) = ragflow_policy().await;
    let reg = rag.register(EMAIL, "qa", TEST_PASSWORD).await;
    let web = reg.token();
    let user_id = reg.body["data"]["id"].clone();
    assert!(is_rag_id(&user_id), "{}", reg.text);
    let hex = user_id.as_str().unwrap().to_string();
    let dashed = uuid::Uuid::parse_str(&hex).unwrap().to_string();

    let info = rag
        .call("GET", "/api/v1/users/me/models", Some(&web), None)
        .await;
    assert_eq!(
        info.body["data"]["tenant_id"], user_id,
        "the personal tenant has the user's id"
    );
    let r = rag.call("GET", "/api/v1/tenants", Some(&web), None).await;
    assert_eq!(r.body["data"][0]["tenant_id"], user_id, "{}", r.text);
    let r = rag
        .call("POST", "/api/v1/system/tokens", Some(&web), None)
        .await;
    assert_eq!(r.body["data"]["tenant_id"], user_id, "{}", r.text);

    let upper = hex.to_uppercase();
    for id in [hex.as_str(), dashed.as_str(), upper.as_str()] {
        let r = rag
            .call(
                "GET",
                &format!("/api/v1/tenants/{id}/users"),
                Some(&web),
                None,
            )
            .await;
        assert_eq!(
            (r.code(), &r.body["data"]),
            (0, &json!([])),
            "{id}: {}",
            r.text
        );
        let models = json!({"tenant_id": id, "llm_id": "glm-4", "embd_id": "e", "asr_id": "a", "img2txt_id": "i"});
        let r = rag
            .call("PATCH", "/api/v1/users/me/models", Some(&web), Some(models))
            .await;
        assert_eq!(r.code(), 0, "{id}: {}", r.text);
    }
    let bob = rag.register("bob@example.com", "Bob", TEST_PASSWORD).await;
    let bob_id = bob.body["data"]["id"].as_str().unwrap().to_string();
    let r = rag
        .call(
            "POST",
            &format!("/api/v1/tenants/{hex}/users"),
            Some(&web),
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(r.code(), 0, "{}", r.text);
    assert!(is_rag_id(&r.body["data"]["id"]), "{}", r.text);
    let r = rag
        .call(
            "GET",
            &format!("/api/v1/models?owner_tenant_id={bob_id}"),
            Some(&web),
            None,
        )
        .await;
    assert_eq!(
        r.text, r#"{"code":102,"message":"Permission denied"}"#,
        "not a member of Bob's tenant"
    );
}

#[tokio::test]
async fn api_tokens_act_as_their_user_but_cannot_change_the_password() {
    let (_app, _s, rag) = ragflow_policy().await;
    let web = rag.register(EMAIL, "qa", TEST_PASSWORD).await.token();
    let created = rag
        .call("POST", "/api/v1/system/tokens", Some(&web), None)
        .await;
    let bearer = format!("Bearer {}", created.body["data"]["token"].as_str().unwrap());
    let listed = rag
        .call("GET", "/api/v1/system/tokens", Some(&bearer), None)
        .await;
    assert_eq!(listed.code(), 0, "a token lists tokens: {}", listed.text);
    let change = json!({"password": TEST_PASSWORD, "new_password": ragflow_encrypt(PASSWORD)});
    let refused = rag
        .call("PATCH", "/api/v1/users/me", Some(&bearer), Some(change))
        .await;
    assert_eq!(
        (refused.code(), refused.message()),
        (109, "API tokens cannot change the password")
    );
    assert_eq!(rag.login(EMAIL, TEST_PASSWORD).await.code(), 0);
}

#[tokio::test]
async fn otp_verification_is_limited_per_ip() {
    let (_app, _s, rag) = ragflow_policy().await;
    let verify = "/api/v1/auth/password/forgot/otp/verify";
    let mut codes = Vec::new();
    for i in 0..21 {
        // A different address each time: only the per-IP limit can stop this.
        let body = json!({"email": format!("probe{i}@example.test"), "otp": "ABCD"});
        codes.push(rag.call("POST", verify, None, Some(body)).await);
    }
    assert!(codes[..20].iter().all(|r| r.code() == 109));
    assert_eq!(
        (codes[20].code(), codes[20].message()),
        (10, "too many attempts, try later")
    );
}

#[tokio::test]
async fn the_profile_answers_the_new_account_safety_rules() {
    let (app, _s) = TestApp::spawn_with(|c| {
        c.captcha.enabled = false;
        c.lockout_threshold = 100;
        c.max_consecutive_failures = 2;
    })
    .await;
    let rag = Rag::new(&app).await;
    let email = unique_email("locked");
    app.register(&email).await;
    for _ in 0..2 {
        rag.login(&email, &ragflow_encrypt("not the password"))
            .await;
    }
    let r = rag.login(&email, &ragflow_encrypt(PASSWORD)).await;
    assert_eq!(
        (r.code(), r.message()),
        (109, "This account is locked: reset the password by mail.")
    );
    // Garbage that does not decrypt is refused without counting or decrypting first.
    let garbage = rag.login(&unique_email("other"), "not rsa at all").await;
    assert_eq!(garbage.code(), 500, "{}", garbage.text);

    let (closed, _s2) = TestApp::spawn_with(|c| c.password_login_enabled = false).await;
    let rag = Rag::new(&closed).await;
    let r = rag
        .register(&unique_email("closed"), "C", &ragflow_encrypt(PASSWORD))
        .await;
    assert_eq!(
        (r.code(), r.message()),
        (109, "Password login is disabled!")
    );
    let r = rag.login(&email, &ragflow_encrypt(PASSWORD)).await;
    assert_eq!(
        (r.code(), r.message()),
        (109, "Password login is disabled!")
    );
}
