//! TLS and basic auth from a `web-config.yml`, with Prometheus exporter-toolkit semantics,
//! so one file can be shared with node_exporter and friends.
//!
//! Supported: `tls_server_config` (`cert_file`, `key_file`, `client_auth_type`,
//! `client_ca_file`, `min_version`, `max_version`), `http_server_config.headers`, and
//! `basic_auth_users` (bcrypt hashes). Relative paths are resolved against the directory of
//! the web config file, as exporter-toolkit does. Unknown keys are rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, invalid_at, parse_yaml, read_file};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash. Empty means no authentication.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    #[serde(skip)]
    tls: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// A TLS version as exporter-toolkit and Prometheus's `tls_config` name it. rustls speaks
/// no version before 1.2, so those are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS12,
    TLS13,
}

impl TlsVersion {
    /// The versions from `min` to `max` (either end open when not set); empty when `min`
    /// is above `max`.
    pub fn between(
        min: Option<TlsVersion>,
        max: Option<TlsVersion>,
    ) -> Vec<&'static rustls::SupportedProtocolVersion> {
        [
            (TlsVersion::TLS12, &rustls::version::TLS12),
            (TlsVersion::TLS13, &rustls::version::TLS13),
        ]
        .into_iter()
        .filter(|(v, _)| min.is_none_or(|min| *v >= min) && max.is_none_or(|max| *v <= max))
        .map(|(_, p)| p)
        .collect()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Extra response headers (e.g. `Strict-Transport-Security`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Accepted for compatibility; HTTP/2 is not served.
    #[serde(default)]
    pub http2: Option<bool>,
}

/// A bcrypt hash of a random password: unknown users are checked against it so that a
/// wrong user name takes as long as a wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

impl WebConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read_file(path)?;
        let mut config: WebConfig = if text.trim().is_empty() {
            WebConfig::default()
        } else {
            parse_yaml(path, &text)?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |field: &str, message: &str| invalid_at(path, &text, field, field, message);
        for (user, hash) in &config.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                let field = format!("basic_auth_users.{user}");
                return Err(invalid(&field, "the password is not a bcrypt hash"));
            }
        }
        if let Some(tls) = &config.tls_server_config {
            let built = tls
                .build(base)
                .map_err(|(field, message)| invalid(field, &message))?;
            config.tls = Some(Arc::new(built));
        }
        Ok(config)
    }

    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    pub fn auth_required(&self) -> bool {
        !self.basic_auth_users.is_empty()
    }

    /// Checks an `Authorization` header value against `basic_auth_users`.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        if !self.auth_required() {
            return true;
        }
        let Some((user, password)) = header.and_then(decode_basic) else {
            return false;
        };
        let (hash, known) = match self.basic_auth_users.get(&user) {
            Some(hash) => (hash.as_str(), true),
            None => (DUMMY_HASH, false),
        };
        bcrypt::verify(password, hash).unwrap_or(false) && known
    }
}

fn decode_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl TlsServerConfig {
    fn build(&self, base: &Path) -> Result<rustls::ServerConfig, (&'static str, String)> {
        let cert_path = base.join(&self.cert_file);
        let key_path = base.join(&self.key_file);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .map_err(|e| {
                (
                    "tls_server_config.cert_file",
                    format!("{}: {e}", cert_path.display()),
                )
            })?;
        if certs.is_empty() {
            return Err((
                "tls_server_config.cert_file",
                format!("{}: no certificate found", cert_path.display()),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
            (
                "tls_server_config.key_file",
                format!("{}: {e}", key_path.display()),
            )
        })?;

        let versions = TlsVersion::between(self.min_version, self.max_version);
        if versions.is_empty() {
            return Err((
                "tls_server_config.min_version",
                "min_version is above max_version".into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ("tls_server_config", e.to_string()))?;

        let builder = match self.client_auth_type {
            ClientAuthType::NoClientCert => builder.with_no_client_auth(),
            kind => {
                let ca_file = self.client_ca_file.as_ref().ok_or((
                    "tls_server_config.client_ca_file",
                    format!("required when client_auth_type is {kind:?}"),
                ))?;
                let ca_path = base.join(ca_file);
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(&ca_path).map_err(|e| {
                    (
                        "tls_server_config.client_ca_file",
                        format!("{}: {e}", ca_path.display()),
                    )
                })? {
                    let cert =
                        cert.map_err(|e| ("tls_server_config.client_ca_file", e.to_string()))?;
                    roots
                        .add(cert)
                        .map_err(|e| ("tls_server_config.client_ca_file", e.to_string()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if kind == ClientAuthType::VerifyClientCertIfGiven {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| ("tls_server_config.client_ca_file", e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| ("tls_server_config.key_file", e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn basic_auth_accepts_only_the_right_password() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let config = load(&format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(config.authorized(Some(&header("alice", "s3cret"))));
        assert!(!config.authorized(Some(&header("alice", "wrong"))));
        assert!(!config.authorized(Some(&header("bob", "s3cret"))));
        assert!(!config.authorized(None));
        assert!(!config.authorized(Some("Bearer x")));
    }

    #[test]
    fn unknown_key_is_rejected_with_location() {
        let err = load("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(err.starts_with("DIR/web.yml:1:1: "), "{err}");
        assert!(err.contains("unknown field `basic_auth_user`"), "{err}");
    }

    #[test]
    fn plaintext_password_is_rejected() {
        let err = load("basic_auth_users:\n  bob: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n  alice: hunter2\n").unwrap_err();
        assert_eq!(
            err,
            "DIR/web.yml:3:3: basic_auth_users.alice: the password is not a bcrypt hash"
        );
        assert!(!err.contains("hunter2"), "the secret is not repeated");
    }

    #[test]
    fn missing_certificate_names_the_field() {
        let err =
            load("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n").unwrap_err();
        assert!(
            err.starts_with("DIR/web.yml:2:3: tls_server_config.cert_file: DIR/nope.crt"),
            "{err}"
        );
    }

    #[test]
    fn bad_client_auth_type_is_rejected() {
        let err = load(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
        )
        .unwrap_err();
        assert!(
            err.contains(":4:21: tls_server_config.client_auth_type: unknown variant `Sometimes`"),
            "{err}"
        );
    }
}
