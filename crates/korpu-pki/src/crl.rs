//! Certificate revocation lists (RFC 5280 §5): parsing within a size bound, checking the
//! issuer's signature and authority, and answering "is this certificate on it, since when, why".
//!
//! A CRL is believed only for what it covers. Refused as unsupported (the caller then has no
//! revocation data from it, which validators report as INDETERMINATE): delta CRLs
//! (deltaCRLIndicator), indirect CRLs (indirectCRL, certificateIssuer entries), CRLs limited to
//! some reasons (onlySomeReasons) or to attribute certificates, and any other critical
//! extension we do not know, as §5.2 requires. A CRL scoped by its issuingDistributionPoint to
//! user or CA certificates, or to one distribution point, answers only for certificates in that
//! scope. Version 1 CRLs (no version field) are refused as malformed by the parser.
//!
//! Also here: the CRL distribution point and OCSP URLs a certificate names, for callers that are
//! allowed to fetch, and [`issue`], which makes the complete CRLs our own CAs publish (the
//! central registry's root signs one about its issuing CA).
use std::time::SystemTime;

use const_oid::db::rfc5280::{
    ID_AD_OCSP, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CERTIFICATE_ISSUER,
    ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS, ID_CE_DELTA_CRL_INDICATOR,
    ID_CE_INVALIDITY_DATE, ID_CE_ISSUING_DISTRIBUTION_POINT, ID_PE_AUTHORITY_INFO_ACCESS,
};
use const_oid::AssociatedOid;
use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, CrlDistributionPoints, CrlReason, KeyUsage, KeyUsages,
};

use crate::cert::Certificate;
use crate::name::names_match;
use crate::ocsp::{CertStatus, RevocationReason};
use crate::util;
use crate::PkiError;

/// Largest CRL accepted. National CAs publish CRLs of several MiB; this bounds the memory one
/// hostile file can make the parser allocate.
pub const MAX_CRL_BYTES: usize = 32 << 20;

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// Lowercase hex of the serial number, as [`Certificate::serial_hex`].
    pub serial_hex: String,
    /// revocationDate.
    pub at: SystemTime,
    /// reasonCode, when given.
    pub reason: Option<RevocationReason>,
}

/// Which certificates a CRL speaks for (issuingDistributionPoint, RFC 5280 §5.2.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Scope {
    only_user: bool,
    only_ca: bool,
    /// URIs of the distribution point the CRL is for, when it names one.
    point_uris: Vec<String>,
}

/// A parsed, complete CRL. Its signature is not checked by parsing: call
/// [`Crl::verify_issued_by`].
#[derive(Clone, Debug)]
pub struct Crl {
    der: Vec<u8>,
    parsed: CertificateList,
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    revoked: Vec<Revoked>,
    scope: Scope,
}

impl PartialEq for Crl {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

fn unsupported(why: impl Into<String>) -> PkiError {
    PkiError::CrlRejected(why.into())
}

impl Crl {
    /// Parses a DER CertificateList, refusing what we cannot interpret soundly (see the module
    /// documentation).
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        if der.len() > MAX_CRL_BYTES {
            return Err(PkiError::malformed(
                "CRL",
                format!(
                    "{} bytes, more than the {MAX_CRL_BYTES} accepted",
                    der.len()
                ),
            ));
        }
        let parsed = CertificateList::from_der(der).map_err(|e| PkiError::malformed("CRL", e))?;
        let tbs = &parsed.tbs_cert_list;
        if tbs.signature != parsed.signature_algorithm {
            return Err(PkiError::malformed(
                "CRL",
                "the signature algorithm inside and outside the signed part differ",
            ));
        }
        let mut scope = Scope::default();
        for ext in tbs.crl_extensions.iter().flatten() {
            let v = ext.extn_value.as_bytes();
            match ext.extn_id {
                ID_CE_DELTA_CRL_INDICATOR => {
                    return Err(unsupported("a delta CRL: only complete CRLs are supported"))
                }
                ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(v)
                        .map_err(|e| PkiError::malformed("CRL issuingDistributionPoint", e))?;
                    if idp.indirect_crl {
                        return Err(unsupported("an indirect CRL: not supported"));
                    }
                    if idp.only_some_reasons.is_some() {
                        return Err(unsupported(
                            "the CRL covers only some revocation reasons: not supported",
                        ));
                    }
                    if idp.only_contains_attribute_certs {
                        return Err(unsupported("a CRL for attribute certificates"));
                    }
                    scope.only_user = idp.only_contains_user_certs;
                    scope.only_ca = idp.only_contains_ca_certs;
                    if let Some(DistributionPointName::FullName(names)) = &idp.distribution_point {
                        scope.point_uris = uris(names);
                    }
                }
                ID_CE_CRL_NUMBER | ID_CE_AUTHORITY_KEY_IDENTIFIER => {}
                oid if ext.critical => {
                    return Err(unsupported(format!("unknown critical CRL extension {oid}")))
                }
                _ => {}
            }
        }
        let mut revoked = Vec::new();
        for entry in tbs.revoked_certificates.iter().flatten() {
            let mut reason = None;
            for ext in entry.crl_entry_extensions.iter().flatten() {
                match ext.extn_id {
                    ID_CE_CRL_REASONS => {
                        let r = CrlReason::from_der(ext.extn_value.as_bytes())
                            .map_err(|e| PkiError::malformed("CRL entry reasonCode", e))?;
                        if r == CrlReason::RemoveFromCRL {
                            // Only delta CRLs may say this (RFC 5280 §5.3.1).
                            return Err(PkiError::malformed(
                                "CRL",
                                "removeFromCRL in a complete CRL",
                            ));
                        }
                        reason = RevocationReason::from_crl_reason(r);
                    }
                    ID_CE_CERTIFICATE_ISSUER => {
                        return Err(unsupported(
                            "an entry names another certificate issuer (indirect CRL)",
                        ))
                    }
                    ID_CE_INVALIDITY_DATE => {}
                    oid if ext.critical => {
                        return Err(unsupported(format!(
                            "unknown critical CRL entry extension {oid}"
                        )))
                    }
                    _ => {}
                }
            }
            revoked.push(Revoked {
                serial_hex: util::serial_hex(entry.serial_number.as_bytes()),
                at: entry.revocation_date.to_system_time(),
                reason,
            });
        }
        revoked.sort_by(|a, b| a.serial_hex.cmp(&b.serial_hex));
        Ok(Crl {
            der: der.to_vec(),
            this_update: tbs.this_update.to_system_time(),
            next_update: tbs.next_update.map(|t| t.to_system_time()),
            parsed,
            revoked,
            scope,
        })
    }

    /// Parses a "X509 CRL" PEM block or DER, whichever `bytes` holds.
    pub fn from_der_or_pem(bytes: &[u8]) -> Result<Self, PkiError> {
        if bytes.starts_with(b"-----BEGIN") {
            let (label, der) =
                der::pem::decode_vec(bytes).map_err(|e| PkiError::malformed("CRL PEM", e))?;
            if label != "X509 CRL" {
                return Err(PkiError::malformed(
                    "CRL PEM",
                    format!("expected an \"X509 CRL\" block, found \"{label}\""),
                ));
            }
            return Self::from_der(&der);
        }
        Self::from_der(bytes)
    }

    /// The CRL's DER, as parsed.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_cert_list.issuer.to_string()
    }

    /// The issuer's distinguished name.
    pub fn issuer_name(&self) -> &x509_cert::name::Name {
        &self.parsed.tbs_cert_list.issuer
    }

    /// thisUpdate: the time the CRL speaks for.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// nextUpdate, when given.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update
    }

    /// The revoked certificates, by serial.
    pub fn revoked(&self) -> &[Revoked] {
        &self.revoked
    }

    /// Checks that `issuer` issued this CRL: its subject is the CRL's issuer name, it may sign
    /// CRLs (keyUsage cRLSign when key usage is present), its key made the signature, and its
    /// authorityKeyIdentifier, when both carry one, names that key.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), PkiError> {
        let wrong = |reason: String| PkiError::WrongIssuer {
            subject: format!("CRL of {}", self.issuer()),
            issuer: issuer.subject(),
            reason,
        };
        if !names_match(
            &self.parsed.tbs_cert_list.issuer,
            &issuer.parsed().tbs_certificate.subject,
        ) {
            return Err(wrong("the CRL is issued under another name".into()));
        }
        if let Some((_, v)) = issuer.extension(KeyUsage::OID) {
            let ku = KeyUsage::from_der(v).map_err(|e| PkiError::malformed("certificate", e))?;
            if !ku.0.contains(KeyUsages::CRLSign) {
                return Err(wrong("its keyUsage lacks cRLSign".into()));
            }
        }
        if let (Some(aki), Some(ski)) =
            (self.authority_key_id(), crate::path::subject_key_id(issuer))
        {
            if aki != ski {
                return Err(wrong(
                    "the CRL's authorityKeyIdentifier names another key".into(),
                ));
            }
        }
        let (tbs, sig) =
            util::signed_and_signature(&self.der, &self.parsed.signature, "CRL", wrong)?;
        verify_signed(issuer, &self.parsed.signature_algorithm, tbs, sig)
            .map_err(|e| wrong(e.to_string()))
    }

    fn authority_key_id(&self) -> Option<Vec<u8>> {
        let ext = self
            .parsed
            .tbs_cert_list
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == ID_CE_AUTHORITY_KEY_IDENTIFIER)?;
        x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())
            .ok()?
            .key_identifier
            .map(|k| k.as_bytes().to_vec())
    }

    /// The status of `cert` according to this CRL, or an error when the CRL does not speak
    /// for it (another issuer, or outside the CRL's scope). The CRL's signature must have been
    /// checked against `cert`'s issuer with [`Crl::verify_issued_by`] first.
    pub fn status(&self, cert: &Certificate) -> Result<CertStatus, PkiError> {
        if !names_match(
            &cert.parsed().tbs_certificate.issuer,
            &self.parsed.tbs_cert_list.issuer,
        ) {
            return Err(unsupported(format!(
                "the CRL of \"{}\" does not cover certificates of \"{}\"",
                self.issuer(),
                cert.issuer()
            )));
        }
        let is_ca = matches!(cert.basic_constraints(), Some((true, _)));
        if (self.scope.only_ca && !is_ca) || (self.scope.only_user && is_ca) {
            return Err(unsupported(format!(
                "the CRL covers only {} certificates",
                if self.scope.only_ca {
                    "CA"
                } else {
                    "end-entity"
                }
            )));
        }
        if !self.scope.point_uris.is_empty() {
            let points = crl_urls(cert);
            if !points.iter().any(|p| self.scope.point_uris.contains(p)) {
                return Err(unsupported(
                    "the CRL is for a distribution point the certificate does not name",
                ));
            }
        }
        let serial = cert.serial_hex();
        Ok(
            match self
                .revoked
                .binary_search_by(|r| r.serial_hex.as_str().cmp(serial.as_str()))
            {
                Ok(i) => CertStatus::Revoked {
                    at: self.revoked[i].at,
                    reason: self.revoked[i].reason,
                },
                Err(_) => CertStatus::Good,
            },
        )
    }
}

fn uris(names: &[GeneralName]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// The URIs of `cert`'s CRL distribution points (RFC 5280 §4.2.1.13), in order.
pub fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Some((_, v)) = cert.extension(ID_CE_CRL_DISTRIBUTION_POINTS) else {
        return Vec::new();
    };
    let Ok(points) = CrlDistributionPoints::from_der(v) else {
        return Vec::new();
    };
    points
        .0
        .iter()
        // A point with its own cRLIssuer is an indirect CRL, which we do not support.
        .filter(|p| p.crl_issuer.is_none())
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(uris(names)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The OCSP responder URIs of `cert`'s authorityInfoAccess (RFC 5280 §4.2.2.1).
pub fn ocsp_urls(cert: &Certificate) -> Vec<String> {
    let Some((_, v)) = cert.extension(ID_PE_AUTHORITY_INFO_ACCESS) else {
        return Vec::new();
    };
    let Ok(aia) = AuthorityInfoAccessSyntax::from_der(v) else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|a| a.access_method == ID_AD_OCSP)
        .filter_map(|a| match &a.access_location {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// Verifies `sig` over `tbs` with `issuer`'s key under the algorithm `alg` names (any of
/// [`crate::alg`]: RSA, RSA-PSS, ECDSA P-256/384/521, Ed25519).
fn verify_signed(
    issuer: &Certificate,
    alg: &spki::AlgorithmIdentifierOwned,
    tbs: &[u8],
    sig: &[u8],
) -> Result<(), PkiError> {
    let alg = crate::alg::SignatureAlgorithm::from_x509(alg)?;
    issuer.verify_with(&alg, tbs, sig)?;
    Ok(())
}

/// Issues a complete CRL (version 2, ecdsa-with-SHA256) of `issuer` listing `revoked`, valid
/// from `this_update` to `next_update`, with the cRLNumber `number` and the issuer's key
/// identifier (RFC 5280 §5.2.1, §5.2.3). `key` must be the issuer's key.
pub fn issue(
    issuer: &Certificate,
    key: &crate::key::SigningKey,
    revoked: &[Revoked],
    this_update: SystemTime,
    next_update: SystemTime,
    number: u64,
) -> Result<Crl, PkiError> {
    use der::asn1::{BitString, OctetString};
    use der::Encode;
    use x509_cert::crl::{RevokedCert, TbsCertList};
    use x509_cert::ext::pkix::AuthorityKeyIdentifier;
    use x509_cert::ext::Extension;
    use x509_cert::serial_number::SerialNumber;

    let enc = |e: der::Error| PkiError::encoding("CRL", e);
    if key.public_key_der() != issuer.public_key_der() {
        return Err(PkiError::InvalidIssueRequest(
            "the CRL signing key is not the issuer certificate's key".into(),
        ));
    }
    let ext = |oid, critical, value: Vec<u8>| -> Result<Extension, PkiError> {
        Ok(Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value).map_err(enc)?,
        })
    };
    let mut entries = Vec::new();
    for r in revoked {
        let mut serial = hex::decode(&r.serial_hex)
            .map_err(|e| PkiError::InvalidIssueRequest(format!("serial {}: {e}", r.serial_hex)))?;
        // A positive INTEGER: a leading 1 bit would make it negative.
        if serial.first().is_none_or(|b| b & 0x80 != 0) {
            serial.insert(0, 0);
        }
        let reason = match r.reason {
            Some(reason) => Some(vec![ext(
                ID_CE_CRL_REASONS,
                false,
                CrlReason::from(reason).to_der().map_err(enc)?,
            )?]),
            None => None,
        };
        entries.push(RevokedCert {
            serial_number: SerialNumber::new(&serial).map_err(enc)?,
            revocation_date: util::x509_time(r.at)?,
            crl_entry_extensions: reason,
        });
    }
    let mut exts = vec![ext(
        ID_CE_CRL_NUMBER,
        false,
        x509_cert::ext::pkix::CrlNumber(der::asn1::Uint::new(&number.to_be_bytes()).map_err(enc)?)
            .to_der()
            .map_err(enc)?,
    )?];
    if let Some(ski) = crate::path::subject_key_id(issuer) {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(ski).map_err(enc)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        exts.push(ext(
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            false,
            aki.to_der().map_err(enc)?,
        )?);
    }
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: util::ecdsa_sha256_alg(),
        issuer: issuer.parsed().tbs_certificate.subject.clone(),
        this_update: util::x509_time(this_update)?,
        next_update: Some(util::x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(exts),
    };
    let sig = key.sign(&tbs.to_der().map_err(enc)?);
    let list = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: util::ecdsa_sha256_alg(),
        signature: BitString::from_bytes(&sig).map_err(enc)?,
    };
    Crl::from_der(&list.to_der().map_err(enc)?)
}
