//! Validation of XAdES signatures (ETSI EN 319 132-1, levels B-B, B-T and B-LT) as ASiC-E
//! carries them: `META-INF/signatures*.xml`, each an `asic:XAdESSignatures` with one or more
//! `ds:Signature` whose references name files of the container (the DigiDoc/BDOC form).
//!
//! Per signature: every `ds:Reference` is resolved (a container file by its URI, or `#id` in
//! the same document, which must be unique), transformed (canonicalisations, the
//! enveloped-signature transform) and digested; `ds:SignedInfo` is canonicalised as its
//! `CanonicalizationMethod` says and the `ds:SignatureValue` verified with the signer
//! certificate's key (ECDSA values are raw `r||s`); the `#SignedProperties` reference (with its
//! Type) must be among the verified ones, and its `SigningCertificate`/`SigningCertificateV2`
//! must name the signer certificate; `SigningTime` is reported as claimed; each
//! `SignatureTimeStamp` (RFC 3161 over the canonicalised `ds:SignatureValue` element) proves
//! the time; `CertificateValues` and `RevocationValues` (OCSP) feed the chain and revocation
//! checks (B-LT).
//!
//! The verdict rule (EN 319 102-1): TOTAL_FAILED only for a check that was computed and failed
//! (a reference digest: HASH_FAILURE; the signature value: SIG_CRYPTO_FAILURE; a malformed
//! signature: FORMAT_FAILURE). An algorithm, canonicalisation or transform Körpü does not
//! implement gives INDETERMINATE / CRYPTO_CONSTRAINTS_FAILURE, never TOTAL_FAILED; SHA-1 or a
//! short RSA key is judged by the validation policy ([`crate::policy`]) as for CAdES.
//!
//! Not here: XPath/XSLT/base64 transforms, detached references outside the container,
//! archive time-stamps (B-LTA), CRL values, counter-signatures, signature policy processing
//! (a policy identifier is accepted and not evaluated). Signing is [`crate::xades_sign`].
//!
//! The signatures of a file are found here; each is validated in `signature`, its references
//! in `references`; algorithm URIs are read in `algorithms`, the rest of the structure in
//! `read`.

mod algorithms;
mod read;
mod references;
mod signature;

pub use algorithms::digest_from_uri;

use std::collections::BTreeMap;
use std::time::SystemTime;

use korpu_pki::alg::HashAlg;
use korpu_pki::cert::Certificate;

use crate::lt::ValidationOptions;
use crate::validate::SignatureReport;
use crate::xml::{Document, Limits, NodeId, XmlError};

use read::is_within;
use signature::validate_signature;

/// XML-DSig namespace.
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XAdES 1.3.2 namespace.
pub const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
/// XAdES 1.4.1 namespace (elements added later, e.g. TimeStampValidationData).
pub const XADES141: &str = "http://uri.etsi.org/01903/v1.4.1#";
/// The ASiC namespace of `XAdESSignatures`.
pub const ASIC: &str = "http://uri.etsi.org/02918/v1.2.1#";
/// The Type of the reference to SignedProperties (EN 319 132-1 §6.3, item k).
pub const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";
const SIGNED_PROPERTIES_TYPE_111: &str = "http://uri.etsi.org/01903/v1.1.1#SignedProperties";
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const PSS_NS: &str = "http://www.w3.org/2007/05/xmldsig-more#";

/// Most `ds:Signature` elements one signatures file may hold (DigiDoc writes one per file; the
/// bound keeps a crafted file from costing a chain validation per thousand bytes).
const MAX_SIGNATURES: usize = 100;
/// Most references one signature may have.
const MAX_REFERENCES: usize = 1000;

/// Digests of container files already computed: (file, digest, canonicalisation, enveloped).
type DigestCache = BTreeMap<(String, HashAlg, Option<String>, bool), Result<Vec<u8>, String>>;

/// The verdict on one `ds:Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XadesSignature {
    /// The signature's `Id`, when it has one.
    pub id: Option<String>,
    /// Container files its references cover (decoded URIs).
    pub covers: Vec<String>,
    /// The verdict.
    pub report: SignatureReport,
}

/// Validates every `ds:Signature` of the signatures file `xml` of a container whose data files
/// are `files`, against `anchors` at `at`. `xml` may also be a signed XML document (the
/// enveloped signatures in it are validated) or a standalone `ds:Signature` with detached
/// data given as `files`. A file that is not a well-formed XAdESSignatures
/// document (a DOCTYPE included) is an error, for the caller to report as FORMAT_FAILURE.
pub fn validate_file(
    xml: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
    options: &ValidationOptions,
) -> Result<Vec<XadesSignature>, XmlError> {
    let doc = Document::parse(xml, limits)?;
    let root = doc.root();
    let sigs: Vec<NodeId> = if doc.is(root, DS, "Signature") {
        vec![root]
    } else if doc.is(root, ASIC, "XAdESSignatures") {
        doc.children_named(root, DS, "Signature").collect()
    } else {
        // A signed XML document: enveloped signatures inside it (not nested in one another).
        let all: Vec<NodeId> = doc
            .descendants(root)
            .into_iter()
            .filter(|&n| doc.is(n, DS, "Signature"))
            .collect();
        if all.len() > MAX_SIGNATURES {
            return Err(XmlError::TooLarge("signatures in one file"));
        }
        all.iter()
            .copied()
            .filter(|&n| !all.iter().any(|&o| o != n && is_within(&doc, n, o)))
            .collect()
    };
    if sigs.is_empty() {
        return Err(XmlError::Malformed("no ds:Signature".into()));
    }
    if sigs.len() > MAX_SIGNATURES {
        return Err(XmlError::TooLarge("signatures in one file"));
    }
    let mut cache = DigestCache::new();
    Ok(sigs
        .into_iter()
        .map(|s| validate_signature(&doc, s, files, anchors, at, options, &mut cache))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::read::parse_xs_datetime;
    use super::*;
    use crate::rfc3339;

    fn signatures_with_refs(n: usize, uri: &str) -> String {
        let r = format!(
            "<ds:Reference URI=\"{uri}\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference>"
        );
        format!(
            "<asic:XAdESSignatures xmlns:asic=\"{ASIC}\" xmlns:ds=\"{DS}\"><ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256\"/>{}</ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></asic:XAdESSignatures>",
            r.repeat(n)
        )
    }

    #[test]
    fn many_references_to_one_large_file_cost_one_digest() {
        let files = BTreeMap::from([("big.bin".to_string(), vec![7u8; 16 << 20])]);
        let check = |xml: &[u8]| {
            validate_file(
                xml,
                &files,
                &[],
                SystemTime::now(),
                &Limits::default(),
                &ValidationOptions::default(),
            )
        };
        let xml = signatures_with_refs(MAX_REFERENCES, "big.bin");
        let t = std::time::Instant::now();
        let r = check(xml.as_bytes()).unwrap();
        // One SHA-256 of 16 MiB, not a thousand.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(r[0].report.sub_indication.as_deref(), Some("HASH_FAILURE"));
        let xml = signatures_with_refs(MAX_REFERENCES + 1, "big.bin");
        let r = check(xml.as_bytes()).unwrap();
        assert_eq!(
            r[0].report.sub_indication.as_deref(),
            Some("FORMAT_FAILURE")
        );
        let one = signatures_with_refs(1, "big.bin");
        let inner = &one[one.find("<ds:Signature>").unwrap()..one.find("</asic:").unwrap()];
        let many = format!(
            "<asic:XAdESSignatures xmlns:asic=\"{ASIC}\" xmlns:ds=\"{DS}\">{}</asic:XAdESSignatures>",
            inner.repeat(MAX_SIGNATURES + 1)
        );
        assert!(check(many.as_bytes()).is_err());
    }

    #[test]
    fn xs_datetime() {
        let t = parse_xs_datetime("2024-03-01T10:00:00Z").unwrap();
        assert_eq!(rfc3339(t), "2024-03-01T10:00:00Z");
        let t = parse_xs_datetime("2024-03-01T12:00:00.123+02:00").unwrap();
        assert_eq!(rfc3339(t), "2024-03-01T10:00:00Z");
        assert!(parse_xs_datetime("yesterday").is_none());
    }
}
