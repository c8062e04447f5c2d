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
use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use korpu_pki::alg::{AlgError, EcdsaEncoding, HashAlg, SignatureAlgorithm, Verified};
use korpu_pki::cert::Certificate;
use korpu_pki::path::{build_path, Limits as PathLimits, Usage};
use korpu_pki::{tsa, PkiError};
use percent_encoding::percent_decode_str;

use crate::lt::ValidationOptions;
use crate::rfc3339;
use crate::validate::{Indication, SignatureReport};
use crate::xml::{C14n, Document, Limits, NodeId, XmlError};

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

/// The digest algorithm named by an XML-DSig `DigestMethod` URI.
pub fn digest_from_uri(uri: &str) -> Option<HashAlg> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => HashAlg::Sha1,
        "http://www.w3.org/2001/04/xmlenc#sha256" => HashAlg::Sha256,
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => HashAlg::Sha384,
        "http://www.w3.org/2001/04/xmlenc#sha512" => HashAlg::Sha512,
        _ => return None,
    })
}

/// The signature scheme named by a `SignatureMethod` URI (RFC 6931, XML-DSig 1.1); the
/// `rsa-pss` form reads its parameters from the element `method`.
fn signature_from_uri(
    doc: &Document,
    method: NodeId,
    uri: &str,
) -> Result<SignatureAlgorithm, String> {
    use HashAlg::*;
    let ecdsa = |hash| SignatureAlgorithm::Ecdsa {
        hash,
        encoding: EcdsaEncoding::Raw,
    };
    let pss = |hash: HashAlg| SignatureAlgorithm::RsaPss {
        hash,
        mgf1_hash: hash,
        salt_len: hash.output_len(),
    };
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => SignatureAlgorithm::RsaPkcs1 { hash: Sha1 },
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha256 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha384 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha512 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => ecdsa(Sha1),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => ecdsa(Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => ecdsa(Sha384),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => ecdsa(Sha512),
        "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1" => pss(Sha1),
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" => pss(Sha256),
        "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1" => pss(Sha384),
        "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => pss(Sha512),
        "http://www.w3.org/2007/05/xmldsig-more#rsa-pss" => {
            // RFC 6931 §2.3.10: RSAPSSParams with DigestMethod, MaskGenerationFunction and
            // SaltLength; absent values default to SHA-256 and a salt of its length.
            let params = doc.child(method, PSS_NS, "RSAPSSParams");
            let hash = match params.and_then(|p| doc.child(p, DS, "DigestMethod")) {
                Some(d) => {
                    let u = attr(doc, d, "Algorithm");
                    digest_from_uri(&u).ok_or(format!("RSA-PSS digest {u}"))?
                }
                None => Sha256,
            };
            let mgf1_hash = match params
                .and_then(|p| doc.child(p, PSS_NS, "MaskGenerationFunction"))
                .and_then(|m| doc.child(m, DS, "DigestMethod"))
            {
                Some(d) => {
                    let u = attr(doc, d, "Algorithm");
                    digest_from_uri(&u).ok_or(format!("RSA-PSS MGF1 digest {u}"))?
                }
                None => hash,
            };
            let salt_len = match params.and_then(|p| doc.child(p, PSS_NS, "SaltLength")) {
                Some(s) => doc
                    .text(s)
                    .trim()
                    .parse()
                    .map_err(|_| "RSA-PSS SaltLength is not a number".to_owned())?,
                None => hash.output_len(),
            };
            SignatureAlgorithm::RsaPss {
                hash,
                mgf1_hash,
                salt_len,
            }
        }
        "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519" => SignatureAlgorithm::Ed25519,
        other => return Err(format!("signature method {other}")),
    })
}

fn attr(doc: &Document, id: NodeId, name: &str) -> String {
    doc.element(id)
        .and_then(|e| e.attr(name))
        .unwrap_or_default()
        .to_owned()
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| format!("base64: {e}"))
}

/// The canonicalisation named by element `m` (a CanonicalizationMethod or Transform), with
/// its InclusiveNamespaces PrefixList.
fn c14n_of(doc: &Document, m: NodeId) -> Option<C14n> {
    let mut alg = C14n::from_uri(&attr(doc, m, "Algorithm"))?;
    if let Some(inc) = doc.child(m, EXC_C14N_NS, "InclusiveNamespaces") {
        alg.inclusive_prefixes = attr(doc, inc, "PrefixList")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    }
    Some(alg)
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

/// What checking the references found.
#[derive(Default)]
struct RefOutcome {
    covers: Vec<String>,
    /// A digest was computed and does not match.
    hash_failure: Option<String>,
    /// Something could not be computed (unsupported or weak algorithm).
    unsupported: Option<String>,
    /// Something is missing or malformed.
    malformed: Option<String>,
    /// A referenced file is not in the container.
    not_found: Option<String>,
    /// SignedProperties was covered by a matching reference of the right Type.
    signed_properties_ok: bool,
    /// The digest algorithms of the references that were checked.
    digests: Vec<HashAlg>,
}

fn validate_signature(
    doc: &Document,
    sig: NodeId,
    files: &BTreeMap<String, Vec<u8>>,
    anchors: &[Certificate],
    at: SystemTime,
    options: &ValidationOptions,
    cache: &mut DigestCache,
) -> XadesSignature {
    use Indication::*;
    let id = doc
        .element(sig)
        .and_then(|e| e.attr("Id"))
        .map(str::to_owned);
    let mut out = XadesSignature {
        id,
        covers: Vec::new(),
        report: SignatureReport::new(),
    };
    let fail = |out: XadesSignature, ind, sub: &str, why: String| XadesSignature {
        report: out.report.verdict(ind, sub, why),
        ..out
    };
    let Some(si) = doc.child(sig, DS, "SignedInfo") else {
        return fail(
            out,
            TotalFailed,
            "FORMAT_FAILURE",
            "no ds:SignedInfo".into(),
        );
    };
    let Some(sv) = doc.child(sig, DS, "SignatureValue") else {
        return fail(
            out,
            TotalFailed,
            "FORMAT_FAILURE",
            "no ds:SignatureValue".into(),
        );
    };
    let sig_value = match b64(&doc.text(sv)) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                out,
                TotalFailed,
                "FORMAT_FAILURE",
                format!("SignatureValue: {e}"),
            )
        }
    };

    out.report.objects.signature_value = Some(sig_value.clone());

    // Qualifying properties: the SignedProperties of this signature, not one found elsewhere.
    let qp = doc
        .children_named(sig, DS, "Object")
        .find_map(|o| doc.child(o, XADES, "QualifyingProperties"));
    let signed_props = qp.and_then(|q| doc.child(q, XADES, "SignedProperties"));
    let ssp = signed_props.and_then(|p| doc.child(p, XADES, "SignedSignatureProperties"));
    let usp = qp
        .and_then(|q| doc.child(q, XADES, "UnsignedProperties"))
        .and_then(|u| doc.child(u, XADES, "UnsignedSignatureProperties"));

    let refs = check_references(doc, sig, si, signed_props, files, cache);
    out.covers = refs.covers.clone();
    if let Some(why) = refs.malformed {
        return fail(out, TotalFailed, "FORMAT_FAILURE", why);
    }

    // Certificates: KeyInfo's, and CertificateValues' (B-LT).
    let mut certs = Vec::new();
    let mut cert_nodes: Vec<NodeId> = Vec::new();
    if let Some(ki) = doc.child(sig, DS, "KeyInfo") {
        for xd in doc.children_named(ki, DS, "X509Data") {
            cert_nodes.extend(doc.children_named(xd, DS, "X509Certificate"));
        }
    }
    let key_info_certs = cert_nodes.len();
    if let Some(u) = usp {
        for cv in doc.children_named(u, XADES, "CertificateValues") {
            cert_nodes.extend(doc.children_named(cv, XADES, "EncapsulatedX509Certificate"));
        }
    }
    // A certificate Körpü's parser refuses (strict DER; real-world certificates are not always)
    // is left out rather than failing the signature: if it was the signer's, the signature is
    // INDETERMINATE for want of a signing certificate, never TOTAL_FAILED.
    let mut unreadable_cert = None;
    // KeyInfo's first certificate, when it could be read: the signer's if nothing names one.
    let mut key_info_first = None;
    for (i, n) in cert_nodes.into_iter().enumerate() {
        match b64(&doc.text(n)).and_then(|d| Certificate::from_der(&d).map_err(|e| e.to_string())) {
            Ok(c) => {
                if i == 0 && key_info_certs > 0 {
                    key_info_first = Some(c.clone());
                }
                certs.push(c)
            }
            Err(e) => unreadable_cert = Some(e),
        }
    }

    // The signer: the certificate SigningCertificate(V2) names; else KeyInfo's first, unless
    // SigningCertificate names one that could not be read (verifying with another certificate
    // would call a good signature forged).
    let cert_ids = ssp
        .map(|p| signing_cert_digests(doc, p))
        .unwrap_or_default();
    let named = certs.iter().chain(anchors.iter()).find(|c| {
        cert_ids
            .iter()
            .any(|(h, d)| h.digest(c.der()).as_slice() == d.as_slice())
    });
    let signer = match named {
        Some(c) => Some(c.clone()),
        None if !cert_ids.is_empty() && unreadable_cert.is_some() => None,
        None => key_info_first,
    };

    // The signature value over the canonical SignedInfo.
    let sig_outcome: Result<Verified, (Indication, &str, String)> = (|| {
        let cm = doc.child(si, DS, "CanonicalizationMethod").ok_or((
            TotalFailed,
            "FORMAT_FAILURE",
            "no CanonicalizationMethod".to_owned(),
        ))?;
        let c14n = c14n_of(doc, cm).ok_or_else(|| {
            (
                Indeterminate,
                "CRYPTO_CONSTRAINTS_FAILURE",
                format!(
                    "canonicalisation {} is not supported",
                    attr(doc, cm, "Algorithm")
                ),
            )
        })?;
        let sm = doc.child(si, DS, "SignatureMethod").ok_or((
            TotalFailed,
            "FORMAT_FAILURE",
            "no SignatureMethod".to_owned(),
        ))?;
        let alg = signature_from_uri(doc, sm, &attr(doc, sm, "Algorithm")).map_err(|w| {
            (
                Indeterminate,
                "CRYPTO_CONSTRAINTS_FAILURE",
                format!("{w} is not supported"),
            )
        })?;
        let signer = signer.as_ref().ok_or_else(|| {
            (
                Indeterminate,
                "NO_SIGNING_CERTIFICATE_FOUND",
                match &unreadable_cert {
                    Some(e) => format!("the signer certificate could not be read: {e}"),
                    None => "the signer certificate is not in the signature".to_owned(),
                },
            )
        })?;
        let signed = doc.canonicalize(si, &c14n, None).map_err(|e| {
            (
                Indeterminate,
                "CRYPTO_CONSTRAINTS_FAILURE",
                format!("canonicalising SignedInfo: {e}"),
            )
        })?;
        let spki = signer.public_key_der();
        let mut outcome = alg.verify(&spki, &signed, &sig_value);
        // XML-DSig wants ECDSA values raw (r||s), but some signers write DER: a DER value that
        // verifies is still a signature by this key over this SignedInfo, so it is not called
        // forged (no value can pass both ways unless the key signed it).
        if let (Err(_), SignatureAlgorithm::Ecdsa { hash, .. }) = (&outcome, alg) {
            if sig_value.first() == Some(&0x30) {
                let der = SignatureAlgorithm::Ecdsa {
                    hash,
                    encoding: EcdsaEncoding::Der,
                };
                if let Ok(v) = der.verify(&spki, &signed, &sig_value) {
                    outcome = Ok(v);
                }
            }
        }
        match outcome {
            Ok(v) => Ok(v),
            Err(AlgError::BadSignature(w)) => Err((
                TotalFailed,
                "SIG_CRYPTO_FAILURE",
                format!("the signature value does not verify: {w}"),
            )),
            Err(AlgError::Unsupported(w)) => Err((
                Indeterminate,
                "CRYPTO_CONSTRAINTS_FAILURE",
                format!("not supported: {w}"),
            )),
            Err(AlgError::Malformed(w)) => Err((
                TotalFailed,
                "SIG_CRYPTO_FAILURE",
                format!("the signature value is malformed: {w}"),
            )),
        }
    })();
    if let Some(s) = &signer {
        out.report.signer = s.subject();
        out.report.objects.signer_certificate = Some(s.der().to_vec());
    }
    if let Some(t) = ssp.and_then(|p| doc.child(p, XADES, "SigningTime")) {
        let text = doc.text(t);
        out.report.claimed_signing_time =
            Some(parse_xs_datetime(text.trim()).map_or(text.trim().to_owned(), rfc3339));
    }

    // Computed failures first: they prove an alteration whatever else is undecided.
    if let Some(why) = refs.hash_failure {
        return fail(out, TotalFailed, "HASH_FAILURE", why);
    }
    let verified = match sig_outcome {
        Ok(v) => v,
        Err((ind, sub, why)) => return fail(out, ind, sub, why),
    };
    if let Some(why) = refs.not_found {
        return fail(out, Indeterminate, "SIGNED_DATA_NOT_FOUND", why);
    }
    if let Some(why) = refs.unsupported {
        return fail(out, Indeterminate, "CRYPTO_CONSTRAINTS_FAILURE", why);
    }
    let signer = signer.expect("the signature verified, so there is a signer");
    // SigningCertificate binds the certificate into what was signed (EN 319 132-1 §5.2.2),
    // so another certificate over the same key cannot be substituted.
    if !refs.signed_properties_ok {
        return fail(
            out,
            Indeterminate,
            "NO_SIGNING_CERTIFICATE_FOUND",
            "no reference of Type SignedProperties covers this signature's SignedProperties".into(),
        );
    }
    if named.is_none() {
        let why = if cert_ids.is_empty() {
            "SignedProperties has no SigningCertificate(V2) naming the signer certificate"
        } else {
            "SigningCertificate names another certificate than the signer's"
        };
        return fail(
            out,
            Indeterminate,
            "NO_SIGNING_CERTIFICATE_FOUND",
            why.into(),
        );
    }

    // Signature time-stamps (B-T): RFC 3161 over the canonical ds:SignatureValue element.
    let mut proven: Option<SystemTime> = None;
    let mut ocsps = Vec::new();
    let mut crl_ders = Vec::new();
    if let Some(u) = usp {
        for ts in doc.children_named(u, XADES, "SignatureTimeStamp") {
            out.report.level = "B-T".into();
            let c14n = match doc.child(ts, DS, "CanonicalizationMethod") {
                Some(m) => match c14n_of(doc, m) {
                    Some(c) => c,
                    None => {
                        return fail(
                            out,
                            Indeterminate,
                            "CRYPTO_CONSTRAINTS_FAILURE",
                            format!(
                                "time-stamp canonicalisation {} is not supported",
                                attr(doc, m, "Algorithm")
                            ),
                        )
                    }
                },
                None => C14n::default_inclusive(),
            };
            let Some(enc) = doc.child(ts, XADES, "EncapsulatedTimeStamp") else {
                return fail(
                    out,
                    TotalFailed,
                    "FORMAT_FAILURE",
                    "SignatureTimeStamp without EncapsulatedTimeStamp".into(),
                );
            };
            let token = match b64(&doc.text(enc)) {
                Ok(t) => t,
                Err(e) => {
                    return fail(
                        out,
                        TotalFailed,
                        "FORMAT_FAILURE",
                        format!("time-stamp: {e}"),
                    )
                }
            };
            let stamped = match doc.canonicalize(sv, &c14n, None) {
                Ok(s) => s,
                Err(e) => {
                    return fail(
                        out,
                        Indeterminate,
                        "CRYPTO_CONSTRAINTS_FAILURE",
                        format!("canonicalising SignatureValue: {e}"),
                    )
                }
            };
            // The token's imprint names its digest (foreign TSAs use SHA-384/512 too).
            match tsa::verify_token_over(&token, &stamped, None, anchors) {
                Ok(t) => {
                    proven = Some(proven.map_or(t, |p| p.min(t)));
                    out.report.objects.timestamps.push((token, t));
                }
                Err(e) => {
                    let (ind, sub) = classify_ts_error(&e);
                    return fail(out, ind, sub, format!("signature time-stamp: {e}"));
                }
            }
        }
        for rv in doc.children_named(u, XADES, "RevocationValues") {
            let values = doc
                .children_named(rv, XADES, "OCSPValues")
                .flat_map(|v| doc.children_named(v, XADES, "EncapsulatedOCSPValue"))
                .map(|e| (e, true))
                .chain(
                    doc.children_named(rv, XADES, "CRLValues")
                        .flat_map(|v| doc.children_named(v, XADES, "EncapsulatedCRLValue"))
                        .map(|e| (e, false)),
                )
                .collect::<Vec<_>>();
            {
                for (e, is_ocsp) in values {
                    match b64(&doc.text(e)) {
                        Ok(d) if is_ocsp => ocsps.push(d),
                        Ok(d) => crl_ders.push(d),
                        Err(e) => {
                            return fail(
                                out,
                                TotalFailed,
                                "FORMAT_FAILURE",
                                format!("an OCSP value: {e}"),
                            )
                        }
                    }
                }
            }
        }
    }
    out.report.proven_signing_time = proven.map(rfc3339);
    let (crls, bad) = crate::lt::parse_crls(&crl_ders);
    if let Some(e) = bad.first() {
        return fail(
            out,
            TotalFailed,
            "FORMAT_FAILURE",
            format!("a CRL value: {e}"),
        );
    }
    // The validation policy judges the algorithms (SHA-1, short RSA keys: INDETERMINATE unless
    // a time-stamp proves the signature older than their expiry), as for CAdES.
    let default_policy;
    let policy = match options.policy.as_deref() {
        Some(p) => p,
        None => {
            default_policy = crate::policy::Policy::default();
            &default_policy
        }
    };
    let crypto = refs
        .digests
        .iter()
        .map(|d| policy.check(*d, &verified, at, proven))
        .find(Result::is_err)
        .unwrap_or_else(|| policy.check(verified.algorithm.hash(), &verified, at, proven));
    out.report = chain_and_revocation(
        out.report, &signer, &certs, anchors, at, proven, &ocsps, &crls, options,
    );
    // Never hides a failure; makes a passed signature (or one lacking only revocation data)
    // INDETERMINATE.
    if let Err(f) = crypto {
        if out.report.indication == TotalPassed || out.report.lacks_only_revocation() {
            out.report = out
                .report
                .verdict(Indeterminate, f.sub_indication, f.reason);
        }
    }
    out
}

/// Checks each `ds:Reference` of `si`.
fn check_references(
    doc: &Document,
    sig: NodeId,
    si: NodeId,
    signed_props: Option<NodeId>,
    files: &BTreeMap<String, Vec<u8>>,
    cache: &mut DigestCache,
) -> RefOutcome {
    let mut o = RefOutcome::default();
    let refs: Vec<NodeId> = doc.children_named(si, DS, "Reference").collect();
    if refs.is_empty() {
        o.malformed = Some("SignedInfo has no Reference".into());
        return o;
    }
    if refs.len() > MAX_REFERENCES {
        o.malformed = Some(format!(
            "{} references, more than the limit of {MAX_REFERENCES}",
            refs.len()
        ));
        return o;
    }
    for r in refs {
        let uri = doc
            .element(r)
            .and_then(|e| e.attr("URI"))
            .map(str::to_owned);
        let ty = attr(doc, r, "Type");
        let Some(dm) = doc.child(r, DS, "DigestMethod") else {
            o.malformed = Some("a Reference without DigestMethod".into());
            return o;
        };
        let Some(dv) = doc.child(r, DS, "DigestValue") else {
            o.malformed = Some("a Reference without DigestValue".into());
            return o;
        };
        let want = match b64(&doc.text(dv)) {
            Ok(v) => v,
            Err(e) => {
                o.malformed = Some(format!("DigestValue: {e}"));
                return o;
            }
        };
        // A container file the reference names is covered by this signature, whether or not
        // its digest can be checked.
        if let Some(u) = uri
            .as_deref()
            .filter(|u| !u.is_empty() && !u.starts_with('#'))
        {
            o.covers.push(file_name(u));
        }
        let dm_uri = attr(doc, dm, "Algorithm");
        let Some(hash) = digest_from_uri(&dm_uri) else {
            o.unsupported
                .get_or_insert(format!("digest method {dm_uri} is not supported"));
            continue;
        };
        // Transforms: canonicalisations and enveloped-signature; anything else is unsupported.
        let mut c14n = None;
        let mut enveloped = false;
        let mut unsupported = None;
        if let Some(ts) = doc.child(r, DS, "Transforms") {
            for t in doc.children_named(ts, DS, "Transform") {
                let a = attr(doc, t, "Algorithm");
                if a == ENVELOPED {
                    enveloped = true;
                } else if let Some(c) = c14n_of(doc, t) {
                    c14n = Some(c);
                } else {
                    unsupported = Some(format!("transform {a} is not supported"));
                }
            }
        }
        if let Some(u) = unsupported {
            o.unsupported.get_or_insert(u);
            continue;
        }
        let Some(uri) = uri else {
            o.unsupported
                .get_or_insert("a Reference without URI (data from elsewhere)".into());
            continue;
        };
        let mut is_sp = false;
        let computed: Result<Vec<u8>, String> = if uri.is_empty() {
            // The whole signatures document (XML-DSig §4.4.3.3: comments removed), less the
            // signature itself under the enveloped-signature transform.
            let alg = C14n {
                with_comments: false,
                ..c14n.clone().unwrap_or_else(C14n::default_inclusive)
            };
            let root = doc.root();
            let exclude = enveloped.then_some(sig);
            if exclude == Some(root) {
                Err("an enveloped signature that is the whole document".into())
            } else {
                doc.canonicalize(root, &alg, exclude)
                    .map(|b| hash.digest(&b))
                    .map_err(|e| format!("canonicalising the document: {e}"))
            }
        } else if uri.starts_with("#xpointer(") {
            Err(format!("XPointer reference {uri} is not supported"))
        } else if let Some(frag) = uri.strip_prefix('#') {
            match doc.by_id(frag) {
                Ok(Some(target)) => {
                    let alg = c14n.clone().unwrap_or_else(C14n::default_inclusive);
                    // A same-document reference drops comments (XML-DSig §4.4.3.3).
                    let alg = C14n {
                        with_comments: false,
                        ..alg
                    };
                    // The enveloped-signature transform removes this signature when the
                    // referenced element contains it.
                    let exclude = enveloped
                        .then_some(sig)
                        .filter(|&s| s != target && is_within(doc, s, target));
                    // XAdES 1.1.1 wrote the Type with its version; older BDOC files have it.
                    is_sp = Some(target) == signed_props
                        && (ty == SIGNED_PROPERTIES_TYPE || ty == SIGNED_PROPERTIES_TYPE_111);
                    doc.canonicalize(target, &alg, exclude)
                        .map(|b| hash.digest(&b))
                        .map_err(|e| format!("canonicalising #{frag}: {e}"))
                }
                Ok(None) => {
                    o.malformed = Some(format!("reference #{frag} names no element"));
                    return o;
                }
                Err(e) => {
                    o.malformed = Some(e.to_string());
                    return o;
                }
            }
        } else {
            let name = file_name(&uri);
            let Some(content) = files.get(&name) else {
                // EN 319 102-1 §5.2.8: the signed data cannot be obtained.
                o.not_found
                    .get_or_insert(format!("\"{name}\" is not in the container"));
                continue;
            };
            // Each (file, digest, canonicalisation) is computed once per signatures file, so
            // many references to one large file cost one pass.
            let key = (
                name.clone(),
                hash,
                c14n.as_ref().map(|c| format!("{c:?}")),
                enveloped,
            );
            cache
                .entry(key)
                .or_insert_with(|| match (&c14n, enveloped) {
                    (None, false) => Ok(hash.digest(content)),
                    (Some(alg), _) => Document::parse(content, &Limits::default())
                        .and_then(|d| d.canonicalize_document(alg))
                        .map(|b| hash.digest(&b))
                        .map_err(|e| format!("canonicalising \"{name}\": {e}")),
                    (None, true) => Err("enveloped-signature over a separate file".into()),
                })
                .clone()
        };
        let digest = match computed {
            Ok(d) => d,
            Err(e) => {
                o.unsupported.get_or_insert(e);
                continue;
            }
        };
        if !o.digests.contains(&hash) {
            o.digests.push(hash);
        }
        if digest == want {
            o.signed_properties_ok |= is_sp;
        } else {
            o.hash_failure.get_or_insert(format!(
                "reference \"{uri}\" does not match its digest: the {} was altered",
                if uri.starts_with('#') {
                    "signed element"
                } else {
                    "file"
                }
            ));
        }
    }
    o
}

/// The container file a reference URI names (percent-decoded, relative to the root).
fn file_name(uri: &str) -> String {
    let name = percent_decode_str(uri).decode_utf8_lossy().into_owned();
    name.strip_prefix("./").unwrap_or(&name).to_owned()
}

/// Whether element `n` lies inside element `outer`.
fn is_within(doc: &Document, n: NodeId, outer: NodeId) -> bool {
    let mut cur = doc.element(n).and_then(|e| e.parent);
    while let Some(p) = cur {
        if p == outer {
            return true;
        }
        cur = doc.element(p).and_then(|e| e.parent);
    }
    false
}

/// (digest algorithm, digest) of each certificate SigningCertificate or SigningCertificateV2
/// lists.
fn signing_cert_digests(doc: &Document, ssp: NodeId) -> Vec<(HashAlg, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["SigningCertificate", "SigningCertificateV2"] {
        for sc in doc.children_named(ssp, XADES, name) {
            for c in doc.children_named(sc, XADES, "Cert") {
                let Some(cd) = doc.child(c, XADES, "CertDigest") else {
                    continue;
                };
                let (Some(dm), Some(dv)) = (
                    doc.child(cd, DS, "DigestMethod"),
                    doc.child(cd, DS, "DigestValue"),
                ) else {
                    continue;
                };
                if let (Some(h), Ok(d)) = (
                    digest_from_uri(&attr(doc, dm, "Algorithm")),
                    b64(&doc.text(dv)),
                ) {
                    out.push((h, d));
                }
            }
        }
    }
    out
}

/// xs:dateTime as XAdES SigningTime writes it: `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)?`.
fn parse_xs_datetime(s: &str) -> Option<SystemTime> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<u32>().ok();
    if s.len() < 19 || s.as_bytes()[10] != b'T' {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset: i64 = match rest {
        "" | "Z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let oh: i64 = r.get(1..3)?.parse().ok()?;
            let om: i64 = r.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if r.starts_with('+') {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let dt = der::DateTime::new(
        u16::try_from(y).ok()?,
        u8::try_from(mo).ok()?,
        u8::try_from(d).ok()?,
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(se).ok()?,
    )
    .ok()?;
    let t = dt.to_system_time();
    if offset >= 0 {
        t.checked_sub(std::time::Duration::from_secs(offset as u64))
    } else {
        t.checked_add(std::time::Duration::from_secs((-offset) as u64))
    }
}

/// A time-stamp that is cryptographically wrong or stamps something else proves tampering
/// (TOTAL_FAILED); one we merely cannot trust leaves the signature undecided.
fn classify_ts_error(e: &PkiError) -> (Indication, &'static str) {
    match e {
        PkiError::TimeStampRejected(why) if why.contains("different digest") => {
            (Indication::TotalFailed, "HASH_FAILURE")
        }
        PkiError::TimeStampRejected(why)
            if why.contains("token signature") || why.contains("altered") =>
        {
            (Indication::TotalFailed, "SIG_CRYPTO_FAILURE")
        }
        PkiError::Malformed { .. } => (Indication::TotalFailed, "FORMAT_FAILURE"),
        PkiError::BadSignature(_) => (Indication::TotalFailed, "SIG_CRYPTO_FAILURE"),
        PkiError::Expired { .. } | PkiError::NotYetValid { .. } => {
            (Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE")
        }
        _ => (Indication::Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND"),
    }
}

/// The chain to a trust anchor (at the proven time when there is one) and the revocation of
/// every certificate on it, exactly as for CAdES ([`crate::validate`]).
#[allow(clippy::too_many_arguments)]
fn chain_and_revocation(
    report: SignatureReport,
    signer: &Certificate,
    certs: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
    proven: Option<SystemTime>,
    ocsps: &[Vec<u8>],
    crls: &[korpu_pki::crl::Crl],
    options: &ValidationOptions,
) -> SignatureReport {
    let mut report = report;
    match build_path(
        signer,
        certs,
        anchors,
        proven.unwrap_or(at),
        Usage::DocumentSigning,
        PathLimits::default(),
    ) {
        Ok(chain) => {
            report.trust_anchor = chain.last().map(|c| c.subject());
            crate::lt::check_path_revocation(
                report, &chain, anchors, ocsps, crls, proven, at, options,
            )
        }
        Err(e @ PkiError::Expired { .. }) | Err(e @ PkiError::NotYetValid { .. }) => {
            let why = if proven.is_some() {
                format!("{e} (at the time proven by the signature time-stamp)")
            } else {
                format!("{e}, and no signature time-stamp proves the signature existed earlier")
            };
            report.verdict(Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE", why)
        }
        Err(e @ PkiError::WrongCertificateUsage { .. }) => report.verdict(
            Indication::Indeterminate,
            "CHAIN_CONSTRAINTS_FAILURE",
            e.to_string(),
        ),
        Err(e) => report.verdict(
            Indication::Indeterminate,
            "NO_CERTIFICATE_CHAIN_FOUND",
            e.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let xml = signatures_with_refs(MAX_REFERENCES, "big.bin");
        let t = std::time::Instant::now();
        let r = validate_file(
            xml.as_bytes(),
            &files,
            &[],
            SystemTime::now(),
            &Limits::default(),
            &ValidationOptions::default(),
        )
        .unwrap();
        // One SHA-256 of 16 MiB, not a thousand.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(r[0].report.sub_indication.as_deref(), Some("HASH_FAILURE"));
        let xml = signatures_with_refs(MAX_REFERENCES + 1, "big.bin");
        let r = validate_file(
            xml.as_bytes(),
            &files,
            &[],
            SystemTime::now(),
            &Limits::default(),
            &ValidationOptions::default(),
        )
        .unwrap();
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
        assert!(validate_file(
            many.as_bytes(),
            &files,
            &[],
            SystemTime::now(),
            &Limits::default(),
            &ValidationOptions::default(),
        )
        .is_err());
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
