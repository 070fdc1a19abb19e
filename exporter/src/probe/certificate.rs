//! What a TLS server's certificates show, in blackbox_exporter's terms: the earliest expiry
//! among those presented (`probe_ssl_earliest_cert_expiry`), the earliest expiry along the
//! chain verified up to a trusted root (`probe_ssl_last_chain_expiry_timestamp_seconds`),
//! and who the leaf certificate is (`probe_ssl_last_chain_info`), with names printed as
//! Go's `pkix.Name.String()` prints them so that existing queries and dashboards match.
//!
//! rustls verifies the chain but does not hand it back, so the chains are retraced here as
//! Go's verifier builds them: from the leaf, each certificate's issuer is looked up by name
//! among the presented certificates and the trusted roots, certificates outside their
//! validity are passed over, and where a name is shared (a cross-signed intermediate, a
//! renewed root beside the old one) the issuer's key must verify the signature. Of every
//! chain that reaches a trusted root, the one whose earliest expiry is latest counts, as
//! blackbox_exporter takes it from Go's verified chains. The roots are indexed once, when
//! the module is set up ([`TrustedRoots`]): parsing the system store's ~150 certificates on
//! every probe cost 0.5 ms, about what the whole HTTPS probe costs, and a signature is only
//! checked where names leave a choice.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

/// Longest chain retraced: a chain deeper than this is not one a server presents.
const MAX_CHAIN: usize = 10;

/// Who the server's leaf certificate is.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// SHA-256 of the certificate, lowercase hex.
    pub fingerprint_sha256: String,
    pub subject: String,
    pub issuer: String,
    /// The DNS names among its subject alternative names, comma-separated.
    pub dns_names: String,
}

/// What the certificates a server presented show.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Earliest `notAfter` (Unix seconds) of the presented certificates.
    pub earliest_expiry: Option<f64>,
    /// Earliest `notAfter` along the chain from the leaf to a trusted root (the latest such
    /// among the chains there are): `None` when no chain is found (as when verification is
    /// off and there are no roots).
    pub chain_expiry: Option<f64>,
    pub leaf: Option<Leaf>,
}

/// What retracing a chain needs of one trusted root.
struct Root {
    subject: Vec<u8>,
    /// `notBefore` and `notAfter`, Unix seconds.
    validity: (f64, f64),
    /// DER of its SubjectPublicKeyInfo, parsed only when a signature is checked.
    public_key: Vec<u8>,
    /// Its place in [`TrustedRoots::certs`].
    place: usize,
}

/// A module's trusted roots with what retracing a chain needs from each, read once.
pub struct TrustedRoots {
    certs: Arc<[CertificateDer<'static>]>,
    /// Each parsable certificate.
    index: Vec<Root>,
}

impl TrustedRoots {
    pub fn new(certs: Arc<[CertificateDer<'static>]>) -> Self {
        let index = certs
            .iter()
            .enumerate()
            .filter_map(|(place, der)| {
                let cert = parse(der)?;
                Some(Root {
                    subject: cert.subject().as_raw().to_vec(),
                    validity: validity(&cert),
                    public_key: cert.public_key().raw.to_vec(),
                    place,
                })
            })
            .collect();
        Self { certs, index }
    }

    /// The roots named `subject` but for `excluding`'s certificate.
    fn named<'a>(
        &'a self,
        subject: &'a [u8],
        excluding: &'a [u8],
    ) -> impl Iterator<Item = &'a Root> {
        self.index.iter().filter(move |root| {
            root.subject == subject && self.certs[root.place].as_ref() != excluding
        })
    }

    /// Whether `der` is itself one of the roots.
    fn holds(&self, subject: &[u8], der: &[u8]) -> bool {
        self.index
            .iter()
            .any(|root| root.subject == subject && self.certs[root.place].as_ref() == der)
    }
}

/// Reads what `presented` (leaf first) shows, each certificate parsed once.
pub fn read(presented: &[CertificateDer<'_>], roots: &TrustedRoots) -> Shown {
    let parsed: Vec<(&[u8], X509Certificate<'_>)> = presented
        .iter()
        .filter_map(|der| Some((der.as_ref(), parse(der)?)))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Shown {
        earliest_expiry: parsed.iter().map(|(_, cert)| expiry(cert)).reduce(f64::min),
        chain_expiry: parsed.first().and_then(|(der, leaf)| {
            let mut search = Search {
                presented: &parsed,
                roots,
                now,
                budget: MAX_CANDIDATES,
            };
            search.latest_chain(der, leaf, expiry(leaf), &mut Vec::new())
        }),
        leaf: parsed.first().map(|(der, cert)| leaf(der, cert)),
    }
}

/// Issuer candidates a search looks at, at most.
const MAX_CANDIDATES: usize = 64;

/// A search for the chains from a leaf to a trusted root.
struct Search<'c, 'a> {
    /// The presented certificates (leaf first) with their DER.
    presented: &'c [(&'c [u8], X509Certificate<'a>)],
    roots: &'c TrustedRoots,
    /// Unix seconds: certificates not valid then are passed over.
    now: f64,
    /// Issuer candidates left to look at: a server presenting many certificates that share
    /// a name and a key could otherwise make the search exponential (Go's verifier caps
    /// its signature checks alike).
    budget: usize,
}

impl<'c, 'a> Search<'c, 'a> {
    /// The latest of the earliest expiries of the chains that continue from `cert` (whose
    /// chain so far expires first at `earliest`) to a trusted root, not through a
    /// certificate of `path` (the chain so far) again.
    fn latest_chain(
        &mut self,
        der: &'c [u8],
        cert: &'c X509Certificate<'a>,
        earliest: f64,
        path: &mut Vec<&'c [u8]>,
    ) -> Option<f64> {
        // A presented certificate that is itself trusted ends the chain there.
        if self.roots.holds(cert.subject().as_raw(), der) {
            return Some(earliest);
        }
        if path.len() >= MAX_CHAIN {
            return None;
        }
        let issuer = cert.issuer().as_raw();
        let now = self.now;
        let valid = |(from, to): (f64, f64)| from <= now && now <= to;
        let trusted: Vec<&Root> = self
            .roots
            .named(issuer, der)
            .filter(|root| valid(root.validity))
            .collect();
        let carried: Vec<&'c (&'c [u8], X509Certificate<'a>)> = self
            .presented
            .iter()
            .filter(|(other, candidate)| {
                candidate.subject().as_raw() == issuer
                    && *other != der
                    && !path.contains(other)
                    && valid(validity(candidate))
            })
            .collect();
        // Names decide unless more than one certificate has the issuer's name; only then is
        // a key parsed and a signature checked.
        let choice = trusted.len() + carried.len() > 1;
        let signed_by = |key: &SubjectPublicKeyInfo<'_>| cert.verify_signature(Some(key)).is_ok();
        let mut latest: Option<f64> = None;
        let mut keep = |found: f64| latest = Some(latest.map_or(found, |l: f64| l.max(found)));
        for root in trusted {
            if !self.spend() {
                return latest;
            }
            let signed = !choice
                || SubjectPublicKeyInfo::from_der(&root.public_key)
                    .is_ok_and(|(_, key)| signed_by(&key));
            if signed {
                keep(earliest.min(root.validity.1));
            }
        }
        for (next_der, next) in carried {
            if !self.spend() {
                return latest;
            }
            if choice && !signed_by(next.public_key()) {
                continue;
            }
            path.push(der);
            let found = self.latest_chain(next_der, next, earliest.min(expiry(next)), path);
            path.pop();
            if let Some(found) = found {
                keep(found);
            }
        }
        latest
    }

    fn spend(&mut self) -> bool {
        let left = self.budget > 0;
        self.budget = self.budget.saturating_sub(1);
        left
    }
}

/// The leaf certificate's identity, as `probe_ssl_last_chain_info` labels it.
fn leaf(der: &[u8], cert: &X509Certificate<'_>) -> Leaf {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let dns_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(*dns),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    Leaf {
        fingerprint_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        subject: go_name(cert.subject()),
        issuer: go_name(cert.issuer()),
        dns_names,
    }
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Option<X509Certificate<'a>> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, cert)| cert)
}

fn expiry(cert: &X509Certificate<'_>) -> f64 {
    cert.validity().not_after.timestamp() as f64
}

/// `notBefore` and `notAfter`, Unix seconds.
fn validity(cert: &X509Certificate<'_>) -> (f64, f64) {
    (cert.validity().not_before.timestamp() as f64, expiry(cert))
}

/// Attributes Go parses into named fields of `pkix.Name`, in the order its
/// `ToRDNSequence` writes them, with the names `RDNSequence.String()` gives them.
const NAMED: [(&str, &str); 9] = [
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// `name` as Go's `pkix.Name.String()` prints a parsed certificate's name: other
/// attributes first (printed last, as `oid=#hex`), then the named fields in Go's order,
/// each field's values in one relative name (`OU=a+OU=b`; the last common name and serial
/// number only), the whole sequence printed in reverse and escaped as RFC 2253 asks.
fn go_name(name: &X509Name<'_>) -> String {
    let attributes: Vec<(String, &[u8], Option<&str>)> = name
        .iter_attributes()
        .map(|a| {
            (
                a.attr_type().to_id_string(),
                a.attr_value().as_bytes(),
                a.as_str().ok(),
            )
        })
        .collect();
    let mut rdns: Vec<Vec<String>> = attributes
        .iter()
        .filter(|(oid, _, _)| !NAMED.iter().any(|(named, _)| named == oid))
        .map(|(oid, bytes, text)| vec![format!("{oid}=#{}", der_hex(bytes, *text))])
        .collect();
    for (oid, label) in NAMED {
        let mut values = attributes
            .iter()
            .filter(|(type_oid, _, _)| type_oid == oid)
            .filter_map(|(_, _, text)| *text);
        let values: Vec<&str> = if matches!(label, "CN" | "SERIALNUMBER") {
            values
                .next_back()
                .into_iter()
                .filter(|v| !v.is_empty())
                .collect()
        } else {
            values.collect()
        };
        if !values.is_empty() {
            rdns.push(
                values
                    .iter()
                    .map(|value| format!("{label}={}", escape(value)))
                    .collect(),
            );
        }
    }
    rdns.iter()
        .rev()
        .map(|rdn| rdn.join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

/// An attribute value re-encoded as Go's `asn1.Marshal` encodes a string (a
/// PrintableString where every character allows it, else a UTF8String), in hex; a value
/// that is not text keeps its own bytes.
fn der_hex(bytes: &[u8], text: Option<&str>) -> String {
    let encoded = match text {
        Some(text) => {
            let printable = text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c));
            let tag = if printable { 0x13 } else { 0x0c };
            let mut der = vec![tag];
            let length = text.len();
            if length < 0x80 {
                der.push(length as u8);
            } else {
                let octets: Vec<u8> = length
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|&b| b == 0)
                    .collect();
                der.push(0x80 | octets.len() as u8);
                der.extend(octets);
            }
            der.extend(text.as_bytes());
            der
        }
        None => bytes.to_vec(),
    };
    encoded.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 2253 escaping as Go applies it.
fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut escaped = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let needs = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == last,
            '#' => i == 0,
            _ => false,
        };
        if needs {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use x509_parser::prelude::FromDer;

    use super::*;

    fn certificate(
        names: &[(rcgen::DnType, &str)],
        issuer: Option<(&rcgen::Issuer<'_, rcgen::KeyPair>, bool)>,
        sans: Vec<String>,
        year: i32,
    ) -> (
        CertificateDer<'static>,
        rcgen::CertificateParams,
        rcgen::KeyPair,
    ) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in names {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let ca = issuer.is_none_or(|(_, ca)| ca);
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = match issuer {
            Some((issuer, _)) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        (cert.der().clone(), params, key)
    }

    #[test]
    fn names_print_as_go_prints_them() {
        use rcgen::DnType;
        let (der, _, _) = certificate(
            &[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, "Example, Inc."),
                (DnType::OrganizationalUnitName, "SRE"),
                (DnType::CommonName, "#edge "),
            ],
            None,
            vec![
                "example.org".into(),
                "www.example.org".into(),
                "192.0.2.1".into(),
            ],
            2030,
        );
        let leaf = leaf_of(&der);
        assert_eq!(leaf.subject, r"CN=\#edge\ ,OU=SRE,O=Example\, Inc.,C=US");
        assert_eq!(leaf.issuer, leaf.subject, "self-signed");
        // IP addresses are no DNS names.
        assert_eq!(leaf.dns_names, "example.org,www.example.org");
        assert_eq!(leaf.fingerprint_sha256.len(), 64);
        let other = rcgen::DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]);
        let (der, _, _) = certificate(
            &[(other, "ops@example.org"), (DnType::CommonName, "mail")],
            None,
            vec![],
            2030,
        );
        // Go puts attributes it has no field for last, in hex.
        assert_eq!(
            leaf_subject(&der),
            "CN=mail,1.2.840.113549.1.9.1=#0c0f6f7073406578616d706c652e6f7267"
        );
    }

    #[test]
    fn values_of_one_field_share_a_relative_name() {
        // Two OUs in relative names of their own (rcgen keeps one value per field).
        let ou = |value: &str| {
            let mut attribute = vec![0x06, 0x03, 0x55, 0x04, 0x0b, 0x0c, value.len() as u8];
            attribute.extend(value.as_bytes());
            let mut rdn = vec![0x31, attribute.len() as u8 + 2, 0x30, attribute.len() as u8];
            rdn.extend(attribute);
            rdn
        };
        let rdns = [ou("Ops"), ou("SRE")].concat();
        let der = [vec![0x30, rdns.len() as u8], rdns].concat();
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(go_name(&name), "OU=Ops+OU=SRE");
    }

    fn leaf_subject(der: &CertificateDer<'static>) -> String {
        leaf_of(der).subject
    }

    /// The leaf of a chain of one, trusting nothing.
    fn leaf_of(der: &CertificateDer<'static>) -> Leaf {
        read(std::slice::from_ref(der), &trusting(&[]))
            .leaf
            .unwrap()
    }

    fn trusting(roots: &[CertificateDer<'static>]) -> TrustedRoots {
        TrustedRoots::new(roots.into())
    }

    #[test]
    fn the_verified_chain_runs_from_the_leaf_to_a_trusted_root() {
        use rcgen::DnType;
        let (root, root_params, root_key) =
            certificate(&[(DnType::CommonName, "root")], None, vec![], 2040);
        let root_issuer = rcgen::Issuer::new(root_params, root_key);
        let (intermediate, intermediate_params, intermediate_key) = certificate(
            &[(DnType::CommonName, "intermediate")],
            Some((&root_issuer, true)),
            vec![],
            2033,
        );
        let intermediate_issuer = rcgen::Issuer::new(intermediate_params, intermediate_key);
        let (leaf_der, _, _) = certificate(
            &[(DnType::CommonName, "leaf")],
            Some((&intermediate_issuer, false)),
            vec!["leaf.example".into()],
            2035,
        );
        let at = |year: i32| rcgen::date_time_ymd(year, 1, 1).unix_timestamp() as f64;
        let presented = [leaf_der, intermediate];
        let shown = read(&presented, &trusting(std::slice::from_ref(&root)));
        assert_eq!(shown.earliest_expiry, Some(at(2033)));
        assert_eq!(shown.chain_expiry, Some(at(2033)));
        assert_eq!(shown.leaf.unwrap().issuer, "CN=intermediate");
        // A presented certificate that is itself trusted ends the chain there: the leaf
        // trusted as such, the intermediate's earlier expiry is not on its chain.
        let leaf_trusted = read(&presented, &trusting(&presented[..1]));
        assert_eq!(leaf_trusted.chain_expiry, Some(at(2035)));
        // A root that expires first counts too; no trusted root, no chain.
        let (short_root, short_params, short_key) =
            certificate(&[(DnType::CommonName, "root")], None, vec![], 2031);
        let short_issuer = rcgen::Issuer::new(short_params, short_key);
        let (leaf_of_short, _, _) = certificate(
            &[(DnType::CommonName, "leaf")],
            Some((&short_issuer, false)),
            vec![],
            2035,
        );
        assert_eq!(
            read(&[leaf_of_short], &trusting(&[short_root])).chain_expiry,
            Some(at(2031))
        );
        let untrusted = read(&presented, &trusting(&[]));
        assert_eq!(untrusted.chain_expiry, None);
        assert_eq!(untrusted.earliest_expiry, Some(at(2033)));
    }

    /// A CA certificate named `name` for `key`, valid from `from` to `to` (years), signed by
    /// `issuer` or else by itself.
    fn ca_for(
        name: &str,
        key: &rcgen::KeyPair,
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
        (from, to): (i32, i32),
    ) -> (CertificateDer<'static>, rcgen::CertificateParams) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
        let cert = match issuer {
            Some(issuer) => params.signed_by(key, issuer).unwrap(),
            None => params.self_signed(key).unwrap(),
        };
        (cert.der().clone(), params)
    }

    fn issuer(
        params: rcgen::CertificateParams,
        key: rcgen::KeyPair,
    ) -> rcgen::Issuer<'static, rcgen::KeyPair> {
        rcgen::Issuer::new(params, key)
    }

    #[test]
    fn of_several_chains_the_latest_expiring_counts_and_signatures_settle_shared_names() {
        let at = |year: i32| rcgen::date_time_ymd(year, 1, 1).unix_timestamp() as f64;
        let (old_key, new_key) = (
            rcgen::KeyPair::generate().unwrap(),
            rcgen::KeyPair::generate().unwrap(),
        );
        let (old_root, old_params) = ca_for("old root", &old_key, None, (2020, 2040));
        let (new_root, new_params) = ca_for("new root", &new_key, None, (2020, 2045));
        let (old_root_ca, new_root_ca) = (issuer(old_params, old_key), issuer(new_params, new_key));
        // One intermediate key, cross-signed by both roots: two certificates, one name.
        let intermediate_key = rcgen::KeyPair::generate().unwrap();
        let (by_old, params) = ca_for(
            "intermediate",
            &intermediate_key,
            Some(&old_root_ca),
            (2020, 2033),
        );
        let (by_new, _) = ca_for(
            "intermediate",
            &intermediate_key,
            Some(&new_root_ca),
            (2020, 2036),
        );
        let intermediate = issuer(params, intermediate_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let (leaf, _) = ca_for("leaf", &leaf_key, Some(&intermediate), (2020, 2038));
        let roots = trusting(&[old_root.clone(), new_root.clone()]);
        // Go's verified chains: via the old root (earliest 2033) and via the new (2036).
        let both = read(&[leaf.clone(), by_old.clone(), by_new.clone()], &roots);
        assert_eq!(both.chain_expiry, Some(at(2033).max(at(2036))));
        assert_eq!(both.earliest_expiry, Some(at(2033)));
        // Trusting only the old root, only its chain is verified.
        let old_only = read(
            &[leaf.clone(), by_old.clone(), by_new.clone()],
            &trusting(&[old_root]),
        );
        assert_eq!(old_only.chain_expiry, Some(at(2033)));
        // An expired cross-signature is no chain.
        let stale_key = rcgen::KeyPair::generate().unwrap();
        let (expired_by_new, _) =
            ca_for("intermediate", &stale_key, Some(&new_root_ca), (2010, 2021));
        let expired = read(&[leaf.clone(), by_old.clone(), expired_by_new], &roots);
        assert_eq!(expired.chain_expiry, Some(at(2033)));

        // Two trusted roots with one name and different keys (a renewed root beside the old
        // one): the one whose key signed the leaf's issuer is its root.
        let (renewed_key, short_key) = (
            rcgen::KeyPair::generate().unwrap(),
            rcgen::KeyPair::generate().unwrap(),
        );
        let (short, _) = ca_for("shared root", &short_key, None, (2020, 2031));
        let (renewed, renewed_params) = ca_for("shared root", &renewed_key, None, (2020, 2044));
        let renewed_ca = issuer(renewed_params, renewed_key);
        let (leaf_of_renewed, _) = ca_for("leaf", &leaf_key, Some(&renewed_ca), (2020, 2039));
        for roots in [[short.clone(), renewed.clone()], [renewed, short]] {
            assert_eq!(
                read(std::slice::from_ref(&leaf_of_renewed), &trusting(&roots)).chain_expiry,
                Some(at(2039))
            );
        }
    }

    #[test]
    fn many_certificates_sharing_a_name_and_key_do_not_stall_the_search() {
        // 24 certificates, one name and one key, each verifying every other's signature:
        // uncapped, the search would try every ordering of up to 10 of them.
        let key = rcgen::KeyPair::generate().unwrap();
        let (_, params) = ca_for("loop", &key, None, (2020, 2040));
        let looped = issuer(params, key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut presented = vec![ca_for("leaf", &leaf_key, Some(&looped), (2020, 2039)).0];
        for year in 2030..2054 {
            presented.push(ca_for("loop", looped.key(), Some(&looped), (2020, year)).0);
        }
        let parsed: Vec<(&[u8], X509Certificate<'_>)> = presented
            .iter()
            .map(|der| (der.as_ref(), parse(der).unwrap()))
            .collect();
        let roots = trusting(&[]);
        let mut search = Search {
            presented: &parsed,
            roots: &roots,
            now: rcgen::date_time_ymd(2026, 1, 1).unix_timestamp() as f64,
            budget: MAX_CANDIDATES,
        };
        let (der, leaf) = &parsed[0];
        assert_eq!(search.latest_chain(der, leaf, 0.0, &mut Vec::new()), None);
        assert_eq!(search.budget, 0, "the search ended at its cap");
    }
}
