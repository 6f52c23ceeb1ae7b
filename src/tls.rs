//! TLS, in one place: PEM files read and checked (the same code for a scenario's validation and
//! for the run), the clients' configuration (roots, client certificate, SNI, verification off,
//! session resumption), the embedded server's self-signed certificate and configuration, and
//! telling a TLS failure from any other I/O error.
//!
//! Roots: Mozilla's list compiled in (`webpki-roots`) rather than the OS trust store: the same
//! trust on every machine and in CI, and no system file read at start; a private CA is given
//! with `target.tls.ca_file`. Crypto: rustls's `ring` provider.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use tokio_rustls::TlsConnector;

use crate::scenario::TargetTls;

/// Largest PEM file read: certificates and keys are a few KiB.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Session tickets a client keeps (rustls servers send two per handshake by default).
const TICKETS_PER_CLIENT: usize = 2;

/// The crypto every TLS configuration here uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| format!("cannot read {:?}: {err}", path.display().to_string()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "{:?} is larger than 1 MiB: not a PEM file",
            path.display().to_string()
        ));
    }
    Ok(bytes)
}

/// Every certificate of a PEM file; an error says which file and what is wrong with it.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read_pem(path)?;
    let name = path.display().to_string();
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{name:?} is not valid PEM: {err}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{name:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read_pem(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| {
        let name = path.display().to_string();
        match err {
            rustls::pki_types::pem::Error::NoItemsFound => format!(
                "{name:?} holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC)"
            ),
            other => format!("{name:?} is not a valid PEM private key: {other}"),
        }
    })
}

/// The CA certificates of `path` as roots; an error if none is usable.
pub fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(read_certs(path)?);
    if added == 0 {
        return Err(format!(
            "{:?} holds no certificate usable as a CA",
            path.display().to_string()
        ));
    }
    Ok(roots)
}

/// A client certificate chain and its key, checked to belong together.
pub fn read_identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = read_certs(cert_file)?;
    let key = read_key(key_file)?;
    rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider()).map_err(
        |err| {
            format!(
                "{:?} does not go with the certificate of {:?}: {err}",
                key_file.display().to_string(),
                cert_file.display().to_string()
            )
        },
    )?;
    Ok((certs, key))
}

/// How every client of a run speaks TLS; built once at the start.
#[derive(Debug)]
pub struct ClientTls {
    /// Shared by all clients when sessions are not resumed; the base of each client's own
    /// configuration (with its own session cache) when they are.
    config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    resume: bool,
}

impl ClientTls {
    /// The configuration for `settings` towards `host`; `embedded_root` is the embedded
    /// server's certificate, then the only one trusted.
    pub fn new(
        settings: &TargetTls,
        host: &str,
        embedded_root: Option<&CertificateDer<'static>>,
    ) -> Result<Self, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS setup: {err}"))?;
        let builder = if settings.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
        } else {
            let roots = match (embedded_root, &settings.ca_file) {
                (Some(cert), _) => {
                    let mut roots = RootCertStore::empty();
                    roots
                        .add(cert.clone())
                        .map_err(|err| format!("the embedded server's certificate: {err}"))?;
                    roots
                }
                (None, Some(path)) => read_roots(path)?,
                (None, None) => {
                    RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
                }
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match &settings.client_identity {
            Some(id) => {
                let (certs, key) = read_identity(&id.cert_file, &id.key_file)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|err| format!("client certificate: {err}"))?
            }
            None => builder.with_no_client_auth(),
        };
        // Each client gets its own cache in `connector` (a browser resumes its own sessions);
        // the shared configuration itself never stores one.
        config.resumption = Resumption::disabled();
        let name = settings.server_name.as_deref().unwrap_or(host);
        // An IPv6 host keeps its brackets for the Host header; a server name has none.
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_string())
            .map_err(|_| format!("{name:?} is not a DNS name or IP address usable for TLS"))?;
        Ok(Self {
            config: Arc::new(config),
            server_name,
            resume: settings.resume,
        })
    }

    /// The connector of one client: with resumption, a copy of the configuration with a
    /// session cache of its own (a few hundred bytes, plus the tickets and the server's
    /// certificate chain once a handshake stored them); without, the shared one.
    pub fn connector(&self) -> TlsConnector {
        if !self.resume {
            return TlsConnector::from(self.config.clone());
        }
        let mut own = (*self.config).clone();
        own.resumption = Resumption::in_memory_sessions(TICKETS_PER_CLIENT);
        TlsConnector::from(Arc::new(own))
    }

    /// The chaos proxy's connector towards the target, for all its connections: with
    /// resumption, one session cache they share (rustls keeps up to eight TLS 1.3 tickets per
    /// server: a burst of reconnects beyond that makes full handshakes).
    pub fn proxy_connector(&self) -> TlsConnector {
        if !self.resume {
            return TlsConnector::from(self.config.clone());
        }
        let mut shared = (*self.config).clone();
        shared.resumption = Resumption::in_memory_sessions(1);
        TlsConnector::from(Arc::new(shared))
    }
}

/// `insecure: true`: any certificate is accepted; the handshake signatures are still checked
/// (the connection is encrypted, just not authenticated).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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

/// A certificate and its key, for a server.
#[derive(Debug)]
pub struct ServerIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl ServerIdentity {
    /// A self-signed certificate for `localhost` and `127.0.0.1`, made now.
    pub fn self_signed() -> Result<Self, String> {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .map_err(|err| format!("cannot make a self-signed certificate: {err}"))?;
        let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
            .map_err(|err| format!("cannot use the self-signed key: {err}"))?;
        Ok(Self {
            certs: vec![made.cert.der().clone()],
            key,
        })
    }

    /// The chain of `cert_file` and the key of `key_file` (`wschaos serve --tls-cert/--tls-key`).
    pub fn from_files(cert_file: &Path, key_file: &Path) -> Result<Self, String> {
        Ok(Self {
            certs: read_certs(cert_file)?,
            key: read_key(key_file)?,
        })
    }

    /// A server configuration presenting this identity (no client certificates asked), with
    /// stateless session tickets: rustls's default keeps 256 sessions in memory (two per
    /// handshake), so past about a hundred clients most reconnects would fall back to a full
    /// handshake. The ticket key lives as long as the configuration (restarts after a kill keep
    /// it); each `serve --procs` process has its own.
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS setup: {err}"))?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|err| format!("the server certificate and key: {err}"))?;
        config.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|err| format!("TLS session tickets: {err}"))?;
        Ok(config)
    }
}

/// The TLS failure (bad certificate, handshake failure, alert) inside an I/O error, if that is
/// what it is: tokio-rustls hands rustls's errors on as the source of an `InvalidData` error.
pub fn tls_failure(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_files_say_which_file_and_what_is_wrong() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let err = read_certs(&missing).expect_err("missing");
        assert!(err.starts_with("cannot read \""), "{err}");
        assert!(err.contains("missing.pem"), "{err}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = read_certs(&empty).expect_err("no certificate");
        assert!(
            err.ends_with("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            "{err}"
        );
        let err = read_key(&empty).expect_err("no key");
        assert!(err.contains("holds no PEM private key"), "{err}");

        let id = ServerIdentity::self_signed().expect("self-signed");
        let cert = dir.path().join("cert.pem");
        let made =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
        std::fs::write(&cert, made.cert.pem()).expect("write");
        let key = dir.path().join("key.pem");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write");
        assert_eq!(read_certs(&cert).expect("certs").len(), 1);
        assert!(read_identity(&cert, &key).is_ok());
        // A key of another certificate does not go with it.
        let other = dir.path().join("other.pem");
        let other_made = rcgen::generate_simple_self_signed(vec!["x".to_string()]).expect("rcgen");
        std::fs::write(&other, other_made.signing_key.serialize_pem()).expect("write");
        let err = read_identity(&cert, &other).expect_err("mismatch");
        assert!(err.contains("does not go with the certificate of"), "{err}");
        assert!(id.server_config().is_ok());
    }
}
