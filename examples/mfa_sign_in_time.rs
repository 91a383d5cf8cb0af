//! Times the two sign-ins with a second factor against a running gatehouse (`scripts/bench`):
//! password + TOTP code (`POST /auth/login` then `/auth/login/mfa`) and a usernameless passkey
//! (`POST /auth/passkey/options` then `/auth/passkey`, signed by the test suite's software
//! authenticator). Prints the median and p99 of each, in milliseconds.
//!
//! `mfa_sign_in_time BASE_URL [N]`: BASE_URL's host must be a domain (passkeys), e.g.
//! `http://localhost:18181`; N sign-ins of each kind (default 50).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/authenticator.rs"]
mod authenticator;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "violet tugboat harmonica";

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("gatehouse answers");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn code(uri: &str, offset: i64) -> String {
    let totp = totp_rs::Totp::from_url(uri).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset * 30) as u64).to_string()
}

/// A new account with TOTP in force; returns its email and `otpauth://` URI.
async fn enrolled(http: &reqwest::Client, base: &str, i: usize) -> (String, String) {
    let email = format!("mfa-bench-{i}-{}@example.com", uuid::Uuid::new_v4());
    let r = post(
        http,
        format!("{base}/api/v1/auth/register"),
        None,
        json!({"email": email, "password": PASSWORD, "nickname": "Bench"}),
    )
    .await;
    let session = r["session"]["token"].as_str().unwrap().to_string();
    let r = post(
        http,
        format!("{base}/api/v1/users/me/mfa/totp"),
        Some(&session),
        json!({"password": PASSWORD}),
    )
    .await;
    let uri = r["otpauth_uri"].as_str().unwrap().to_string();
    // The confirmation spends the previous step, so the timed sign-in can use the current one.
    post(
        http,
        format!("{base}/api/v1/users/me/mfa/totp/confirm"),
        Some(&session),
        json!({"code": code(&uri, -1)}),
    )
    .await;
    (email, uri)
}

fn summary(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(times[times.len() / 2]);
    let p99 = ms(times[((times.len() * 99).div_ceil(100)).saturating_sub(1)]);
    println!(
        "{label:<29}{median:>10.1} ms median {p99:>8.1} ms p99   ({} sign-ins)",
        times.len()
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().expect("usage: mfa_sign_in_time BASE_URL [N]");
    let n: usize = args.next().map(|n| n.parse().unwrap()).unwrap_or(50);
    let http = reqwest::Client::new();

    // TOTP: one sign-in per account (a time step is accepted once per account).
    let mut accounts = Vec::new();
    for i in 0..n {
        accounts.push(enrolled(&http, &base, i).await);
    }
    let mut totp_times = Vec::new();
    for (email, uri) in &accounts {
        let started = Instant::now();
        let step = post(
            &http,
            format!("{base}/api/v1/auth/login"),
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        let token = step["mfa_token"]
            .as_str()
            .expect("a second step")
            .to_string();
        post(
            &http,
            format!("{base}/api/v1/auth/login/mfa"),
            None,
            json!({"mfa_token": token, "code": code(uri, 0)}),
        )
        .await;
        totp_times.push(started.elapsed());
    }
    summary("password + TOTP sign-in", totp_times);

    // Passkey: one account, N usernameless sign-ins.
    let email = format!("passkey-bench-{}@example.com", uuid::Uuid::new_v4());
    let r = post(
        &http,
        format!("{base}/api/v1/auth/register"),
        None,
        json!({"email": email, "password": PASSWORD, "nickname": "Bench"}),
    )
    .await;
    let session = r["session"]["token"].as_str().unwrap().to_string();
    let o = post(
        &http,
        format!("{base}/api/v1/users/me/passkeys/options"),
        Some(&session),
        json!({"password": PASSWORD}),
    )
    .await;
    let mut key = authenticator::Authenticator::new();
    let credential = key.register(&o["options"], &base, authenticator::UP | authenticator::UV);
    post(
        &http,
        format!("{base}/api/v1/users/me/passkeys"),
        Some(&session),
        json!({"challenge_id": o["challenge_id"], "name": "bench", "credential": credential}),
    )
    .await;
    let mut passkey_times = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let o = post(
            &http,
            format!("{base}/api/v1/auth/passkey/options"),
            None,
            json!({}),
        )
        .await;
        let credential = key.assert(&o["options"], &base, authenticator::Tamper::default());
        post(
            &http,
            format!("{base}/api/v1/auth/passkey"),
            None,
            json!({"challenge_id": o["challenge_id"], "credential": credential}),
        )
        .await;
        passkey_times.push(started.elapsed());
    }
    summary("passkey sign-in", passkey_times);
}
