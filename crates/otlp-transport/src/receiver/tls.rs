//! TLS on the receiver's listeners (rustls, TLS 1.2 and 1.3): a
//! certificate chain and its private key, and optionally the CA that
//! client certificates must be signed by (mutual TLS).
//!
//! The handshake runs on the connection's own task, within the header-read
//! timeout (a client that opens a connection and stalls in the handshake is
//! closed like one that never starts a request), and counts against the
//! connection cap from the moment the connection is accepted.

use super::ReceiverError;
use crate::pem::Pem;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// TLS settings of a [`Receiver`](super::Receiver): see
/// [`ReceiverBuilder::with_tls`](super::ReceiverBuilder::with_tls).
///
/// ```
/// use otlp_transport::receiver::ReceiverTls;
///
/// let tls = ReceiverTls::from_pem_files("/etc/otel/server.pem", "/etc/otel/server.key")
///     .with_client_ca_pem_file("/etc/otel/clients-ca.pem");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiverTls {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
}

/// Shows the files, or the sizes of inline PEM (which holds a private key).
impl fmt::Debug for ReceiverTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverTls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("client_ca", &self.client_ca)
            .finish()
    }
}

/// `pem`'s bytes; a file that cannot be read is an error naming `what`.
fn read(pem: &Pem, what: &str) -> Result<Vec<u8>, ReceiverError> {
    pem.bytes().map_err(|(path, e)| {
        ReceiverError::Tls(format!("{what}: cannot read {}: {e}", path.display()))
    })
}

/// The certificates in `pem`: at least one.
fn certificates(pem: &Pem, what: &str) -> Result<Vec<CertificateDer<'static>>, ReceiverError> {
    let pem = read(pem, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReceiverError::Tls(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(ReceiverError::Tls(format!(
            "{what}: no certificate in the PEM"
        )));
    }
    Ok(certs)
}

impl ReceiverTls {
    /// The certificate chain (leaf first) and its private key, PEM files
    /// read when the receiver starts.
    pub fn from_pem_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        ReceiverTls {
            cert: Pem::File(cert.into()),
            key: Pem::File(key.into()),
            client_ca: None,
        }
    }

    /// The certificate chain (leaf first) and its private key, as PEM.
    pub fn from_pem(cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        ReceiverTls {
            cert: Pem::Inline(cert.into()),
            key: Pem::Inline(key.into()),
            client_ca: None,
        }
    }

    /// Requires every client to present a certificate signed by a CA in
    /// this PEM file (mutual TLS); a client without one is refused in the
    /// handshake.
    pub fn with_client_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(Pem::File(path.into()));
        self
    }

    /// [`with_client_ca_pem_file`](Self::with_client_ca_pem_file), with the
    /// CA certificates as PEM.
    pub fn with_client_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(Pem::Inline(pem.into()));
        self
    }

    /// The rustls configuration of a listener offering the ALPN protocols
    /// `alpn` (HTTP/2 only for gRPC).
    pub(super) fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, ReceiverError> {
        let certs = certificates(&self.cert, "TLS certificate")?;
        let key = PrivateKeyDer::from_pem_slice(&read(&self.key, "TLS private key")?)
            .map_err(|e| ReceiverError::Tls(format!("TLS private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ReceiverError::Tls(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(ca, "client CA")? {
                    roots
                        .add(cert)
                        .map_err(|e| ReceiverError::Tls(format!("client CA: {e}")))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| ReceiverError::Tls(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| ReceiverError::Tls(format!("TLS certificate and key: {e}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}
