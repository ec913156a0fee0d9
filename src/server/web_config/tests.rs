//! The web configuration's tests: the schema (every problem with its key and words), loading
//! the files it names, and reloads driven by hand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value;

use super::pem::Pem;
use super::reload::Fingerprint;
use super::sections::{parse, Parsed};
use super::*;
use crate::diagnostics::Problem;
use crate::server::tls::{ClientAuth, Version};

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

/// The shipped files (the documented example, the Kubernetes Component's) name no working
/// password: as shipped, the placeholder is refused, naming the key and the command that makes
/// a hash. With a hash in its place they load as they say: TLS with a certificate and a key,
/// one user, their headers.
#[test]
fn the_shipped_web_config_files_are_valid_once_their_placeholder_is_a_hash() {
    let placeholder = "REPLACE-WITH-THE-BCRYPT-HASH-OF-THE-PASSWORD";
    let hash = bcrypt::hash("a password of the user's own", 4).unwrap();
    for (file, headers) in [
        ("deploy/web-config.example.yml", 2),
        ("deploy/kubernetes/web-config/web-config.yml", 1),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("$2"), "{file}: no bcrypt hash shipped");
        let words = ["not a bcrypt hash", "htpasswd -nbBC 10"];
        refused(&text, "basic_auth_users.prometheus", &words);
        assert_eq!(text.matches(placeholder).count(), 1, "{file}");
        let value: Value = serde_yaml::from_str(&text.replace(placeholder, &hash)).unwrap();
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
