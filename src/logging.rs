//! gatehouse's log filter: built once at startup from `GATEHOUSE_LOG` (default
//! `info,sqlx=warn`), with per-target levels that can be changed while running
//! (RAGFlow's `PUT /system/config/log`). Levels are shown in Python's names, as RAGFlow does.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// The filter when `GATEHOUSE_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// The key RAGFlow uses for the level of everything else (Python's root logger).
pub const ROOT: &str = "root";

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

/// One target's level: the Python name shown and the tracing level it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    shown: String,
    directive: String,
}

struct Control {
    levels: BTreeMap<String, Entry>,
    /// Swaps the running subscriber's filter; absent when no subscriber was installed here
    /// (tests), where a change is only recorded.
    reload: Option<Reload>,
}

static CONTROL: Mutex<Option<Control>> = Mutex::new(None);

fn control() -> MutexGuard<'static, Option<Control>> {
    CONTROL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A level given in Python's names (`logging.getLevelName`), any case and padding:
/// `CRITICAL`/`FATAL`, `ERROR`, `WARNING`/`WARN`, `INFO`, `DEBUG`, `NOTSET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Critical,
    Error,
    Warning,
    Info,
    Debug,
    NotSet,
}

impl Level {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" | "FATAL" => Self::Critical,
            "ERROR" => Self::Error,
            "WARNING" | "WARN" => Self::Warning,
            "INFO" => Self::Info,
            "DEBUG" => Self::Debug,
            "NOTSET" => Self::NotSet,
            _ => return None,
        })
    }

    /// Python's canonical name (`FATAL` is shown as `CRITICAL`, `WARN` as `WARNING`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Critical => "CRITICAL",
            Self::Error => "ERROR",
            Self::Warning => "WARNING",
            Self::Info => "INFO",
            Self::Debug => "DEBUG",
            Self::NotSet => "NOTSET",
        }
    }

    /// tracing has no level above `error`; `NOTSET` (log everything) is `trace`.
    fn directive(self) -> &'static str {
        match self {
            Self::Critical | Self::Error => "error",
            Self::Warning => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::NotSet => "trace",
        }
    }
}

/// Why a level change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    /// Not a name a tracing target can have.
    InvalidTarget,
}

fn shown(directive: &str) -> String {
    match directive.to_ascii_lowercase().as_str() {
        "trace" => "NOTSET".into(),
        "debug" => "DEBUG".into(),
        "info" => "INFO".into(),
        "warn" => "WARNING".into(),
        "error" => "ERROR".into(),
        "off" => "CRITICAL".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// The per-target levels of a filter string (`info,sqlx=warn` → root INFO, sqlx WARNING).
fn parse_directives(filter: &str) -> BTreeMap<String, Entry> {
    filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let (target, level) = d.rsplit_once('=').unwrap_or((ROOT, d));
            let entry = Entry {
                shown: shown(level),
                directive: level.to_string(),
            };
            (target.to_string(), entry)
        })
        .collect()
}

fn filter_text(levels: &BTreeMap<String, Entry>) -> String {
    let root = levels.get(ROOT).map(|e| e.directive.clone());
    root.into_iter()
        .chain(
            levels
                .iter()
                .filter(|(t, _)| *t != ROOT)
                .map(|(t, e)| format!("{t}={}", e.directive)),
        )
        .collect::<Vec<_>>()
        .join(",")
}

fn base_filter() -> String {
    std::env::var("GATEHOUSE_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_string())
}

fn ensure(slot: &mut Option<Control>) -> &mut Control {
    slot.get_or_insert_with(|| Control {
        levels: parse_directives(&base_filter()),
        reload: None,
    })
}

/// Install the process's subscriber on stderr (JSON lines or text) with a reloadable filter.
pub fn init(json: bool) {
    let base = base_filter();
    let filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (filter, handle) = reload::Layer::<EnvFilter, Registry>::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(json.then(|| fmt::layer().json().with_writer(std::io::stderr)))
        .with((!json).then(|| fmt::layer().with_writer(std::io::stderr)))
        .init();
    *control() = Some(Control {
        levels: parse_directives(&base),
        reload: Some(Box::new(move |f| {
            handle.reload(f).map_err(|e| e.to_string())
        })),
    });
}

/// Each target's level in Python's names; `root` is the level of every other target.
pub fn levels() -> BTreeMap<String, String> {
    let mut slot = control();
    ensure(&mut slot)
        .levels
        .iter()
        .map(|(t, e)| (t.clone(), e.shown.clone()))
        .collect()
}

/// Set `target`'s level (`root`: every target without its own) and apply it at once.
pub fn set(target: &str, level: Level) -> Result<(), SetError> {
    let valid = !target.is_empty()
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'));
    if !valid {
        return Err(SetError::InvalidTarget);
    }
    let mut slot = control();
    let control = ensure(&mut slot);
    let mut levels = control.levels.clone();
    levels.insert(
        target.to_string(),
        Entry {
            shown: level.name().to_string(),
            directive: level.directive().to_string(),
        },
    );
    let filter = EnvFilter::try_new(filter_text(&levels)).map_err(|_| SetError::InvalidTarget)?;
    if let Some(reload) = &control.reload
        && let Err(e) = reload(filter)
    {
        tracing::warn!(error = %e, "the log filter could not be replaced");
    }
    control.levels = levels;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_level_names_map_to_canonical_names() {
        assert_eq!(Level::parse(" warn ").map(Level::name), Some("WARNING"));
        assert_eq!(Level::parse("fatal").map(Level::name), Some("CRITICAL"));
        assert_eq!(Level::parse("NOT_A_LEVEL"), None);
    }

    #[test]
    fn the_filter_text_round_trips_through_the_shown_levels() {
        let levels = parse_directives("info,sqlx=warn");
        assert_eq!(levels.get(ROOT).map(|e| e.shown.as_str()), Some("INFO"));
        assert_eq!(
            levels.get("sqlx").map(|e| e.shown.as_str()),
            Some("WARNING")
        );
        assert_eq!(filter_text(&levels), "info,sqlx=warn");
    }

    #[test]
    fn a_change_is_recorded_and_bad_targets_are_refused() {
        assert_eq!(set("gatehouse::audit", Level::Debug), Ok(()));
        assert_eq!(
            levels().get("gatehouse::audit").map(String::as_str),
            Some("DEBUG")
        );
        assert_eq!(set("a=b,c", Level::Debug), Err(SetError::InvalidTarget));
        assert_eq!(set("", Level::Debug), Err(SetError::InvalidTarget));
    }
}
