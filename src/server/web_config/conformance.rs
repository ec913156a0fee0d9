//! Conformance with exporter-toolkit: one case of our own after each of the toolkit's
//! `web/testdata` files, in `tests/fixtures/web-config/toolkit/` (certificates and hashes our
//! own), each loaded here and held to the outcome `cases.tsv` records, and the table of
//! `docs/web-config.md` held to `cases.tsv`, so that neither can drift.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use super::load;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases_dir() -> PathBuf {
    root().join("tests/fixtures/web-config/toolkit")
}

const HEADER: &str = "toolkit file\tour file\ttoolkit outcome\tour outcome\tagreement\treason";

/// The rows of `cases.tsv`, each its six columns.
fn rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(cases_dir().join("cases.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER), "cases.tsv's columns");
    lines
        .map(|line| {
            let columns: Vec<String> = line.split('\t').map(str::to_owned).collect();
            assert_eq!(columns.len(), 6, "six columns: {line}");
            columns
        })
        .collect()
}

#[test]
fn every_toolkit_case_has_the_outcome_cases_tsv_records() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} cases", rows.len());
    for row in &rows {
        let [toolkit, ours, theirs, outcome, agreement, reason] = &row[..] else {
            unreachable!()
        };
        assert!(toolkit.starts_with("web/testdata/"), "{toolkit}");
        let path = cases_dir().join(ours);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{ours}: {err}"));
        let citation = format!(
            "# After exporter-toolkit's {toolkit} (github.com/prometheus/exporter-toolkit):"
        );
        assert_eq!(
            text.lines().next(),
            Some(citation.as_str()),
            "{ours} cites its case"
        );
        let loaded = load(&path).1;
        let got = if loaded.is_ok() { "loads" } else { "refused" };
        assert_eq!(got, outcome, "{ours}: {loaded:?}");
        assert!(
            ["loads", "refused"].contains(&theirs.as_str()),
            "{toolkit}: {theirs}"
        );
        let agrees = if theirs == outcome {
            "agree"
        } else {
            "differs"
        };
        assert_eq!(agreement, agrees, "{ours}");
        assert!(!reason.trim().is_empty(), "{ours}: a reason");
    }
    // Every case file is in the table.
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            assert!(
                rows.iter().any(|row| row[1] == name),
                "{name} is in cases.tsv"
            );
        }
    }
}

/// The docs' table, as it must read: one row per line of `cases.tsv`.
fn table(rows: &[Vec<String>]) -> String {
    let mut table = String::from(
        "| exporter-toolkit's case | ours | toolkit | here | | why |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let case = row[0].trim_start_matches("web/testdata/");
        table.push_str(&format!(
            "| [`{case}`](https://github.com/prometheus/exporter-toolkit/blob/master/{}) | [`{}`](../tests/fixtures/web-config/toolkit/{}) | {} | {} | {} | {} |\n",
            row[0], row[1], row[1], row[2], row[3], row[4], row[5]
        ));
    }
    table
}

#[test]
fn the_docs_conformance_table_is_cases_tsv() {
    let docs = std::fs::read_to_string(root().join("docs/web-config.md")).unwrap();
    let section = docs
        .split("## Conformance with exporter-toolkit")
        .nth(1)
        .expect("docs/web-config.md has the conformance section");
    let expected = table(&rows());
    assert!(
        section.contains(&expected),
        "docs/web-config.md's conformance table should read:\n{expected}"
    );
}

/// The toolkit presents its self-signed (CA-flagged) client certificate to the server of
/// `tls_config_noAuth.requireandverifyclientcert.good.yml` and is let in; so is ours, over a
/// real handshake, and a CA-flagged certificate the client CA file does not hold is not.
#[tokio::test]
async fn the_listed_self_signed_client_certificate_completes_the_handshake() {
    let case = cases_dir().join("tls_config_noAuth.requireandverifyclientcert.good.yml");
    let server = load(&case).1.unwrap().tls().unwrap();
    let read = |name: &str| std::fs::read(cases_dir().join(name)).unwrap();
    let listed = (
        CertificateDer::pem_slice_iter(&read("client_selfsigned.pem"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        PrivateKeyDer::from_pem_slice(&read("client_selfsigned.key")).unwrap(),
    );
    assert!(handshake(server.clone(), listed).await.is_ok());

    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let unlisted = params.self_signed(&key).unwrap();
    let unlisted = (
        vec![unlisted.der().clone()],
        PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
    );
    assert!(handshake(server, unlisted).await.is_err());
}

/// A TLS handshake with `server`, presenting `client`, and one byte written back: a refused
/// client certificate shows on the first read after the client's side finished.
async fn handshake(
    server: Arc<tokio_rustls::rustls::ServerConfig>,
    (chain, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::ClientConfig;

    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_client_auth_cert(chain, key)
        .unwrap();
    let (near, far) = tokio::io::duplex(64 * 1024);
    let serving = async move {
        let mut stream = tokio_rustls::TlsAcceptor::from(server).accept(far).await?;
        stream.write_all(b"x").await?;
        stream.flush().await
    };
    let connecting = async move {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut stream = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, near)
            .await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.map(|_| ())
    };
    let (served, connected) = tokio::join!(serving, connecting);
    served
        .and(connected)
        .map_err(|err: std::io::Error| err.to_string())
}

/// The client side of [`handshake`] takes any server certificate: the server's is not what
/// is tested.
#[derive(Debug)]
struct AnyServer(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
