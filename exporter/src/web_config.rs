//! TLS and basic auth from a `web-config.yml`, with Prometheus exporter-toolkit semantics,
//! so one file can be shared with node_exporter and friends.
//!
//! Supported: `tls_server_config` (`cert_file`, `key_file`, `client_auth_type`,
//! `client_ca_file`, `min_version`, `max_version`, `cipher_suites`, `curve_preferences`,
//! `prefer_server_cipher_suites`), `http_server_config.headers`, and `basic_auth_users`
//! (bcrypt hashes). Relative paths are resolved against the directory of the web config
//! file, as exporter-toolkit does. Unknown keys are rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use crate::config::{ConfigError, invalid_at, parse_yaml, read_file};
use crate::tls_client::{TlsError, read_chain_and_key};

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
    /// TLS 1.2 cipher suites offered, by their IANA names, in the server's order of
    /// preference; all of rustls's unless set. TLS 1.3's are not chosen, as in Go.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Key exchange groups offered (`X25519`, `CurveP256`, `CurveP384`), in order; all of
    /// rustls's unless set.
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// Picks the cipher suite by the server's order rather than the client's
    /// (exporter-toolkit's default: true).
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    #[default]
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// A TLS version as exporter-toolkit and Prometheus's `tls_config` name it. rustls speaks
/// no version before 1.2: a minimum of TLS10 or TLS11 (a config shared with node_exporter)
/// still means 1.2 and 1.3, a maximum below 1.2 leaves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

impl TlsVersion {
    /// The versions from `min` to `max` (either end open when not set), or why there are
    /// none: the field at fault (`min_version`, `max_version`) and what is wrong with it.
    pub fn between(
        min: Option<TlsVersion>,
        max: Option<TlsVersion>,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, (&'static str, &'static str)> {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(("min_version", "above max_version"));
        }
        let versions: Vec<_> = [
            (TlsVersion::TLS12, &rustls::version::TLS12),
            (TlsVersion::TLS13, &rustls::version::TLS13),
        ]
        .into_iter()
        .filter(|(v, _)| min.is_none_or(|min| *v >= min) && max.is_none_or(|max| *v <= max))
        .map(|(_, p)| p)
        .collect();
        if versions.is_empty() {
            return Err(("max_version", "rustls speaks TLS 1.2 and 1.3 only"));
        }
        Ok(versions)
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
        let (certs, key) = read_chain_and_key(&cert_path, &key_path).map_err(|e| match e {
            TlsError::File {
                field,
                path,
                message,
            } => (
                if field == "cert_file" {
                    "tls_server_config.cert_file"
                } else {
                    "tls_server_config.key_file"
                },
                format!("{}: {message}", path.display()),
            ),
            TlsError::Rustls(e) => ("tls_server_config", e.to_string()),
        })?;

        let versions =
            TlsVersion::between(self.min_version, self.max_version).map_err(|(field, why)| {
                let field = match field {
                    "min_version" => "tls_server_config.min_version",
                    _ => "tls_server_config.max_version",
                };
                (field, why.to_owned())
            })?;
        let provider = Arc::new(self.provider()?);
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
        config.ignore_client_order = self.prefer_server_cipher_suites.unwrap_or(true);
        Ok(config)
    }

    /// rustls's ring provider with the cipher suites and key exchange groups the config
    /// names, in its order.
    fn provider(&self) -> Result<rustls::crypto::CryptoProvider, (&'static str, String)> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.cipher_suites.is_empty() {
            let tls12 =
                |suite: &rustls::SupportedCipherSuite| suite.version() == &rustls::version::TLS12;
            let mut chosen: Vec<_> = provider
                .cipher_suites
                .iter()
                .filter(|suite| !tls12(suite))
                .copied()
                .collect();
            for name in &self.cipher_suites {
                let suite = provider
                    .cipher_suites
                    .iter()
                    .find(|suite| tls12(suite) && format!("{:?}", suite.suite()) == *name)
                    .ok_or_else(|| {
                        let known: Vec<String> = provider
                            .cipher_suites
                            .iter()
                            .filter(|suite| tls12(suite))
                            .map(|suite| format!("{:?}", suite.suite()))
                            .collect();
                        (
                            "tls_server_config.cipher_suites",
                            format!(
                                "{name} is not a TLS 1.2 suite rustls offers ({})",
                                known.join(", ")
                            ),
                        )
                    })?;
                chosen.push(*suite);
            }
            provider.cipher_suites = chosen;
        }
        if !self.curve_preferences.is_empty() {
            let mut groups = Vec::new();
            for name in &self.curve_preferences {
                let wanted = match name.as_str() {
                    "X25519" => rustls::NamedGroup::X25519,
                    "CurveP256" => rustls::NamedGroup::secp256r1,
                    "CurveP384" => rustls::NamedGroup::secp384r1,
                    _ => {
                        return Err((
                            "tls_server_config.curve_preferences",
                            format!(
                                "{name} is not a group rustls offers (X25519, CurveP256, CurveP384)"
                            ),
                        ));
                    }
                };
                let group = provider
                    .kx_groups
                    .iter()
                    .find(|group| group.name() == wanted)
                    .ok_or((
                        "tls_server_config.curve_preferences",
                        format!("{name} is not offered by this build"),
                    ))?;
                groups.push(*group);
            }
            provider.kx_groups = groups;
        }
        Ok(provider)
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

    /// A web config with a real key pair beside it and `tls` as the rest of its
    /// `tls_server_config`.
    fn load_tls(tls: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{tls}"),
        )
        .unwrap();
        WebConfig::load(&path).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    #[test]
    fn cipher_suites_curves_and_versions_read_as_exporter_toolkit_names_them() {
        let config = load_tls(
            "  min_version: TLS10\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]\n  curve_preferences: [CurveP384, X25519]\n",
        )
        .unwrap();
        let tls = config.tls().unwrap();
        // A minimum below what rustls speaks: both of its versions.
        let suites: Vec<String> = tls
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|suite| format!("{:?}", suite.suite()))
            .collect();
        assert!(
            suites.contains(&"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256".to_owned()),
            "{suites:?}"
        );
        assert!(
            !suites.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".to_owned()),
            "{suites:?}"
        );
        assert!(
            suites.contains(&"TLS13_AES_128_GCM_SHA256".to_owned()),
            "{suites:?}"
        );
        let groups: Vec<_> = tls
            .crypto_provider()
            .kx_groups
            .iter()
            .map(|group| group.name())
            .collect();
        assert_eq!(
            groups,
            [rustls::NamedGroup::secp384r1, rustls::NamedGroup::X25519]
        );
        assert!(
            tls.ignore_client_order,
            "the server's order, as exporter-toolkit's default"
        );
        let tls = load_tls("  prefer_server_cipher_suites: false\n")
            .unwrap()
            .tls()
            .unwrap();
        assert!(!tls.ignore_client_order);

        for (options, message) in [
            (
                "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
                "DIR/web.yml:4:3: tls_server_config.cipher_suites: TLS_RSA_WITH_RC4_128_SHA is not a TLS 1.2 suite rustls offers",
            ),
            (
                "  curve_preferences: [CurveP521]\n",
                "DIR/web.yml:4:3: tls_server_config.curve_preferences: CurveP521 is not a group rustls offers",
            ),
            (
                "  max_version: TLS11\n",
                "DIR/web.yml:4:3: tls_server_config.max_version: rustls speaks TLS 1.2 and 1.3 only",
            ),
        ] {
            let err = load_tls(options).unwrap_err();
            assert!(err.starts_with(message), "{err}");
        }
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
