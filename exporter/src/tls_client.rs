//! TLS client settings shared by the Redis collector and the HTTP prober.
//!
//! Both speak to targets named in the config, so both take the same `tls:` block
//! (`ca_file`, `insecure_skip_verify`) and build one rustls `ClientConfig` from it at start-up:
//! a CA file that cannot be read is a config error, not a failed scrape.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// The `tls:` block of a Redis target or a probe module.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsOptions {
    /// PEM file of CA certificates to trust instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Only for self-signed test targets: it gives up
    /// protection against a man in the middle.
    pub insecure_skip_verify: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
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
            .with_safe_default_protocol_versions()?;
        let (mut config, roots) = if self.insecure_skip_verify {
            let config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth();
            (config, Arc::from([]))
        } else {
            let (store, roots) = match &self.ca_file {
                Some(path) => roots_from_file(path)?,
                None => system_roots(),
            };
            (
                builder.with_root_certificates(store).with_no_client_auth(),
                roots,
            )
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok((Arc::new(config), roots))
    }
}

/// The CA file's certificates, every one of which must be usable.
fn roots_from_file(
    path: &Path,
) -> Result<(Arc<rustls::RootCertStore>, Arc<[CertificateDer<'static>]>), TlsError> {
    let error = |message: String| TlsError::CaFile {
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
