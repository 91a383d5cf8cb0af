use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::load::known_env_keys;
use super::*;
use crate::fuzz::{config, hostile_text};

/// TOML values of every type, and the strings the settings parse (durations, addresses,
/// networks, URLs, enum names), at their edges.
fn toml_value() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        hostile_text(40),
        (any::<u64>(), "(ns|us|ms|s|m|h|d|w|M|y|years|)")
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        Just("300000000000y".to_string()),
        Just("0s".to_string()),
        Just("1s 5m".to_string()),
        "(127\\.0\\.0\\.1|0\\.0\\.0\\.0|\\[::1\\]|::1|10\\.0\\.0\\.0|[0-9]{1,4}(\\.[0-9]{1,4}){0,4}):[0-9]{0,6}",
        "(10\\.0\\.0\\.0|::|fe80::1|[0-9]{1,3}(\\.[0-9]{1,3}){3})/[0-9]{1,3}",
        "(https?|postgres|postgresql|sqlite|redis|rediss|ftp|)://[a-z0-9@:./\\[\\]%?=-]{0,30}",
        "(text|json|implicit|starttls|none|oidc|oauth2|github|native|ragflow|light|en|zh-CN)",
    ];
    let scalar = prop_oneof![
        text.prop_map(|s| toml::Value::String(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..300).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => proptest::collection::vec(scalar.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => scalar.prop_map(|v| format!("{{ client_id = {v} }}")),
        1 => hostile_text(30),
    ]
}

/// Every key with its default, so that most values generated are of the key's own type and
/// the loader gets past the type check to the checks of the values themselves.
fn keys_with_defaults() -> Vec<(String, serde_json::Value)> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
        if let serde_json::Value::Object(map) = value {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() && k != "providers" {
                    walk(&path, v, out);
                } else {
                    out.push((path, v.clone()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap_or_default(),
        &mut out,
    );
    out
}

/// A value of the same type as `default`: near the default, at the edges, or any text.
fn typed_value(default: serde_json::Value) -> BoxedStrategy<String> {
    match default {
        serde_json::Value::Bool(_) => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        serde_json::Value::Number(_) => prop_oneof![
            (0i64..12).prop_map(|n| n.to_string()),
            (0i64..300).prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
        ]
        .boxed(),
        serde_json::Value::Array(_) => proptest::collection::vec(
            "(10\\.0\\.0\\.0|::|fe80::1|[0-9]{1,3}(\\.[0-9]{1,3}){3})(/[0-9]{1,3})?",
            0..3,
        )
        .prop_map(|v| toml::Value::from(v).to_string())
        .boxed(),
        serde_json::Value::String(d) => prop_oneof![
            3 => Just(toml::Value::String(d).to_string()),
            1 => toml_value(),
        ]
        .boxed(),
        _ => toml_value().boxed(),
    }
}

fn entry(known: Vec<String>) -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        4 => proptest::sample::select(keys_with_defaults())
            .prop_flat_map(|(k, d)| typed_value(d).prop_map(move |v| (k.clone(), v))),
        1 => (key(known), toml_value()),
    ]
}

/// The text of a TOML string literal; any other value as written.
fn unquoted(value: &str) -> String {
    toml::from_str::<toml::Table>(&format!("x = {value}"))
        .ok()
        .and_then(|t| t.get("x").and_then(|x| x.as_str().map(str::to_string)))
        .unwrap_or_else(|| value.to_string())
}

fn key(known: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::sample::select(known),
        1 => "providers\\.[a-z]{1,6}\\.(type|client_id|client_secret|issuer|scopes|nonsense)",
        1 => "[a-z_]{1,12}(\\.[a-z_]{1,8})?",
    ]
}

fn known_paths() -> Vec<String> {
    known_env_keys().exact.into_iter().collect()
}

fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.replace('.', "__").to_ascii_uppercase()
    )
}

/// Load `toml` as the configuration file with `env` set, inside a jail (its own directory,
/// the environment restored afterwards).
// `Jail` decides the closure's error type (figment's own, which is large).
#[allow(clippy::result_large_err)]
fn load(toml: &str, env: &[(String, String)]) -> Result<Loaded, ConfigError> {
    let mut outcome = Err(ConfigError("jail failed".into()));
    figment::Jail::expect_with(|jail| {
        jail.create_file("gatehouse.toml", toml)?;
        for (name, value) in env {
            jail.set_env(name, value);
        }
        outcome = Config::load(Some(Path::new("gatehouse.toml")), &Overrides::default());
        Ok(())
    });
    outcome
}

/// What every accepted configuration promises the code that uses it.
fn check_accepted(config: &Config) -> Result<(), TestCaseError> {
    prop_assert!((1..=100).contains(&config.lockout_threshold));
    prop_assert!((4..=8).contains(&config.captcha.length));
    prop_assert!(config.captcha_after_failures >= 1);
    let now = 4_102_444_800i64; // 2100-01-01
    for d in [
        config.lockout_duration,
        config.session_idle_timeout,
        config.session_lifetime,
        config.smtp.timeout,
        config.smtp.give_up_after,
        config.captcha.ttl,
        config.ragflow.token_max_age,
    ] {
        prop_assert!(now.checked_add(d.secs()).is_some(), "{d:?}");
    }
    let _ = config.to_masked_toml();
    Ok(())
}

/// Arbitrary TOML (well-formed with hostile values, or not TOML at all) and arbitrary
/// `GATEHOUSE_*` values: a configuration or an error, never a panic.
#[test]
fn fuzz_config_file_and_environment_load_or_fail() {
    let known = known_paths();
    let strategy = (
        proptest::collection::vec(entry(known.clone()), 0..5),
        hostile_text(200),
        proptest::bool::weighted(0.1),
        proptest::collection::vec(entry(known), 0..3),
    );
    let result = TestRunner::new(config(300)).run(&strategy, |(entries, junk, raw, env)| {
        let toml = if raw {
            junk
        } else {
            entries
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        // A variable holds a string as it is, not quoted; the OS carries no NUL in one.
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (env_name(k), unquoted(v).replace('\0', "")))
            .collect();
        if let Ok(loaded) = load(&toml, &env) {
            check_accepted(&loaded.config)?;
        }
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
}

/// Secrets given in the file or the environment never show in an error, a warning, `Debug`
/// or `check-config`'s output, whatever else is wrong with the configuration.
#[test]
fn fuzz_config_secrets_never_show() {
    let strategy = (
        "[A-Za-z0-9]{6,12}",
        "[A-Za-z0-9 @:/?#%.\\[\\]-]{0,10}",
        proptest::sample::select(vec![
            "secret_key",
            "smtp.password",
            "ragflow.secret_key",
            "ragflow.rsa_passphrase",
            "providers.corp.client_secret",
            "database_url",
            "redis_url",
        ]),
        any::<bool>(),
        proptest::collection::vec((key(known_paths()), toml_value()), 0..4),
    );
    let result = TestRunner::new(config(300)).run(
        &strategy,
        |(marker, noise, secret_key, by_env, others)| {
            let marker = format!("Zq{marker}");
            let secret = match secret_key {
                "database_url" => format!("postgres://app:{marker}{noise}@db.local/gh"),
                "redis_url" => format!("redis://:{marker}{noise}@cache.local"),
                _ => format!("{marker}{noise}"),
            };
            let mut lines: Vec<String> = others
                .iter()
                .filter(|(k, _)| k != secret_key)
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let mut env = Vec::new();
            if by_env {
                env.push((env_name(secret_key), secret.clone()));
            } else {
                lines.push(format!(
                    "{secret_key} = {}",
                    toml::Value::String(secret.clone())
                ));
            }
            match load(&lines.join("\n"), &env) {
                Ok(loaded) => {
                    for text in [
                        format!("{:?}", loaded.config),
                        loaded.config.to_masked_toml(),
                        loaded.warnings.join("\n"),
                    ] {
                        prop_assert!(!text.contains(&marker), "{text}");
                    }
                }
                Err(e) => prop_assert!(!e.0.contains(&marker), "{}", e.0),
            }
            Ok(())
        },
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn durations_beyond_a_century_are_refused() {
    let err = load("session_lifetime = \"300000000000y\"", &[])
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    assert!(
        err.contains("session_lifetime") && err.contains("100 years"),
        "{err}"
    );
    assert!(load("session_lifetime = \"99y\"", &[]).is_ok());
}
