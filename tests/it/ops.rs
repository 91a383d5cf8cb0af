//! Operators' tools: backup under write load and restore into a fresh data directory (then a
//! sign-in there), restore's refusals, the example configuration's round trip, completions and
//! the man page, `--version`, the systemd unit under `systemd-analyze verify`, `doctor` against a
//! healthy setup, a stopped SMTP server and a wrong provider issuer, and the overview statistics
//! (API and page).

use crate::common;

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::smtp::{SmtpCapture, Tls};
use common::{PASSWORD, Storage, TestApp, base_config, free_port, superuser, unique_email};
use gatehouse::config::Config;
use serde_json::{Value, json};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_gatehouse")
}

/// The binary with no configuration leaking in from the test's environment.
fn gatehouse(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).env("GATEHOUSE_LOG", "warn");
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") && !name.starts_with("GATEHOUSE_TEST") {
            cmd.env_remove(name);
        }
    }
    cmd
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A refusal: non-zero exit, one line on stderr naming what is wrong, no panic.
fn assert_refused(out: &Out, needle: &str) {
    assert!(!out.ok, "expected a refusal: {}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(needle), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A config on SQLite in `dir` with the server key in `{dir}/secret.key` (as `serve` keeps it),
/// state in Redis when the environment asks for it.
fn sqlite_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url: None,
        redis_url: common::use_redis()
            .then(common::redis_url)
            .map(gatehouse::config::Secret::new),
        ..Config::default()
    }
}

/// A server on the SQLite database in `dir` (its key file generated there, as `serve` does).
async fn spawn_sqlite(dir: &Path) -> (TestApp, Storage) {
    // The storage only lends its key prefix for Redis; the database is `dir`'s.
    let storage = Storage::new(false, common::use_redis()).await;
    (
        TestApp::spawn_on(&storage, sqlite_config(dir)).await,
        storage,
    )
}

// ---------------------------------------------------------------------------------------------
// Backup and restore

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_write_load_restores_into_a_fresh_data_dir_and_signs_in() {
    let live = tempfile::tempdir().unwrap();
    let (app, _storage) = spawn_sqlite(live.path()).await;
    let app = Arc::new(app);
    let early = unique_email("early");
    app.register(&early).await;
    // Some bulk, so that the copy takes long enough for writers to run during it.
    sqlx::query(
        "INSERT INTO audit_events (id, at, event, detail) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
         SELECT 'pad-' || i, 0, 'test.pad', '{\"note\": \"padding padding padding padding\"}' FROM n",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();

    // Writers keep registering and signing in while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (app, stop, written) = (app.clone(), stop.clone(), written.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = unique_email(&format!("load{w}-{i}"));
                app.register(&email).await;
                assert_eq!(app.login(&email, PASSWORD).await.status, 200);
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    // And a fast writer: pairs of rows, each pair in one transaction, so that a backup that is
    // not one snapshot would show half a pair.
    let pairs = Arc::new(AtomicUsize::new(0));
    {
        let (db, stop, pairs) = (app.state.db.clone(), stop.clone(), pairs.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let mut tx = db.begin().await.unwrap();
                for _ in 0..2 {
                    sqlx::query("INSERT INTO audit_events (id, at, event, detail) VALUES ($1, 0, 'test.pair', '{}')")
                        .bind(uuid::Uuid::now_v7().to_string())
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
                pairs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    while written.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = written.load(Ordering::Relaxed);
    let pairs_before = pairs.load(Ordering::Relaxed);
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("nightly.db");
    let dir = live.path().to_path_buf();
    let backup_file = file.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(gatehouse(&dir)
            .arg("--data-dir")
            .arg(&dir)
            .arg("backup")
            .arg(&backup_file))
    })
    .await
    .unwrap();
    let during = written.load(Ordering::Relaxed) - before;
    let pairs_during = pairs.load(Ordering::Relaxed) - pairs_before;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    let key_file = out_dir.path().join("nightly.db.key");
    assert!(
        out.stdout.contains(&file.display().to_string()),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&key_file.display().to_string()),
        "{}",
        out.stdout
    );
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap().trim(),
        std::fs::read_to_string(live.path().join("secret.key"))
            .unwrap()
            .trim()
    );
    // Nothing temporary is left beside the backup.
    let names: Vec<String> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    eprintln!(
        "written while the backup ran: {during} accounts (register + sign-in), {pairs_during} transactions"
    );
    assert!(pairs_during > 0, "the backup ran under write load");

    // Restore into a fresh data directory and sign in there.
    let fresh = tempfile::tempdir().unwrap();
    let out = run(gatehouse(fresh.path())
        .arg("--data-dir")
        .arg(fresh.path())
        .arg("restore")
        .arg(&file));
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("restored"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(fresh.path().join("secret.key"))
            .unwrap()
            .trim(),
        std::fs::read_to_string(&key_file).unwrap().trim()
    );
    assert_eq!(mode(&fresh.path().join("secret.key")), 0o600);
    let (restored, _storage2) = spawn_sqlite(fresh.path()).await;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(restored.state.db.pool())
        .await
        .unwrap();
    assert!(
        users > before as i64,
        "{users} users restored, {before} were written before the backup began"
    );
    let restored_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE event = 'test.pair'")
            .fetch_one(restored.state.db.pool())
            .await
            .unwrap();
    assert_eq!(restored_rows % 2, 0, "one snapshot: no half transaction");
    assert!(restored_rows / 2 >= pairs_before as i64);
    let signed_in = restored.login(&early, PASSWORD).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let token = signed_in.body["session"]["token"].as_str().unwrap();
    let me = restored.get("/api/v1/users/me", Some(token)).await;
    assert_eq!(me.body["email"], early);
}

#[test]
fn backup_refuses_an_existing_file_and_an_unwritable_place() {
    let live = tempfile::tempdir().unwrap();
    let data = live.path().join("data");
    let migrated = run(gatehouse(live.path())
        .arg("--data-dir")
        .arg(&data)
        .arg("migrate"));
    assert!(migrated.ok, "{}", migrated.stderr);
    std::fs::write(data.join("secret.key"), "k".repeat(64)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("secret.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    // First start: no superuser yet, which doctor warns about (without failing).
    let checked = run(gatehouse(live.path())
        .arg("--data-dir")
        .arg(&data)
        .arg("doctor"));
    assert!(checked.ok, "{}{}", checked.stdout, checked.stderr);
    assert!(
        checked
            .stdout
            .contains("warn superuser: no superuser yet: create one with `gatehouse admin create-user --superuser"),
        "{}",
        checked.stdout
    );
    let file = live.path().join("b.db");
    std::fs::write(&file, "keep me").unwrap();
    let backup = |extra: &[&str], target: &Path| {
        run(gatehouse(live.path())
            .arg("--data-dir")
            .arg(&data)
            .arg("backup")
            .arg(target)
            .args(extra))
    };
    assert_refused(&backup(&[], &file), "--force");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(!live.path().join("b.db.key").exists());
    let forced = backup(&["--force"], &file);
    assert!(forced.ok, "{}", forced.stderr);
    assert_ne!(std::fs::read(&file).unwrap(), b"keep me");

    // The live database itself is not a place for its backup.
    assert_refused(
        &backup(&["--force"], &data.join("gatehouse.db")),
        "live database",
    );

    // A directory that cannot hold the file: under a regular file.
    let blocked = live.path().join("not-a-dir");
    std::fs::write(&blocked, "").unwrap();
    assert_refused(&backup(&[], &blocked.join("b.db")), "cannot write");
    let leftovers: Vec<_> = std::fs::read_dir(live.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn backup_on_postgres_prints_the_pg_dump_command_with_the_password_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.key"), "k".repeat(64)).unwrap();
    let out = run(gatehouse(dir.path())
        .arg("--data-dir")
        .arg(dir.path())
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://app:hunter2secret@db.example:5432/auth",
        )
        .args(["backup", "auth.dump"]));
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "pg_dump --format=custom --file=auth.dump 'postgres://app:****@db.example:5432/auth'"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("hunter2secret") && !out.stderr.contains("hunter2secret"));
    assert_eq!(mode(&dir.path().join("auth.dump.key")), 0o600);
}

/// A `serve` process of the built binary, stopped on drop.
struct Served(Child);

impl Served {
    fn start(dir: &Path) -> Self {
        let mut child = gatehouse(dir)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with("gatehouse is running") => {
                    seen.push(line);
                    break;
                }
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("serve did not start: {seen:?}");
                }
            }
        }
        // The first-start hint comes right after readiness.
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            seen.push(line);
        }
        assert!(
            seen.iter()
                .any(|l| l.contains("gatehouse admin create-user --superuser")),
            "serve names how to make the first superuser: {seen:?}"
        );
        Self(child)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn restore_refuses_a_running_server_a_foreign_file_and_a_newer_schema() {
    let live = tempfile::tempdir().unwrap();
    let served = Served::start(live.path());
    let backup = live.path().join("b.db");
    let out = run(gatehouse(live.path())
        .arg("--data-dir")
        .arg(live.path())
        .arg("backup")
        .arg(&backup));
    assert!(out.ok, "{}", out.stderr);
    let db = live.path().join("gatehouse.db");
    let restore = |dir: &Path, file: &Path| {
        run(gatehouse(dir)
            .arg("--data-dir")
            .arg(dir)
            .arg("restore")
            .arg(file)
            .arg("--force"))
    };
    assert_refused(&restore(live.path(), &backup), "running");
    assert!(db.exists());
    drop(served);
    // Once the server has stopped, the same restore goes through.
    let out = restore(live.path(), &backup);
    assert!(out.ok, "{}", out.stderr);

    let fresh = tempfile::tempdir().unwrap();
    let foreign = fresh.path().join("notes.db");
    std::fs::write(&foreign, "these are not the tables you are looking for").unwrap();
    assert_refused(&restore(fresh.path(), &foreign), "not a gatehouse database");
    assert!(!fresh.path().join("gatehouse.db").exists());

    // A backup from a newer gatehouse: a migration this binary does not know.
    let newer = fresh.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    let marked = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (99990101000000, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)\"); c.commit()")
        .arg(&newer)
        .status()
        .unwrap();
    assert!(marked.success());
    assert_refused(&restore(fresh.path(), &newer), "newer gatehouse");
    assert!(!fresh.path().join("gatehouse.db").exists());

    // Without --force an existing database stays.
    let out = run(gatehouse(live.path())
        .arg("--data-dir")
        .arg(live.path())
        .arg("restore")
        .arg(&backup));
    assert_refused(&out, "--force");
}

// ---------------------------------------------------------------------------------------------
// The example configuration, completions, man page, version, service unit

#[test]
fn example_config_is_the_generated_one_and_check_config_accepts_it() {
    let root = common::project_dir();
    let dir = tempfile::tempdir().unwrap();
    let out = run(gatehouse(dir.path()).arg("config-example"));
    assert!(out.ok, "{}", out.stderr);
    let checked_in = std::fs::read_to_string(root.join("gatehouse.example.toml")).unwrap();
    assert!(
        checked_in == out.stdout,
        "gatehouse.example.toml is stale: run `gatehouse config-example > gatehouse.example.toml`"
    );
    // Every key the configuration accepts appears, set or commented out.
    let mut seen = std::collections::BTreeSet::new();
    let mut section = String::new();
    for line in checked_in.lines() {
        let line = line.strip_prefix("# ").unwrap_or(line);
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = if name.starts_with("providers.") {
                "providers.*".into()
            } else {
                name.into()
            };
        } else if let Some((key, _)) = line.split_once(" = ")
            && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            seen.insert(if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            });
        }
    }
    let accepted = gatehouse::ops::config_example::accepted_keys();
    let missing: Vec<_> = accepted.difference(&seen).collect();
    assert!(missing.is_empty(), "missing from the example: {missing:?}");
    std::fs::write(dir.path().join("g.toml"), &checked_in).unwrap();
    let out = run(gatehouse(dir.path()).args(["--config", "g.toml", "check-config"]));
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("listen = \"127.0.0.1:8080\""),
        "{}",
        out.stdout
    );
}

#[test]
fn completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _gatehouse"),
        ("zsh", "#compdef gatehouse"),
        ("fish", "complete -c gatehouse"),
    ] {
        let out = run(gatehouse(dir.path()).args(["completions", shell]));
        assert!(out.ok, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
        for sub in ["backup", "restore", "doctor", "config-example"] {
            assert!(out.stdout.contains(sub), "{shell} completes {sub}");
        }
    }
    let out = run(gatehouse(dir.path()).args(["completions", "tcsh"]));
    assert!(!out.ok);
    let man = run(gatehouse(dir.path()).arg("man"));
    assert!(man.ok, "{}", man.stderr);
    assert!(man.stdout.starts_with(".ie") || man.stdout.contains(".TH gatehouse 1"));
    assert!(man.stdout.contains(".TH gatehouse 1"), "{}", man.stdout);
    assert!(man.stdout.contains("doctor") && man.stdout.contains("backup"));
}

#[test]
fn version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(gatehouse(dir.path()).arg("--version"));
    assert!(out.ok);
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(common::project_dir())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert!(
        out.stdout
            .starts_with(&format!("gatehouse {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        out.stdout
    );
    // The binary is as old as the last build: it names a commit of this checkout.
    let named = out
        .stdout
        .split("(commit ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_default()
        .to_string();
    assert!(!named.is_empty(), "{}", out.stdout);
    if head != "unknown" {
        let known = Command::new("git")
            .args(["cat-file", "-e", &format!("{named}^{{commit}}")])
            .current_dir(common::project_dir())
            .status()
            .unwrap();
        assert!(known.success(), "{named} is not a commit here");
    }
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let tool = Command::new("systemd-analyze").arg("--version").output();
    assert!(
        tool.is_ok_and(|o| o.status.success()),
        "systemd-analyze is missing: install Debian's `systemd` package (scripts/test installs it)"
    );
    let unit =
        std::fs::read_to_string(common::project_dir().join("deploy/gatehouse.service")).unwrap();
    let exec = "ExecStart=/usr/local/bin/gatehouse serve --config /etc/gatehouse/gatehouse.toml";
    assert!(unit.contains(exec), "{unit}");
    for hardening in [
        "User=gatehouse",
        "StateDirectory=gatehouse",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("gatehouse.service");
    std::fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/local/bin/gatehouse",
            &format!("ExecStart={}", bin()),
        ),
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&copy));
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.trim().is_empty(), "{}", out.stderr);
    // The check can fail: a unit with an unknown setting does.
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&copy)
            .unwrap()
            .replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"),
    )
    .unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&broken));
    assert!(out.stderr.contains("NoNewPrivilege"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------------
// Doctor

/// The OpenID provider peer (tests/peers/oidc-op), killed on drop.
struct Op {
    child: Child,
    issuer: String,
    _stdout: Lines<BufReader<ChildStdout>>,
}

impl Op {
    fn start() -> Self {
        let dir = common::project_dir().join("tests/peers/oidc-op");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the OpenID provider peer is not installed: run `npm install --prefix tests/peers/oidc-op` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg("op.mjs")
            .current_dir(dir)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(issuer) = line.strip_prefix("OP listening on ") {
                        break issuer.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    panic!("the OpenID provider peer did not start");
                }
            }
        };
        Self {
            child,
            issuer,
            _stdout: lines,
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A migrated database of the environment's backend with one superuser, and the TOML that
/// names it, SMTP on `smtp_port` and the provider at `issuer`.
async fn doctor_setup(smtp_port: u16, issuer: &str) -> (Storage, PathBuf) {
    let storage = Storage::from_env().await;
    let app = TestApp::spawn_on(&storage, base_config(&storage)).await;
    let (_, id) = app.register(&unique_email("root")).await;
    sqlx::query("UPDATE users SET is_superuser = 1 WHERE id = $1")
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.stop().await;
    let mut toml = format!(
        "data_dir = {data_dir:?}\ndatabase_url = {db:?}\npublic_base_url = \"http://127.0.0.1:8080\"\n\
         secret_key = \"test-secret-key-0123456789abcdef0123456789\"\n",
        data_dir = storage.dir.path().display().to_string(),
        db = storage.database_url,
    );
    if let Some(redis) = &storage.redis_url {
        toml.push_str(&format!(
            "redis_url = {redis:?}\nredis_prefix = {:?}\n",
            storage.kv_prefix
        ));
    }
    toml.push_str(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\ntimeout = \"5s\"\n\
         [providers.corp]\ntype = \"oidc\"\nclient_id = \"gatehouse\"\nclient_secret = \"s3cret-client\"\nissuer = {issuer:?}\n"
    ));
    let file = storage.dir.path().join("gatehouse.toml");
    std::fs::write(&file, toml).unwrap();
    (storage, file)
}

fn doctor(config: &Path) -> (Out, Vec<String>) {
    let out = run(gatehouse(config.parent().unwrap())
        .arg("--config")
        .arg(config)
        .arg("doctor"));
    let lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    for line in &lines {
        let (status, rest) = line.split_once(' ').unwrap_or_default();
        assert!(
            matches!(status, "ok" | "warn" | "fail") && rest.contains(": "),
            "not `ok|warn|fail <check>: <detail>`: {line}"
        );
    }
    assert!(!out.stdout.contains("s3cret-client"));
    (out, lines)
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting `{prefix}`: {lines:#?}"))
}

#[tokio::test]
async fn doctor_passes_a_healthy_setup() {
    let smtp = SmtpCapture::start(free_port(), None, Tls::None, None);
    let op = Op::start();
    let (_storage, config) = doctor_setup(smtp.port, &op.issuer).await;
    let (out, lines) = tokio::task::spawn_blocking(move || doctor(&config))
        .await
        .unwrap();
    assert!(out.ok, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("\nfail ") && !out.stdout.starts_with("fail "));
    line(&lines, "ok config:");
    assert!(line(&lines, "ok database:").contains("migrations current"));
    line(&lines, "ok superuser:");
    line(&lines, "ok redis:");
    assert!(line(&lines, "ok smtp:").contains("no mail sent"));
    assert!(line(&lines, "ok providers.corp:").contains("JWKS"));
    line(&lines, "ok public_base_url:");
    line(&lines, "warn https:"); // plain http on a loopback address
    line(&lines, "ok secret_key:");
    line(&lines, "ok disk:");
    assert!(smtp.messages().is_empty(), "no mail was sent");
}

#[tokio::test]
async fn doctor_fails_on_a_stopped_smtp_server() {
    let op = Op::start();
    let closed = free_port();
    let (_storage, config) = doctor_setup(closed, &op.issuer).await;
    let (out, lines) = tokio::task::spawn_blocking(move || doctor(&config))
        .await
        .unwrap();
    assert!(!out.ok, "{}", out.stdout);
    assert!(line(&lines, "fail smtp:").contains(&format!("127.0.0.1:{closed}")));
    line(&lines, "ok providers.corp:");
    line(&lines, "ok database:");
}

#[tokio::test]
async fn doctor_fails_on_a_wrong_provider_issuer() {
    let smtp = SmtpCapture::start(free_port(), None, Tls::None, None);
    let op = Op::start();
    // The provider answers at this address, but names itself http://127.0.0.1:PORT.
    let wrong = op.issuer.replace("127.0.0.1", "localhost");
    let (_storage, config) = doctor_setup(smtp.port, &wrong).await;
    let (out, lines) = tokio::task::spawn_blocking(move || doctor(&config))
        .await
        .unwrap();
    assert!(!out.ok, "{}", out.stdout);
    let failed = line(&lines, "fail providers.corp:");
    assert!(failed.contains("issuer"), "{failed}");
    line(&lines, "ok smtp:");
}

#[test]
fn doctor_fails_on_an_unreachable_database_a_shared_key_and_a_wildcard_url() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(&key, "k".repeat(64)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let port = free_port();
    std::fs::write(
        dir.path().join("g.toml"),
        format!(
            "listen = \"0.0.0.0:8080\"\ndata_dir = {:?}\ndatabase_url = \"postgres://app:pw-not-shown@127.0.0.1:{port}/gh\"\n\
             redis_url = \"redis://:redis-pw-not-shown@127.0.0.1:{port}\"\n",
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    let (out, lines) = doctor(&dir.path().join("g.toml"));
    assert!(!out.ok);
    assert!(line(&lines, "fail database:").contains("****"));
    assert!(line(&lines, "fail redis:").contains("****"));
    assert!(!out.stdout.contains("pw-not-shown"));
    assert!(line(&lines, "fail secret_key:").contains("chmod 600"));
    line(&lines, "fail public_base_url:");
    line(&lines, "fail https:");

    // A configuration that does not load is one failing line too.
    std::fs::write(dir.path().join("bad.toml"), "lockout_threshold = 1000\n").unwrap();
    let (out, lines) = doctor(&dir.path().join("bad.toml"));
    assert!(!out.ok);
    assert!(line(&lines, "fail config:").contains("lockout_threshold"));
}

// ---------------------------------------------------------------------------------------------
// The overview: statistics API and page

fn sum(v: &Value) -> i64 {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn stats_count_sign_ins_failures_accounts_and_mail_per_hour_and_day() {
    let (app, _s) = TestApp::spawn().await;
    let admin = superuser(&app).await;
    let email = unique_email("counted");
    app.register(&email).await;
    assert_eq!(app.login(&email, PASSWORD).await.status, 200);
    assert_eq!(app.login(&email, "wrong password!").await.status, 401);
    assert_eq!(app.login(&email, "wrong password!").await.status, 401);
    let now = app.state.clock.now();
    for (id, status, sent_at, next) in [
        ("m-sent", "sent", Some(now), now),
        ("m-failed", "failed", None, now - 2 * 3600),
        ("m-old", "sent", Some(now - 40 * 86400), now),
    ] {
        sqlx::query(
            "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, status, created_at, next_attempt_at, sent_at) \
             VALUES ($1, 'test', 'x@example.test', 's', '', '', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(status)
        .bind(now - 3 * 3600)
        .bind(next)
        .bind(sent_at)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    }

    let day = app.get("/api/v1/admin/stats?range=24h", Some(&admin)).await;
    assert_eq!(day.status, 200, "{}", day.body);
    assert_eq!(day.body["range"], "24h");
    assert_eq!(day.body["bucket"], "hour");
    assert_eq!(day.body["buckets"].as_array().unwrap().len(), 24);
    let t = &day.body["totals"];
    assert_eq!(t["new_accounts"], 2, "{}", day.body);
    assert_eq!(t["failed_sign_ins"], 2);
    assert_eq!(t["sign_ins"], 1);
    assert_eq!(t["mail_sent"], 1);
    assert_eq!(t["mail_failed"], 1);
    for series in [
        "sign_ins",
        "failed_sign_ins",
        "lockouts",
        "new_accounts",
        "mail_sent",
        "mail_failed",
    ] {
        let points = &day.body["series"][series];
        assert_eq!(points.as_array().unwrap().len(), 24, "{series}");
        assert_eq!(sum(points), t[series].as_i64().unwrap(), "{series}");
    }
    // Now is in the last bucket; the failed mail two hours earlier is two buckets back.
    assert_eq!(day.body["series"]["new_accounts"][23], 2);
    assert_eq!(day.body["series"]["mail_failed"][21], 1);
    assert_eq!(day.body["series"]["mail_sent"][23], 1);
    let last = day.body["buckets"][23].as_str().unwrap();
    assert!(last.ends_with(":00:00Z"), "{last}");

    let month = app.get("/api/v1/admin/stats?range=30d", Some(&admin)).await;
    assert_eq!(month.status, 200);
    assert_eq!(month.body["bucket"], "day");
    assert_eq!(month.body["buckets"].as_array().unwrap().len(), 30);
    assert_eq!(
        month.body["totals"]["mail_sent"], 1,
        "the 40-day-old mail is out of range"
    );
    assert_eq!(month.body["series"]["sign_ins"][29], 1);
    assert!(
        month.body["buckets"][0]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );

    let bad = app.get("/api/v1/admin/stats?range=7d", Some(&admin)).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.code(), "validation_failed");
    assert!(
        bad.body["error"]["fields"]["range"].is_string(),
        "{}",
        bad.body
    );
    let (user, _) = app.register(&unique_email("plain")).await;
    let denied = app.get("/api/v1/admin/stats", Some(&user)).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.code(), "forbidden");
    assert_eq!(app.get("/api/v1/admin/stats", None).await.status, 401);
    let doc = app.get("/api/v1/openapi.json", None).await;
    assert!(doc.body["paths"]["/api/v1/admin/stats"]["get"].is_object());
}

#[tokio::test]
async fn overview_page_draws_svg_charts_in_english_and_chinese() {
    let (app, _s) = TestApp::spawn().await;
    let admin = superuser(&app).await;
    let page = |lang: &'static str, path: &'static str| {
        let req = app
            .http
            .get(app.url(path))
            .header("cookie", format!("gatehouse_session={admin}"))
            .header("accept-language", lang);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, en) = page("en", "/admin").await;
    assert_eq!(status, 200, "{en}");
    assert!(en.contains("<svg") && en.contains("<rect"), "{en}");
    assert!(en.contains("New accounts") && en.contains("Mail failed"));
    assert!(!en.contains("<script"));
    assert!(en.contains("Last 24 hours, per hour") && en.contains("Last 30 days, per day"));
    // A chart per series and range, each with its total beside it.
    assert_eq!(en.matches("<svg").count(), 12);
    assert_eq!(en.matches("class=\"total\"").count(), 12);
    // The administrator's language is English (their own setting wins); switch it to Chinese.
    let r = app
        .request(
            reqwest::Method::PATCH,
            "/api/v1/users/me",
            Some(&admin),
            Some(json!({"language": "zh-CN"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, zh) = page("zh-CN", "/admin").await;
    assert!(zh.contains("新账户") && zh.contains("<svg"), "{zh}");
    // The users list moved to /admin/users; old links are sent there.
    let (status, _) = page("en", "/admin?query=x").await;
    assert_eq!(status, 303);
    let (status, users) = page("en", "/admin/users").await;
    assert_eq!(status, 200);
    assert!(users.contains("action=\"/admin/users\""));
}
