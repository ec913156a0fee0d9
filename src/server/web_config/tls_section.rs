//! `tls_server_config`: its keys, checked into a [`TlsSection`] whose files are read later;
//! each enumerated field parses itself from its text ([`Enumerated`], exporter-toolkit's
//! `UnmarshalYAML` on its `TLSVersion` and client auth type), naming the accepted values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::pem::Pem;
use super::sections::refused;
use super::yaml::{fail, mapping, text, unknown};
use crate::diagnostics::{Problem, Problems};
use crate::server::tls::{ClientAuth, TlsSettings, Version};

/// The section's name, the first part of its keys.
const SECTION: &str = "tls_server_config";

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

/// `tls_server_config`, checked; its files not yet read.
#[derive(Debug)]
pub(super) struct TlsSection {
    pub(super) cert: Pem,
    pub(super) key: Pem,
    pub(super) client_ca: Option<Pem>,
    pub(super) client_auth: ClientAuth,
    pub(super) min_version: Version,
    pub(super) max_version: Version,
}

impl TlsSection {
    /// The files the section names, watched for changes.
    pub(super) fn files(&self) -> Vec<PathBuf> {
        [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|pem| match pem {
                Pem::File { path, .. } => Some(path.clone()),
                Pem::Inline { .. } => None,
            })
            .collect()
    }

    /// Reads the certificates and keys.
    pub(super) fn read(&self) -> Result<TlsSettings, Problem> {
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

/// A field whose value is one of a few names, parsed from its text.
pub(super) trait Enumerated: Sized + Copy {
    /// The accepted names, as a problem names them ("expected ACCEPTED, got `x`").
    const ACCEPTED: &'static str;

    /// The value `name` stands for, if any.
    fn from_name(name: &str) -> Option<Self>;

    /// Why `name` is refused, when it names a value known but not supported here.
    fn refusal(_name: &str) -> Option<String> {
        None
    }
}

/// The spellings exporter-toolkit accepts, with the meanings Go's `crypto/tls` gives them
/// (`RequireClientCert` is the toolkit's old name for `RequireAnyClientCert`).
impl Enumerated for ClientAuth {
    const ACCEPTED: &'static str = "one of `NoClientCert`, `RequestClientCert`, \
        `RequireAnyClientCert`, `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`";

    fn from_name(name: &str) -> Option<ClientAuth> {
        Some(match name {
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
}

/// exporter-toolkit's names of the versions; the two that rustls does not implement are
/// refused saying so.
impl Enumerated for Version {
    const ACCEPTED: &'static str = "`TLS12` or `TLS13`";

    fn from_name(name: &str) -> Option<Version> {
        match name {
            "TLS12" => Some(Version::Tls12),
            "TLS13" => Some(Version::Tls13),
            _ => None,
        }
    }

    fn refusal(name: &str) -> Option<String> {
        matches!(name, "TLS10" | "TLS11").then(|| {
            format!(
                "`{name}` is refused: rustls implements only TLS 1.2 and 1.3 (1.0 and 1.1 are \
                 deprecated, RFC 8996); use `TLS12` or `TLS13`"
            )
        })
    }
}

/// The section's keys as given, before they are checked together.
struct Given {
    /// Key (without the section) -> its text.
    text: BTreeMap<&'static str, String>,
    /// Keys given with a value of the wrong shape, already reported: not reported again as
    /// missing.
    wrong: Vec<&'static str>,
}

impl Given {
    fn read(c: &mut Problems, value: &Value) -> Given {
        let mut given = Given {
            text: BTreeMap::new(),
            wrong: Vec::new(),
        };
        for (name, value) in mapping(c, SECTION, value) {
            let key = format!("{SECTION}.{name}");
            match TLS_KEYS.iter().find(|known| **known == name) {
                Some(known) => match text(c, &key, value) {
                    Ok(Some(text)) => {
                        given.text.insert(known, text);
                    }
                    Ok(None) => {}
                    Err(()) => given.wrong.push(known),
                },
                None => {
                    if !refused(c, &key) {
                        unknown(c, &key, TLS_KEYS);
                    }
                }
            }
        }
        given
    }

    /// Where a PEM comes from: `file` or `inline`, one of them; `what` names it when it is
    /// required (empty: optional).
    fn pem(
        &self,
        c: &mut Problems,
        dir: &Path,
        (file, inline): (&'static str, &'static str),
        what: &str,
    ) -> Option<Pem> {
        match (self.text.get(file), self.text.get(inline)) {
            (Some(_), Some(_)) => {
                fail(
                    c,
                    &format!("{SECTION}.{inline}"),
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
                let wrong = self.wrong.contains(&file) || self.wrong.contains(&inline);
                if !what.is_empty() && !wrong {
                    fail(
                        c,
                        &format!("{SECTION}.{file}"),
                        format!(
                            "TLS is configured (`{SECTION}` has keys) but {what} is missing; \
                             give `{file}` (a PEM file) or `{inline}` (the PEM text)"
                        ),
                    );
                }
                None
            }
        }
    }

    /// The field `name`, parsed; `default` when it is not given or is refused.
    fn field<T: Enumerated>(&self, c: &mut Problems, name: &str, default: T) -> T {
        let Some(text) = self.text.get(name) else {
            return default;
        };
        if let Some(value) = T::from_name(text) {
            return value;
        }
        let key = format!("{SECTION}.{name}");
        match T::refusal(text) {
            Some(why) => c.push(Problem::new(key, why)),
            None => c.expected(&key, None, text, T::ACCEPTED),
        }
        default
    }
}

/// Checks the section; `None` when it is empty (as exporter-toolkit reads it: no TLS) or a
/// required part is missing (with a problem).
pub(super) fn parse(c: &mut Problems, value: &Value, dir: &Path) -> Option<TlsSection> {
    let given = Given::read(c, value);
    if given.text.is_empty() && given.wrong.is_empty() {
        return None;
    }
    let cert = given.pem(c, dir, ("cert_file", "cert"), "the server certificate");
    let key = given.pem(c, dir, ("key_file", "key"), "the server's private key");
    let client_ca = given.pem(c, dir, ("client_ca_file", "client_ca"), "");
    let client_auth = given.field(c, "client_auth_type", ClientAuth::NoClientCert);
    check_client_auth(c, client_auth, client_ca.is_some());
    let min_version = given.field(c, "min_version", Version::Tls12);
    let max_version = given.field(c, "max_version", Version::Tls13);
    if min_version > max_version {
        fail(
            c,
            &format!("{SECTION}.min_version"),
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

/// A client CA goes with a client auth type that uses it, and the other way round.
fn check_client_auth(c: &mut Problems, client_auth: ClientAuth, client_ca: bool) {
    if client_auth.verifies() && !client_ca {
        fail(
            c,
            &format!("{SECTION}.client_ca_file"),
            "`client_auth_type` verifies client certificates, so it needs the CA that signs \
             them: give `client_ca_file` (or `client_ca`)",
        );
    }
    if client_ca && client_auth == ClientAuth::NoClientCert {
        fail(
            c,
            &format!("{SECTION}.client_auth_type"),
            "a client CA is given but `client_auth_type` is `NoClientCert`, so no client \
             certificate would be asked for; set `client_auth_type: RequireAndVerifyClientCert`",
        );
    }
}
