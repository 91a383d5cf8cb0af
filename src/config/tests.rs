use super::load::known_env_keys;
use super::*;

#[test]
fn an_unknown_key_is_named_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (toml, key) in [
        ("foo = 1\n", "`foo`"),
        ("[smtp]\nhots = \"mail\"\n", "`smtp.hots`"),
    ] {
        let path = dir.path().join("g.toml");
        std::fs::write(&path, toml).unwrap_or_else(|e| panic!("{e}"));
        let err = match Config::load(Some(&path), &Overrides::default()) {
            Ok(_) => panic!("{toml:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.starts_with(&format!("unknown configuration key {key} (in ")),
            "{err}"
        );
    }
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
