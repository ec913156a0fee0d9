//! The web config file's schema: its top level, `http_server_config` and `basic_auth_users`
//! (`tls_server_config` is [`super::tls_section`]'s), and the keys of exporter-toolkit that are
//! refused here, each with its reason.

use std::collections::BTreeMap;
use std::path::Path;

use hyper::header::{HeaderName, HeaderValue};
use serde_yaml::Value;

use super::tls_section::{self, TlsSection};
use super::yaml::{fail, mapping, shape, text, unknown};
use crate::diagnostics::{Problem, Problems};
use crate::server::auth;

/// The top-level keys understood here.
const TOP_KEYS: &[&str] = &[
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
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

/// The file's content, checked, before the files it names are read.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) tls: Option<TlsSection>,
    pub(super) users: Option<BTreeMap<String, String>>,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
}

/// Refuses an exporter-toolkit key that is not honoured here, saying why.
pub(super) fn refused(p: &mut Problems, key: &str) -> bool {
    match REFUSED.iter().find(|(refused, _)| *refused == key) {
        Some((_, why)) => {
            p.push(Problem::new(key, format!("refused: {why}")));
            true
        }
        None => false,
    }
}

/// Checks the file's content; every problem is returned, not only the first.
pub(super) fn parse(value: &Value, dir: &Path) -> Result<Parsed, Vec<Problem>> {
    let mut problems = Problems::default();
    let c = &mut problems;
    let mut parsed = Parsed::default();
    for (name, value) in mapping(c, "(top level)", value) {
        match name.as_str() {
            "tls_server_config" => parsed.tls = tls_section::parse(c, value, dir),
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

    /// The refusal of `curve_preferences` names the groups the server's provider negotiates, in
    /// its order (Go's names for the NIST curves).
    #[test]
    fn the_curve_preferences_refusal_names_the_providers_groups() {
        let words: Vec<String> = crate::server::tls::provider()
            .kx_groups
            .iter()
            .map(|group| match format!("{:?}", group.name()).as_str() {
                "secp256r1" => "P-256".to_owned(),
                "secp384r1" => "P-384".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        let (_, message) = REFUSED
            .iter()
            .find(|(key, _)| *key == "tls_server_config.curve_preferences")
            .unwrap();
        assert!(
            message.contains(&format!("key exchange groups ({})", words.join(", "))),
            "{message}"
        );
    }
}
