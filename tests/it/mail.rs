//! Mail delivery against a real SMTP server (aiosmtpd, `tests/peers/smtp_capture.py`): plain,
//! STARTTLS + AUTH with a private CA, implicit TLS, wrong password, outage, expired leases,
//! concurrent workers, giving up, the dev file sink and `gatehouse mail test`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use common::smtp::{SmtpCapture, Tls as PeerTls, make_certs};
use common::{TestApp, free_port};
use gatehouse::config::{Config, HumanDuration, Secret, SmtpTls};
use gatehouse::i18n::Lang;
use gatehouse::mail::outbox::{self, LEASE_SECS};
use gatehouse::mail::{Template, Transport};
use gatehouse::state::AppState;

const SMTP_USER: &str = "noreply@authsvc.test";
const SMTP_PASS: &str = "smtp-pass-4711";
const BASE_URL: &str = "https://auth.example.com";

// ---------------------------------------------------------------- peers

/// A test CA and a leaf for localhost in a temporary directory.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_certs(dir.path());
        Self { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// The capture peer on `port`, requiring AUTH as [`SMTP_USER`] when `auth`, with TLS from `certs`.
fn peer_on(port: u16, auth: bool, tls: PeerTls, certs: Option<&Certs>) -> SmtpCapture {
    SmtpCapture::start(
        port,
        auth.then_some((SMTP_USER, SMTP_PASS)),
        tls,
        certs.map(|c| c.dir.path()),
    )
}

// ---------------------------------------------------------------- MIME reading

/// The `name:` header of `eml`, unfolded, with RFC 2047 words decoded.
fn header(eml: &str, name: &str) -> Option<String> {
    let head = eml.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let raw = unfolded
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))?[prefix.len()..]
        .trim()
        .to_string();
    // Whitespace between two encoded words is dropped; elsewhere it stays (RFC 2047 §6.2).
    let mut out = String::new();
    let mut last_encoded = false;
    for word in raw.split(' ').filter(|w| !w.is_empty()) {
        let lower = word.to_ascii_lowercase();
        let encoded = lower.starts_with("=?utf-8?") && word.ends_with("?=");
        if !(out.is_empty() || encoded && last_encoded) {
            out.push(' ');
        }
        if encoded {
            let mut parts = word[8..word.len() - 2].splitn(2, '?');
            let (enc, text) = (parts.next().unwrap(), parts.next().unwrap());
            let bytes = if enc.eq_ignore_ascii_case("b") {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap()
            } else {
                quoted_printable(&text.replace('_', " "))
            };
            out.push_str(&String::from_utf8(bytes).unwrap());
            last_encoded = true;
        } else {
            out.push_str(word);
            last_encoded = false;
        }
    }
    Some(out)
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The decoded body of the part whose Content-Type starts with `mime`.
fn part(eml: &str, mime: &str) -> String {
    let start = eml
        .find(&format!("Content-Type: {mime}"))
        .unwrap_or_else(|| panic!("no {mime} part in {eml}"));
    let rest = &eml[start..];
    let (head, body) = rest.split_once("\r\n\r\n").unwrap();
    let body = body.split("\r\n--").next().unwrap();
    let encoding = head.to_ascii_lowercase();
    let bytes = if encoding.contains("content-transfer-encoding: base64") {
        base64::engine::general_purpose::STANDARD
            .decode(body.split_whitespace().collect::<String>())
            .unwrap()
    } else if encoding.contains("content-transfer-encoding: quoted-printable") {
        quoted_printable(body)
    } else {
        body.as_bytes().to_vec()
    };
    String::from_utf8(bytes).unwrap()
}

// ---------------------------------------------------------------- gatehouse side

async fn app(tweak: impl FnOnce(&mut Config)) -> (TestApp, common::Storage) {
    TestApp::spawn_with(|c| {
        c.public_base_url = Some(BASE_URL.into());
        tweak(c);
    })
    .await
}

fn smtp_to(c: &mut Config, port: u16, tls: SmtpTls) {
    c.smtp.host = Some(if tls == SmtpTls::None {
        "127.0.0.1".into()
    } else {
        "localhost".into()
    });
    c.smtp.port = Some(port);
    c.smtp.tls = tls;
}

fn with_login(c: &mut Config, password: &str) {
    c.smtp.username = Some(SMTP_USER.into());
    c.smtp.password = Some(Secret::new(password));
}

const CODE: &str = "482913";
const LINK: &str = "https://auth.example.com/reset-password?token=tok-secret-link";

fn recovery() -> Template<'static> {
    Template::Recovery {
        code: CODE,
        link: LINK,
    }
}

async fn enqueue(state: &AppState, to: &str, lang: Lang) -> String {
    let mut tx = state.db.begin().await.unwrap();
    let id = gatehouse::mail::enqueue(&mut tx, state, to, &recovery(), lang)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

struct Row {
    status: String,
    attempts: i64,
    last_error: Option<String>,
    body_text: String,
    body_html: String,
    sent_at: Option<i64>,
}

async fn row(state: &AppState, id: &str) -> Row {
    let (status, attempts, last_error, body_text, body_html, sent_at) =
        sqlx::query_as::<_, (String, i64, Option<String>, String, String, Option<i64>)>(
            "SELECT status, attempts, last_error, body_text, body_html, sent_at FROM mail_outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_one(state.db.pool())
        .await
        .unwrap();
    Row {
        status,
        attempts,
        last_error,
        body_text,
        body_html,
        sent_at,
    }
}

fn assert_sent_and_blank(r: &Row) {
    assert_eq!(r.status, "sent");
    assert!(r.sent_at.is_some());
    assert_eq!(r.body_text, "", "the code must not stay at rest");
    assert_eq!(r.body_html, "", "the link must not stay at rest");
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn plain_delivery_keeps_recipient_subject_and_chinese_and_blanks_the_body() {
    let peer = peer_on(free_port(), false, PeerTls::None, None);
    let (app, _s) = app(|c| {
        smtp_to(c, peer.port, SmtpTls::None);
        c.smtp.from_name = "Example 认证".into();
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "李雷 <lilei@example.com>", Lang::ZhCn).await;
    assert_eq!(row(&app.state, &id).await.status, "pending");

    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");

    let expected =
        gatehouse::mail::templates::render(&recovery(), Lang::ZhCn, "gatehouse").unwrap();
    let mails = peer.messages();
    assert_eq!(mails.len(), 1);
    let eml = &mails[0];
    assert!(eml.contains("X-Env-To: lilei@example.com"), "{eml}");
    assert!(
        eml.contains("X-Env-From: noreply@auth.example.com"),
        "{eml}"
    );
    assert_eq!(header(eml, "Subject").unwrap(), expected.subject);
    assert!(expected.subject.contains("重置"));
    assert!(
        header(eml, "From").unwrap().contains("Example 认证"),
        "{eml}"
    );
    assert!(header(eml, "To").unwrap().contains("李雷"), "{eml}");
    let message_id = header(eml, "Message-ID").unwrap();
    assert_eq!(message_id, format!("<{id}@auth.example.com>"));
    assert!(eml.contains("multipart/alternative"), "{eml}");
    let text = part(eml, "text/plain");
    assert!(text.contains("验证码") && text.contains(CODE), "{text}");
    let html = part(eml, "text/html");
    assert!(html.contains("验证码") && html.contains(CODE), "{html}");

    let r = row(&app.state, &id).await;
    assert_sent_and_blank(&r);
    assert_eq!(r.attempts, 1);
    assert!(r.last_error.is_none());

    let metrics = app.state.metrics.render();
    assert!(metrics.contains("gatehouse_mail_sent_total"), "{metrics}");
    assert!(metrics.contains("gatehouse_mail_outbox_depth"), "{metrics}");
    // Nothing due any more: a second pass claims nothing.
    let again = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(again.claimed, 0);
    assert_eq!(peer.messages().len(), 1);
}

#[tokio::test]
async fn starttls_with_auth_trusts_the_private_ca_from_ca_file() {
    let certs = Certs::make();
    let peer = peer_on(free_port(), true, PeerTls::Starttls, Some(&certs));
    let (app, _s) = app(|c| {
        smtp_to(c, peer.port, SmtpTls::Starttls);
        with_login(c, SMTP_PASS);
        c.smtp.ca_file = Some(certs.ca());
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "alice@example.com", Lang::En).await;
    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(
        report.sent,
        1,
        "{report:?}: {:?}",
        row(&app.state, &id).await.last_error
    );
    let mails = peer.messages();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains(&format!("X-Env-Auth: {SMTP_USER}")),
        "{}",
        mails[0]
    );
    assert!(mails[0].contains("X-Env-To: alice@example.com"));
    assert_sent_and_blank(&row(&app.state, &id).await);
}

#[tokio::test]
async fn starttls_without_the_ca_is_a_tls_failure() {
    let certs = Certs::make();
    let peer = peer_on(free_port(), true, PeerTls::Starttls, Some(&certs));
    let (app, _s) = app(|c| {
        smtp_to(c, peer.port, SmtpTls::Starttls);
        with_login(c, SMTP_PASS);
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "alice@example.com", Lang::En).await;
    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(report.retrying, 1, "{report:?}");
    let r = row(&app.state, &id).await;
    let error = r.last_error.unwrap();
    assert!(error.starts_with("TLS failed"), "{error}");
    assert!(peer.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let certs = Certs::make();
    let peer = peer_on(free_port(), true, PeerTls::Implicit, Some(&certs));
    let (app, _s) = app(|c| {
        smtp_to(c, peer.port, SmtpTls::Implicit);
        with_login(c, SMTP_PASS);
        c.smtp.ca_file = Some(certs.ca());
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "carol@example.com", Lang::En).await;
    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(
        report.sent,
        1,
        "{report:?}: {:?}",
        row(&app.state, &id).await.last_error
    );
    let mails = peer.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("X-Env-To: carol@example.com"));
    assert!(mails[0].contains(&format!("X-Env-Auth: {SMTP_USER}")));
}

#[tokio::test]
async fn wrong_password_keeps_the_mail_pending_with_a_visible_error() {
    let peer = peer_on(free_port(), true, PeerTls::None, None);
    let wrong = "not-the-password-918";
    let (app, _s) = app(|c| {
        smtp_to(c, peer.port, SmtpTls::None);
        with_login(c, wrong);
        c.smtp.allow_insecure_auth = true;
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "dave@example.com", Lang::En).await;

    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1), "{report:?}");
    let r = row(&app.state, &id).await;
    assert_eq!(r.status, "pending");
    assert_eq!(r.attempts, 1);
    let error = r.last_error.unwrap();
    assert!(error.contains("authentication"), "{error}");
    assert!(error.contains("535"), "{error}");
    for secret in [wrong, CODE, LINK] {
        assert!(!error.contains(secret), "{error}");
    }
    assert!(!r.body_text.is_empty(), "kept for the next attempt");

    // Not due again until the backoff has passed.
    let early = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(early.claimed, 0);
    app.state.clock.advance(outbox::backoff_secs(0) + 1);
    outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    let r = row(&app.state, &id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("pending", 2));
    assert!(peer.messages().is_empty());

    let metrics = app.state.metrics.render();
    assert!(metrics.contains("gatehouse_mail_failed_total"), "{metrics}");
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

#[tokio::test]
async fn mail_queued_during_an_outage_is_delivered_once_the_server_is_back() {
    let port = free_port();
    let (app, _s) = app(|c| smtp_to(c, port, SmtpTls::None)).await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "erin@example.com", Lang::En).await;

    let down = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(down.retrying, 1, "{down:?}");
    let r = row(&app.state, &id).await;
    assert_eq!(r.status, "pending");
    let error = r.last_error.unwrap();
    assert!(error.starts_with("could not connect"), "{error}");

    let peer = peer_on(port, false, PeerTls::None, None);
    app.state.clock.advance(outbox::backoff_secs(0) + 1);
    let up = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(up.sent, 1, "{up:?}");
    assert_eq!(peer.messages().len(), 1);
    let r = row(&app.state, &id).await;
    assert_sent_and_blank(&r);
    assert_eq!(r.attempts, 2);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_delivered_exactly_once() {
    let peer = peer_on(free_port(), false, PeerTls::None, None);
    let (app, _s) = app(|c| smtp_to(c, peer.port, SmtpTls::None)).await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "frank@example.com", Lang::En).await;

    // Worker A claims the row and dies before sending.
    let claimed = outbox::claim(&app.state, "worker-a", LEASE_SECS, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // While A's lease holds, B finds nothing.
    let b = outbox::run_once(&app.state, &transport, "worker-b", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(b.claimed, 0);

    app.state.clock.advance(LEASE_SECS + 1);
    let b = outbox::run_once(&app.state, &transport, "worker-b", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(b.sent, 1, "{b:?}");
    // A comes back: its late mark is refused and it finds nothing to do.
    assert!(
        !outbox::mark_sent(&app.state, &id, "worker-a")
            .await
            .unwrap()
    );
    let a = outbox::run_once(&app.state, &transport, "worker-a", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(a.claimed, 0);
    app.state.clock.advance(LEASE_SECS + 1);
    let later = outbox::run_once(&app.state, &transport, "worker-a", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(later.claimed, 0);

    assert_eq!(peer.messages().len(), 1);
    assert_sent_and_blank(&row(&app.state, &id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_workers_deliver_each_of_twenty_mails_once() {
    let peer = peer_on(free_port(), false, PeerTls::None, None);
    let (app, _s) = app(|c| smtp_to(c, peer.port, SmtpTls::None)).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(enqueue(&app.state, &format!("user{i}@example.com"), Lang::En).await);
    }
    let mut workers = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let state = app.state.clone();
        workers.push(tokio::spawn(async move {
            let transport = Transport::from_config(&state.config).unwrap();
            let mut sent = 0;
            loop {
                let r = outbox::run_once(&state, &transport, name, LEASE_SECS)
                    .await
                    .unwrap();
                sent += r.sent;
                if r.claimed == 0 {
                    return sent;
                }
            }
        }));
    }
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(total, 20);

    let mails = peer.messages();
    assert_eq!(mails.len(), 20, "each mail exactly once");
    let mut recipients: Vec<String> = mails
        .iter()
        .map(|m| header(m, "X-Env-To").unwrap())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 20);
    for id in &ids {
        assert_sent_and_blank(&row(&app.state, id).await);
    }
    assert_eq!(outbox::refresh_depth(&app.state).await.unwrap(), 0);
}

#[tokio::test]
async fn a_mail_is_given_up_after_give_up_after() {
    let port = free_port();
    let (app, _s) = app(|c| {
        smtp_to(c, port, SmtpTls::None);
        c.smtp.give_up_after = HumanDuration::from_secs(3600);
    })
    .await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let id = enqueue(&app.state, "gina@example.com", Lang::En).await;

    outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(row(&app.state, &id).await.status, "pending");

    app.state.clock.advance(3601);
    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    let r = row(&app.state, &id).await;
    assert_eq!(r.status, "failed");
    assert_eq!(r.attempts, 2);
    assert!(r.last_error.unwrap().starts_with("could not connect"));
    assert_eq!(r.body_text, "", "a given-up mail keeps no code either");

    app.state.clock.advance(3600);
    let after = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(after.claimed, 0, "failed mail is not retried");
}

#[tokio::test]
async fn without_smtp_host_the_worker_writes_one_eml_per_message() {
    let (app, storage) = app(|_| {}).await;
    let state = app.state.clone();
    let worker = outbox::spawn(&state).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        // Enqueued through the state that carries the worker's wake-up.
        ids.push(enqueue(&state, &format!("sink{i}@example.com"), Lang::ZhCn).await);
    }
    // Rows are marked sent after their file is renamed into place.
    for id in &ids {
        for _ in 0..100 {
            if row(&app.state, id).await.status == "sent" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_sent_and_blank(&row(&app.state, id).await);
    }
    let dir = storage.dir.path().join("mail");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}.eml")).collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "one file per message, no temporary files left"
    );
    let eml = std::fs::read_to_string(dir.join(&expected[0])).unwrap();
    assert!(header(&eml, "Subject").unwrap().contains("重置"), "{eml}");
    assert!(part(&eml, "text/plain").contains(CODE));
    worker.abort();
}

// ---------------------------------------------------------------- CLI

fn mail_test(dir: &Path, port: u16, extra: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(dir)
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_SMTP__HOST", "127.0.0.1")
        .env("GATEHOUSE_SMTP__PORT", port.to_string())
        .env("GATEHOUSE_SMTP__TLS", "none")
        .env("GATEHOUSE_PUBLIC_BASE_URL", BASE_URL);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["mail", "test", "--to", "ops@example.com"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_mail_test_prints_the_server_answer_or_the_failure_class() {
    let dir = tempfile::tempdir().unwrap();
    let peer = peer_on(free_port(), true, PeerTls::None, None);
    let login = [
        ("GATEHOUSE_SMTP__USERNAME", SMTP_USER),
        ("GATEHOUSE_SMTP__ALLOW_INSECURE_AUTH", "true"),
    ];

    let mut good = login.to_vec();
    good.push(("GATEHOUSE_SMTP__PASSWORD", SMTP_PASS));
    let (ok, out, err) = mail_test(dir.path(), peer.port, &good);
    assert!(ok, "{out}{err}");
    assert!(out.contains("250"), "{out}");
    let mails = peer.messages();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("X-Env-To: ops@example.com"));

    let mut bad = login.to_vec();
    bad.push(("GATEHOUSE_SMTP__PASSWORD", "wrong-pass-555"));
    let (ok, out, err) = mail_test(dir.path(), peer.port, &bad);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("wrong-pass-555") && !out.contains("wrong-pass-555"));

    let (ok, _, err) = mail_test(dir.path(), free_port(), &[]);
    assert!(!ok);
    assert!(err.contains("could not connect"), "{err}");

    // Credentials over plain text need explicit consent.
    let mut insecure = vec![("GATEHOUSE_SMTP__USERNAME", SMTP_USER)];
    insecure.push(("GATEHOUSE_SMTP__PASSWORD", SMTP_PASS));
    let (ok, _, err) = mail_test(dir.path(), peer.port, &insecure);
    assert!(!ok);
    assert!(err.contains("smtp.allow_insecure_auth"), "{err}");
    assert!(!err.contains(SMTP_PASS));
    assert_eq!(peer.messages().len(), 1);
}

#[test]
fn serve_refuses_an_smtp_host_without_public_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_LOG", "warn")
        .env("GATEHOUSE_SMTP__HOST", "mail.example.com")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("public_base_url"), "{err}");
}

#[tokio::test]
async fn an_invitation_mailed_through_smtp_is_accepted_by_its_addressee() {
    let peer = peer_on(free_port(), false, PeerTls::None, None);
    let (app, _s) = app(|c| smtp_to(c, peer.port, SmtpTls::None)).await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let (owner, _) = app.register(&common::unique_email("owner")).await;
    let team = app
        .post(
            "/api/v1/tenants",
            Some(&owner),
            serde_json::json!({"name": "Ops"}),
        )
        .await;
    let tenant = team.body["id"].as_str().unwrap().to_string();
    let guest = common::unique_email("guest");
    let invited = app
        .post(
            &format!("/api/v1/tenants/{tenant}/invitations"),
            Some(&owner),
            serde_json::json!({"email": guest, "role": "member"}),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let report = outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let mails = peer.messages();
    let mail = mails
        .iter()
        .find(|m| m.contains(&guest))
        .expect("the invitation reached the SMTP server");
    let text = part(mail, "text/plain");
    let token = text
        .split(&format!("{BASE_URL}/invitations/"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let (guest_session, guest_id) = app.register(&guest).await;
    let accepted = app
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_session),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(accepted.status, 204, "{}", accepted.text);
    let members = app
        .get(
            &format!("/api/v1/tenants/{tenant}/members"),
            Some(&guest_session),
        )
        .await;
    assert!(
        members
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == guest_id.as_str())
    );
    let again = app
        .post(
            &format!("/api/v1/invitations/{token}/accept"),
            Some(&guest_session),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(again.code(), "invalid_token");
}

#[tokio::test]
async fn a_broadcast_delivers_one_mail_per_member() {
    let peer = peer_on(free_port(), false, PeerTls::None, None);
    let (app, _s) = app(|c| smtp_to(c, peer.port, SmtpTls::None)).await;
    let transport = Transport::from_config(&app.state.config).unwrap();
    let (owner, _) = app.register(&common::unique_email("owner")).await;
    let tenant = app
        .post(
            "/api/v1/tenants",
            Some(&owner),
            serde_json::json!({"name": "Crew"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..3 {
        let (_, id) = app.register(&common::unique_email(&format!("m{i}"))).await;
        sqlx::query("INSERT INTO tenant_members (tenant_id, user_id, role, joined_at) VALUES ($1, $2, 'member', 0)")
            .bind(&tenant)
            .bind(&id)
            .execute(app.state.db.pool())
            .await
            .unwrap();
    }
    let r = app
        .post(
            &format!("/api/v1/tenants/{tenant}/broadcast"),
            Some(&owner),
            serde_json::json!({"subject": "Hello", "body": "Team news"}),
        )
        .await;
    assert_eq!(r.body["queued"], 4);
    while outbox::run_once(&app.state, &transport, "w1", LEASE_SECS)
        .await
        .unwrap()
        .claimed
        > 0
    {}
    let mails = peer.messages();
    assert_eq!(
        mails
            .iter()
            .filter(|m| part(m, "text/plain").contains("Team news"))
            .count(),
        4
    );
}
