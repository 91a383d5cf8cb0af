//! Property tests over HTTP of the credentials a client can send: made up, shaped like a real
//! token, or a real token with one character replaced, added or dropped. Each is answered 401
//! (never 5xx, never as someone) on the native API and on the RAGFlow profile, whatever
//! `X-Forwarded-For` says. Seeds are fixed; `PROPTEST_CASES` / `PROPTEST_RNG_SEED` override.

use crate::common;

use common::{TestApp, spawn_ragflow, unique_email};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestRunner};
use reqwest::header::HeaderValue;
use serde_json::json;

const TEST_PASSWORD: &str = include_str!("../data/ragflow-test-password.txt");
const RAG_UNAUTHORIZED: &str =
    r#"{"code":401,"data":null,"message":"<Unauthorized '401: Unauthorized'>"}"#;

fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            base.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            base.rng_seed
        } else {
            RngSeed::Fixed(0x6761_7465_686f_7573)
        },
        failure_persistence: None,
        ..base
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One character of `token` replaced, inserted or removed. Blanks are left out: a credential is
/// trimmed, so a blank added at either end leaves the real token, rightly accepted.
fn tampered(token: String) -> impl Strategy<Value = String> {
    let with = prop_oneof![
        4 => proptest::char::range('!', '~'),
        1 => any::<char>().prop_filter("not blank", |c| !c.is_whitespace()),
    ];
    (any::<usize>(), with, 0u8..3).prop_map(move |(at, with, how)| {
        let mut chars: Vec<char> = token.chars().collect();
        let at = at % chars.len();
        match how {
            0 if chars[at] != with => chars[at] = with,
            0 | 1 => chars.insert(at, with),
            _ => {
                chars.remove(at);
            }
        }
        chars.into_iter().collect()
    })
}

/// Bytes a header can carry: mostly token characters, now and then any byte.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => proptest::sample::select(
            b"ghs_kragflow-Bearer .=;,:0123456789abcdefABCDEF/+\t\"".to_vec()
        ),
        1 => any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..max)
}

/// `X-Forwarded-For` as anyone may send it (the test server trusts no proxy, so it is ignored;
/// it must still never break the request).
fn forwarded_for() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        header_bytes(80),
        "([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-f:]{2,39}|unknown|)(, ?[0-9a-f.:]{0,39}){0,4}"
            .prop_map(String::into_bytes),
    ])
}

/// How a credential is carried.
#[derive(Debug, Clone)]
enum Carry {
    Bearer(Vec<u8>),
    Raw(Vec<u8>),
    Cookie(Vec<u8>),
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    carry: &Carry,
    xff: &Option<Vec<u8>>,
) -> (u16, String) {
    let mut req = http.get(url);
    let header = match carry {
        Carry::Bearer(t) => ("authorization", [b"Bearer ".as_slice(), t].concat()),
        Carry::Raw(t) => ("authorization", t.clone()),
        Carry::Cookie(t) => ("cookie", [b"gatehouse_session=".as_slice(), t].concat()),
    };
    if let Ok(v) = HeaderValue::from_bytes(&header.1) {
        req = req.header(header.0, v);
    }
    if let Some(Ok(v)) = xff.as_deref().map(HeaderValue::from_bytes) {
        req = req.header("x-forwarded-for", v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

fn carried(tokens: impl Strategy<Value = Vec<u8>> + Clone) -> impl Strategy<Value = Carry> {
    prop_oneof![
        tokens.clone().prop_map(Carry::Bearer),
        tokens.clone().prop_map(Carry::Raw),
        tokens.prop_map(Carry::Cookie),
    ]
}

/// Sessions (`ghs_`) and API keys (`ghk_`) on the native API.
#[test]
fn fuzz_native_credentials_are_refused_unless_real() {
    let rt = runtime();
    let (app, _storage) = rt.block_on(TestApp::spawn());
    let (session, key) = rt.block_on(async {
        let (session, _) = app.register(&unique_email("fuzz")).await;
        let k = app
            .post("/api/v1/api-keys", Some(&session), json!({"name": "fuzz"}))
            .await;
        assert_eq!(k.status, 201, "{}", k.text);
        (session, k.body["key"].as_str().unwrap().to_string())
    });
    let url = app.url("/api/v1/users/me");
    let http = app.http.clone();
    // The real ones work by every door, so a 401 below is the server telling tokens apart.
    for carry in [
        Carry::Bearer(session.clone().into_bytes()),
        Carry::Cookie(session.clone().into_bytes()),
        Carry::Bearer(key.clone().into_bytes()),
    ] {
        let (status, text) = rt.block_on(send(&http, &url, &carry, &None));
        assert_eq!(status, 200, "{carry:?}: {text}");
    }
    let tokens = prop_oneof![
        tampered(session).prop_map(String::into_bytes),
        tampered(key).prop_map(String::into_bytes),
        "gh[sk]_[A-Za-z0-9_-]{43}".prop_map(String::into_bytes),
        header_bytes(200),
    ];
    let strategy = (carried(tokens), forwarded_for());
    let result = TestRunner::new(config(1000)).run(&strategy, |(carry, xff)| {
        let (status, text) = rt.block_on(send(&http, &url, &carry, &xff));
        prop_assert_eq!(status, 401, "{:?} {:?}: {}", carry, xff, text);
        prop_assert!(text.contains("\"unauthenticated\""), "{}", text);
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
    rt.block_on(app.stop());
}

/// The RAGFlow profile's signed web tokens (itsdangerous) and `ragflow-` API tokens.
#[test]
fn fuzz_ragflow_credentials_are_refused_unless_real() {
    let rt = runtime();
    let (app, _storage) = rt.block_on(TestApp::spawn_with(|c| {
        c.ragflow.password_policy = gatehouse::passwords::PasswordPolicy::Ragflow
    }));
    let base = rt.block_on(spawn_ragflow(&app));
    let http = app.http.clone();
    let (web, api) = rt.block_on(async {
        let r = http
            .post(format!("{base}/api/v1/users"))
            .json(&json!({"nickname": "fuzz", "email": unique_email("rag"), "password": TEST_PASSWORD}))
            .send()
            .await
            .unwrap();
        let web = r.headers()["authorization"].to_str().unwrap().to_string();
        let r = http
            .post(format!("{base}/api/v1/system/tokens"))
            .header("authorization", &web)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = r.json().await.unwrap();
        (web, body["data"]["token"].as_str().unwrap().to_string())
    });
    let url = format!("{base}/v1/user/info");
    for carry in [
        Carry::Raw(web.clone().into_bytes()),
        Carry::Bearer(web.clone().into_bytes()),
        Carry::Bearer(api.clone().into_bytes()),
    ] {
        let (status, text) = rt.block_on(send(&http, &url, &carry, &None));
        assert!(
            status == 200 && text.contains("\"code\":0"),
            "{carry:?}: {text}"
        );
    }
    let tokens = prop_oneof![
        tampered(web).prop_map(String::into_bytes),
        tampered(api).prop_map(String::into_bytes),
        "ragflow-[A-Za-z0-9_-]{43}".prop_map(String::into_bytes),
        "Ij[A-Za-z0-9_-]{20,60}\\.[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27}"
            .prop_map(String::into_bytes),
        header_bytes(300),
    ];
    let strategy = (
        prop_oneof![
            tokens.clone().prop_map(Carry::Bearer),
            tokens.prop_map(Carry::Raw)
        ],
        forwarded_for(),
    );
    let result = TestRunner::new(config(1000)).run(&strategy, |(carry, xff)| {
        let (status, text) = rt.block_on(send(&http, &url, &carry, &xff));
        prop_assert_eq!(
            (status, text.as_str()),
            (401, RAG_UNAUTHORIZED),
            "{:?} {:?}",
            carry,
            xff
        );
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
    rt.block_on(app.stop());
}
