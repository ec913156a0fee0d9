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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_yaml::{Mapping, Value};
use tokio_rustls::rustls::ServerConfig;

use super::auth::{self, Users, Verifier};
use super::tls::{self, ClientAuth, TlsSettings, Version};
use crate::config::ConfigError;
use crate::diagnostics::{read_bounded, read_config_text, Problem, Problems, Shape, MAX_FILE_SIZE};

/// How often, at most, the files are looked at for changes.
const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The top-level keys understood here.
const TOP_KEYS: &[&str] = &[
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
];

/// The keys of `tls_server_config` understood here.
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "cert",
    "key",
    "client_auth_type",
    "client_ca_file",
    "client_ca",
    "min_version",
    "max_version",
];

/// exporter-toolkit's keys refused here, and why.
const REFUSED: &[(&str, &str)] = &[
    (
        "rate_limit",
        "not supported by iam-key-exporter: its connection cap and timeouts \
         (web.max_connections, web.header_read_timeout, web.write_timeout) already bound what a \
         client can take; rate-limit in a reverse proxy if you need more; remove the key",
    ),
    (
        "tls_server_config.cipher_suites",
        "rustls cannot honour it: it offers only its own fixed set of modern cipher suites \
         (TLS 1.3, and TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305) and has no way to take \
         Go's suite names; remove the key",
    ),
    (
        "tls_server_config.curve_preferences",
        "rustls cannot honour it: it negotiates its own key exchange groups (X25519, P-256, \
         P-384) in its own order; remove the key",
    ),
    (
        "tls_server_config.prefer_server_cipher_suites",
        "rustls cannot honour it: without `cipher_suites` there is no server order of suites \
         to prefer (and Go itself ignores this key since Go 1.18); remove the key",
    ),
    (
        "tls_server_config.client_allowed_sans",
        "not supported by iam-key-exporter; with `client_auth_type: RequireAndVerifyClientCert`, \
         give a `client_ca_file` whose CA signs only the certificates of the clients you \
         allow; remove the key",
    ),
];

/// The response headers exporter-toolkit lets the file set, and the values allowed where it
/// restricts them; it refuses every other header (Authorization, Content-Type, Server, ...).
const EXTRA_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

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

    /// The configuration to serve with, after looking for changes if the last look is more
    /// than a second old. The look (and a reload) runs on the blocking pool; requests arriving
    /// meanwhile are served with the configuration in force.
    pub(crate) async fn current(self: &Arc<Self>) -> Arc<Active> {
        let due = {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.0.elapsed() >= RECHECK_INTERVAL
        };
        if due && !self.checking.swap(true, Ordering::AcqRel) {
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                // Cleared however the check ends, even if the waiting request is dropped.
                struct Done<'a>(&'a AtomicBool);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::Release);
                    }
                }
                let _done = Done(&this.checking);
                this.reload_if_changed();
            })
            .await;
        }
        self.active()
    }

    fn reload_if_changed(&self) {
        let previous = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.0 = Instant::now();
            seen.1.clone()
        };
        if previous.unchanged() {
            return;
        }
        // Kept whatever the outcome: a bad file is reported once per change, not every
        // second, and the files a bad version names are watched too (one that is missing
        // now is seen when it appears).
        let (fingerprint, result) = load(&self.path);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).1 = fingerprint;
        let was_tls = self.active().tls.is_some();
        let had_users = self.active().users.is_some();
        let result = result.and_then(|active| {
            let refuse = |key: &str, message: String| {
                Err(WebConfigError::Invalid {
                    path: self.path.clone(),
                    problems: vec![Problem::new(key, message)],
                })
            };
            if active.tls.is_some() != was_tls {
                return refuse(
                    "tls_server_config",
                    format!(
                        "TLS was {} at start-up; switching it {} needs a restart",
                        if was_tls { "on" } else { "off" },
                        if was_tls { "off" } else { "on" },
                    ),
                );
            }
            // A file caught half-written could otherwise open /metrics to anyone until the
            // next change: turning authentication off is a restart's decision too.
            if had_users && active.users.is_none() {
                return refuse(
                    "basic_auth_users",
                    "basic authentication was on; turning it off needs a restart".to_owned(),
                );
            }
            Ok(active)
        });
        match result {
            Ok(active) => {
                tracing::info!(
                    file = %self.path.display(),
                    tls = active.tls.is_some(),
                    basic_auth = active.users.is_some(),
                    "web config file reloaded"
                );
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
            }
            Err(err) => tracing::error!(
                error = %err,
                "web config file changed but cannot be used; keeping the previous configuration"
            ),
        }
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

/// What the file and the files it names looked like: modification time, size and inode each
/// (a Kubernetes Secret update swaps a symbolic link, which changes the inode).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, Option<FileState>)>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Fingerprint {
    fn of(paths: Vec<PathBuf>) -> Fingerprint {
        Fingerprint(
            paths
                .into_iter()
                .map(|path| {
                    let state = file_state(&path);
                    (path, state)
                })
                .collect(),
        )
    }

    fn unchanged(&self) -> bool {
        self.0
            .iter()
            .all(|(path, state)| file_state(path) == *state)
    }
}

fn file_state(path: &Path) -> Option<FileState> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(FileState {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode,
    })
}

/// Reads the file and everything it names into an [`Active`] configuration; with what the
/// files looked like before they were read (so that a change during the read is seen at the
/// next look), whether they load or not.
fn load(path: &Path) -> (Fingerprint, Result<Active, WebConfigError>) {
    let mut fingerprint = Fingerprint(vec![(path.to_owned(), file_state(path))]);
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
    let parsed = parse(&value, path.parent().unwrap_or(Path::new("."))).map_err(invalid)?;
    let tls = match parsed.tls {
        None => None,
        Some(tls) => {
            fingerprint.0.extend(Fingerprint::of(tls.files()).0);
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

/// The file's content, checked, before the files it names are read.
#[derive(Debug, Default)]
struct Parsed {
    tls: Option<TlsSection>,
    users: Option<BTreeMap<String, String>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Where a PEM comes from: a file (relative paths are relative to the web config file, as in
/// exporter-toolkit) or the text inline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pem {
    File { key: &'static str, path: PathBuf },
    Inline { key: &'static str, text: String },
}

impl Pem {
    fn key(&self) -> String {
        match self {
            Pem::File { key, .. } | Pem::Inline { key, .. } => format!("tls_server_config.{key}"),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, Problem> {
        match self {
            Pem::Inline { text, .. } => Ok(text.clone().into_bytes()),
            Pem::File { path, .. } => read_bounded(path, MAX_FILE_SIZE).map_err(|why| {
                Problem::new(
                    self.key(),
                    format!(
                        "`{}` {why} (a certificate or key file may have at most \
                         {MAX_FILE_SIZE} bytes)",
                        path.display()
                    ),
                )
            }),
        }
    }

    fn describe(&self) -> String {
        match self {
            Pem::File { path, .. } => format!("`{}`", path.display()),
            Pem::Inline { .. } => "the inline text".to_owned(),
        }
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, Problem> {
        let bytes = self.bytes()?;
        let certificates = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| {
                Problem::new(self.key(), format!("{} is not PEM: {err}", self.describe()))
            })?;
        if certificates.is_empty() {
            return Err(Problem::new(
                self.key(),
                format!(
                    "{} holds no certificate; expected PEM `-----BEGIN CERTIFICATE-----` blocks",
                    self.describe()
                ),
            ));
        }
        Ok(certificates)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, Problem> {
        let bytes = self.bytes()?;
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| {
            Problem::new(
                self.key(),
                format!(
                    "{} holds no usable private key ({err}); expected a PEM `PRIVATE KEY`, \
                 `RSA PRIVATE KEY` or `EC PRIVATE KEY` block",
                    self.describe()
                ),
            )
        })
    }
}

/// `tls_server_config`, checked; its files not yet read.
#[derive(Debug)]
struct TlsSection {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
    client_auth: ClientAuth,
    min_version: Version,
    max_version: Version,
}

impl TlsSection {
    fn files(&self) -> Vec<PathBuf> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|pem| match pem {
                Pem::File { path, .. } => Some(path.clone()),
                Pem::Inline { .. } => None,
            })
            .collect()
    }

    fn read(&self) -> Result<TlsSettings, Problem> {
        Ok(TlsSettings {
            chain: self.cert.certificates()?,
            key: self.key.private_key()?,
            client_auth: self.client_auth,
            client_cas: self.client_ca.as_ref().map(Pem::certificates).transpose()?,
            min_version: self.min_version,
            max_version: self.max_version,
        })
    }
}

/// The entries of a mapping, or nothing (and a problem) for anything else; `null` (an empty
/// section) is an empty mapping.
fn mapping<'v>(p: &mut Problems, key: &str, value: &'v Value) -> Vec<(String, &'v Value)> {
    match value {
        Value::Null => Vec::new(),
        Value::Mapping(mapping) => entries(p, key, mapping),
        other => {
            p.push(Problem::new(
                key,
                format!("expected a mapping of keys, got {}", shape(other).name()),
            ));
            Vec::new()
        }
    }
}

fn entries<'v>(p: &mut Problems, key: &str, mapping: &'v Mapping) -> Vec<(String, &'v Value)> {
    let mut entries = Vec::new();
    for (name, value) in mapping {
        match scalar_text(name) {
            Some(name) => entries.push((name, value)),
            None => p.push(Problem::new(
                key,
                format!("a key is {}, not a name", shape(name).name()),
            )),
        }
    }
    entries
}

/// A single value as text; `Ok(None)` for `null` or an empty string (unset, as in
/// exporter-toolkit); `Err` (with a problem recorded) for a value of the wrong shape.
fn text(p: &mut Problems, key: &str, value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
            p.push(Problem::new(
                key,
                format!(
                    "expected a single value (text), got {}",
                    shape(value).name()
                ),
            ));
            Err(())
        }
        other => Ok(scalar_text(other).filter(|text| !text.is_empty())),
    }
}

fn fail(p: &mut Problems, key: &str, message: impl Into<String>) {
    p.push(Problem::new(key, message));
}

/// Refuses an exporter-toolkit key that is not honoured here, saying why.
fn refused(p: &mut Problems, key: &str) -> bool {
    match REFUSED.iter().find(|(refused, _)| *refused == key) {
        Some((_, why)) => {
            p.push(Problem::new(key, format!("refused: {why}")));
            true
        }
        None => false,
    }
}

fn unknown(p: &mut Problems, key: &str, allowed: &[&str]) {
    p.push(Problem::new(
        key,
        format!("unknown key; allowed here: {}", allowed.join(", ")),
    ));
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn shape(value: &Value) -> Shape {
    match value {
        Value::Null => Shape::Null,
        Value::Bool(_) => Shape::Bool,
        Value::Number(_) => Shape::Number,
        Value::String(_) => Shape::Text,
        Value::Sequence(_) => Shape::List,
        Value::Mapping(_) => Shape::Mapping,
        Value::Tagged(_) => Shape::Tagged,
    }
}

/// Checks the file's content; every problem is returned, not only the first.
fn parse(value: &Value, dir: &Path) -> Result<Parsed, Vec<Problem>> {
    let mut problems = Problems::default();
    let c = &mut problems;
    let mut parsed = Parsed::default();
    for (name, value) in mapping(c, "(top level)", value) {
        match name.as_str() {
            "tls_server_config" => parsed.tls = tls_section(c, value, dir),
            "http_server_config" => parsed.headers = http_section(c, value),
            "basic_auth_users" => parsed.users = users_section(c, value),
            other => {
                if !refused(c, other) {
                    unknown(c, other, TOP_KEYS);
                }
            }
        }
    }
    problems.into_result(parsed)
}

fn tls_section(c: &mut Problems, value: &Value, dir: &Path) -> Option<TlsSection> {
    let section = "tls_server_config";
    let mut given: BTreeMap<&'static str, String> = BTreeMap::new();
    // Keys given with a wrong value, already reported: not reported again as missing.
    let mut wrong = Vec::new();
    for (name, value) in mapping(c, section, value) {
        let key = format!("{section}.{name}");
        match TLS_KEYS.iter().find(|known| **known == name) {
            Some(known) => match text(c, &key, value) {
                Ok(Some(text)) => {
                    given.insert(known, text);
                }
                Ok(None) => {}
                Err(()) => wrong.push(*known),
            },
            None => {
                if !refused(c, &key) {
                    unknown(c, &key, TLS_KEYS);
                }
            }
        }
    }
    if given.is_empty() && wrong.is_empty() {
        // An empty section, as exporter-toolkit reads it: no TLS.
        return None;
    }
    let pem = |c: &mut Problems, file: &'static str, inline: &'static str, what: &str| match (
        given.get(file),
        given.get(inline),
    ) {
        (Some(_), Some(_)) => {
            fail(
                c,
                &format!("{section}.{inline}"),
                format!("give either `{file}` or `{inline}`, not both"),
            );
            None
        }
        (Some(path), None) => Some(Pem::File {
            key: file,
            path: dir.join(path),
        }),
        (None, Some(text)) => Some(Pem::Inline {
            key: inline,
            text: text.clone(),
        }),
        (None, None) => {
            if !what.is_empty() && !wrong.contains(&file) && !wrong.contains(&inline) {
                fail(
                    c,
                    &format!("{section}.{file}"),
                    format!(
                        "TLS is configured (`{section}` has keys) but {what} is missing; \
                             give `{file}` (a PEM file) or `{inline}` (the PEM text)"
                    ),
                );
            }
            None
        }
    };
    let cert = pem(c, "cert_file", "cert", "the server certificate");
    let key = pem(c, "key_file", "key", "the server's private key");
    let client_ca = pem(c, "client_ca_file", "client_ca", "");
    let client_auth = match given.get("client_auth_type") {
        None => ClientAuth::NoClientCert,
        Some(text) => ClientAuth::parse(text).unwrap_or_else(|| {
            c.expected(
                &format!("{section}.client_auth_type"),
                None,
                text,
                "one of `NoClientCert`, `RequestClientCert`, `RequireAnyClientCert`, \
                 `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`",
            );
            ClientAuth::NoClientCert
        }),
    };
    if client_auth.verifies() && client_ca.is_none() {
        fail(
            c,
            &format!("{section}.client_ca_file"),
            "`client_auth_type` verifies client certificates, so it needs the CA that signs \
             them: give `client_ca_file` (or `client_ca`)",
        );
    }
    if client_ca.is_some() && client_auth == ClientAuth::NoClientCert {
        fail(
            c,
            &format!("{section}.client_auth_type"),
            "a client CA is given but `client_auth_type` is `NoClientCert`, so no client \
             certificate would be asked for; set `client_auth_type: RequireAndVerifyClientCert`",
        );
    }
    let mut version = |name: &str, default: Version| match given.get(name) {
        None => default,
        Some(text) => match text.as_str() {
            "TLS12" => Version::Tls12,
            "TLS13" => Version::Tls13,
            "TLS10" | "TLS11" => {
                fail(
                    c,
                    &format!("{section}.{name}"),
                    format!(
                        "`{text}` is refused: rustls implements only TLS 1.2 and 1.3 (1.0 and \
                         1.1 are deprecated, RFC 8996); use `TLS12` or `TLS13`"
                    ),
                );
                default
            }
            _ => {
                c.expected(
                    &format!("{section}.{name}"),
                    None,
                    text,
                    "`TLS12` or `TLS13`",
                );
                default
            }
        },
    };
    let min_version = version("min_version", Version::Tls12);
    let max_version = version("max_version", Version::Tls13);
    if min_version > max_version {
        fail(
            c,
            &format!("{section}.min_version"),
            "`min_version` is above `max_version`; no version would be left",
        );
    }
    Some(TlsSection {
        cert: cert?,
        key: key?,
        client_ca,
        client_auth,
        min_version,
        max_version,
    })
}

fn http_section(c: &mut Problems, value: &Value) -> Vec<(HeaderName, HeaderValue)> {
    let section = "http_server_config";
    let mut headers = Vec::new();
    for (name, value) in mapping(c, section, value) {
        let key = format!("{section}.{name}");
        match name.as_str() {
            // HTTP/2 is not served: the exporter answers HTTP/1.1 (ALPN offers only that),
            // which every Prometheus speaks; the key is accepted so that files written for
            // other exporters load.
            "http2" => {
                if !matches!(value, Value::Bool(_) | Value::Null) {
                    fail(
                        c,
                        &key,
                        format!("expected `true` or `false`, got {}", shape(value).name()),
                    );
                }
            }
            "headers" => {
                for (header, value) in mapping(c, &key, value) {
                    let key = format!("{key}.{header}");
                    if let Some(added) = extra_header(c, &key, &header, value) {
                        headers.push(added);
                    }
                }
            }
            _ => unknown(c, &key, &["headers", "http2"]),
        }
    }
    headers
}

fn extra_header(
    c: &mut Problems,
    key: &str,
    name: &str,
    value: &Value,
) -> Option<(HeaderName, HeaderValue)> {
    let Some((_, allowed)) = EXTRA_HEADERS.iter().find(|(known, _)| *known == name) else {
        let names: Vec<&str> = EXTRA_HEADERS.iter().map(|(name, _)| *name).collect();
        fail(
            c,
            key,
            format!(
                "this header cannot be set (as in exporter-toolkit, only these can, spelled so: \
                 {})",
                names.join(", ")
            ),
        );
        return None;
    };
    // Blank: unset, as exporter-toolkit documents.
    let text = text(c, key, value).ok()??;
    if !allowed.is_empty() && !allowed.contains(&text.as_str()) {
        fail(
            c,
            key,
            format!("expected one of `{}`, got `{text}`", allowed.join("`, `")),
        );
        return None;
    }
    let Ok(value) = HeaderValue::from_str(&text) else {
        fail(
            c,
            key,
            "not a valid header value (visible ASCII and spaces, no line breaks)",
        );
        return None;
    };
    let name = HeaderName::from_bytes(name.as_bytes()).expect("the allowed names are valid");
    Some((name, value))
}

fn users_section(c: &mut Problems, value: &Value) -> Option<BTreeMap<String, String>> {
    let section = "basic_auth_users";
    let mut users = BTreeMap::new();
    for (user, value) in mapping(c, section, value) {
        let key = format!("{section}.{user}");
        if user.contains(':') {
            fail(
                c,
                &key,
                "a user name cannot contain `:`: Basic authentication splits user and password \
                 at the first colon",
            );
            continue;
        }
        let Ok(Some(hash)) = text(c, &key, value) else {
            fail(
                c,
                &key,
                "no password hash given; expected a bcrypt hash like `$2y$10$...`",
            );
            continue;
        };
        match auth::check_hash(&hash) {
            Ok(()) => {
                users.insert(user, hash);
            }
            Err(message) => fail(c, &key, message),
        }
    }
    // No users: no authentication, as in exporter-toolkit.
    (!users.is_empty()).then_some(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<Problem> {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        parse(&value, Path::new("/etc/x")).expect_err("the file is refused")
    }

    /// The one problem of `yaml`: its key, and its message containing every word of `words`.
    fn refused(yaml: &str, key: &str, words: &[&str]) {
        let problems = problems(yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, key, "{problems:?}");
        for word in words {
            assert!(
                problems[0].message.contains(word),
                "`{word}` in: {}",
                problems[0].message
            );
        }
    }

    fn parsed(yaml: &str) -> Parsed {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        parse(&value, Path::new("/etc/x")).unwrap()
    }

    const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

    #[test]
    fn an_empty_file_or_empty_sections_mean_plain_http_without_authentication() {
        for yaml in [
            "",
            "{}",
            "tls_server_config: {}\nbasic_auth_users: {}\n",
            "tls_server_config:\n",
        ] {
            let parsed = parsed(yaml);
            assert!(parsed.tls.is_none() && parsed.users.is_none(), "{yaml}");
        }
    }

    #[test]
    fn relative_paths_are_relative_to_the_web_config_file() {
        let tls = parsed(TLS).tls.unwrap();
        assert_eq!(
            tls.cert,
            Pem::File {
                key: "cert_file",
                path: PathBuf::from("/etc/x/server.crt")
            }
        );
        assert_eq!(tls.min_version, Version::Tls12);
        assert_eq!(tls.max_version, Version::Tls13);
        assert_eq!(tls.client_auth, ClientAuth::NoClientCert);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_allowed_ones() {
        refused(
            "tls_server_config2: {}\n",
            "tls_server_config2",
            &["unknown key", "basic_auth_users"],
        );
        refused(
            &format!("{TLS}  cert_fil: x\n"),
            "tls_server_config.cert_fil",
            &["unknown key", "cert_file"],
        );
        refused(
            "http_server_config:\n  http3: true\n",
            "http_server_config.http3",
            &["unknown key", "http2"],
        );
    }

    #[test]
    fn toolkit_keys_rustls_cannot_honour_are_refused_saying_why() {
        for (key, value, why) in [
            ("cipher_suites", "[TLS_AES_128_GCM_SHA256]", "cipher suites"),
            ("curve_preferences", "[X25519]", "key exchange groups"),
            ("prefer_server_cipher_suites", "true", "no server order"),
            ("client_allowed_sans", "[a.example]", "client_ca_file"),
        ] {
            refused(
                &format!("{TLS}  {key}: {value}\n"),
                &format!("tls_server_config.{key}"),
                &["refused", why],
            );
        }
        refused(
            "rate_limit:\n  interval: 1s\n  burst: 5\n",
            "rate_limit",
            &["refused", "web.max_connections"],
        );
    }

    #[test]
    fn tls_versions_other_than_1_2_and_1_3_are_refused() {
        for old in ["TLS10", "TLS11"] {
            refused(
                &format!("{TLS}  min_version: {old}\n"),
                "tls_server_config.min_version",
                &[old, "rustls implements only TLS 1.2 and 1.3", "TLS12"],
            );
        }
        refused(
            &format!("{TLS}  max_version: SSL3\n"),
            "tls_server_config.max_version",
            &["`TLS12` or `TLS13`", "`SSL3`"],
        );
        refused(
            &format!("{TLS}  min_version: TLS13\n  max_version: TLS12\n"),
            "tls_server_config.min_version",
            &["above `max_version`"],
        );
    }

    #[test]
    fn tls_needs_a_certificate_and_a_key_each_given_once() {
        refused(
            "tls_server_config:\n  key_file: k\n",
            "tls_server_config.cert_file",
            &["server certificate is missing", "`cert`"],
        );
        refused(
            "tls_server_config:\n  cert_file: c\n  min_version: TLS13\n",
            "tls_server_config.key_file",
            &["private key is missing"],
        );
        refused(
            &format!("{TLS}  cert: inline\n"),
            "tls_server_config.cert",
            &["either `cert_file` or `cert`"],
        );
    }

    #[test]
    fn client_auth_types_are_checked_against_the_client_ca() {
        refused(
            &format!("{TLS}  client_auth_type: RequireAndVerify\n"),
            "tls_server_config.client_auth_type",
            &["`RequireAndVerify`", "RequireAndVerifyClientCert"],
        );
        refused(
            &format!("{TLS}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_ca_file",
            &["needs the CA"],
        );
        refused(
            &format!("{TLS}  client_auth_type: VerifyClientCertIfGiven\n"),
            "tls_server_config.client_ca_file",
            &["needs the CA"],
        );
        refused(
            &format!("{TLS}  client_ca_file: ca.crt\n"),
            "tls_server_config.client_auth_type",
            &["`NoClientCert`", "RequireAndVerifyClientCert"],
        );
        let tls = parsed(&format!("{TLS}  client_auth_type: RequireClientCert\n"))
            .tls
            .unwrap();
        assert_eq!(tls.client_auth, ClientAuth::RequireAnyClientCert);
    }

    #[test]
    fn only_the_headers_exporter_toolkit_allows_can_be_set() {
        for header in [
            "Authorization",
            "Content-Type",
            "Content-Encoding",
            "Server",
            "x-frame-options",
        ] {
            refused(
                &format!("http_server_config:\n  headers:\n    {header}: x\n"),
                &format!("http_server_config.headers.{header}"),
                &["cannot be set", "Strict-Transport-Security"],
            );
        }
        refused(
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "http_server_config.headers.X-Frame-Options",
            &["`deny`", "`allow`"],
        );
        refused(
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
            "http_server_config.headers.X-Content-Type-Options",
            &["`nosniff`"],
        );
        let parsed = parsed(
            "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n    Content-Security-Policy: \"\"\n",
        );
        let names: Vec<&str> = parsed.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-frame-options", "strict-transport-security"]);
    }

    #[test]
    fn http2_must_be_a_boolean() {
        refused(
            "http_server_config:\n  http2: maybe\n",
            "http_server_config.http2",
            &["`true` or `false`"],
        );
    }

    #[test]
    fn user_entries_must_hold_bcrypt_hashes() {
        refused(
            "basic_auth_users:\n  alice: plaintext\n",
            "basic_auth_users.alice",
            &["not a bcrypt hash", "htpasswd"],
        );
        refused(
            "basic_auth_users:\n  alice:\n",
            "basic_auth_users.alice",
            &["no password hash"],
        );
        let hash = bcrypt::hash("x", 4).unwrap();
        refused(
            &format!("basic_auth_users:\n  \"a:b\": '{hash}'\n"),
            "basic_auth_users.a:b",
            &["cannot contain `:`"],
        );
        let users = parsed(&format!("basic_auth_users:\n  alice: '{hash}'\n"))
            .users
            .unwrap();
        assert_eq!(users.get("alice"), Some(&hash));
    }

    #[test]
    fn wrong_shapes_are_named() {
        refused(
            "- a\n- b\n",
            "(top level)",
            &["expected a mapping", "a list"],
        );
        refused(
            "tls_server_config:\n  cert_file: [a, b]\n  key_file: k\n",
            "tls_server_config.cert_file",
            &["single value", "a list"],
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = problems(
            "rate_limit: {}\ntls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n  cipher_suites: []\nbasic_auth_users:\n  bob: nope\n",
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "rate_limit",
                "tls_server_config.cipher_suites",
                "tls_server_config.min_version",
                "basic_auth_users.bob"
            ]
        );
    }

    /// A web config file in a temporary directory, with a CA-signed certificate beside it.
    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new() -> Files {
            let dir = tempfile::tempdir().unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
            let other = rcgen::KeyPair::generate().unwrap();
            std::fs::write(dir.path().join("other.key"), other.serialize_pem()).unwrap();
            Files { dir }
        }

        fn load(&self, yaml: &str) -> Result<(Active, Fingerprint), WebConfigError> {
            let path = self.write(yaml);
            let (fingerprint, active) = load(&path);
            active.map(|active| (active, fingerprint))
        }

        fn write(&self, yaml: &str) -> PathBuf {
            let path = self.dir.path().join("web.yml");
            std::fs::write(&path, yaml).unwrap();
            path
        }
    }

    #[test]
    fn a_file_that_loads_has_its_certificate_and_key_read() {
        let files = Files::new();
        let (active, fingerprint) = files.load(TLS).unwrap();
        assert!(active.tls.is_some());
        assert_eq!(
            fingerprint.0.len(),
            3,
            "the file, the certificate and the key"
        );
        assert!(fingerprint.unchanged());
    }

    #[test]
    fn unreadable_or_mismatched_certificates_and_keys_name_their_key() {
        let files = Files::new();
        let lines = |err: WebConfigError| err.lines().join("\n");
        let err = files
            .load("tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n")
            .unwrap_err();
        let text = lines(err);
        assert!(text.contains("`tls_server_config.cert_file`"), "{text}");
        assert!(text.contains("missing.crt"), "{text}");
        assert!(text.contains("web.yml"), "{text}");

        let err = files
            .load("tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n")
            .unwrap_err();
        assert!(lines(err).contains("holds no certificate"));

        let err = files
            .load("tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n")
            .unwrap_err();
        assert!(lines(err).contains("`tls_server_config.key_file`"));

        let err = files
            .load("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n")
            .unwrap_err();
        let text = lines(err);
        assert!(text.contains("`tls_server_config.key_file`"), "{text}");
        assert!(text.contains("does not fit the certificate"), "{text}");
    }

    #[test]
    fn inline_certificates_and_keys_are_read_as_text() {
        let files = Files::new();
        let cert = std::fs::read_to_string(files.dir.path().join("server.crt")).unwrap();
        let key = std::fs::read_to_string(files.dir.path().join("server.key")).unwrap();
        let yaml = serde_yaml::to_string(&serde_yaml::Value::Mapping(
            [(
                Value::from("tls_server_config"),
                Value::Mapping(
                    [
                        (Value::from("cert"), Value::from(cert)),
                        (Value::from("key"), Value::from(key)),
                    ]
                    .into_iter()
                    .collect(),
                ),
            )]
            .into_iter()
            .collect(),
        ))
        .unwrap();
        let (active, fingerprint) = files.load(&yaml).unwrap();
        assert!(active.tls.is_some());
        assert_eq!(fingerprint.0.len(), 1, "only the file itself is watched");
    }

    #[test]
    fn repeated_keys_and_broken_yaml_are_refused() {
        let files = Files::new();
        let err = files
            .load("basic_auth_users:\n  a: x\nbasic_auth_users:\n  b: y\n")
            .unwrap_err();
        assert!(matches!(err, WebConfigError::Yaml { .. }), "{err}");
        assert!(err.to_string().contains("duplicate"), "{err}");
        let err = files.load("tls_server_config: [\n").unwrap_err();
        assert!(err.to_string().contains("not valid YAML"), "{err}");
    }

    fn users_of(security: &WebSecurity) -> String {
        format!("{:?}", security.active().users)
    }

    /// Reloads are driven by hand here (`reload_if_changed`), so nothing waits for time.
    #[test]
    fn a_change_that_cannot_be_used_keeps_the_last_good_configuration() {
        let files = Files::new();
        let hash = |password| bcrypt::hash(password, 4).unwrap();
        let path = files.write(&format!(
            "{TLS}basic_auth_users:\n  alice: '{}'\n",
            hash("a")
        ));
        let security = WebSecurity::load(&path).unwrap();
        assert!(security.tls_enabled() && security.auth_enabled());

        for bad in [
            "tls_server_config: [\n".to_owned(),
            format!("{TLS}basic_auth_users:\n  alice: plaintext\n"),
            format!(
                "{TLS}  min_version: TLS11\nbasic_auth_users:\n  bob: '{}'\n",
                hash("b")
            ),
            // Valid, but TLS cannot be switched off by a reload.
            format!("basic_auth_users:\n  bob: '{}'\n", hash("b")),
        ] {
            std::fs::write(&path, &bad).unwrap();
            security.reload_if_changed();
            assert_eq!(users_of(&security), "Some([\"alice\"])", "after {bad}");
            assert!(security.tls_enabled(), "after {bad}");
        }

        std::fs::write(
            &path,
            format!("{TLS}basic_auth_users:\n  bob: '{}'\n", hash("b")),
        )
        .unwrap();
        security.reload_if_changed();
        assert_eq!(users_of(&security), "Some([\"bob\"])");

        // No users any more (say, the file caught half-written): authentication stays on until
        // a restart says otherwise.
        std::fs::write(&path, TLS).unwrap();
        security.reload_if_changed();
        assert!(security.auth_enabled());
        assert_eq!(users_of(&security), "Some([\"bob\"])");
    }

    /// A certificate swapped for a symlink to /dev/zero (or a FIFO) on a running exporter: the
    /// reload refuses it without reading past the limit, and the previous configuration stays.
    #[test]
    fn a_certificate_swapped_for_dev_zero_or_a_fifo_keeps_the_last_good_configuration() {
        let files = Files::new();
        let path = files.write(&format!(
            "{TLS}basic_auth_users:\n  alice: '{}'\n",
            bcrypt::hash("a", 4).unwrap()
        ));
        let security = WebSecurity::load(&path).unwrap();
        let cert = files.dir.path().join("server.crt");
        std::fs::remove_file(&cert).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &cert).unwrap();
        security.reload_if_changed();
        assert!(security.tls_enabled());
        assert_eq!(users_of(&security), "Some([\"alice\"])");
        let (_, loaded) = load(&path);
        let problem = format!("{:?}", loaded.err().unwrap());
        assert!(problem.contains("a device"), "{problem}");
        std::fs::remove_file(&cert).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(&cert)
            .status()
            .unwrap()
            .success());
        security.reload_if_changed();
        assert!(security.tls_enabled());
        let (_, loaded) = load(&path);
        assert!(format!("{:?}", loaded.err().unwrap()).contains("a FIFO"));
    }

    #[test]
    fn the_files_the_configuration_names_are_watched_even_before_they_exist() {
        let files = Files::new();
        let path = files.write(TLS);
        let security = WebSecurity::load(&path).unwrap();
        let first = security.active();

        // A changed certificate file alone is a change.
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["renewed.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(files.dir.path().join("server.crt"), cert.pem()).unwrap();
        std::fs::write(files.dir.path().join("server.key"), key.serialize_pem()).unwrap();
        security.reload_if_changed();
        let renewed = security.active();
        assert!(
            !Arc::ptr_eq(&first, &renewed),
            "the renewed certificate is loaded"
        );

        // A file named but not there yet: refused, then taken when it appears.
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: later.crt\n  key_file: server.key\n",
        )
        .unwrap();
        security.reload_if_changed();
        assert!(
            Arc::ptr_eq(&renewed, &security.active()),
            "kept while later.crt is missing"
        );
        std::fs::copy(
            files.dir.path().join("server.crt"),
            files.dir.path().join("later.crt"),
        )
        .unwrap();
        security.reload_if_changed();
        assert!(
            !Arc::ptr_eq(&renewed, &security.active()),
            "later.crt is seen"
        );

        // Nothing changed: nothing reloaded.
        let now = security.active();
        security.reload_if_changed();
        assert!(Arc::ptr_eq(&now, &security.active()));
    }

    /// The shipped files (the documented example, the Kubernetes Component's) load as they
    /// say: TLS with a certificate and a key, one user, their headers.
    #[test]
    fn the_shipped_web_config_files_are_valid() {
        for (file, headers) in [
            ("deploy/web-config.example.yml", 2),
            ("deploy/kubernetes/web-config/web-config.yml", 1),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            let text = std::fs::read_to_string(path).unwrap();
            let value: Value = serde_yaml::from_str(&text).unwrap();
            let parsed = parse(&value, Path::new("/etc/iam-key-exporter"))
                .unwrap_or_else(|problems| panic!("{file}: {problems:?}"));
            assert_eq!(parsed.tls.expect(file).files().len(), 2, "{file}");
            let users = parsed.users.expect(file);
            assert_eq!(users.keys().collect::<Vec<_>>(), ["prometheus"], "{file}");
            assert_eq!(parsed.headers.len(), headers, "{file}");
        }
    }

    /// The compose stack's file: basic authentication only, and the password its Prometheus
    /// sends (compose/prometheus.yml) matches the hash.
    #[test]
    fn the_compose_stacks_web_config_matches_its_prometheus() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("deploy/compose/web-config.yml")).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        let parsed = parse(&value, Path::new("/etc/iam-key-exporter")).unwrap();
        assert!(parsed.tls.is_none());
        let prometheus: Value = serde_yaml::from_str(
            &std::fs::read_to_string(root.join("deploy/compose/prometheus.yml")).unwrap(),
        )
        .unwrap();
        let auth = &prometheus["scrape_configs"][0]["basic_auth"];
        let (user, password) = (
            auth["username"].as_str().unwrap(),
            auth["password"].as_str().unwrap(),
        );
        let hash = text
            .lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{user}: ")))
            .unwrap();
        assert!(
            bcrypt::verify(password, hash).unwrap(),
            "the demo password matches its hash"
        );
        assert_eq!(parsed.users.unwrap().keys().collect::<Vec<_>>(), [user]);
    }

    /// The nesting guard of the config file stands before this file's parser too: 100 levels
    /// of `[` are refused before `serde_yaml` sees them, and the configuration error names the
    /// file and says why.
    #[test]
    fn a_deeply_nested_file_is_refused_before_it_is_parsed() {
        let files = Files::new();
        let path = files.write(&format!(
            "tls_server_config: {}{}\n",
            "[".repeat(100),
            "]".repeat(100)
        ));
        let err = load(&path).1.unwrap_err();
        assert!(matches!(err, WebConfigError::Unreadable { .. }), "{err}");
        let text = ConfigError::from(err).to_string();
        assert!(text.contains("`web.config_file`"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("levels deep"), "{text}");
        assert!(WebSecurity::load(&path).is_err());
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(Path::new("/nonexistent/web.yml")).1.unwrap_err();
        assert!(err.to_string().contains("/nonexistent/web.yml"), "{err}");
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
