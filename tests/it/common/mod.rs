//! The test harness: the real router served on 127.0.0.1:0 against a fresh SQLite file or a
//! fresh PostgreSQL database, with in-process or Redis state, chosen by
//! `GATEHOUSE_TEST_BACKEND` (`sqlite` | `postgres`) and `GATEHOUSE_TEST_KV` (`memory` | `redis`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod authenticator;
pub mod smtp;

use std::net::SocketAddr;

use gatehouse::config::{Config, Secret};
use gatehouse::server::Server;
use gatehouse::state::AppState;
use serde_json::{Value, json};

pub const PASSWORD: &str = "violet tugboat harmonica";

pub fn pg_admin_url() -> String {
    std::env::var("GATEHOUSE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("GATEHOUSE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn use_postgres() -> bool {
    std::env::var("GATEHOUSE_TEST_BACKEND").is_ok_and(|v| v == "postgres")
}

pub fn use_redis() -> bool {
    std::env::var("GATEHOUSE_TEST_KV").is_ok_and(|v| v == "redis")
}

/// Where a test's data lives; shared by the instances of a multi-instance test.
pub struct Storage {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub kv_prefix: String,
    pub dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl Storage {
    pub async fn new(postgres: bool, redis: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg_database) = if postgres {
            let name = format!("gh_t_{}", uuid::Uuid::new_v4().simple());
            let admin = pg_admin_url();
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is needed ({e}); scripts/test starts it")
                });
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            (format!("{base}/{name}"), Some(name))
        } else {
            (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("gatehouse.db").display()
                ),
                None,
            )
        };
        Self {
            database_url,
            redis_url: redis.then(redis_url),
            kv_prefix: format!("gh-test-{}:", uuid::Uuid::new_v4().simple()),
            dir,
            pg_database,
        }
    }

    /// The backends chosen by the environment.
    pub async fn from_env() -> Self {
        Self::new(use_postgres(), use_redis()).await
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let Some(name) = self.pg_database.take() else {
            return;
        };
        let admin = pg_admin_url();
        // Best effort; scripts/test also drops leftovers before a run.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

pub fn base_config(storage: &Storage) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: storage.dir.path().to_path_buf(),
        database_url: Some(Secret::new(storage.database_url.clone())),
        redis_url: storage.redis_url.clone().map(Secret::new),
        secret_key: Some(Secret::new("test-secret-key-0123456789abcdef0123456789")),
        ..Config::default()
    }
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub state: AppState,
    /// Without a cookie store: tests pass tokens explicitly.
    pub http: reqwest::Client,
    /// Turned true by [`TestApp::stop`]: every listener serving this instance's state stops.
    stop: tokio::sync::watch::Sender<bool>,
    pub handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// The listeners `config` names (`listen` is 127.0.0.1:0 in [`base_config`]), served as
    /// `gatehouse serve` serves them.
    pub async fn spawn_on(storage: &Storage, config: Config) -> Self {
        let server = Server::bind(&config).await.unwrap();
        Self::serve(storage, config, server).await
    }

    /// A server on storage chosen by the environment, with `tweak` applied to the config.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> (Self, Storage) {
        let storage = Storage::from_env().await;
        let mut config = base_config(&storage);
        tweak(&mut config);
        (Self::spawn_on(&storage, config).await, storage)
    }

    pub async fn spawn() -> (Self, Storage) {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose `public_base_url` is its real address (redirect URIs must name it), with
    /// `tweak` given the config and that base URL before the state is built.
    pub async fn spawn_bound(tweak: impl FnOnce(&mut Config, &str)) -> (Self, Storage) {
        let storage = Storage::from_env().await;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = base_config(&storage);
        config.public_base_url = Some(base.clone());
        tweak(&mut config, &base);
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        (
            Self::serve(&storage, config, Server::main(listener)).await,
            storage,
        )
    }

    /// A second (or further) instance on a listener the test bound itself, so that another
    /// instance can be configured with its address first.
    pub async fn spawn_on_listener(
        storage: &Storage,
        config: Config,
        listener: tokio::net::TcpListener,
    ) -> Self {
        Self::serve(storage, config, Server::main(listener)).await
    }

    async fn serve(storage: &Storage, config: Config, server: Server) -> Self {
        let state = AppState::build(config, &storage.kv_prefix).await.unwrap();
        let addr = server.main_addr().unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server_state = state.clone();
        let handle = tokio::spawn(async move {
            server
                .run(server_state, stopped_signal(stopped))
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            addr,
            state,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop,
            handle: Some(handle),
        }
    }

    /// Stop serving (requests in flight finish) and wait until every listener has.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::from(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(reqwest::Method::DELETE, path, token, None)
            .await
    }

    /// Register `email` with the test password; returns (session token, user id).
    pub async fn register(&self, email: &str) -> (String, String) {
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "nickname": "Tester"}),
            )
            .await;
        assert_eq!(r.status, 201, "register {email}: {}", r.body);
        (
            r.body["session"]["token"].as_str().unwrap().to_string(),
            r.body["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// A captcha and its answer, read from the short-lived store as a person would read the image.
    pub async fn solved_captcha(&self) -> (String, String) {
        let r = self.post("/api/v1/captcha", None, json!({})).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["captcha_id"].as_str().unwrap().to_string();
        let answer = self
            .state
            .kv
            .get(&gatehouse::captcha::service::key(&id))
            .await
            .unwrap()
            .unwrap();
        (id, answer)
    }

    /// (kind, subject, text) of the queued mails to `to`, oldest first.
    pub async fn mails_to(&self, to: &str) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT kind, subject, body_text FROM mail_outbox WHERE recipient = $1 ORDER BY id",
        )
        .bind(to)
        .fetch_all(self.state.db.pool())
        .await
        .unwrap()
    }

    /// `POST /auth/password/forgot` for `email`, with a solved captcha unless it is off.
    pub async fn forgot(&self, email: &str) -> Resp {
        let body = if self.state.config.captcha.enabled {
            let (id, answer) = self.solved_captcha().await;
            json!({"email": email, "captcha_id": id, "captcha_answer": answer})
        } else {
            json!({"email": email})
        };
        self.post("/api/v1/auth/password/forgot", None, body).await
    }

    /// The audit events of `event` kind, newest last.
    pub async fn audit_events(&self, event: &str) -> Vec<(Option<String>, String)> {
        sqlx::query_as::<_, (Option<String>, String)>(
            "SELECT subject_user_id, detail FROM audit_events WHERE event = $1 ORDER BY id",
        )
        .bind(event)
        .fetch_all(self.state.db.pool())
        .await
        .unwrap()
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The six-digit code and the link token of a mail body.
pub fn code_and_token(text: &str) -> (String, String) {
    let code = text
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.chars().all(|c| c.is_ascii_digit()))
        .unwrap()
        .to_string();
    let token = text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (code, token)
}

/// A loopback port nothing listens on (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Register a user and make them a superuser; returns their session token.
pub async fn superuser(app: &TestApp) -> String {
    let (token, id) = app.register(&unique_email("admin")).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    token
}

/// `r` is the error `code` with `status`; `what` names the step when it is not.
pub fn assert_error(r: &Resp, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (status, code),
        "{what}: got {} {}",
        r.status,
        r.text
    );
}

/// The CSRF token of the first form in `html`.
pub fn csrf(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .expect("a form with a CSRF token")
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

pub fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// The project's root at run time. (Not `env!("CARGO_MANIFEST_DIR")`: a test binary built in
/// another checkout sharing the target directory would carry that checkout's path.)
pub fn project_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap())
}

/// The RAGFlow compatibility profile served on 127.0.0.1:0 over `app`'s state (the same
/// database, short-lived store and clock); returns its base URL.
pub async fn spawn_ragflow(app: &TestApp) -> String {
    serve_ragflow(app, std::net::TcpListener::bind("127.0.0.1:0").unwrap())
}

/// The profile on a listener bound beforehand (so `[ragflow] public_base_url` can name it),
/// stopping with `app`.
pub fn serve_ragflow(app: &TestApp, listener: std::net::TcpListener) -> String {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let server = Server::ragflow(listener);
    let addr = server.ragflow_addr().unwrap();
    let (state, stopped) = (app.state.clone(), app.stop.subscribe());
    tokio::spawn(async move {
        server.run(state, stopped_signal(stopped)).await.unwrap();
    });
    format!("http://{addr}")
}

/// Resolves once `stopped` turns true (or its sender is gone).
async fn stopped_signal(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A password as RAGFlow's clients send it: base64(RSA-PKCS#1-v1.5(public, base64(password)))
/// with RAGFlow's published public key.
pub fn ragflow_encrypt(password: &str) -> String {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key =
        rsa::RsaPublicKey::from_public_key_pem(include_str!("../../../assets/ragflow/public.pem"))
            .unwrap();
    let cipher = key
        .encrypt(
            &mut rsa::rand_core::OsRng,
            rsa::Pkcs1v15Encrypt,
            b64.encode(password).as_bytes(),
        )
        .unwrap();
    b64.encode(cipher)
}
