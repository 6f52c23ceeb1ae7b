//! Certificates for TLS tests, made with rcgen: a CA, leaves it signs, and PEM files.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wschaos::tls::ServerIdentity;

/// A CA and a certificate for 127.0.0.1 / localhost it signed.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Subject names that differ from every leaf's: OpenSSL takes a leaf whose subject is
        // its issuer's (rcgen's default name on both) for a self-signed certificate.
        params
            .distinguished_name
            .push(DnType::CommonName, "wschaos test CA");
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Self {
            ca_pem: issuer.pem(),
            ca_der: issuer.der().clone(),
            issuer,
        }
    }

    /// A leaf for `names`, signed by the CA: its chain and key.
    pub fn leaf(&self, names: &[&str]) -> (String, String, ServerIdentity) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let common_name = names.first().cloned().unwrap_or_default();
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        let identity = ServerIdentity {
            certs: vec![cert.der().clone()],
            key: PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
        };
        (cert.pem(), key.serialize_pem(), identity)
    }
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}
