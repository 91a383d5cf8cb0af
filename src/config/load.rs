//! Loading: defaults, `gatehouse.toml`, `GATEHOUSE_*` environment and flags, merged in that
//! order by figment, with error messages that name the key.

use std::collections::BTreeSet;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::*;

/// Environment variables with this prefix configure gatehouse.
pub const ENV_PREFIX: &str = "GATEHOUSE_";

/// Variables that share the prefix but are inputs of the CLI or the test suite, not configuration.
const NON_CONFIG_VARS: &[&str] = &["NEW_PASSWORD", "LOG", "TEST_"];

impl Config {
    /// Merge defaults, the TOML file, `GATEHOUSE_*` variables and flags, then check the values.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Loaded, ConfigError> {
        let known = known_env_keys();
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars() {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if NON_CONFIG_VARS.iter().any(|p| rest.starts_with(p)) {
                continue;
            }
            if !known.matches(&env_key_path(rest)) {
                warnings.push(format!(
                    "environment variable {name} names no configuration key; ignored"
                ));
            }
        }

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let env = Env::prefixed(ENV_PREFIX)
            .filter(move |k| {
                let k = k.as_str();
                !NON_CONFIG_VARS
                    .iter()
                    .any(|p| k.to_ascii_uppercase().starts_with(p))
                    && known.matches(&env_key_path(k))
            })
            .split("__");
        // figment panics on some escapes in non-ASCII variable values (while merging them);
        // that is a bad value, not a reason to crash.
        let extracted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut figment = figment.merge(env);
            if let Some(listen) = &overrides.listen {
                figment = figment.merge(Serialized::global("listen", listen));
            }
            if let Some(dir) = &overrides.data_dir {
                figment = figment.merge(Serialized::global("data_dir", dir));
            }
            figment.extract::<Config>().map_err(describe_figment_error)
        }))
        .map_err(|_| {
            ConfigError(
                "a GATEHOUSE_* variable holds a value that cannot be read (check backslash escapes)"
                    .into(),
            )
        })?;
        let mut config: Config = extracted?;
        ragflow_secret_key_alias(&mut config)?;
        config.resolve()?;
        warnings.extend(config.base_url_warnings());
        Ok(Loaded { config, warnings })
    }

    /// The merged configuration as TOML with every secret masked (`check-config`).
    pub fn to_masked_toml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        fill_derived(&mut value, self);
        let value: toml::Value =
            serde_json::from_value(strip_nulls(value)).unwrap_or(toml::Value::Integer(0));
        toml::to_string_pretty(&value).unwrap_or_default()
    }
}

fn fill_derived(value: &mut serde_json::Value, config: &Config) {
    if let Some(map) = value.as_object_mut() {
        let db = config.database_url();
        map.insert("database_url".into(), shown_url(&db).into());
        map.insert("public_base_url".into(), config.public_base_url().into());
    }
}

fn strip_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, strip_nulls(v)))
            .collect(),
        other => other,
    }
}

fn describe_figment_error(error: figment::Error) -> ConfigError {
    let first = error.into_iter().next();
    let Some(e) = first else {
        return ConfigError("invalid configuration".into());
    };
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
            _ => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    let kind = match &e.kind {
        figment::error::Kind::UnknownField(field, _) => {
            // figment's path already ends with the unknown field (`smtp.hots`): adding the
            // field again named it twice (`foo.foo`).
            let full = if e.path.last() == Some(field) {
                key
            } else if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
            return ConfigError(format!("unknown configuration key `{full}`{source}"));
        }
        // A TOML parse error quotes the offending line, which may hold a secret: only the
        // position and the reason are kept.
        other => other
            .to_string()
            .lines()
            .filter(|line| {
                !line
                    .trim_start()
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start()
                    .starts_with('|')
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    if key.is_empty() {
        ConfigError(format!("invalid configuration{source}: {kind}"))
    } else {
        ConfigError(format!("invalid value for `{key}`{source}: {kind}"))
    }
}

/// RAGFlow's own variable for its signing key, kept so a RAGFlow deployment's environment works
/// unchanged: an alias of `ragflow.secret_key` that the file, `GATEHOUSE_*` and flags override.
pub const RAGFLOW_SECRET_KEY_VAR: &str = "RAGFLOW_SECRET_KEY";

/// Fill `ragflow.secret_key` from [`RAGFLOW_SECRET_KEY_VAR`] when neither it nor
/// `ragflow.secret_key_file` is set, so the value is checked like any other.
fn ragflow_secret_key_alias(config: &mut Config) -> Result<(), ConfigError> {
    if config.ragflow.secret_key.is_some() || config.ragflow.secret_key_file.is_some() {
        return Ok(());
    }
    let Some(value) = std::env::var_os(RAGFLOW_SECRET_KEY_VAR).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let Some(value) = value.to_str() else {
        return Err(ConfigError(format!(
            "invalid value for `ragflow.secret_key` (from {RAGFLOW_SECRET_KEY_VAR}): not UTF-8"
        )));
    };
    if value.len() < super::resolved::MIN_RAGFLOW_SECRET {
        return Err(ConfigError(format!(
            "invalid value for `ragflow.secret_key` (from {RAGFLOW_SECRET_KEY_VAR}): must be at least 32 characters"
        )));
    }
    config.ragflow.secret_key = Some(Secret::new(value));
    Ok(())
}

/// `SMTP__HOST` → `smtp.host`.
fn env_key_path(rest: &str) -> String {
    rest.to_ascii_lowercase().replace("__", ".")
}

/// Every configuration key, derived from the defaults so the list can never drift from the struct.
#[derive(Clone)]
pub(super) struct KnownKeys {
    pub(super) exact: BTreeSet<String>,
    provider_fields: BTreeSet<String>,
}

impl KnownKeys {
    pub(super) fn matches(&self, path: &str) -> bool {
        if self.exact.contains(path) {
            return true;
        }
        let mut parts = path.splitn(3, '.');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some("providers"), Some(id), Some(field)) if !id.is_empty() && self.provider_fields.contains(field)
        )
    }
}

pub(super) fn known_env_keys() -> KnownKeys {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
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
                    out.insert(path);
                }
            }
        }
    }
    let mut exact = BTreeSet::new();
    walk(
        "",
        &serde_json::to_value(Config::default()).unwrap_or_default(),
        &mut exact,
    );
    let mut provider_fields = BTreeSet::new();
    walk(
        "",
        &serde_json::to_value(ProviderConfig::default()).unwrap_or_default(),
        &mut provider_fields,
    );
    KnownKeys {
        exact,
        provider_fields,
    }
}
