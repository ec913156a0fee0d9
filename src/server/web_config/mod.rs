//! The web configuration file (`web.config_file`, `--web.config.file`): the format of the
//! Prometheus exporter-toolkit, which node_exporter and the other official exporters read, so
//! that an operator secures this exporter as every other one.
//!
//! - [`WebSecurity::load`] reads and checks the file at start-up, every problem at once, each
//!   naming its key and what would be right; the certificates, keys and CAs it names are read
//!   and built into a rustls configuration ([`super::tls`]) there and then, so a file that
//!   loads is a file that serves.
//! - [`WebSecurity::current`] is what a connection or request is served with. At most once a
//!   second it looks whether the file, or a file it names, changed (modification time, size,
//!   inode); a change is read anew, and a change that does not load keeps the last good
//!   configuration and logs why. Whether TLS is on is fixed at start-up, as in
//!   exporter-toolkit: a reload cannot switch it off (nor on).
//!
//! Supported: `tls_server_config` (`cert_file`/`cert`, `key_file`/`key`, `client_ca_file`/
//! `client_ca`, `client_auth_type`, `min_version`, `max_version`), `http_server_config`
//! (`headers` from exporter-toolkit's list, `http2` accepted though HTTP/1.1 is served) and
//! `basic_auth_users` ([`super::auth`]). The toolkit's keys that rustls or this server cannot
//! honour are refused with the reason, never ignored: a reader of the file must be able to
//! trust that it is obeyed.
//!
//! # Layout
//!
//! - this file: the loaded configuration ([`Active`]), [`WebSecurity`] and the one [`load`];
//! - `sections`: the file's schema, its top level, `http_server_config` and
//!   `basic_auth_users`; `tls_section`: `tls_server_config`, each enumerated field
//!   (`client_auth_type`, `min_version`, `max_version`) parsing itself from its text;
//! - `yaml`: reading `serde_yaml` values into diagnostics' problems;
//! - `pem`: the certificates and keys the file names or holds inline;
//! - `reload`: what the files looked like, and the look for changes once a second;
//! - `tests` and `conformance` (tests only): the schema, loading and reloads; our cases after
//!   exporter-toolkit's `web/testdata`, held to `tests/fixtures/web-config/toolkit/cases.tsv`.

#[cfg(test)]
mod conformance;
mod pem;
mod reload;
mod sections;
#[cfg(test)]
mod tests;
mod tls_section;
mod yaml;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use serde_yaml::Value;
use tokio_rustls::rustls::ServerConfig;

use super::auth::{self, Users, Verifier};
use super::tls;
use crate::config::ConfigError;
use crate::diagnostics::{read_config_text, Problem, MAX_FILE_SIZE};
use reload::Fingerprint;

/// Why a web config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebConfigError {
    /// The file itself cannot be read (or nests too deep to be parsed).
    #[error("web config file `{}` {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The file is not YAML (or repeats a key).
    #[error("web config file `{}` is not valid YAML: {reason}", path.display())]
    Yaml { path: PathBuf, reason: String },
    /// Keys are unknown, refused or wrong; every one of them.
    #[error(
        "web config file `{}`: {}",
        path.display(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl WebConfigError {
    /// One line per problem, each naming the file, for a list of configuration errors.
    pub(crate) fn lines(&self) -> Vec<String> {
        match self {
            WebConfigError::Invalid { path, problems } => problems
                .iter()
                .map(|problem| format!("web config file `{}`: {problem}", path.display()))
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

/// The web config file's problems are problems of the setting that names it, `web.config_file`,
/// listed with the configuration's own.
impl From<WebConfigError> for ConfigError {
    fn from(err: WebConfigError) -> ConfigError {
        let key = crate::config::settings::WEB_CONFIG_FILE.key;
        ConfigError::Invalid(
            err.lines()
                .into_iter()
                .map(|line| Problem::new(key, line))
                .collect(),
        )
    }
}

/// What a request or connection is served with: one loaded version of the file.
pub(crate) struct Active {
    /// `None`: plain HTTP.
    tls: Option<Arc<ServerConfig>>,
    /// `None`: no authentication.
    users: Option<Users>,
    /// Added to every response.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users)
            .field("headers", &self.headers)
            .finish()
    }
}

impl Active {
    /// The TLS configuration for a new connection; `None` for plain HTTP.
    pub(crate) fn tls(&self) -> Option<Arc<ServerConfig>> {
        self.tls.clone()
    }
}

/// The web config file, loaded, and re-read when it changes.
pub(crate) struct WebSecurity {
    path: PathBuf,
    verifier: Verifier,
    current: Mutex<Arc<Active>>,
    /// When the files were last looked at, and what they looked like (the last good load or
    /// the last failed one: a bad file is reported once, not every second).
    seen: Mutex<(Instant, Fingerprint)>,
    /// Set while one task looks at the files, so that others do not wait for it.
    checking: AtomicBool,
}

impl WebSecurity {
    /// Reads and checks the file and everything it names.
    pub(crate) fn load(path: &Path) -> Result<WebSecurity, WebConfigError> {
        let (fingerprint, active) = load(path);
        let active = active?;
        Ok(WebSecurity {
            path: path.to_owned(),
            verifier: Verifier::default(),
            current: Mutex::new(Arc::new(active)),
            seen: Mutex::new((Instant::now(), fingerprint)),
            checking: AtomicBool::new(false),
        })
    }

    /// No web config file: plain HTTP, no authentication, no headers added, nothing to
    /// reload; what a server without the file serves with, through the same wrapper.
    pub(crate) fn open() -> WebSecurity {
        WebSecurity {
            path: PathBuf::new(),
            verifier: Verifier::default(),
            current: Mutex::new(Arc::new(Active {
                tls: None,
                users: None,
                headers: Vec::new(),
            })),
            seen: Mutex::new((Instant::now(), Fingerprint::of(Vec::new()))),
            checking: AtomicBool::new(false),
        }
    }

    /// Whether TLS is served (fixed for the life of the process).
    pub(crate) fn tls_enabled(&self) -> bool {
        self.active().tls.is_some()
    }

    /// Whether basic authentication is asked for, as the file says now.
    pub(crate) fn auth_enabled(&self) -> bool {
        self.active().users.is_some()
    }

    fn active(&self) -> Arc<Active> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Answers a request: credentials are checked first (except on `open` paths), so that an
    /// unauthenticated client learns nothing, not even which paths exist; the file's headers
    /// go on every answer, refusals included.
    pub(crate) async fn answer<B: From<Bytes>>(
        &self,
        active: &Active,
        request: &Request<Incoming>,
        open: bool,
        peer: std::net::IpAddr,
        respond: impl FnOnce() -> Response<B>,
    ) -> Response<B> {
        let allowed = match &active.users {
            None => true,
            Some(_) if open => true,
            Some(users) => {
                let authorization = request.headers().get(hyper::header::AUTHORIZATION);
                self.verifier.allows(users, authorization, peer).await
            }
        };
        let mut response = if allowed {
            respond()
        } else {
            auth::unauthorized()
        };
        for (name, value) in &active.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }
}

/// Reads the file and everything it names into an [`Active`] configuration; with what the
/// files looked like before they were read (so that a change during the read is seen at the
/// next look), whether they load or not.
fn load(path: &Path) -> (Fingerprint, Result<Active, WebConfigError>) {
    let mut fingerprint = Fingerprint::of(vec![path.to_owned()]);
    let result = load_into(path, &mut fingerprint);
    (fingerprint, result)
}

fn load_into(path: &Path, fingerprint: &mut Fingerprint) -> Result<Active, WebConfigError> {
    let text = read_config_text(path, MAX_FILE_SIZE).map_err(|why| WebConfigError::Unreadable {
        path: path.to_owned(),
        reason: format!("{why} (a web config file may have at most {MAX_FILE_SIZE} bytes)"),
    })?;
    let value: Value = serde_yaml::from_str(&text).map_err(|err| WebConfigError::Yaml {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    let invalid = |problems| WebConfigError::Invalid {
        path: path.to_owned(),
        problems,
    };
    let parsed =
        sections::parse(&value, path.parent().unwrap_or(Path::new("."))).map_err(invalid)?;
    let tls = match parsed.tls {
        None => None,
        Some(tls) => {
            fingerprint.watch(tls.files());
            let settings = tls.read().map_err(|problem| invalid(vec![problem]))?;
            let config = tls::server_config(settings).map_err(|problem| invalid(vec![problem]))?;
            Some(config)
        }
    };
    Ok(Active {
        tls,
        users: parsed.users.map(Users::new),
        headers: parsed.headers,
    })
}
