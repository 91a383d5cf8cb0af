//! The command line: configuration errors in one line, masked check-config, create-user, migrate.

use std::process::Command;

fn gatehouse(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.current_dir(dir)
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env("GATEHOUSE_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_key_stops_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("g.toml"),
        "listen = \"127.0.0.1:0\"\n[smtp]\nhots = \"mail\"\n",
    )
    .unwrap();
    let (ok, _, err) = run(gatehouse(dir.path()).args(["--config", "g.toml", "check-config"]));
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("smtp.hots"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn bad_value_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_LOCKOUT_DURATION", "soon")
        .arg("check-config"));
    assert!(!ok);
    assert!(err.contains("lockout_duration"), "{err}");
    let (ok, _, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_LOCKOUT_THRESHOLD", "1000")
        .arg("check-config"));
    assert!(!ok);
    assert!(err.contains("lockout_threshold"), "{err}");
}

#[test]
fn unknown_environment_variables_are_warned_about_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_NO_SUCH_KEY", "1")
        .arg("check-config"));
    assert!(ok, "{err}");
    assert!(err.contains("GATEHOUSE_NO_SUCH_KEY"), "{err}");
    assert!(out.contains("listen"));
}

#[test]
fn check_config_masks_secrets_and_shows_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(gatehouse(dir.path())
        .env(
            "GATEHOUSE_SECRET_KEY",
            "super-secret-value-0123456789abcdefXYZ",
        )
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://app:hunter2@db.example:5432/auth",
        )
        .env("GATEHOUSE_SMTP__PASSWORD", "smtp-pass-9876")
        .env("GATEHOUSE_SMTP__HOST", "mail.example")
        .arg("check-config"));
    assert!(ok, "{err}");
    assert!(out.contains("mail.example"), "{out}");
    assert!(
        out.contains("postgres://app:****@db.example:5432/auth"),
        "{out}"
    );
    for secret in ["super-secret-value", "hunter2", "smtp-pass-9876"] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{secret} leaked: {out}"
        );
    }
}

#[test]
fn unreachable_database_is_one_line_with_the_password_masked() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(gatehouse(dir.path())
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/auth",
        )
        .arg("migrate"));
    assert!(!ok);
    assert!(
        err.contains("postgres://app:****@127.0.0.1:1/auth"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("gatehouse:"))
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn create_user_then_migrate_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (ok, out, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_NEW_PASSWORD", "violet tugboat harmonica")
        .args([
            "--data-dir",
            data,
            "admin",
            "create-user",
            "--email",
            "root@example.com",
            "--nickname",
            "Root",
            "--superuser",
        ]));
    assert!(ok, "{err}");
    assert!(
        out.contains("root@example.com") && out.contains("superuser"),
        "{out}"
    );
    assert!(!out.contains("violet") && !err.contains("violet"));
    let (ok, _, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_NEW_PASSWORD", "violet tugboat harmonica")
        .args([
            "--data-dir",
            data,
            "admin",
            "create-user",
            "--email",
            "ROOT@example.com",
            "--nickname",
            "Root",
        ]));
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = run(gatehouse(dir.path())
        .env("GATEHOUSE_NEW_PASSWORD", "password")
        .args([
            "--data-dir",
            data,
            "admin",
            "create-user",
            "--email",
            "weak@example.com",
            "--nickname",
            "Weak",
        ]));
    assert!(!ok && err.contains("common"), "{err}");
    let (ok, out, err) = run(gatehouse(dir.path()).args(["--data-dir", data, "migrate"]));
    assert!(ok, "{err}");
    assert!(out.contains("migrations applied"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("data/secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn serve_prints_the_url_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = gatehouse(dir.path())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            "data",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/")),
        "{line}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");
}

#[test]
fn operators_manage_users_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut cmd = gatehouse(dir.path());
        cmd.env("GATEHOUSE_NEW_PASSWORD", "violet tugboat harmonica")
            .args(["--data-dir", data, "admin"])
            .args(args);
        run(&mut cmd)
    };
    let (ok, _, err) = admin(&[
        "create-user",
        "--email",
        "ops@example.com",
        "--nickname",
        "Ops",
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = admin(&["users", "list", "--query", "ops"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ops@example.com") && out.contains("1 of 1 users"),
        "{out}"
    );
    let (ok, out, _) = admin(&["users", "disable", "OPS@example.com"]);
    assert!(ok && out.contains("disabled"), "{out}");
    let (_, out, _) = admin(&["users", "show", "ops@example.com"]);
    assert!(out.contains("\"is_active\": false"), "{out}");
    let (ok, _, _) = admin(&["users", "enable", "ops@example.com"]);
    assert!(ok);
    let (ok, _, _) = admin(&["users", "promote", "ops@example.com"]);
    assert!(ok);
    let (_, out, _) = admin(&["users", "list"]);
    assert!(
        out.contains("[superuser]") && !out.contains("[disabled]"),
        "{out}"
    );
    let (ok, out, err) = admin(&["reset-password", "ops@example.com"]);
    assert!(ok && out.contains("queued"), "{out}{err}");
    let (ok, out, err) = admin(&["unlock", "ops@example.com"]);
    assert!(ok && out.contains("ops@example.com unlocked"), "{out}{err}");
    let (ok, out, err) = admin(&["reset-mfa", "ops@example.com"]);
    assert!(
        ok && out.contains("ops@example.com: second factors removed"),
        "{out}{err}"
    );
    let (ok, _, err) = admin(&["reset-mfa", "nobody@example.com"]);
    assert!(!ok && err.contains("no such user"), "{err}");
    let (ok, out, _) = admin(&["audit", "--user", "ops@example.com", "--since", "1h"]);
    assert!(ok);
    assert!(
        out.contains("admin.user_updated")
            && out.contains("user.password_reset_requested")
            && out.contains("user.unlocked")
            && out.contains("admin.mfa_reset"),
        "{out}"
    );
    assert!(!out.contains("violet"), "no secret in the audit");
    let (ok, _, err) = admin(&["users", "show", "nobody@example.com"]);
    assert!(!ok && err.contains("no such user"), "{err}");
    let (ok, out, err) = admin(&["seed", "--users", "3", "--insecure-fast-hash"]);
    assert!(
        ok && out.contains("seeded 3 users") && out.contains("@seed.example"),
        "{out}{err}"
    );
    let (_, out, _) = admin(&["users", "list", "--query", "seed.example"]);
    assert!(out.contains("3 of 3 users"), "{out}");
    let (ok, out, _) = admin(&["users", "delete", "ops@example.com"]);
    assert!(ok && out.contains("deleted"), "{out}");
}

#[test]
fn check_config_checks_ragflow_secret_key_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(gatehouse(dir.path())
        .env("RAGFLOW_SECRET_KEY", "too-short")
        .arg("check-config"));
    assert!(!ok);
    assert!(
        err.contains(
            "invalid value for `ragflow.secret_key` (from RAGFLOW_SECRET_KEY): must be at least 32 characters"
        ),
        "{err}"
    );
    assert!(!err.contains("too-short"), "{err}");
    let key = "ragflow-signing-key-0123456789abcdef";
    let (ok, out, err) = run(gatehouse(dir.path())
        .env("RAGFLOW_SECRET_KEY", key)
        .arg("check-config"));
    assert!(ok, "{err}");
    assert!(out.contains("secret_key = \"********\""), "{out}");
    assert!(!out.contains(key) && !err.contains(key), "{out}");
}
