//! TLS for the web server: the rustls configuration that `tls_server_config` of the web config
//! file asks for (certificate, client-certificate policy, protocol versions), and the
//! handshake, bounded in time so that a client cannot hold a connection slot by never
//! finishing it.
//!
//! Everything runs on rustls with the ring provider, like the AWS SDK's client: no aws-lc.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{
    self, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::diagnostics::Problem;

/// `client_auth_type`, with the meanings Go's `crypto/tls` gives these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// One is asked for, not required, and not verified.
    RequestClientCert,
    /// One is required, and not verified (only its key's possession is proven).
    RequireAnyClientCert,
    /// One is verified against the client CA when given.
    VerifyClientCertIfGiven,
    /// One is required and verified against the client CA: the only setting that
    /// authenticates clients.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    /// Whether client certificates are checked against a CA, which must then be given.
    pub(crate) fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// A TLS protocol version rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Version {
    Tls12,
    Tls13,
}

/// What a `tls_server_config` section resolves to, its files already read.
pub(crate) struct TlsSettings {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) client_auth: ClientAuth,
    /// The client CA certificates; `None` when not given.
    pub(crate) client_cas: Option<Vec<CertificateDer<'static>>>,
    pub(crate) min_version: Version,
    pub(crate) max_version: Version,
}

/// The crypto provider of the server's TLS.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server's rustls configuration. HTTP/1.1 is the only protocol offered by ALPN:
/// the server speaks nothing else.
pub(crate) fn server_config(settings: TlsSettings) -> Result<Arc<ServerConfig>, Problem> {
    let provider = provider();
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|err| {
            Problem::new(
                "tls_server_config.min_version",
                format!("rustls refuses these protocol versions: {err}"),
            )
        })?;
    let verifier = client_verifier(
        settings.client_auth,
        settings.client_cas.as_deref().unwrap_or_default(),
        &provider,
    )?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(settings.chain, settings.key)
        .map_err(|err| {
            Problem::new(
                "tls_server_config.key_file",
                format!(
                "the key does not fit the certificate, or rustls cannot use it: {err}; give the \
                 private key of the first certificate of `cert_file`"
            ),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client-certificate policy `client_auth` names, with the CA certificates `client_cas`
/// (empty when not given); `None` for `NoClientCert`.
fn client_verifier(
    client_auth: ClientAuth,
    client_cas: &[CertificateDer<'static>],
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, Problem> {
    let mut roots = RootCertStore::empty();
    for (index, ca) in client_cas.iter().enumerate() {
        roots.add(ca.clone()).map_err(|err| {
            Problem::new(
                "tls_server_config.client_ca_file",
                format!(
                    "certificate {} of the client CA is not a usable CA certificate: {err}",
                    index + 1
                ),
            )
        })?;
    }
    let hints = roots.subjects();
    let roots = Arc::new(roots);
    Ok(match client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(UnverifiedClientCert {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                hints,
                provider: provider.clone(),
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            let builder = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            let webpki = builder.build().map_err(|err| {
                Problem::new(
                    "tls_server_config.client_ca_file",
                    format!("cannot verify client certificates with this CA: {err}"),
                )
            })?;
            Some(Arc::new(ListedSelfSigned {
                webpki,
                cas: client_cas.to_vec(),
            }))
        }
    })
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("TLS handshake not finished within {0:?} (web.header_read_timeout)")]
    TimedOut(Duration),
    #[error("TLS handshake failed: {0}")]
    Failed(#[source] std::io::Error),
}

/// A connection as served: the socket itself, or TLS over it.
pub(crate) enum Stream<IO> {
    Plain(IO),
    Tls(Box<TlsStream<IO>>),
}

/// Opens a connection with `config`: a handshake (see [`accept`]) when TLS is configured, the
/// socket as it is otherwise.
pub(crate) async fn open<IO: AsyncRead + AsyncWrite + Unpin>(
    config: Option<Arc<ServerConfig>>,
    io: IO,
    timeout: Duration,
) -> Result<Stream<IO>, HandshakeError> {
    Ok(match config {
        None => Stream::Plain(io),
        Some(config) => Stream::Tls(Box::new(accept(config, io, timeout).await?)),
    })
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(io) => io.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }
}

/// Runs the server side of a handshake, for at most `timeout`: a client that opens a
/// connection and then sends its hello slowly, or never, is cut off as a client sending its
/// request headers slowly is.
async fn accept<IO: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<ServerConfig>,
    io: IO,
    timeout: Duration,
) -> Result<TlsStream<IO>, HandshakeError> {
    match tokio::time::timeout(timeout, TlsAcceptor::from(config).accept(io)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(HandshakeError::Failed(err)),
        Err(_) => Err(HandshakeError::TimedOut(timeout)),
    }
}

/// `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert`: webpki's verification, and as
/// in Go, a client certificate that is itself a CA certificate (what `openssl req -x509`
/// makes, and exporter-toolkit's test clients use) when the client CA file holds that very
/// certificate. webpki refuses such a certificate as `CaUsedAsEndEntity`; it checks the
/// validity period before the CA flag, so that refusal also says that the certificate is
/// within its validity (a test holds this: an expired one listed in the file is refused).
/// Every other refusal stands.
struct ListedSelfSigned {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The client CA file's certificates, compared byte for byte.
    cas: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for ListedSelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListedSelfSigned")
            .field("cas", &self.cas.len())
            .finish_non_exhaustive()
    }
}

/// Whether `err` is webpki's refusal of a CA certificate presented as an end entity.
fn ca_used_as_end_entity(err: &rustls::Error) -> bool {
    match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

impl ClientCertVerifier for ListedSelfSigned {
    fn offer_client_auth(&self) -> bool {
        self.webpki.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_client_cert(end_entity, intermediates, now)
        {
            Err(err)
                if ca_used_as_end_entity(&err)
                    && self.cas.iter().any(|ca| ca.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ClientCertVerified::assertion())
            }
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is taken without
/// checking who issued it (Go's meaning of these names); the handshake still proves that the
/// client holds its key.
struct UnverifiedClientCert {
    mandatory: bool,
    /// The subjects of `client_ca_file`, when given, as the acceptable issuers sent to the
    /// client.
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for UnverifiedClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedClientCert")
            .field("mandatory", &self.mandatory)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for UnverifiedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

    /// A CA-flagged self-signed certificate, as `openssl req -x509` makes; valid in `years`.
    fn ca_flagged(name: &str, years: (i32, i32)) -> (CertificateDer<'static>, KeyPair) {
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.der().clone(), key)
    }

    fn verified(
        cas: &[CertificateDer<'static>],
        client: &CertificateDer<'_>,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verifier = client_verifier(ClientAuth::RequireAndVerifyClientCert, cas, &provider())
            .unwrap()
            .unwrap();
        verifier.verify_client_cert(client, &[], UnixTime::now())
    }

    fn verify(cas: &[CertificateDer<'static>], client: &CertificateDer<'_>) -> bool {
        verified(cas, client).is_ok()
    }

    #[test]
    fn a_ca_flagged_client_certificate_is_accepted_when_the_client_ca_file_holds_it() {
        let (client, _) = ca_flagged("client.example", (2020, 2100));
        let (other, _) = ca_flagged("other.example", (2020, 2100));
        assert!(verify(&[other.clone(), client.clone()], &client));
        // Not in the file: refused as before, with webpki's own reason (the one recognised).
        let err = verified(&[other], &client).err().unwrap();
        assert!(ca_used_as_end_entity(&err), "{err:?}");
    }

    #[test]
    fn a_ca_flagged_client_certificate_signed_by_a_listed_ca_is_still_refused() {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(params, ca_key).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let intermediate = params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap();
        assert!(!verify(&[ca.der().clone()], intermediate.der()));
    }

    /// webpki checks the validity before the CA flag: an expired certificate is refused as
    /// expired, never as a CA used as an end entity, so it is not accepted though listed.
    #[test]
    fn an_expired_or_not_yet_valid_ca_flagged_client_certificate_is_refused_though_listed() {
        for years in [(2000, 2001), (2090, 2100)] {
            let (client, _) = ca_flagged("client.example", years);
            assert!(!verify(std::slice::from_ref(&client), &client), "{years:?}");
        }
    }

    /// The groups docs/web-config.md's `curve_preferences` row names are the ones the provider
    /// negotiates, in its order, and no others.
    #[test]
    fn the_key_exchange_groups_named_are_the_providers() {
        let groups: Vec<String> = provider()
            .kx_groups
            .iter()
            .map(|group| format!("{:?}", group.name()))
            .collect();
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/web-config.md"))
                .unwrap();
        let row = readme
            .lines()
            .find(|line| line.starts_with("| `curve_preferences` |"))
            .expect("docs/web-config.md's curve_preferences row");
        let mut at = 0;
        for group in &groups {
            let found = row[at..]
                .find(&format!("`{group}`"))
                .unwrap_or_else(|| panic!("`{group}` (in order) in: {row}"));
            at += found + group.len();
        }
        for other in [
            "secp521r1",
            "X448",
            "X25519MLKEM768",
            "MLKEM768",
            "ffdhe2048",
        ] {
            assert!(
                groups.iter().any(|group| group == other) || !row.contains(&format!("`{other}`")),
                "{other} is not the provider's: {row}"
            );
        }
    }
}
