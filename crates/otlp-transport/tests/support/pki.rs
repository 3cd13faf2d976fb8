//! A test PKI made with rcgen, shared by the TLS tests.

use otlp_transport::client::TlsConfig;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// PEM of a test PKI: a CA, a server certificate for 127.0.0.1 and a client
/// certificate, both issued by the CA.
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_owned()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf("127.0.0.1");
        let (client_cert, client_key) = leaf("client.test");
        Pki {
            ca: ca.pem(),
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }

    pub fn trusting_ca(&self) -> TlsConfig {
        TlsConfig::new().with_ca_pem(self.ca.clone())
    }

    #[allow(dead_code)] // not every test uses it
    pub fn with_client_identity(&self) -> TlsConfig {
        self.trusting_ca()
            .with_client_identity_pem(self.client_cert.clone(), self.client_key.clone())
    }
}
