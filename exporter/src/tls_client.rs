//! TLS client settings shared by the Redis collector and the probers.
//!
//! Both speak to targets named in the config, so both take the same `tls:` block
//! (`ca_file`, `cert_file` / `key_file`, `server_name`, `insecure_skip_verify`, after
//! Prometheus's `tls_config`) and build one rustls `ClientConfig` from it at start-up: a
//! file that cannot be read is a config error, not a failed scrape.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

use crate::web_config::TlsVersion;

/// The `tls:` block of a Redis target or a probe module.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawTlsOptions")]
pub struct TlsOptions {
    /// PEM file of CA certificates to trust instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// The certificate this client presents to a server that asks for one (mutual TLS:
    /// a Redis with `tls-auth-clients yes`, its default; a service behind a mesh).
    pub client_certificate: Option<ClientCertificate>,
    /// The name sent in the handshake and the server's certificate is checked against,
    /// where it is not the target's host: a target given by address, a name behind a
    /// load balancer.
    pub server_name: Option<ServerName<'static>>,
    /// The TLS versions offered (`min_version`, `max_version`): both of rustls's unless set,
    /// so a probe can check that a server still speaks TLS 1.2, or already 1.3.
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// Accept any server certificate. Only for self-signed test targets: it gives up
    /// protection against a man in the middle.
    pub insecure_skip_verify: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            client_certificate: None,
            server_name: None,
            versions: vec![&rustls::version::TLS12, &rustls::version::TLS13],
            insecure_skip_verify: false,
        }
    }
}

/// PEM files of a client certificate (with any intermediates after it) and its key.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsOptions {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

impl TryFrom<RawTlsOptions> for TlsOptions {
    type Error = String;

    fn try_from(raw: RawTlsOptions) -> Result<Self, String> {
        let client_certificate = match (raw.cert_file, raw.key_file) {
            (Some(cert_file), Some(key_file)) => Some(ClientCertificate {
                cert_file,
                key_file,
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err("cert_file needs key_file (the certificate's key)".into());
            }
            (None, Some(_)) => {
                return Err("key_file needs cert_file (the key's certificate)".into());
            }
        };
        let server_name = raw
            .server_name
            .map(|name| {
                ServerName::try_from(name.clone())
                    .map_err(|e| format!("server_name: invalid name {name:?}: {e}"))
            })
            .transpose()?;
        let versions = TlsVersion::between(raw.min_version, raw.max_version)
            .map_err(|(field, why)| format!("{field}: {why}"))?;
        Ok(Self {
            ca_file: raw.ca_file,
            client_certificate,
            server_name,
            versions,
            insecure_skip_verify: raw.insecure_skip_verify,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{field}: {}: {message}", path.display())]
    File {
        field: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsOptions {
    /// Builds the client config; `alpn` is offered in the handshake (HTTP probes ask for
    /// `h2` and `http/1.1`, Redis for nothing).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.client_config_and_roots(alpn).map(|(config, _)| config)
    }

    /// [`TlsOptions::client_config`] and the certificates of the roots it trusts (none
    /// when verification is off), from which a prober retraces the chain it verified.
    pub fn client_config_and_roots(
        &self,
        alpn: &[&[u8]],
    ) -> Result<(Arc<rustls::ClientConfig>, Arc<[CertificateDer<'static>]>), TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions)?;
        let (builder, roots) = if self.insecure_skip_verify {
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)));
            (builder, Arc::from([]))
        } else {
            let (store, roots) = match &self.ca_file {
                Some(path) => roots_from_file(path)?,
                None => system_roots(),
            };
            (builder.with_root_certificates(store), roots)
        };
        let mut config = match &self.client_certificate {
            None => builder.with_no_client_auth(),
            Some(client) => {
                let (chain, key) = client.read()?;
                builder.with_client_auth_cert(chain, key)?
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok((Arc::new(config), roots))
    }
}

impl ClientCertificate {
    /// The certificate chain and key, read (at start-up) from their files.
    fn read(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        read_chain_and_key(&self.cert_file, &self.key_file)
    }
}

/// A certificate chain (at least one certificate) and its private key from their PEM files;
/// a failure names the file at fault (`cert_file`, `key_file`). The web config's server
/// certificate is read the same way.
pub fn read_chain_and_key(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert_error = |message: String| TlsError::File {
        field: "cert_file",
        path: cert_file.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::File {
        field: "key_file",
        path: key_file.to_owned(),
        message: e.to_string(),
    })?;
    Ok((chain, key))
}

/// The CA file's certificates, every one of which must be usable.
fn roots_from_file(
    path: &Path,
) -> Result<(Arc<rustls::RootCertStore>, Arc<[CertificateDer<'static>]>), TlsError> {
    let error = |message: String| TlsError::File {
        field: "ca_file",
        path: path.to_owned(),
        message,
    };
    let roots = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    let mut store = rustls::RootCertStore::empty();
    for cert in &roots {
        store.add(cert.clone()).map_err(|e| error(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(error("no certificate found".into()));
    }
    Ok((Arc::new(store), roots.into()))
}

/// The operating system's trust store, read once per process and shared by every probe
/// module and Redis target that trusts it (some 150 kB of certificates); certificates it
/// cannot parse are skipped, as every TLS client does.
fn system_roots() -> (Arc<rustls::RootCertStore>, Arc<[CertificateDer<'static>]>) {
    static SYSTEM: OnceLock<(Arc<rustls::RootCertStore>, Arc<[CertificateDer<'static>]>)> =
        OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let roots = rustls_native_certs::load_native_certs().certs;
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(roots.iter().cloned());
            (Arc::new(store), roots.into())
        })
        .clone()
}

/// `insecure_skip_verify`: checks the handshake signatures (so the session is still
/// encrypted to whoever holds the key) but not who the certificate belongs to.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(cert_file: &Path, key_file: &Path) -> TlsOptions {
        TlsOptions {
            client_certificate: Some(ClientCertificate {
                cert_file: cert_file.to_owned(),
                key_file: key_file.to_owned(),
            }),
            ..TlsOptions::default()
        }
    }

    #[test]
    fn a_client_certificate_is_read_at_start_up_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_file = dir.path().join("client.pem");
        let key_file = dir.path().join("client.key");
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let config = options(&cert_file, &key_file).client_config(&[]).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());

        let missing = dir.path().join("missing.pem");
        let err = options(&missing, &key_file)
            .client_config(&[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("cert_file: {}: ", missing.display())),
            "{err}"
        );
        // The certificate where the key should be: no key in it.
        let err = options(&cert_file, &cert_file)
            .client_config(&[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("key_file: {}: ", cert_file.display())),
            "{err}"
        );
        // The key where the certificate should be: no certificate in it.
        let err = options(&key_file, &key_file)
            .client_config(&[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("cert_file: {}: no certificate found", key_file.display())
        );
    }
}
