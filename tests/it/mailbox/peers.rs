//! Mail peers for the mailbox tests: one Dovecot per test binary (plain+STARTTLS and IMAPS on
//! free loopback ports, SPECIAL-USE folders, a test CA; a config written at test time, stopped
//! by PID when the test process ends), SMTP capture servers with AUTH
//! ([`SmtpCapture`]), and a TCP listener that accepts and never speaks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;

use crate::common::smtp::{SmtpCapture, Tls, make_certs};
use crate::common::{TestApp, free_port};

pub struct Dovecot {
    pub dir: PathBuf,
    /// Plain IMAP with STARTTLS offered.
    pub port: u16,
    /// IMAPS.
    pub tls_port: u16,
    pub pid: u32,
}

impl Dovecot {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A fresh mailbox user with this password.
    pub fn add_user(&self, tag: &str, password: &str) -> String {
        let user = format!("{tag}-{}@mail.test", uuid::Uuid::new_v4().simple());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("users"))
            .unwrap();
        writeln!(f, "{user}:{{PLAIN}}{password}").unwrap();
        user
    }
}

/// The test binary's Dovecot, started on first use.
pub fn dovecot() -> &'static Dovecot {
    static DOVECOT: OnceLock<Dovecot> = OnceLock::new();
    DOVECOT.get_or_init(start_dovecot)
}

fn start_dovecot() -> Dovecot {
    let binary = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("Dovecot is needed: apt-get install -y dovecot-imapd (scripts/test does)")
        });
    let dir = tempfile::Builder::new()
        .prefix("gh-dovecot-")
        .tempdir()
        .unwrap()
        .keep();
    for sub in ["run", "state", "mail"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // Dovecot reads mail as nobody; its base directories must be reachable.
    let _ = Command::new("chmod")
        .args(["755", dir.to_str().unwrap()])
        .status();
    let _ = Command::new("chown")
        .args(["65534:65534", dir.join("mail").to_str().unwrap()])
        .status();
    std::fs::write(dir.join("users"), "").unwrap();
    make_certs(&dir);
    let (port, tls_port) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        r#"protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
mail_max_userip_connections = 1000
default_process_limit = 500
default_client_limit = 2000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"#
    );
    std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
    let child = Command::new(binary)
        .args(["-F", "-c"])
        .arg(dir.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("fg.log")).unwrap())
        .spawn()
        .expect("start dovecot");
    let pid = child.id();
    std::fs::write(dir.join("pid"), pid.to_string()).unwrap();
    // Stop Dovecot by its PID when this test process ends (statics are never dropped).
    let me = std::process::id();
    // The watcher outlives this process on purpose; nothing waits for it.
    #[allow(clippy::zombie_processes)]
    let _watcher = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null; sleep 1; rm -rf '{d}'"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Dovecot did not start: {}",
            std::fs::read_to_string(dir.join("fg.log")).unwrap_or_default()
                + &std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::mem::forget(child);
    Dovecot {
        dir,
        port,
        tls_port,
        pid,
    }
}

/// A plain IMAP session of `user` on the test Dovecot, to seed and inspect mailboxes.
pub async fn imap(user: &str, password: &str) -> async_imap::Session<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", dovecot().port))
        .await
        .unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap().unwrap();
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

/// APPEND `raw` to `folder` of `user`.
pub async fn seed(user: &str, password: &str, folder: &str, raw: &str) {
    let mut s = imap(user, password).await;
    s.append(folder, None, None, raw.replace('\n', "\r\n").as_bytes())
        .await
        .unwrap();
    s.logout().await.unwrap();
}

/// The raw messages of `folder`, by UID order.
pub async fn messages_in(user: &str, password: &str, folder: &str) -> Vec<String> {
    let mut s = imap(user, password).await;
    let mbox = s.examine(folder).await.unwrap();
    if mbox.exists == 0 {
        s.logout().await.unwrap();
        return vec![];
    }
    let fetched: Vec<_> = s
        .fetch("1:*", "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let out = fetched
        .iter()
        .map(|f| String::from_utf8_lossy(f.body().unwrap_or_default()).to_string())
        .collect();
    s.logout().await.unwrap();
    out
}

/// A server that may reach the Dovecot peer: private addresses allowed, its CA trusted, short
/// timeouts; `tweak` applied last.
pub async fn app_with(tweak: impl FnOnce(&mut gatehouse::config::Config)) -> TestApp {
    let (app, storage) = TestApp::spawn_with(|c| {
        c.mail_accounts.allow_private_hosts = true;
        c.mail_accounts.ca_file = Some(dovecot().ca());
        c.mail_accounts.timeout = gatehouse::config::HumanDuration::from_secs(5);
        tweak(c);
    })
    .await;
    // The storage must outlive the test; tests end with the process.
    std::mem::forget(storage);
    app
}

/// A capture server requiring AUTH with `user:password`, on a free port.
pub fn smtp(user: &str, password: &str) -> SmtpCapture {
    SmtpCapture::start(free_port(), Some((user, password)), Tls::None, None)
}

/// A capture server speaking TLS from the first byte (as on 465), with Dovecot's test
/// certificate.
pub fn smtp_implicit_tls(user: &str, password: &str) -> SmtpCapture {
    let dir = &dovecot().dir;
    SmtpCapture::start(
        free_port(),
        Some((user, password)),
        Tls::Implicit,
        Some(dir),
    )
}

/// A TCP server that accepts connections and never says a word (a hung mail server).
pub async fn silent_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}
