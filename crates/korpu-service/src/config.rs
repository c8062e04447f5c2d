//! Configuration layering shared by every Körpü server: a TOML file read over the type's
//! defaults, then `PREFIX_KEY` environment variables (e.g. `KORPU_DOCS_DATA_DIR`) override
//! top-level keys, then the result is deserialised back into the type.
//!
//! An environment value that parses as a TOML value (a number, a boolean, a list, an inline
//! table such as `{ dx = "http://…" }`) is taken as such; anything else is a string, so
//! `KORPU_DOCS_DATA_DIR=/srv/x` needs no quotes. Only top-level keys are overridable: a nested
//! table (the gateway's `[services]`) is replaced as a whole by an inline table.
//!
//! What this module does not do: semantic checks (each service checks its own values after
//! loading, naming the same origin), or resolving relative paths.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file or an environment variable holds something unusable; `origin` names where it
    /// came from (the file, `defaults`, or the variable's name).
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`], for a service's own checks after loading.
    pub fn invalid(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// Reads `path`, returning its text and the origin to name in errors (its display form); no
/// path gives an empty text whose origin is `defaults`.
pub fn read(path: Option<&Path>) -> Result<(String, String), ConfigError> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_owned(),
                source,
            })?;
            Ok((text, p.display().to_string()))
        }
        None => Ok((String::new(), "defaults".to_owned())),
    }
}

/// Reads `path` (if given) over `T`'s defaults, then applies the `prefix`-named variables of
/// `env` (e.g. `std::env::vars()` with prefix `KORPU_DOCS_`).
pub fn load<T: Serialize + DeserializeOwned + Default>(
    path: Option<&Path>,
    prefix: &str,
    env: impl Iterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let (text, origin) = read(path)?;
    parse(&text, &origin, prefix, env)
}

/// Parses TOML `text` (named `origin` in errors) over `T`'s defaults — `T` is expected to be
/// `#[serde(default)]` — then applies the `prefix`-named variables of `env`.
pub fn parse<T: Serialize + DeserializeOwned + Default>(
    text: &str,
    origin: &str,
    prefix: &str,
    env: impl Iterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let parsed: T =
        toml::from_str(text).map_err(|e| ConfigError::invalid(origin, e.to_string()))?;
    let mut table = toml::Table::try_from(&parsed)
        .map_err(|e| ConfigError::invalid(origin, format!("not a table of settings: {e}")))?;
    // The known keys are the serialised ones; an `Option` field left `None` is not serialised
    // by TOML, so it is only known once the file sets it (as before this crate).
    let keys: Vec<String> = table.keys().cloned().collect();
    let mut overridden = false;
    for (name, value) in env {
        let Some(key) = name.strip_prefix(prefix) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if !keys.contains(&key) {
            return Err(ConfigError::invalid(
                name,
                format!("no such setting; known: {}", keys.join(", ")),
            ));
        }
        table.insert(key, env_value(value));
        overridden = true;
    }
    if !overridden {
        return Ok(parsed);
    }
    T::deserialize(table).map_err(|e| {
        ConfigError::invalid(format!("{origin} with {prefix}* overrides"), e.to_string())
    })
}

/// A value that parses as TOML is taken as such; anything else is the string itself.
fn env_value(value: String) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or(toml::Value::String(value))
}

/// The effective configuration as TOML, what `--print-config` prints.
pub fn render<T: Serialize>(config: &T) -> String {
    toml::to_string(config).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
}

/// A service's public base URL: the configured one without a trailing `/`, or, when none is
/// configured, `http://` and the address it listens on.
pub fn public_url_or(configured: &str, listen: std::net::SocketAddr) -> String {
    if configured.is_empty() {
        format!("http://{listen}")
    } else {
        configured.trim_end_matches('/').to_owned()
    }
}

/// A service's configuration type: where its environment variables start and what it checks
/// once loaded. Loading (a file or the defaults, then the environment), parsing, checking and
/// rendering come with it, so a service writes only its fields, their defaults and its rules.
pub trait ServiceConfig: Serialize + DeserializeOwned + Default {
    /// The environment variables' prefix, `KORPU_<SERVICE>_`.
    const ENV_PREFIX: &'static str;

    /// The service's own rules, run after loading; errors name `origin`.
    fn check(&self, origin: &str) -> Result<(), ConfigError>;

    /// Reads `path` (if given) over the defaults, applies the process's `ENV_PREFIX*`
    /// variables, and checks the result.
    fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = read(path)?;
        Self::from_toml_with_env(&text, &origin, std::env::vars())
    }

    /// Parses TOML text, applies overrides from `env` (name, value) pairs, and checks.
    fn from_toml_with_env(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let config: Self = parse(text, origin, Self::ENV_PREFIX, env)?;
        config.check(origin)?;
        Ok(config)
    }

    /// The effective configuration as TOML (`--print-config`).
    fn to_toml(&self) -> String {
        render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        name: String,
        count: u32,
        dir: String,
        services: std::collections::BTreeMap<String, String>,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                name: "demo".into(),
                count: 3,
                dir: "data".into(),
                services: Default::default(),
            }
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn file_over_defaults_and_env_over_file() {
        let d: Demo = parse("count = 5\n", "f.toml", "T_", env(&[])).unwrap();
        assert_eq!((d.count, d.name.as_str()), (5, "demo"));
        let d: Demo = parse(
            "count = 5\n",
            "f.toml",
            "T_",
            env(&[("T_COUNT", "9"), ("OTHER_COUNT", "1")]),
        )
        .unwrap();
        assert_eq!(d.count, 9);
    }

    #[test]
    fn unknown_key_is_named_with_the_known_ones() {
        let e = parse::<Demo>("", "f", "T_", env(&[("T_NOPE", "1")])).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("T_NOPE: no such setting; known: "), "{s}");
        assert!(
            s.contains("count") && s.contains("dir") && s.contains("name"),
            "{s}"
        );
        let e = parse::<Demo>("nope = 1\n", "f.toml", "T_", env(&[])).unwrap_err();
        assert!(e.to_string().starts_with("f.toml: "), "{e}");
    }

    #[test]
    fn numbers_parse_as_toml_and_the_rest_as_strings() {
        let d: Demo = parse(
            "",
            "f",
            "T_",
            env(&[("T_DIR", "/srv/x"), ("T_NAME", "42x"), ("T_COUNT", "7")]),
        )
        .unwrap();
        assert_eq!(
            (d.dir.as_str(), d.name.as_str(), d.count),
            ("/srv/x", "42x", 7)
        );
        // A nested table is replaced as a whole by an inline table.
        let d: Demo = parse(
            "",
            "f",
            "T_",
            env(&[("T_SERVICES", "{ a = \"http://x\" }")]),
        )
        .unwrap();
        assert_eq!(d.services.get("a").map(String::as_str), Some("http://x"));
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_source() {
        let e = parse::<Demo>("", "f.toml", "T_", env(&[("T_COUNT", "many")])).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("f.toml with T_* overrides: "), "{s}");
        assert!(s.contains("count"), "{s}");
        let e = parse::<Demo>("count = \"many\"\n", "f.toml", "T_", env(&[])).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("f.toml: ") && s.contains("count"), "{s}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let p = Path::new("/nonexistent/korpu-service-test.toml");
        let e = load::<Demo>(Some(p), "T_", env(&[])).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        assert!(e.to_string().contains("korpu-service-test.toml"), "{e}");
        let d: Demo = load(None, "T_", env(&[])).unwrap();
        assert_eq!(d, Demo::default());
    }

    #[test]
    fn render_round_trips() {
        let d = Demo {
            count: 11,
            ..Demo::default()
        };
        let back: Demo = parse(&render(&d), "printed", "T_", env(&[])).unwrap();
        assert_eq!(back, d);
    }
}
