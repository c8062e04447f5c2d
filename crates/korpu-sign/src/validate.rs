//! Validation of detached CAdES signatures against trust anchors at a given time, with a report
//! shaped like the EU DSS simple report (indication, sub-indication, reason).
//!
//! Checked: the CMS structure, the message digest over the data, the signature over the signed
//! attributes, the signing-certificate-v2 binding of the signer certificate, the chain to a
//! trust anchor (at the earliest proof of existence: the signature time-stamp, or a PDF's
//! archive time-stamp covering the signature (B-LTA), otherwise the validation time), and the
//! signature time-stamp (imprint over the signature value, TSA certificate chaining to the
//! anchors; a TSA certificate expired by the validation time, or by the archive time-stamp's
//! time, makes the token prove nothing). Sub-indications use the names of ETSI EN 319 102-1
//! §5.1.3. The chain is an RFC 5280 path ([`korpu_pki::path`]) whose signer must be a signing
//! certificate (key usage, EKU: CHAIN_CONSTRAINTS_FAILURE otherwise). Revocation of every
//! certificate on it but the anchor is checked against the OCSP responses and CRLs in the
//! signature (B-LT) or a PDF's DSS, and fetched only when [`crate::ValidationOptions`] allows;
//! without usable data the verdict is INDETERMINATE/TRY_LATER ([`crate::lt`]). Not checked:
//! signature policies, revocation of time-stamping units.
//!
//! The verdict rule: TOTAL_FAILED only where a check was computed and failed — the data's
//! digest differs from the signed one (HASH_FAILURE), the signature value does not verify
//! (SIG_CRYPTO_FAILURE), a certificate was revoked before the proven time (REVOKED) — or the
//! structure is malformed (FORMAT_FAILURE). An algorithm, key or parameter Körpü cannot check,
//! one the validation policy has expired ([`crate::policy`]:
//! CRYPTO_CONSTRAINTS_FAILURE(_NO_POE)), a signature without signed attributes
//! (SIG_CONSTRAINTS_FAILURE, after its value is verified over the data), and anything else not
//! decidable is INDETERMINATE. Every SignerInfo of a SignedData is validated; the file's report
//! is the worst of them ([`validate_cades_signers`] returns each), and counter-signatures are
//! listed in [`SignatureReport::counter_signatures`]. CMS may be BER; signatures over signed
//! attributes are checked over the bytes as signed.
use std::time::SystemTime;

use cms::cert::CertificateChoices;
use cms::signed_data::SignerInfo;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNING_TIME,
};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Encode};
use korpu_pki::cert::Certificate;
use korpu_pki::path::{build_path, Limits as PathLimits, Usage};
use korpu_pki::{tsa, PkiError};
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::name::GeneralName;

use crate::cades::parse_signed_data;
use crate::cms_check::{self, Content};
use crate::ess::{self, SigningCertificateV2};
use crate::rfc3339;

/// The main indication (ETSI EN 319 102-1 §5.1.2), ordered from best to worst: several
/// signatures are as good as the worst of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    /// Every check passed.
    TotalPassed,
    /// Something could not be established (trust, time, certificate); not proven forged.
    Indeterminate,
    /// The signature is proven invalid: bad cryptography, altered data, malformed.
    TotalFailed,
}

impl Indication {
    /// The worst of some indications; TOTAL_FAILED when there are none (no signature was
    /// shown valid).
    pub fn worst(all: impl IntoIterator<Item = Indication>) -> Indication {
        all.into_iter().max().unwrap_or(Indication::TotalFailed)
    }
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
    /// Revocation status of the signer certificate, then of each CA certificate on the path
    /// ("CA \"name\": ..."), with where it came from (embedded or fetched OCSP response or
    /// CRL); "not checked: ..." when there was no usable data (then the verdict is
    /// INDETERMINATE/TRY_LATER).
    pub revocation: String,
    /// The verdict.
    pub indication: Indication,
    /// ETSI EN 319 102-1 sub-indication, e.g. "HASH_FAILURE", "NO_CERTIFICATE_CHAIN_FOUND".
    pub sub_indication: Option<String>,
    /// What a person needs to know about a verdict other than TOTAL_PASSED.
    pub reason: Option<String>,
    /// Counter-signatures on this signature (RFC 5652 §11.4), each with its own verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counter_signatures: Vec<CounterSignatureReport>,
    /// The signature value, certificates, revocation data and time-stamps validation used,
    /// for the ETSI report ([`crate::report_etsi`]); not in the simple report.
    #[serde(skip)]
    pub objects: crate::report_etsi::Objects,
}

/// The outcome of one counter-signature: who counter-signed and whether it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSignatureReport {
    /// Subject of the counter-signer's certificate, or empty when it is not in the signature.
    pub signer: String,
    /// The verdict on the counter-signature (its digest over the signature value, its own
    /// signature, and its certificate's chain).
    pub indication: Indication,
    /// ETSI EN 319 102-1 sub-indication.
    pub sub_indication: Option<String>,
    /// Why, when not TOTAL_PASSED.
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
            counter_signatures: Vec::new(),
            objects: Default::default(),
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

    /// Whether every check passed except that the revocation status of a certificate on the
    /// path could not be established (INDETERMINATE/TRY_LATER): the verdict of an intact,
    /// trusted B-B or B-T signature validated without revocation data. Callers that accept
    /// such signatures for their own reasons (a receipt checked right after it was made) say so
    /// by calling this, instead of treating the verdict as passed.
    pub fn lacks_only_revocation(&self) -> bool {
        self.indication == Indication::Indeterminate
            && self.sub_indication.as_deref() == Some("TRY_LATER")
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
    validate_cades_opts(
        p7s,
        data,
        anchors,
        at,
        &crate::lt::ValidationOptions::default(),
    )
}

/// [`validate_cades`] with options (e.g. allowing revocation data to be fetched).
pub fn validate_cades_opts(
    p7s: &[u8],
    data: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    options: &crate::lt::ValidationOptions,
) -> SignatureReport {
    let evidence = Evidence {
        options: options.clone(),
        ..Evidence::default()
    };
    validate_cades_content(p7s, &Content::Data(data), anchors, at, &evidence)
}

/// Like [`validate_cades`], for data whose SHA-256 the caller has computed. A signature using
/// another digest algorithm cannot be checked from that digest: INDETERMINATE /
/// SIGNED_DATA_NOT_FOUND, never a failure; give the data to [`validate_cades`] for those.
pub fn validate_cades_digest(
    p7s: &[u8],
    sha256: &[u8; 32],
    anchors: &[Certificate],
    at: SystemTime,
) -> SignatureReport {
    validate_cades_with(p7s, sha256, anchors, at, &Evidence::default())
}

/// Validates the enveloping CAdES signature `p7m` (DER or BER; the signed content inside, in
/// eContent) against `anchors` at `at`, and returns the content beside the verdict. A
/// signature without content is detached: INDETERMINATE / SIGNED_DATA_NOT_FOUND (EN 319 102-1
/// §5.2.8), since the data it signs was not given — validate it with [`validate_cades`].
pub fn validate_cades_enveloping(
    p7m: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    options: &crate::lt::ValidationOptions,
) -> (SignatureReport, Option<Vec<u8>>) {
    let sd = match parse_signed_data(p7m) {
        Ok(sd) => sd,
        Err(e) => return (SignatureReport::failed("FORMAT_FAILURE", e), None),
    };
    let Some(econtent) = sd.encap_content_info.econtent.as_ref() else {
        let r = SignatureReport::new().verdict(
            Indication::Indeterminate,
            "SIGNED_DATA_NOT_FOUND",
            "a detached signature: the signed data is not inside it; give the signed file \
             (korpu doc verify --detached-content FILE)",
        );
        return (r, None);
    };
    let content = match econtent.decode_as::<OctetString>() {
        Ok(o) => o.into_bytes(),
        Err(e) => {
            return (
                SignatureReport::failed("FORMAT_FAILURE", format!("eContent: {e}")),
                None,
            )
        }
    };
    let evidence = Evidence {
        enveloping: true,
        options: options.clone(),
        ..Evidence::default()
    };
    let report = validate_cades_content(p7m, &Content::Data(&content), anchors, at, &evidence);
    (report, Some(content))
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
    /// The signed content is inside the CMS (an enveloping `.p7m`), not given beside it.
    pub enveloping: bool,
    /// DER CRLs (a PDF's DSS /CRLs).
    pub crls: Vec<Vec<u8>>,
    /// Whether revocation data may be fetched.
    pub options: crate::lt::ValidationOptions,
    /// The earliest time a valid archive (document) time-stamp proves the signature, its
    /// time-stamps and its validation data existed (B-LTA); past-signature validation
    /// (EN 319 102-1 §5.6.2) judges expiry and algorithms at that time.
    pub archive_poe: Option<SystemTime>,
}

/// As [`validate_cades_content`] for a caller that has only the data's SHA-256.
pub(crate) fn validate_cades_with(
    p7s: &[u8],
    sha256: &[u8; 32],
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> SignatureReport {
    validate_cades_content(p7s, &Content::Sha256(*sha256), anchors, at, evidence)
}

/// Validates every SignerInfo of `p7s` and returns the worst report (TOTAL_FAILED before
/// INDETERMINATE before TOTAL_PASSED): a file signed by several people is only as good as its
/// weakest signature. With several signers the report's reason says which one it is about;
/// [`validate_cades_signers`] gives a report per signer.
pub(crate) fn validate_cades_content(
    p7s: &[u8],
    content: &Content<'_>,
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> SignatureReport {
    worst(validate_signers(p7s, content, anchors, at, evidence))
}

/// One report per SignerInfo of the detached CAdES signature `p7s` over `data`, in the order
/// of the signature's SET OF SignerInfo.
pub fn validate_cades_signers(
    p7s: &[u8],
    data: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    options: &crate::lt::ValidationOptions,
) -> Vec<SignatureReport> {
    let evidence = Evidence {
        options: options.clone(),
        ..Evidence::default()
    };
    validate_signers(p7s, &Content::Data(data), anchors, at, &evidence)
}

/// The worst of several reports; with more than one, its reason names the signer.
pub(crate) fn worst(mut reports: Vec<SignatureReport>) -> SignatureReport {
    let n = reports.len();
    let Some(i) = (0..n).max_by_key(|i| (reports[*i].indication, std::cmp::Reverse(*i))) else {
        return SignatureReport::failed("FORMAT_FAILURE", "the SignedData has no SignerInfo");
    };
    let mut r = reports.swap_remove(i);
    if n > 1 {
        let who = if r.signer.is_empty() {
            "an unidentified signer".to_string()
        } else {
            format!("\"{}\"", r.signer)
        };
        let summary = format!("signer {} of {n} ({who})", i + 1);
        r.reason = Some(match r.reason.take() {
            Some(why) => format!("{summary}: {why}"),
            None => format!("{summary}: the worst of {n} signatures, all passed"),
        });
    }
    r
}

pub(crate) fn validate_signers(
    p7s: &[u8],
    content: &Content<'_>,
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> Vec<SignatureReport> {
    let sd = match parse_signed_data(p7s) {
        Ok(sd) => sd,
        Err(e) => return vec![SignatureReport::failed("FORMAT_FAILURE", e)],
    };
    // The signed attributes as signed: taken from the input, since parsing sorts SETs.
    let raws = match korpu_pki::ber::cms_signer_infos(p7s) {
        Ok(r) => r,
        Err(e) => return vec![SignatureReport::failed("FORMAT_FAILURE", e.to_string())],
    };
    if sd.encap_content_info.econtent.is_some() && !evidence.enveloping {
        return vec![SignatureReport::failed(
            "FORMAT_FAILURE",
            "the signature encapsulates content; a detached signature was expected",
        )];
    }
    let mut out = Vec::new();
    for si in sd.signer_infos.0.iter() {
        let raw = raws.iter().find(|r| r.signature == si.signature.as_bytes());
        out.push(match raw {
            Some(raw) => validate_signer(
                &sd,
                si,
                raw.signed_attrs.as_deref(),
                content,
                anchors,
                at,
                evidence,
            ),
            None => SignatureReport::failed(
                "FORMAT_FAILURE",
                "a SignerInfo could not be located in the input",
            ),
        });
    }
    if out.is_empty() {
        out.push(SignatureReport::failed(
            "FORMAT_FAILURE",
            "the SignedData has no SignerInfo",
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn validate_signer(
    sd: &cms::signed_data::SignedData,
    si: &SignerInfo,
    raw_signed_attrs: Option<&[u8]>,
    content: &Content<'_>,
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> SignatureReport {
    use Indication::*;
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
    // CRLs that do not parse or are of a kind we do not support are no revocation data; the
    // check below says so when nothing else is there.
    let (mut crls, _) = crate::lt::parse_crls(&evidence.crls);
    for c in crate::lt::embedded_crls(sd, si).0 {
        if !crls.contains(&c) {
            crls.push(c);
        }
    }
    let mut report = SignatureReport::new();
    report.objects.signature_value = Some(si.signature.as_bytes().to_vec());
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
    report.objects.signer_certificate = Some(signer.der().to_vec());

    // Signed attributes: EN 319 122-1 §5.2 requires them (content-type, message-digest and
    // signing-certificate-v2); without them the signature covers the data only, not the
    // certificate, which the baseline profiles do not allow.
    // Without them (legacy CMS) the signature is over the data itself: verified, and if it
    // holds the verdict is INDETERMINATE/SIG_CONSTRAINTS_FAILURE, never failed.
    let Some(attrs) = si.signed_attrs.as_ref() else {
        return match cms_check::check_signature(si, None, content, &signer) {
            Ok(_) => report.verdict(
                Indeterminate,
                "SIG_CONSTRAINTS_FAILURE",
                "the signature value verifies, but it has no signed attributes: nothing binds \
                 the signer certificate or a signing time (a legacy CMS signature, not CAdES)",
            ),
            Err(f) => report.verdict(f.indication, f.sub, f.reason),
        };
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
    let digest_alg = match cms_check::digest_alg(si) {
        Ok(h) => h,
        Err(f) => return report.verdict(f.indication, f.sub, f.reason),
    };
    let Some(Ok(md)) = attr_or_report!(ID_MESSAGE_DIGEST).map(|v| v.decode_as::<OctetString>())
    else {
        return report.verdict(
            TotalFailed,
            "FORMAT_FAILURE",
            "missing or malformed message-digest attribute",
        );
    };
    if let Err(f) = cms_check::check_message_digest(content, digest_alg, md.as_bytes()) {
        return report.verdict(f.indication, f.sub, f.reason);
    }
    report.objects.signers_document = Some((digest_alg, md.as_bytes().to_vec()));
    let Some(signed_bytes) = raw_signed_attrs else {
        return report.verdict(
            TotalFailed,
            "FORMAT_FAILURE",
            "the signed attributes could not be located in the input",
        );
    };
    let verified = match cms_check::check_signature(si, Some(signed_bytes), content, &signer) {
        Ok(v) => v,
        Err(f) => return report.verdict(f.indication, f.sub, f.reason),
    };
    report.counter_signatures = crate::counter::check_all(si, &certs, anchors, at);
    // signing-certificate-v2 (EN 319 122-1 §5.2.2.3) binds the certificate into what was signed,
    // so the certificate (and with it the name and policy) cannot be swapped for another one
    // over the same key.
    let ess_v1 = attr_or_report!(ess::ID_AA_SIGNING_CERTIFICATE);
    match attr_or_report!(ID_AA_SIGNING_CERTIFICATE_V_2)
        .map(|v| v.decode_as::<SigningCertificateV2>())
        .or_else(|| ess_v1.map(ess::v1_as_v2))
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
    // A valid token whose TSA certificate has expired by the control time: it proves nothing
    // any more (EN 319 102-1 §5.6.2.2) unless an archive time-stamp shows it existed earlier.
    let mut stale_ts: Option<String> = None;
    if has_ts {
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
            match tsa::verify_token_over(&der, si.signature.as_bytes(), None, anchors) {
                Ok(t) => {
                    let control = evidence.archive_poe.unwrap_or(at);
                    match crate::pdf::doc_ts::token_tsa(&der, anchors) {
                        Some((tsa_cert, _)) if tsa_cert.not_after() < control => {
                            stale_ts = Some(format!(
                                "the signature time-stamp's TSA certificate \"{}\" expired at {}, \
                                 and no archive time-stamp proves the time-stamp existed before",
                                tsa_cert.subject(),
                                rfc3339(tsa_cert.not_after())
                            ));
                        }
                        _ => proven = Some(proven.map_or(t, |p: SystemTime| p.min(t))),
                    }
                    report.objects.timestamps.push((der, t));
                }
                Err(e) => {
                    let (ind, sub) = classify_ts_error(&e);
                    return report.verdict(ind, sub, format!("signature time-stamp: {e}"));
                }
            }
        }
        report.proven_signing_time = proven.map(rfc3339);
    }
    // The earliest proof of existence of the signature: its own time-stamp, or an archive
    // time-stamp over it (B-LTA).
    let poe = match (proven, evidence.archive_poe) {
        (Some(p), Some(a)) => Some(p.min(a)),
        (p, a) => p.or(a),
    };

    // The chain is checked at the proven time when there is one (EN 319 102-1 §5.6.2.4: proof
    // of existence before expiry), then the revocation of every certificate on it.
    let chain_time = poe.unwrap_or(at);
    let policy = evidence
        .options
        .policy
        .as_deref()
        .unwrap_or_else(|| crate::policy::embedded());
    let mut crypto = policy.check(digest_alg, &verified, at, poe);
    let report = match build_path(
        &signer,
        &certs,
        anchors,
        chain_time,
        Usage::DocumentSigning,
        PathLimits::default(),
    ) {
        Ok(chain) => {
            report.trust_anchor = chain.last().map(|c| c.subject());
            crypto = crypto.and_then(|()| policy.check_path(&chain, at, poe));
            crate::lt::check_path_revocation(
                report,
                &chain,
                anchors,
                &ocsps,
                &crls,
                proven,
                at,
                &evidence.options,
            )
        }
        Err(e @ PkiError::Expired { .. }) | Err(e @ PkiError::NotYetValid { .. }) => {
            let why = if proven.is_some() {
                format!("{e} (at the time proven by the signature time-stamp)")
            } else if evidence.archive_poe.is_some() {
                format!("{e} (at the time proven by the archive time-stamp)")
            } else if let Some(stale) = &stale_ts {
                format!("{e}; {stale}")
            } else {
                format!("{e}, and no signature time-stamp proves the signature existed earlier")
            };
            report.verdict(Indeterminate, "OUT_OF_BOUNDS_NO_POE", why)
        }
        // A certificate not allowed to do what the path asks of it (EN 319 102-1 §5.2.6).
        Err(e @ PkiError::WrongCertificateUsage { .. }) => {
            report.verdict(Indeterminate, "CHAIN_CONSTRAINTS_FAILURE", e.to_string())
        }
        Err(e) => report.verdict(Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND", e.to_string()),
    };
    let mut report = apply_crypto_policy(report, crypto);
    // Say why the signature time-stamp did not count, whatever the verdict it led to.
    if let Some(stale) = stale_ts {
        if report.indication != TotalPassed {
            let why = report.reason.take().unwrap_or_default();
            if !why.contains(&stale) {
                report.reason = Some(format!("{why}; {stale}"));
            } else {
                report.reason = Some(why);
            }
        }
    }
    report
}

/// An algorithm the policy no longer accepts makes an otherwise passed signature (or one
/// lacking only revocation data) INDETERMINATE; it never hides a failure.
fn apply_crypto_policy(
    report: SignatureReport,
    crypto: Result<(), crate::policy::CryptoFailure>,
) -> SignatureReport {
    match crypto {
        Ok(()) => report,
        Err(f)
            if report.indication == Indication::TotalPassed || report.lacks_only_revocation() =>
        {
            report.verdict(Indication::Indeterminate, f.sub_indication, f.reason)
        }
        Err(_) => report,
    }
}

fn check_ess(sc: &SigningCertificateV2, signer: &Certificate) -> Result<(), String> {
    let first = sc
        .certs
        .first()
        .ok_or("signing-certificate-v2 lists no certificate")?;
    // hashAlgorithm DEFAULT id-sha256 (RFC 5035 §4); v1 attributes arrive here with SHA-1.
    let h = match &first.hash_algorithm {
        None => korpu_pki::alg::HashAlg::Sha256,
        Some(a) => korpu_pki::alg::HashAlg::from_oid(&a.oid)
            .ok_or_else(|| format!("signing-certificate-v2 uses an unsupported hash {}", a.oid))?,
    };
    if first.cert_hash.as_bytes() != h.digest(signer.der()).as_slice() {
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
pub(crate) fn classify_ts_error(e: &PkiError) -> (Indication, &'static str) {
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
        PkiError::UnsupportedAlgorithm(_) => (
            Indication::Indeterminate,
            "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
        ),
        PkiError::BadSignature(_) => (Indication::TotalFailed, "SIG_CRYPTO_FAILURE"),
        PkiError::Expired { .. } | PkiError::NotYetValid { .. } => {
            (Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE")
        }
        _ => (Indication::Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND"),
    }
}
