//! A backing service that goes away: the API answers 503 (never 500) while PostgreSQL or Redis
//! cannot be reached, and serves again once it is back, without a restart. The services are
//! reached through a TCP proxy the test cuts (the shared servers keep running); like the
//! two-instance tests these always run on PostgreSQL + Redis. scripts/drill does the same
//! under load, with longer outages, against the real binary.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Resp, Storage, TestApp, base_config, unique_email};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy on 127.0.0.1 to `target` whose links can all be cut at once.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = Self {
            port: listener.local_addr().unwrap().port(),
            target: target.to_string(),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(link);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Refuse new connections and reset the open ones, as a stopped server would.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }

    /// `url` with its host and port replaced by this proxy's.
    fn route(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (auth, hostpath) = match rest.rsplit_once('@') {
            Some((auth, hp)) => (format!("{auth}@"), hp),
            None => (String::new(), rest),
        };
        let path = hostpath.find('/').map_or("", |i| &hostpath[i..]);
        format!("{scheme}://{auth}127.0.0.1:{}{path}", self.port)
    }
}

fn host_port(url: &str, default: u16) -> String {
    let rest = url.split_once("://").unwrap().1;
    let hostpath = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
    let hostport = hostpath.split('/').next().unwrap();
    if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{default}")
    }
}

/// A server whose PostgreSQL and Redis are each reached through a proxy of their own.
async fn spawn_behind_proxies() -> (TestApp, Storage, Proxy, Proxy) {
    let storage = Storage::new(true, true).await;
    let db = Proxy::start(&host_port(&storage.database_url, 5432)).await;
    let redis_url = storage.redis_url.clone().unwrap();
    let redis = Proxy::start(&host_port(&redis_url, 6379)).await;
    let mut config = base_config(&storage);
    config.database_url = Some(gatehouse::config::Secret::new(
        db.route(&storage.database_url),
    ));
    config.redis_url = Some(gatehouse::config::Secret::new(redis.route(&redis_url)));
    let app = TestApp::spawn_on(&storage, config).await;
    (app, storage, db, redis)
}

fn assert_unavailable(r: &Resp, what: &str) {
    assert_eq!(
        (r.status, r.code()),
        (503, "busy"),
        "{what}: got {} {}",
        r.status,
        r.text
    );
    assert!(r.header("retry-after").is_some(), "{what}: Retry-After");
}

/// Poll `path` until it answers `status`, for at most 20 s; the time it took.
async fn until(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    status: u16,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = app
            .request(
                method.clone(),
                path,
                token,
                (method == reqwest::Method::POST).then(|| json!({})),
            )
            .await;
        if r.status == status {
            return start.elapsed();
        }
        assert_ne!(r.status, 500, "{path} while recovering: {}", r.text);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} did not recover: {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_api_answers_503_while_the_database_is_unreachable_and_recovers() {
    let (app, _s, mut db, _redis) = spawn_behind_proxies().await;
    let (token, _) = app.register(&unique_email("dbdown")).await;
    assert_eq!(app.get("/api/v1/users/me", Some(&token)).await.status, 200);

    db.cut();
    let r = app.get("/api/v1/users/me", Some(&token)).await;
    assert_unavailable(&r, "GET /users/me without the database");
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["checks"]["database"], "unavailable", "{}", r.text);

    db.restore().await;
    until(
        &app,
        reqwest::Method::GET,
        "/api/v1/users/me",
        Some(&token),
        200,
    )
    .await;
    until(&app, reqwest::Method::GET, "/readyz", None, 200).await;
}

#[tokio::test]
async fn the_api_answers_503_while_redis_is_unreachable_and_recovers() {
    let (app, _s, _db, mut redis) = spawn_behind_proxies().await;
    let (token, _) = app.register(&unique_email("kvdown")).await;
    assert_eq!(
        app.post("/api/v1/captcha", None, json!({})).await.status,
        201
    );

    redis.cut();
    let r = app.post("/api/v1/captcha", None, json!({})).await;
    assert_unavailable(&r, "POST /captcha without Redis");
    let r = app
        .login(&unique_email("nobody"), "some wrong password")
        .await;
    assert_unavailable(&r, "a login without Redis");
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["checks"]["redis"], "unavailable", "{}", r.text);
    // Sessions live in the database: signed-in reads go on.
    assert_eq!(app.get("/api/v1/users/me", Some(&token)).await.status, 200);

    redis.restore().await;
    until(&app, reqwest::Method::POST, "/api/v1/captcha", None, 201).await;
    until(&app, reqwest::Method::GET, "/readyz", None, 200).await;
}
