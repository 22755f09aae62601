//! TLS to and from registries, the way Docker does it.
//!
//! Client: the system's roots plus the CAs in `<certs-dir>/<host[:port]>/*.crt`, and a
//! client certificate from `*.cert` with its `*.key` there (Docker's `/etc/docker/certs.d`
//! layout). An insecure registry is reached without checking its certificate.
//! Server: `berth registry serve --tls-cert --tls-key`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where Docker keeps per-registry certificates; berth reads the same place.
pub const DEFAULT_CERTS_DIR: &str = "/etc/docker/certs.d";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn read_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no PEM certificate", path.display())));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// The files of `<certs_dir>/<host>` with extension `ext`, sorted.
fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The TLS settings for reaching `host` (as written in the reference, `host:port`).
/// `verify: false` is for insecure registries: any certificate is accepted.
pub fn client_config(certs_dir: &Path, host: &str, verify: bool) -> io::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let dir = certs_dir.join(host);
    let builder = if verify {
        let mut roots = RootCertStore::empty();
        // A machine without system roots can still use registries with a CA in certs.d.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
        for ca in files_with(&dir, "crt") {
            for cert in read_certs(&ca)? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
    };
    // The HTTPS connector sets ALPN (http/1.1) itself.
    let config = match files_with(&dir, "cert").into_iter().next() {
        Some(cert) => {
            let key = cert.with_extension("key");
            if !key.exists() {
                return Err(invalid(format!(
                    "{}: client certificate without its key {}",
                    cert.display(),
                    key.display()
                )));
            }
            builder
                .with_client_auth_cert(read_certs(&cert)?, read_key(&key)?)
                .map_err(|e| invalid(format!("{}: {e}", cert.display())))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(config)
}

/// A client's TLS from explicit PEM files (the Engine API's `--tlscacert`, `--tlscert`,
/// `--tlskey`): the server is checked against `ca` when given (else the system roots),
/// or not at all without `verify`.
pub fn client_config_from_files(
    ca: Option<&Path>,
    cert_and_key: Option<(&Path, &Path)>,
    verify: bool,
) -> io::Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = if verify {
        let mut roots = RootCertStore::empty();
        match ca {
            Some(ca) => {
                for cert in read_certs(ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
    };
    let mut config = match cert_and_key {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| invalid(format!("{}: {e}", cert.display())))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The PEM files of `berth registry serve`'s HTTPS.
#[derive(Debug, Clone, Copy)]
pub struct ServerFiles<'a> {
    /// Certificate chain, leaf first.
    pub cert: &'a Path,
    pub key: &'a Path,
    /// When set, clients must present a certificate signed by one of these CAs.
    pub client_ca: Option<&'a Path>,
}

/// The server side of `berth registry serve`, and of the daemon's TCP listeners.
pub fn server_config(files: ServerFiles<'_>) -> io::Result<ServerConfig> {
    let ServerFiles {
        cert,
        key,
        client_ca,
    } = files;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(read_certs(cert)?, read_key(key)?)
        .map_err(|e| invalid(format!("{} / {}: {e}", cert.display(), key.display())))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// For insecure registries: the handshake is still checked, the certificate is not.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
