//! Verifying RFC 3161 time-stamp tokens: the CMS signature, the ESS signing-certificate binding,
//! the TSA certificate's chain and usage, the message imprint and the nonce.
//!
//! Our own tokens and foreign ones (BER, SHA-1/384/512 imprints, the old ESS attribute) go
//! through the same checks. Issuing is `authority`'s job.

use std::time::SystemTime;

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE, ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST,
    ID_SIGNED_DATA,
};
use const_oid::AssociatedOid;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_tsp::TstInfo;

use super::authority::check_tsa_cert;
use super::request::token_from_response;
use super::{IssuerSerial, SigningCertificate, SigningCertificateV2};
use crate::cert::{verify_chain, Certificate};
use crate::util::{HashAlg, ID_CT_TST_INFO};
use crate::PkiError;

/// Verifies a TimeStampResp for `sha256_digest` and returns the token's genTime. See
/// [`verify_token`] for what is checked.
pub fn verify_response(
    response_der: &[u8],
    sha256_digest: &[u8; 32],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    let token = token_from_response(response_der)?;
    verify_token(&token, sha256_digest, nonce, trust)
}

/// Verifies a TimeStampToken (DER ContentInfo) and returns its genTime.
///
/// Checks: a SignedData with one signer over an id-ct-TSTInfo; the signed attributes'
/// contentType and messageDigest; the ECDSA-SHA256 signature; the ESS signing-certificate
/// attribute names the signer certificate (so the certificate cannot be swapped); the signer
/// has the sole critical timeStamping EKU and chains (through the token's certificates) to one
/// of `trust`, valid at genTime; the message imprint is SHA-256 of `sha256_digest`; the nonce
/// equals `nonce` when given. A TSA certificate placed in `trust` is trusted directly, which is
/// how tokens issued without certificates (certReq false) are verified.
pub fn verify_token(
    token_der: &[u8],
    sha256_digest: &[u8; 32],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    verify_token_imprint(token_der, Imprint::Sha256(sha256_digest), nonce, trust)
}

/// As [`verify_token`] for a token over `stamped` (e.g. a CMS signature value) hashed with
/// whichever digest the token's message imprint names (SHA-1/256/384/512): foreign TSAs do not
/// all use SHA-256.
pub fn verify_token_over(
    token_der: &[u8],
    stamped: &[u8],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    verify_token_imprint(token_der, Imprint::Data(stamped), nonce, trust)
}

/// What the token's message imprint must match.
#[derive(Clone, Copy)]
enum Imprint<'a> {
    /// A SHA-256 digest the caller computed.
    Sha256(&'a [u8; 32]),
    /// The stamped data, hashed with the imprint's own algorithm.
    Data(&'a [u8]),
}

fn verify_token_imprint(
    token_der: &[u8],
    imprint_want: Imprint<'_>,
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    let bad = |d: String| PkiError::malformed("time-stamp token", d);
    let rejected = |d: String| PkiError::TimeStampRejected(d);
    // Tokens written in BER (indefinite lengths) are parsed in their DER form, and a
    // certificate listed twice (`openssl ts -reply` with the signer in its `certs` file) once;
    // the signature is still checked over the original signed attributes below.
    let normalised = crate::ber::cms_for_parsing(token_der).map_err(|e| bad(e.to_string()))?;
    let ci = ContentInfo::from_der(&normalised).map_err(|e| bad(e.to_string()))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(bad(format!(
            "content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd = SignedData::from_der(&ci.content.to_der().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(format!("SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad(format!(
            "eContentType {} is not id-ct-TSTInfo",
            sd.encap_content_info.econtent_type
        )));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("no eContent".into()))?;
    let tst_der = OctetString::from_der(&econtent.to_der().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(format!("eContent: {e}")))?;
    let tst = TstInfo::from_der(tst_der.as_bytes()).map_err(|e| bad(format!("TSTInfo: {e}")))?;

    let signer_infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    let [si] = signer_infos.as_slice() else {
        return Err(bad(format!(
            "{} signers, expected exactly one",
            signer_infos.len()
        )));
    };
    // The unsigned framing must agree with what was signed (RFC 5652 §5.1, §5.3): version
    // numbers follow from the content type and signer identifier, and digestAlgorithms lists
    // the signer's digest. None of it is security-critical, but a token whose framing was
    // edited is not one any conforming TSA produced, so it is refused rather than reinterpreted.
    let expected_si_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if sd.version != CmsVersion::V3 || si.version != expected_si_version {
        return Err(bad(
            "SignedData/SignerInfo version does not match its content".into(),
        ));
    }
    if !sd
        .digest_algorithms
        .iter()
        .any(|a| a.oid == si.digest_alg.oid)
    {
        return Err(bad(
            "digestAlgorithms does not list the signer's digest algorithm".into(),
        ));
    }
    // Digest and (except RSASSA-PSS) signature AlgorithmIdentifiers carry absent or NULL
    // parameters (RFC 5754 §2, RFC 4055 §5, RFC 5758 §3.2); the parameters are not signed, so
    // anything else there is an edit, refused like the framing above.
    let null_or_absent = |a: &AlgorithmIdentifierOwned| {
        a.parameters
            .as_ref()
            .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
    };
    if !sd.digest_algorithms.iter().all(null_or_absent)
        || !null_or_absent(&si.digest_alg)
        || (si.signature_algorithm.oid != const_oid::db::rfc5912::ID_RSASSA_PSS
            && !null_or_absent(&si.signature_algorithm))
    {
        return Err(bad(
            "algorithm parameters where only NULL or none are defined".into(),
        ));
    }

    // Candidate certificates: the token's own, then the caller's.
    let mut token_certs = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = c {
            token_certs.push(Certificate::from_der(
                &c.to_der().map_err(|e| bad(e.to_string()))?,
            )?);
        }
    }
    let signer = token_certs
        .iter()
        .chain(trust.iter())
        .find(|c| sid_matches(&si.sid, c))
        .cloned()
        .ok_or_else(|| {
            rejected(
                "the signer certificate is neither in the token nor in the trusted set \
                      (a token requested without certReq needs the TSA certificate in `trust`)"
                    .into(),
            )
        })?;

    // Signed attributes: RFC 5652 §5.3 requires contentType and messageDigest when present,
    // and they must be present for eContentType other than id-data.
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("no signed attributes".into()))?;
    let single = |oid: ObjectIdentifier| -> Option<&Any> {
        let mut it = attrs.iter().filter(|a| a.oid == oid);
        let a = it.next()?;
        if it.next().is_some() || a.values.len() != 1 {
            return None;
        }
        a.values.iter().next()
    };
    let ct = single(ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| bad("missing or repeated contentType attribute".into()))?;
    if ct != ID_CT_TST_INFO {
        return Err(bad(format!(
            "contentType attribute {ct} does not match eContentType"
        )));
    }
    let digest_alg = HashAlg::from_oid(&si.digest_alg.oid).ok_or_else(|| {
        PkiError::UnsupportedAlgorithm(format!(
            "time-stamp token digest algorithm {}",
            si.digest_alg.oid
        ))
    })?;
    let md = single(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| bad("missing or repeated messageDigest attribute".into()))?;
    if md.as_bytes() != digest_alg.digest(tst_der.as_bytes()).as_slice() {
        return Err(rejected(
            "messageDigest does not match the TSTInfo: the token was altered".into(),
        ));
    }
    // Any algorithm of [`crate::alg`] (foreign TSAs sign with RSA), over the signed attributes
    // exactly as the TSA encoded them (RFC 5652 §5.4), not over a re-encoding.
    let alg = crate::alg::SignatureAlgorithm::from_cms(
        &si.signature_algorithm,
        Some(&si.digest_alg.oid),
    )?;
    let attrs_der = crate::ber::cms_signed_attrs(token_der)
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| bad("no signed attributes".into()))?;
    signer
        .verify_with(&alg, &attrs_der, si.signature.as_bytes())
        .map_err(|e| match e {
            crate::alg::AlgError::BadSignature(_) => rejected(format!("token signature: {e}")),
            other => PkiError::from(other),
        })?;

    check_ess(&single, &signer)?;
    check_tsa_cert(&signer)?;

    let gen_time = tst.gen_time.to_system_time();
    verify_chain(&signer, &token_certs, trust, gen_time)?;

    let imprint = &tst.message_imprint;
    let matches = match imprint_want {
        Imprint::Sha256(d) => {
            imprint.hash_algorithm.oid == const_oid::db::rfc5912::ID_SHA_256
                && imprint.hashed_message.as_bytes() == d.as_slice()
        }
        Imprint::Data(data) => {
            let h = HashAlg::from_oid(&imprint.hash_algorithm.oid).ok_or_else(|| {
                PkiError::UnsupportedAlgorithm(format!(
                    "message imprint digest {}",
                    imprint.hash_algorithm.oid
                ))
            })?;
            imprint.hashed_message.as_bytes() == h.digest(data).as_slice()
        }
    };
    if !matches {
        return Err(rejected("the token stamps a different digest".into()));
    }
    if let Some(expected) = nonce {
        let ok = tst
            .nonce
            .as_ref()
            .is_some_and(|n| strip_zeros(n.as_bytes()) == strip_zeros(expected));
        if !ok {
            return Err(rejected(
                "the token's nonce is not ours (possible replay)".into(),
            ));
        }
    }
    Ok(gen_time)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

fn sid_matches(sid: &SignerIdentifier, c: &Certificate) -> bool {
    let tbs = &c.parsed().tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.serial_number == tbs.serial_number && ias.issuer == tbs.issuer
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .extension(SubjectKeyIdentifier::OID)
            .and_then(|(_, v)| SubjectKeyIdentifier::from_der(v).ok())
            .is_some_and(|own| own == *ski),
    }
}

/// The ESS signing-certificate attribute (RFC 5816 §2.2.1, RFC 2634 §5.4) must name the signer
/// certificate by hash: without it an attacker holding another certificate for the same key
/// (or a re-issued one) could change which certificate, and so which policy, the token claims.
fn check_ess<'a>(
    single: &dyn Fn(ObjectIdentifier) -> Option<&'a Any>,
    signer: &Certificate,
) -> Result<(), PkiError> {
    let rejected = |d: &str| PkiError::TimeStampRejected(d.into());
    let issuer_serial_ok = |is: &Option<IssuerSerial>| match is {
        None => true,
        Some(is) => {
            let tbs = &signer.parsed().tbs_certificate;
            is.serial_number == tbs.serial_number
                && is
                    .issuer
                    .iter()
                    .any(|g| matches!(g, GeneralName::DirectoryName(n) if *n == tbs.issuer))
        }
    };
    if let Some(v) = single(ID_AA_SIGNING_CERTIFICATE_V_2) {
        let sc: SigningCertificateV2 = v
            .decode_as()
            .map_err(|e| PkiError::malformed("signingCertificateV2 attribute", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| rejected("signingCertificateV2 is empty"))?;
        let alg = match &first.hash_algorithm {
            None => Some(HashAlg::Sha256),
            Some(a) => HashAlg::from_oid(&a.oid),
        }
        .ok_or_else(|| rejected("signingCertificateV2 uses an unknown hash"))?;
        if first.cert_hash.as_bytes() != alg.digest(signer.der()).as_slice()
            || !issuer_serial_ok(&first.issuer_serial)
        {
            return Err(rejected(
                "signingCertificateV2 does not name the signer certificate",
            ));
        }
        return Ok(());
    }
    if let Some(v) = single(ID_AA_SIGNING_CERTIFICATE) {
        let sc: SigningCertificate = v
            .decode_as()
            .map_err(|e| PkiError::malformed("signingCertificate attribute", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| rejected("signingCertificate is empty"))?;
        if first.cert_hash.as_bytes() != HashAlg::Sha1.digest(signer.der()).as_slice()
            || !issuer_serial_ok(&first.issuer_serial)
        {
            return Err(rejected(
                "signingCertificate does not name the signer certificate",
            ));
        }
        return Ok(());
    }
    Err(rejected(
        "no ESS signing-certificate attribute binds the token to its certificate",
    ))
}
