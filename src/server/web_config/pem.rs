//! PEM loading: the certificates and keys `tls_server_config` names (`cert_file`, `key_file`,
//! `client_ca_file`, each read with the bounded read) or holds inline (`cert`, `key`,
//! `client_ca`).

use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::diagnostics::{read_bounded, Problem, MAX_FILE_SIZE};

/// Where a PEM comes from: a file (relative paths are relative to the web config file, as in
/// exporter-toolkit) or the text inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Pem {
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

    /// The certificates, at least one.
    pub(super) fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, Problem> {
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

    /// The private key.
    pub(super) fn private_key(&self) -> Result<PrivateKeyDer<'static>, Problem> {
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
