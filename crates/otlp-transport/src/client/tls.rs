//! TLS settings, turned into one trust store shared by the HTTP client
//! (a rustls `ClientConfig`) and the gRPC channel (tonic's `ClientTlsConfig`).

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
#[cfg(feature = "http")]
use std::sync::Arc;

use super::BuildError;
use crate::pem::Pem;

/// TLS settings of an [`OtlpClient`](super::OtlpClient).
///
/// `https://` endpoints are verified against the platform's root
/// certificates plus the CA certificates added here; `http://` endpoints are
/// plaintext whatever is set here.
///
/// ```
/// use otlp_transport::client::TlsConfig;
///
/// let tls = TlsConfig::new()
///     .with_ca_pem_file("/etc/otel/ca.pem")
///     .with_client_identity_pem_files("/etc/otel/client.pem", "/etc/otel/client.key");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    ca: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
    insecure: bool,
}

/// `pem`'s bytes; a file that cannot be read is a build error naming
/// `what`.
fn read(pem: &Pem, what: &'static str) -> Result<Vec<u8>, BuildError> {
    pem.bytes()
        .map_err(|(path, source)| BuildError::UnreadablePem {
            what,
            path: path.to_owned(),
            source,
        })
}

impl TlsConfig {
    /// No custom CA, no client certificate, TLS unless the endpoint says `http://`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificate(s) in this PEM document
    /// (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca.push(Pem::Inline(pem.into()));
        self
    }

    /// Also trusts the CA certificate(s) in this PEM file, read by `build()`.
    pub fn with_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca.push(Pem::File(path.into()));
        self
    }

    /// Presents this certificate chain and private key (PEM) to the server,
    /// for mutual TLS (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_KEY`).
    pub fn with_client_identity_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity = Some((Pem::Inline(cert_pem.into()), Pem::Inline(key_pem.into())));
        self
    }

    /// Like [`with_client_identity_pem`](Self::with_client_identity_pem), with
    /// the PEM read from files by `build()`.
    pub fn with_client_identity_pem_files(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.identity = Some((Pem::File(cert_path.into()), Pem::File(key_path.into())));
        self
    }

    /// `OTEL_EXPORTER_OTLP_INSECURE`: whether an endpoint given without a
    /// scheme (`collector:4317`) is plaintext (`true`) or TLS (`false`, the
    /// default). As the specification says, an explicit `http://` or
    /// `https://` scheme wins over this setting.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    pub(crate) fn insecure(&self) -> bool {
        self.insecure
    }

    /// Reads and checks the PEM documents. `native_roots` loads the
    /// platform's trust store, which is only worth its cost when an endpoint
    /// uses TLS.
    pub(crate) fn load(&self, native_roots: bool) -> Result<LoadedTls, BuildError> {
        let mut roots = RootCertStore::empty();
        if native_roots {
            let native = rustls_native_certs::load_native_certs();
            if !native.errors.is_empty() {
                tracing::debug!(errors = ?native.errors, "some native root certificates failed to load");
            }
            roots.add_parsable_certificates(native.certs);
        }
        for pem in &self.ca {
            let pem = read(pem, "CA certificate")?;
            for cert in parse_certs(&pem, "CA certificate")? {
                roots.add(cert).map_err(|e| BuildError::Tls(Box::new(e)))?;
            }
        }
        let identity = match &self.identity {
            None => None,
            Some((cert, key)) => {
                let cert_pem = read(cert, "client certificate")?;
                let key_pem = read(key, "client key")?;
                let certs = parse_certs(&cert_pem, "client certificate")?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| {
                    BuildError::InvalidPem {
                        what: "client key",
                        source,
                    }
                })?;
                Some(Identity {
                    certs,
                    key,
                    cert_pem,
                    key_pem,
                })
            }
        };
        Ok(LoadedTls { roots, identity })
    }
}

fn parse_certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, BuildError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| BuildError::InvalidPem { what, source })?;
    if certs.is_empty() {
        return Err(BuildError::InvalidPem {
            what,
            source: rustls_pki_types::pem::Error::NoItemsFound,
        });
    }
    Ok(certs)
}

/// A client certificate chain and key, parsed for rustls and kept as PEM for
/// tonic (whose `Identity` takes PEM).
///
/// Both forms are kept whatever the features: the parse checks the PEM for
/// either transport, and each transport reads the form it needs.
#[cfg_attr(not(all(feature = "grpc", feature = "http")), allow(dead_code))]
struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

/// Checked TLS material, ready to configure either transport.
pub(crate) struct LoadedTls {
    roots: RootCertStore,
    identity: Option<Identity>,
}

impl LoadedTls {
    /// A rustls configuration for the HTTP client, with the ring provider
    /// chosen explicitly so that no process-wide default has to be installed.
    #[cfg(feature = "http")]
    pub(crate) fn rustls_config(&self) -> Result<rustls::ClientConfig, BuildError> {
        let tls_err = |e: rustls::Error| BuildError::Tls(Box::new(e));
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(self.roots.clone());
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(tls_err),
        }
    }

    /// The same trust store and identity for tonic's channel.
    #[cfg(feature = "grpc")]
    pub(crate) fn tonic_config(&self) -> tonic::transport::ClientTlsConfig {
        let config =
            tonic::transport::ClientTlsConfig::new().trust_anchors(self.roots.roots.clone());
        match &self.identity {
            None => config,
            Some(id) => config.identity(tonic::transport::Identity::from_pem(
                &id.cert_pem,
                &id.key_pem,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_build_error() {
        let err = TlsConfig::new()
            .with_ca_pem("not a certificate")
            .load(false)
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                BuildError::InvalidPem {
                    what: "CA certificate",
                    ..
                }
            ),
            "{err}"
        );

        let err = TlsConfig::new()
            .with_ca_pem_file("/nonexistent/ca.pem")
            .load(false)
            .err()
            .unwrap();
        assert!(matches!(err, BuildError::UnreadablePem { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");

        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = TlsConfig::new()
            .with_ca_pem(garbage)
            .load(false)
            .err()
            .unwrap();
        assert!(matches!(err, BuildError::Tls(_)), "{err}");
    }
}
