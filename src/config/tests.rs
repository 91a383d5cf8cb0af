use super::load::known_env_keys;
use std::path::PathBuf;

use super::*;

#[test]
fn an_unknown_key_is_named_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("g.toml");
    for (toml, key) in [
        ("foo = 1\n", "foo"),
        ("[smtp]\nhots = \"mail\"\n", "smtp.hots"),
        (
            "[providers.corp]\ntype = \"github\"\nclient_id = \"x\"\nnonsense = 1\n",
            "providers.corp.nonsense",
        ),
    ] {
        std::fs::write(&path, toml).unwrap_or_else(|e| panic!("{e}"));
        let err = match Config::load(Some(&path), &Overrides::default()) {
            Ok(_) => panic!("{toml:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            err,
            format!("unknown configuration key `{key}` (in {})", path.display())
        );
    }
}

/// Load `toml` with `env` set, inside a jail (its own directory and environment).
#[allow(clippy::result_large_err)]
fn load_in_jail(toml: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let mut outcome = Err(ConfigError("jail failed".into()));
    figment::Jail::expect_with(|jail| {
        jail.create_file("gatehouse.toml", toml)?;
        for (name, value) in env {
            jail.set_env(name, value);
        }
        outcome = Config::load(
            Some(std::path::Path::new("gatehouse.toml")),
            &Overrides::default(),
        );
        Ok(())
    });
    outcome
}

#[test]
fn ragflow_secret_key_is_read_and_checked_as_ragflow_secret_key() {
    let long = "r".repeat(40);
    let loaded =
        load_in_jail("", &[("RAGFLOW_SECRET_KEY", &long)]).unwrap_or_else(|e| panic!("{e}"));
    let settings = loaded.config.resolve().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings.ragflow.secret_key.as_ref().map(Secret::expose),
        Some(long.as_str())
    );
    assert!(!loaded.config.to_masked_toml().contains(&long));

    let err = load_in_jail("", &[("RAGFLOW_SECRET_KEY", "short")])
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    assert_eq!(
        err,
        "invalid value for `ragflow.secret_key` (from RAGFLOW_SECRET_KEY): must be at least 32 characters"
    );

    // The file and GATEHOUSE_* win over RAGFlow's variable.
    let file_key = "f".repeat(40);
    for (toml, env) in [
        (
            format!("[ragflow]\nsecret_key = \"{file_key}\"\n"),
            vec![("RAGFLOW_SECRET_KEY", "short")],
        ),
        (
            String::new(),
            vec![
                ("RAGFLOW_SECRET_KEY", "short"),
                ("GATEHOUSE_RAGFLOW__SECRET_KEY", file_key.as_str()),
            ],
        ),
    ] {
        let loaded = load_in_jail(&toml, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            loaded
                .config
                .ragflow
                .secret_key
                .as_ref()
                .map(Secret::expose),
            Some(file_key.as_str())
        );
    }
}

#[test]
fn every_secret_file_is_read_once_with_one_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let written = dir.path().join("secret");
    std::fs::write(&written, format!("{}\n", "s".repeat(40))).unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("missing");
    let mut config = Config::default();
    config.smtp.password_file = Some(written.clone());
    config.ragflow.secret_key_file = Some(written.clone());
    config.providers.insert(
        "corp".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Github),
            client_id: Some("id".into()),
            client_secret_file: Some(written.clone()),
            ..ProviderConfig::default()
        },
    );
    let settings = config.resolve().unwrap_or_else(|e| panic!("{e}"));
    let expected = "s".repeat(40);
    assert_eq!(
        settings.smtp_password.as_ref().map(Secret::expose),
        Some(expected.as_str())
    );
    assert_eq!(
        settings.ragflow.secret_key.as_ref().map(Secret::expose),
        Some(expected.as_str())
    );
    assert_eq!(
        settings.providers["corp"]
            .client_secret
            .as_ref()
            .map(Secret::expose),
        Some(expected.as_str())
    );
    assert!(!format!("{settings:?}").contains(&expected));

    for (key, set) in [
        (
            "smtp.password_file",
            (|c: &mut Config, p| c.smtp.password_file = Some(p)) as fn(&mut Config, PathBuf),
        ),
        ("ragflow.secret_key_file", |c, p| {
            c.ragflow.secret_key_file = Some(p)
        }),
        ("ragflow.rsa_private_key_file", |c, p| {
            c.ragflow.rsa_private_key_file = Some(p)
        }),
        ("providers.corp.client_secret_file", |c, p| {
            if let Some(corp) = c.providers.get_mut("corp") {
                corp.client_secret_file = Some(p);
            }
        }),
    ] {
        let mut broken = config.clone();
        set(&mut broken, missing.clone());
        let err = broken.resolve().err().map(|e| e.0).unwrap_or_default();
        assert!(
            err.starts_with(&format!("cannot read `{key}` {}: ", missing.display())),
            "{err}"
        );
    }
}

#[test]
fn providers_resolve_to_their_type_with_the_fields_it_needs() {
    let mut config = Config::default();
    config.providers.insert(
        "corp".into(),
        ProviderConfig {
            kind: Some(ProviderKind::Oauth2),
            client_id: Some("id".into()),
            authorization_url: Some("https://sso.example.com/authorize".into()),
            token_url: Some("https://sso.example.com/token".into()),
            ..ProviderConfig::default()
        },
    );
    let err = config.resolve().err().map(|e| e.0).unwrap_or_default();
    assert_eq!(
        err,
        "invalid value for `providers.corp.userinfo_url`: is required for type \"oauth2\""
    );
    if let Some(corp) = config.providers.get_mut("corp") {
        corp.userinfo_url = Some("sso.example.com/userinfo".into());
    }
    let err = config.resolve().err().map(|e| e.0).unwrap_or_default();
    assert_eq!(
        err,
        "invalid value for `providers.corp.userinfo_url`: expected an http(s) URL such as https://auth.example.com"
    );
    if let Some(corp) = config.providers.get_mut("corp") {
        corp.userinfo_url = Some("https://sso.example.com/userinfo".into());
    }
    let settings = config.resolve().unwrap_or_else(|e| panic!("{e}"));
    let corp = &settings.providers["corp"];
    assert_eq!(corp.kind(), ProviderKind::Oauth2);
    assert_eq!(corp.name, "corp", "the id stands in for a missing name");
}

#[test]
fn env_keys_are_derived_from_the_struct() {
    let k = known_env_keys();
    assert!(k.matches("smtp.host"));
    assert!(k.matches("lockout_duration"));
    assert!(k.matches("providers.corp.client_id"));
    assert!(!k.matches("providers.corp.nonsense"));
    assert!(!k.matches("smtp.hots"));
}

#[test]
fn a_wildcard_listen_without_a_base_url_is_warned_about_when_providers_need_it() {
    let mut config = Config {
        listen: "0.0.0.0:8080".parse().unwrap_or_else(|e| panic!("{e}")),
        ..Config::default()
    };
    assert!(
        config.base_url_warnings().is_empty(),
        "no provider, no redirect URI"
    );
    config
        .providers
        .insert("corp".into(), ProviderConfig::default());
    config.ragflow.listen = "0.0.0.0:9380".parse().ok();
    let warnings = config.base_url_warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("http://0.0.0.0:8080"), "{warnings:?}");
    assert!(
        warnings[1].contains("`ragflow.public_base_url`"),
        "{warnings:?}"
    );
    config.public_base_url = Some("https://auth.example.com".into());
    config.ragflow.public_base_url = Some("https://rag.example.com".into());
    assert!(config.base_url_warnings().is_empty());
}

#[test]
fn base_urls_must_be_http_urls() {
    let mut config = Config::default();
    assert!(config.validate().is_ok());
    config.ragflow.public_base_url = Some("ftp://ragflow.example.com".into());
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("`ragflow.public_base_url`"), "{err}");
    config.ragflow.public_base_url = Some("https://ragflow.example.com/".into());
    assert!(config.validate().is_ok());
    assert_eq!(
        config.ragflow.public_base_url(),
        "https://ragflow.example.com"
    );
    config.public_base_url = Some("auth.example.com".into());
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("`public_base_url`")
    );
}

#[test]
fn smtp_host_without_public_base_url_is_refused() {
    let mut config = Config::default();
    assert!(
        config.validate_mail_delivery().is_ok(),
        "the file sink needs no URL"
    );
    config.smtp.host = Some("mail.example.com".into());
    let err = config.validate_mail_delivery().unwrap_err().to_string();
    assert!(err.contains("public_base_url"), "{err}");
    config.public_base_url = Some("https://auth.example.com".into());
    assert!(config.validate_mail_delivery().is_ok());
}

#[test]
fn smtp_credentials_in_clear_text_need_consent() {
    let mut config = Config::default();
    config.smtp.host = Some("relay.local".into());
    config.smtp.tls = SmtpTls::None;
    config.smtp.username = Some("app".into());
    config.smtp.password = Some(Secret::new("smtp-pass-1234"));
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("smtp.allow_insecure_auth"), "{err}");
    assert!(!err.contains("smtp-pass-1234"), "{err}");
    config.smtp.allow_insecure_auth = true;
    assert!(config.validate().is_ok());
    config.smtp.allow_insecure_auth = false;
    config.smtp.tls = SmtpTls::Starttls;
    assert!(config.validate().is_ok());
}

#[test]
fn secrets_are_masked() {
    assert_eq!(
        format!("{:?}", Secret::new("hunter2hunter2")),
        "\"********\""
    );
    let masked = mask_url_password("postgres://u:pw@db:5432/x").unwrap_or_default();
    assert_eq!(masked, "postgres://u:****@db:5432/x");
    // `#` ends the authority, so the URL parser refuses this one; the password still hides.
    assert_eq!(
        shown_url("postgres://app:pw#1@db.local/gh"),
        "postgres://****@db.local/gh"
    );
    assert_eq!(shown_url("sqlite://./data/g.db"), "sqlite://./data/g.db");
}
