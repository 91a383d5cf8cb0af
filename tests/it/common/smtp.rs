//! The SMTP capture peer (`tests/peers/smtp_capture.py`, aiosmtpd): each message it accepts
//! is written to a file; optional AUTH, STARTTLS or implicit TLS; killed on drop. Also the test
//! CA the TLS peers use.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
pub enum Tls {
    None,
    Starttls,
    Implicit,
}

pub struct SmtpCapture {
    child: Child,
    pub port: u16,
    out: tempfile::TempDir,
}

impl SmtpCapture {
    /// A capture server on `port`, requiring AUTH with `auth` when given, with `tls` from the
    /// `cert.pem` and `key.pem` in `cert_dir` (see [`make_certs`]).
    pub fn start(port: u16, auth: Option<(&str, &str)>, tls: Tls, cert_dir: Option<&Path>) -> Self {
        require_aiosmtpd();
        let out = tempfile::tempdir().unwrap();
        let script = super::project_dir().join("tests/peers/smtp_capture.py");
        let mut cmd = Command::new("python3");
        cmd.args(["-W", "ignore"])
            .arg(&script)
            .arg(port.to_string())
            .arg(out.path());
        if let Some((user, password)) = auth {
            cmd.arg(format!("{user}:{password}"));
        }
        if tls != Tls::None {
            let dir = cert_dir.expect("TLS needs certificates");
            cmd.env("SMTP_TLS_CERT", dir.join("cert.pem"))
                .env("SMTP_TLS_KEY", dir.join("key.pem"));
        }
        if tls == Tls::Implicit {
            cmd.env("SMTP_IMPLICIT_TLS", "1");
        }
        // Into a file, not a pipe nobody reads: a full pipe would stall the peer.
        let log = out.path().join("stderr.log");
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 is needed for the SMTP capture peer");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains("smtp capture on") => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the SMTP capture peer did not start ({other:?}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
        Self { child, port, out }
    }

    /// The captured messages, in arrival order.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(u64, String)> = std::fs::read_dir(self.out.path())
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let n: u64 = e.file_name().to_str()?.strip_suffix(".eml")?.parse().ok()?;
                Some((n, std::fs::read_to_string(e.path()).ok()?))
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, m)| m).collect()
    }
}

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require_aiosmtpd() {
    static CHECK: Once = Once::new();
    CHECK.call_once(|| {
        let ok = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the SMTP capture peer needs python3 with aiosmtpd: run `pip install aiosmtpd` (scripts/test does)"
        );
    });
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed ({e}); apt-get install -y openssl"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a leaf for localhost/127.0.0.1 (rustls refuses a self-signed leaf).
pub fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=gatehouse-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}
