//! Validation of detached CAdES signatures against trust anchors at a given time, with a report
//! shaped like the EU DSS simple report (indication, sub-indication, reason).
//!
//! Checked: the CMS structure, the message digest over the data, the signature over the signed
//! attributes, the signing-certificate-v2 binding of the signer certificate, the chain to a
//! trust anchor (at the time proven by the signature time-stamp when there is one, otherwise at
//! the validation time), and the signature time-stamp (imprint over the signature value, TSA
//! certificate chaining to the anchors). Sub-indications use the names of ETSI EN 319 102-1
//! §5.1.3. Revocation is checked against OCSP responses embedded in the signature (B-LT, see
//! [`crate::lt`]) or handed in from a PDF's DSS, never fetched; without them the report says
//! "not checked". Not checked: signature policies, key usage.
use std::time::SystemTime;

use cms::cert::CertificateChoices;
use cms::signed_data::SignerInfo;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNING_TIME,
};
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ID_EC_PUBLIC_KEY, ID_SHA_256};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Encode};
use korpu_pki::cert::{verify_chain, Certificate};
use korpu_pki::{tsa, PkiError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;

use crate::cades::parse_signed_data;
use crate::ess::{self, SigningCertificateV2};
use crate::rfc3339;

/// The main indication (ETSI EN 319 102-1 §5.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    /// Every check passed.
    TotalPassed,
    /// Something could not be established (trust, time, certificate); not proven forged.
    Indeterminate,
    /// The signature is proven invalid: bad cryptography, altered data, malformed.
    TotalFailed,
}

/// The outcome of validating one signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureReport {
    /// Subject of the signer certificate, or empty when it could not be identified.
    pub signer: String,
    /// signing-time attribute, RFC 3339: what the signer claims, not proof.
    pub claimed_signing_time: Option<String>,
    /// genTime of a valid signature time-stamp, RFC 3339: proof the signature existed then.
    pub proven_signing_time: Option<String>,
    /// "B-B", "B-T" when a signature time-stamp is present, "B-LT" when revocation data for
    /// the signer certificate is embedded as well.
    pub level: String,
    /// Subject of the trust anchor the signer certificate chains to.
    pub trust_anchor: Option<String>,
    /// Revocation status of the signer certificate from embedded OCSP responses, or "not
    /// checked" when the signature carries none (levels B-B and B-T).
    pub revocation: String,
    /// The verdict.
    pub indication: Indication,
    /// ETSI EN 319 102-1 sub-indication, e.g. "HASH_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND".
    pub sub_indication: Option<String>,
    /// What a person needs to know about a verdict other than TOTAL_PASSED.
    pub reason: Option<String>,
}

impl SignatureReport {
    pub(crate) fn new() -> Self {
        SignatureReport {
            signer: String::new(),
            claimed_signing_time: None,
            proven_signing_time: None,
            level: "B-B".into(),
            trust_anchor: None,
            revocation: "not checked".into(),
            indication: Indication::TotalPassed,
            sub_indication: None,
            reason: None,
        }
    }

    pub(crate) fn verdict(
        mut self,
        indication: Indication,
        sub: &str,
        reason: impl Into<String>,
    ) -> Self {
        self.indication = indication;
        self.sub_indication = Some(sub.into());
        self.reason = Some(reason.into());
        self
    }

    pub(crate) fn failed(sub: &str, reason: impl Into<String>) -> Self {
        SignatureReport::new().verdict(Indication::TotalFailed, sub, reason)
    }

    /// Downgrades a passed report to TOTAL_FAILED (used by ASiC when a manifest reference does
    /// not match); keeps an earlier failure's reason.
    pub(crate) fn fail_with(self, sub: &str, reason: impl Into<String>) -> Self {
        if self.indication == Indication::TotalFailed {
            return self;
        }
        self.verdict(Indication::TotalFailed, sub, reason)
    }
}

/// Validates the detached CAdES signature `p7s` (DER) over `data` against `anchors` at `at`.
pub fn validate_cades(
    p7s: &[u8],
    data: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
) -> SignatureReport {
    validate_cades_digest(p7s, &Sha256::digest(data).into(), anchors, at)
}

/// Like [`validate_cades`], for data whose SHA-256 the caller has computed. Signatures using
/// another digest algorithm fail with HASH_FAILURE here; use [`validate_cades`] for those.
pub fn validate_cades_digest(
    p7s: &[u8],
    sha256: &[u8; 32],
    anchors: &[Certificate],
    at: SystemTime,
) -> SignatureReport {
    validate_cades_with(p7s, sha256, anchors, at, &Evidence::default())
}

/// Validation material found outside the CMS (a PDF's DSS dictionary, the PDF's /M entry).
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence {
    /// Certificates to build chains with.
    pub certs: Vec<Certificate>,
    /// DER OCSPResponses.
    pub ocsps: Vec<Vec<u8>>,
    /// The claimed signing time when the CMS has no signing-time attribute (PAdES puts it in
    /// the signature dictionary's /M instead, EN 319 142-1 §5.2.2).
    pub claimed_time: Option<SystemTime>,
}

pub(crate) fn validate_cades_with(
    p7s: &[u8],
    sha256: &[u8; 32],
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> SignatureReport {
    use Indication::*;
    let sd = match parse_signed_data(p7s) {
        Ok(sd) => sd,
        Err(e) => return SignatureReport::failed("FORMAT_FAILURE", e),
    };
    let infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    let [si] = infos.as_slice() else {
        return SignatureReport::failed(
            "FORMAT_FAILURE",
            format!(
                "{} signers in one SignedData; one signature per file is supported",
                infos.len()
            ),
        );
    };
    if sd.encap_content_info.econtent.is_some() {
        return SignatureReport::failed(
            "FORMAT_FAILURE",
            "the signature encapsulates content; a detached signature was expected",
        );
    }
    let mut certs = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = c {
            match c
                .to_der()
                .map_err(|e| e.to_string())
                .and_then(|d| Certificate::from_der(&d).map_err(|e| e.to_string()))
            {
                Ok(c) => certs.push(c),
                Err(e) => {
                    return SignatureReport::failed(
                        "FORMAT_FAILURE",
                        format!("an embedded certificate: {e}"),
                    )
                }
            }
        }
    }
    certs.extend(evidence.certs.iter().cloned());
    let mut ocsps = evidence.ocsps.clone();
    match crate::lt::embedded_ocsps(si) {
        Ok(found) => ocsps.extend(found),
        Err(e) => return SignatureReport::failed("FORMAT_FAILURE", e),
    }
    let mut report = SignatureReport::new();
    report.claimed_signing_time = evidence.claimed_time.map(rfc3339);
    let has_ts = si.unsigned_attrs.as_ref().is_some_and(|u| {
        u.iter()
            .any(|a| a.oid == ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
    });
    if has_ts {
        report.level = "B-T".into();
    }

    let Some(signer) = certs
        .iter()
        .chain(anchors.iter())
        .find(|c| ess::sid_matches(&si.sid, c))
        .cloned()
    else {
        return report.verdict(
            Indeterminate,
            "NO_SIGNING_CERTIFICATE_FOUND",
            "the signer certificate is not in the signature",
        );
    };
    report.signer = signer.subject();

    // Signed attributes: EN 319 122-1 §5.2 requires them (content-type, message-digest and
    // signing-certificate-v2); without them the signature covers the data only, not the
    // certificate, which the baseline profiles do not allow.
    let Some(attrs) = si.signed_attrs.as_ref() else {
        return report.verdict(TotalFailed, "FORMAT_FAILURE", "no signed attributes");
    };
    let single = |oid: ObjectIdentifier| -> Result<Option<&Any>, String> {
        let mut it = attrs.iter().filter(|a| a.oid == oid);
        let Some(a) = it.next() else { return Ok(None) };
        if it.next().is_some() || a.values.len() != 1 {
            return Err(format!("attribute {oid} is repeated or multi-valued"));
        }
        Ok(a.values.iter().next())
    };
    macro_rules! attr_or_report {
        ($oid:expr) => {
            match single($oid) {
                Ok(v) => v,
                Err(e) => return report.verdict(TotalFailed, "FORMAT_FAILURE", e),
            }
        };
    }
    if let Some(t) = attr_or_report!(ID_SIGNING_TIME).and_then(ess::signing_time_from) {
        report.claimed_signing_time = Some(rfc3339(t));
    }
    match attr_or_report!(ID_CONTENT_TYPE).map(|v| v.decode_as::<ObjectIdentifier>()) {
        Some(Ok(ct)) if ct == ID_DATA && sd.encap_content_info.econtent_type == ID_DATA => {}
        Some(Ok(ct)) => {
            return report.verdict(
                TotalFailed,
                "FORMAT_FAILURE",
                format!("content type {ct} is not id-data"),
            )
        }
        _ => {
            return report.verdict(
                TotalFailed,
                "FORMAT_FAILURE",
                "missing or malformed content-type attribute",
            )
        }
    }
    if si.digest_alg.oid != ID_SHA_256 {
        return report.verdict(
            TotalFailed,
            "HASH_FAILURE",
            format!("digest algorithm {} is not SHA-256", si.digest_alg.oid),
        );
    }
    let Some(Ok(md)) = attr_or_report!(ID_MESSAGE_DIGEST).map(|v| v.decode_as::<OctetString>())
    else {
        return report.verdict(
            TotalFailed,
            "FORMAT_FAILURE",
            "missing or malformed message-digest attribute",
        );
    };
    if md.as_bytes() != sha256.as_slice() {
        return report.verdict(
            TotalFailed,
            "HASH_FAILURE",
            "the data does not match the signed message digest: it was altered",
        );
    }
    // ecdsa-with-SHA256, or id-ecPublicKey with the SHA-256 digest (older CMS writers).
    let alg = si.signature_algorithm.oid;
    if alg != ECDSA_WITH_SHA_256 && alg != ID_EC_PUBLIC_KEY {
        return report.verdict(
            TotalFailed,
            "SIG_CRYPTO_FAILURE",
            format!("signature algorithm {alg} is not ECDSA with SHA-256"),
        );
    }
    let attrs_der = match attrs.to_der() {
        Ok(d) => d,
        Err(e) => return report.verdict(TotalFailed, "FORMAT_FAILURE", e.to_string()),
    };
    if let Err(e) = signer.verify_signature(&attrs_der, si.signature.as_bytes()) {
        return report.verdict(
            TotalFailed,
            "SIG_CRYPTO_FAILURE",
            format!("the signature value does not verify: {e}"),
        );
    }
    // signing-certificate-v2 (EN 319 122-1 §5.2.2.3) binds the certificate into what was signed,
    // so the certificate (and with it the name and policy) cannot be swapped for another one
    // over the same key.
    match attr_or_report!(ID_AA_SIGNING_CERTIFICATE_V_2)
        .map(|v| v.decode_as::<SigningCertificateV2>())
    {
        Some(Ok(sc)) => {
            if let Err(why) = check_ess(&sc, &signer) {
                return report.verdict(Indeterminate, "NO_SIGNING_CERTIFICATE_FOUND", why);
            }
        }
        Some(Err(e)) => {
            return report.verdict(
                TotalFailed,
                "FORMAT_FAILURE",
                format!("malformed signing-certificate-v2: {e}"),
            )
        }
        None => {
            return report.verdict(
                Indeterminate,
                "NO_SIGNING_CERTIFICATE_FOUND",
                "no signing-certificate-v2 attribute binds the signer certificate",
            )
        }
    }

    // Signature time-stamp: proof of existence of the signature value at genTime.
    let mut proven: Option<SystemTime> = None;
    if has_ts {
        let sig_digest: [u8; 32] = Sha256::digest(si.signature.as_bytes()).into();
        let tokens: Vec<&Any> = si
            .unsigned_attrs
            .iter()
            .flat_map(|u| u.iter())
            .filter(|a| a.oid == ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
            .flat_map(|a| a.values.iter())
            .collect();
        for token in tokens {
            let der = match token.to_der() {
                Ok(d) => d,
                Err(e) => return report.verdict(TotalFailed, "FORMAT_FAILURE", e.to_string()),
            };
            match tsa::verify_token(&der, &sig_digest, None, anchors) {
                Ok(t) => proven = Some(proven.map_or(t, |p: SystemTime| p.min(t))),
                Err(e) => {
                    let (ind, sub) = classify_ts_error(&e);
                    return report.verdict(ind, sub, format!("signature time-stamp: {e}"));
                }
            }
        }
        report.proven_signing_time = proven.map(rfc3339);
    }

    // The chain is checked at the proven time when there is one (EN 319 102-1 §5.6.2.4: proof
    // of existence before expiry); revocation is not checked in this version.
    let chain_time = proven.unwrap_or(at);
    match verify_chain(&signer, &certs, anchors, chain_time) {
        Ok(chain) => {
            report.trust_anchor = chain.last().map(|c| c.subject());
            match chain.get(1) {
                Some(issuer) => {
                    crate::lt::check_revocation(report, &signer, issuer, &ocsps, proven)
                }
                None => report,
            }
        }
        Err(e @ PkiError::Expired { .. }) | Err(e @ PkiError::NotYetValid { .. }) => {
            let why = if proven.is_some() {
                format!("{e} (at the time proven by the signature time-stamp)")
            } else {
                format!("{e}, and no signature time-stamp proves the signature existed earlier")
            };
            report.verdict(Indeterminate, "OUT_OF_BOUNDS_NO_POE", why)
        }
        Err(e) => report.verdict(Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND", e.to_string()),
    }
}

fn check_ess(sc: &SigningCertificateV2, signer: &Certificate) -> Result<(), String> {
    let first = sc
        .certs
        .first()
        .ok_or("signing-certificate-v2 lists no certificate")?;
    if let Some(a) = &first.hash_algorithm {
        if a.oid != ID_SHA_256 {
            return Err(format!(
                "signing-certificate-v2 uses hash {}, only SHA-256 is supported",
                a.oid
            ));
        }
    }
    if first.cert_hash.as_bytes() != Sha256::digest(signer.der()).as_slice() {
        return Err("signing-certificate-v2 names another certificate than the signer's".into());
    }
    if let Some(is) = &first.issuer_serial {
        let tbs = &signer.parsed().tbs_certificate;
        let issuer_ok = is
            .issuer
            .iter()
            .any(|g| matches!(g, GeneralName::DirectoryName(n) if *n == tbs.issuer));
        if is.serial_number != tbs.serial_number || !issuer_ok {
            return Err("signing-certificate-v2 issuerSerial does not match the signer".into());
        }
    }
    Ok(())
}

/// A time-stamp that is cryptographically wrong or stamps something else proves the signature
/// was tampered with (TOTAL_FAILED); one we merely cannot trust leaves it undecided.
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
