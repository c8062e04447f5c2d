//! X.509 certificates: parsing (DER, PEM, bundles), the accessors other crates need (serial,
//! subject, validity, fingerprint, key), signature and issuer checks, and a small chain builder.
//!
//! Path building lives in [`crate::path`] ([`verify_chain`] is its plain form), name matching
//! in [`crate::name`], CRLs in [`crate::crl`]. Certificate policies and name constraints are not
//! processed.
use std::time::SystemTime;

use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};

use const_oid::{AssociatedOid, ObjectIdentifier};

use crate::util;
use crate::{key, PkiError};

/// A parsed X.509 certificate that keeps its exact DER encoding.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    /// Lowercase hex SHA-256 of `der`: gateways name certificates by it on every message.
    fingerprint_hex: String,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

const PEM_LABEL: &str = "CERTIFICATE";

impl Certificate {
    /// Parses one DER certificate; trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|e| PkiError::malformed("certificate", e))?;
        Ok(Certificate {
            der: der.to_vec(),
            parsed,
            fingerprint_hex: hex::encode(Sha256::digest(der)),
        })
    }

    /// Parses exactly one "CERTIFICATE" PEM block.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| PkiError::malformed("certificate PEM", e))?;
        if label != PEM_LABEL {
            return Err(PkiError::malformed(
                "certificate PEM",
                format!("expected a \"{PEM_LABEL}\" block, found \"{label}\""),
            ));
        }
        Self::from_der(&der)
    }

    /// Parses every "CERTIFICATE" block of a bundle, in order. Text between blocks and blocks
    /// of other types (e.g. a key someone appended) are skipped; a bundle with no certificate
    /// is an error.
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>, PkiError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let mut out = Vec::new();
        let mut rest = pem;
        while let Some(start) = rest.find(BEGIN) {
            let after = &rest[start..];
            let end = after.find(END).ok_or_else(|| {
                PkiError::malformed(
                    "certificate bundle",
                    format!("certificate #{} has no END line", out.len() + 1),
                )
            })?;
            let block = &after[..end + END.len()];
            out.push(Self::from_pem(block).map_err(|e| match e {
                PkiError::Malformed { detail, .. } => PkiError::malformed(
                    "certificate bundle",
                    format!("certificate #{}: {detail}", out.len() + 1),
                ),
                other => other,
            })?);
            rest = &after[end + END.len()..];
        }
        if out.is_empty() {
            return Err(PkiError::malformed(
                "certificate bundle",
                "no \"BEGIN CERTIFICATE\" block found",
            ));
        }
        Ok(out)
    }

    /// PEM with LF line endings.
    pub fn to_pem(&self) -> String {
        der::pem::encode_string(PEM_LABEL, der::pem::LineEnding::LF, &self.der)
            .expect("base64 of an in-memory certificate cannot fail")
    }

    /// The certificate's DER, exactly as parsed or issued.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed structure, for fields this type has no accessor for.
    pub fn parsed(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// Lowercase hex of the serial number's octets without sign-padding zeros.
    pub fn serial_hex(&self) -> String {
        util::serial_hex(self.parsed.tbs_certificate.serial_number.as_bytes())
    }

    /// The subject as an RFC 4514 string, e.g. "CN=AZ/GOV/1234567,O=Tax Service".
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate.subject.to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate.issuer.to_string()
    }

    /// The first commonName of the subject, if it is a string type we can read.
    pub fn common_name(&self) -> Option<String> {
        self.parsed
            .tbs_certificate
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == const_oid::db::rfc4519::CN)
            .and_then(|atv| directory_string(&atv.value))
    }

    /// notBefore.
    pub fn not_before(&self) -> SystemTime {
        self.parsed
            .tbs_certificate
            .validity
            .not_before
            .to_system_time()
    }

    /// notAfter.
    pub fn not_after(&self) -> SystemTime {
        self.parsed
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }

    /// SHA-256 of the whole DER, lowercase hex: the value to pin for TLS.
    pub fn sha256_fingerprint_hex(&self) -> String {
        self.fingerprint_hex.clone()
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("re-encoding a parsed SubjectPublicKeyInfo cannot fail")
    }

    /// Checks that `key` is this certificate's key, before anything is signed with the pair;
    /// `role` names the key in the error ("issuer", "TSA", …).
    pub fn check_key(&self, signing_key: &key::SigningKey, role: &str) -> Result<(), PkiError> {
        if self.public_key_der() != signing_key.public_key_der() {
            return Err(PkiError::InvalidIssueRequest(format!(
                "the {role} key does not belong to \"{}\"",
                self.subject()
            )));
        }
        Ok(())
    }

    /// Verifies a DER ECDSA-SHA256 signature over `msg` with this certificate's P-256 key.
    ///
    /// On every message's path, so the key's SEC1 point goes to ring as the certificate holds
    /// it (ring refuses anything that is not a point on P-256) instead of being re-encoded.
    pub fn verify_signature(&self, msg: &[u8], sig_der: &[u8]) -> Result<(), PkiError> {
        let point = self
            .parsed
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
            .verify(msg, sig_der)
            .map_err(|_| {
                PkiError::BadSignature(
                    "ECDSA-SHA256 signature does not match the key and data".into(),
                )
            })
    }

    /// Verifies a DER ECDSA signature over an already computed SHA-256 digest.
    pub fn verify_prehashed(&self, digest: &[u8; 32], sig_der: &[u8]) -> Result<(), PkiError> {
        key::verify_prehashed(&self.public_key_der(), digest, sig_der)
    }

    /// Verifies `sig` over `msg` with this certificate's key under any algorithm of
    /// [`crate::alg`]; the result names the algorithm and key size for a policy to judge.
    pub fn verify_with(
        &self,
        alg: &crate::alg::SignatureAlgorithm,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<crate::alg::Verified, crate::alg::AlgError> {
        let key =
            crate::alg::PublicKey::from_spki(&self.parsed.tbs_certificate.subject_public_key_info)?;
        alg.verify_key(&key, msg, sig)
    }

    /// The type and size of this certificate's key.
    pub fn key_kind(&self) -> Result<crate::alg::KeyKind, crate::alg::AlgError> {
        crate::alg::PublicKey::from_spki(&self.parsed.tbs_certificate.subject_public_key_info)
            .map(|k| k.kind)
    }

    /// Checks that `issuer`'s subject is this certificate's issuer name and that `issuer`'s key
    /// made this certificate's signature (ecdsa-with-SHA256 only).
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), PkiError> {
        let wrong = |reason: String| PkiError::WrongIssuer {
            subject: self.subject(),
            issuer: issuer.subject(),
            reason,
        };
        // RFC 5280 §7.1 name matching, not byte equality: other CAs re-encode or re-case the
        // issuer's name in the certificates they issue.
        if !crate::name::names_match(
            &self.parsed.tbs_certificate.issuer,
            &issuer.parsed.tbs_certificate.subject,
        ) {
            return Err(wrong(format!(
                "issuer name is \"{}\", not \"{}\"",
                self.issuer(),
                issuer.subject()
            )));
        }
        // Any algorithm of [`crate::alg`]: foreign CAs sign with RSA (PKCS#1 v1.5 or PSS) and
        // P-384/P-521; an algorithm we cannot check leaves the issuer unproven, never forged.
        let alg = crate::alg::SignatureAlgorithm::from_x509(&self.parsed.signature_algorithm)
            .map_err(|e| wrong(e.to_string()))?;
        let (tbs, sig) =
            util::signed_and_signature(&self.der, &self.parsed.signature, "certificate", wrong)?;
        issuer
            .verify_with(&alg, tbs, sig)
            .map(|_| ())
            .map_err(|e| wrong(e.to_string()))
    }

    /// Whether `at` lies within notBefore..=notAfter.
    pub fn check_validity(&self, at: SystemTime) -> Result<(), PkiError> {
        if at < self.not_before() {
            return Err(PkiError::NotYetValid {
                subject: self.subject(),
                not_before: util::rfc3339(self.not_before()),
                at: util::rfc3339(at),
            });
        }
        if at > self.not_after() {
            return Err(PkiError::Expired {
                subject: self.subject(),
                not_after: util::rfc3339(self.not_after()),
                at: util::rfc3339(at),
            });
        }
        Ok(())
    }

    /// The raw value of the extension `oid`, with its criticality, if present.
    pub fn extension(&self, oid: ObjectIdentifier) -> Option<(bool, &[u8])> {
        self.parsed
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| (e.critical, e.extn_value.as_bytes()))
    }

    /// The extended key usage OIDs, if the extension is present and well formed.
    pub fn extended_key_usage(&self) -> Option<Vec<ObjectIdentifier>> {
        let (_, v) = self.extension(ExtendedKeyUsage::OID)?;
        ExtendedKeyUsage::from_der(v).ok().map(|e| e.0)
    }

    /// Whether the certificate has `eku` in its extended key usage.
    pub fn has_extended_key_usage(&self, eku: ObjectIdentifier) -> bool {
        self.extended_key_usage()
            .is_some_and(|ekus| ekus.contains(&eku))
    }

    /// basicConstraints cA and pathLenConstraint; `None` if absent or malformed.
    pub fn basic_constraints(&self) -> Option<(bool, Option<u8>)> {
        let (_, v) = self.extension(BasicConstraints::OID)?;
        BasicConstraints::from_der(v)
            .ok()
            .map(|bc| (bc.ca, bc.path_len_constraint))
    }

    /// The key usage bits, if the extension is present and well formed.
    pub(crate) fn key_usage(&self) -> Option<KeyUsage> {
        let (_, v) = self.extension(KeyUsage::OID)?;
        KeyUsage::from_der(v).ok()
    }

    /// Whether the certificate may sign certificates (RFC 5280 §4.2.1.9 and §4.2.1.3).
    pub fn is_ca(&self) -> bool {
        let ca = matches!(self.basic_constraints(), Some((true, _)));
        let ku_ok = self
            .key_usage()
            .is_none_or(|ku| ku.0.contains(KeyUsages::KeyCertSign));
        ca && ku_ok
    }

    /// The SHA-1 of the subjectPublicKey BIT STRING contents: the OCSP KeyHash (RFC 6960
    /// §4.1.1) and our subjectKeyIdentifier (RFC 5280 §4.2.1.2 method 1).
    pub(crate) fn key_hash(&self, alg: util::HashAlg) -> Vec<u8> {
        alg.digest(
            self.parsed
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        )
    }

    /// The hash of the DER subject name, for OCSP CertIDs.
    pub(crate) fn subject_hash(&self, alg: util::HashAlg) -> Vec<u8> {
        let name = self
            .parsed
            .tbs_certificate
            .subject
            .to_der()
            .expect("re-encoding a parsed Name cannot fail");
        alg.digest(&name)
    }
}

/// Reads a DirectoryString-like attribute value as text.
fn directory_string(v: &der::Any) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    use der::{Tag, Tagged};
    match v.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(v)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::PrintableString => PrintableStringRef::try_from(v)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::try_from(v)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::TeletexString => TeletexStringRef::try_from(v)
            .ok()
            .map(|s| s.as_str().to_owned()),
        _ => None,
    }
}

/// Builds and checks a chain from `leaf` to one of `anchors`, using `intermediates` as needed,
/// with every certificate valid at `at`. Returns the chain, leaf first, anchor last.
///
/// A certificate that is itself in `anchors` is trusted directly (pinning). Issuers must be CAs
/// (basicConstraints cA, keyCertSign when key usage is present) and respect pathLenConstraint.
/// This is [`crate::path::build_path`] with no usage check on the leaf and the default search
/// bounds; callers validating document signatures use that with
/// [`crate::path::Usage::DocumentSigning`].
pub fn verify_chain(
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Result<Vec<Certificate>, PkiError> {
    crate::path::build_path(
        leaf,
        intermediates,
        anchors,
        at,
        crate::path::Usage::Any,
        crate::path::Limits::default(),
    )
}
