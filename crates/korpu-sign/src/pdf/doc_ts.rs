//! PAdES document time-stamps (EN 319 142-1 §5.4.3, ISO 32000-2 §12.8.5) and the B-LTA
//! level: validating them, and adding one ([`add_document_timestamp`], [`extend_lta`]).
//!
//! A document time-stamp is a signature field whose value has `/Type /DocTimeStamp` and
//! `/SubFilter /ETSI.RFC3161`; its /Contents is an RFC 3161 TimeStampToken whose message
//! imprint is the digest of the /ByteRange, i.e. of the whole file up to that revision:
//! every signature, every earlier document time-stamp and the DSS with its certificates,
//! OCSP responses and CRLs. A valid one is therefore proof of existence (POE) of all of them
//! at its genTime.
//!
//! Validation goes from the newest time-stamp to the oldest (EN 319 102-1 §5.6.2.2, past
//! validation): the newest TSA's certificate path must be valid at the validation time, each
//! older one at the genTime of the valid time-stamp after it; each TSA certificate's
//! revocation is checked with the DSS's data (or fetched when allowed) as of its genTime. A
//! signature covered by a valid document time-stamp is then judged at the earliest such time
//! (expiry of its signer and TSA certificates, the algorithm policy): see
//! [`crate::validate`]'s use of the archive POE.
//!
//! Not here: the archive-time-stamp-v3 of CAdES/ASiC-E, VRI dictionaries (the DSS's global
//! arrays are used), and POE for individual objects other than by revision.
use std::time::SystemTime;

use korpu_pki::cert::Certificate;
use korpu_pki::path::{build_path, Limits as PathLimits, Usage};
use korpu_pki::{tsa, PkiError};
use serde::{Deserialize, Serialize};

use super::parse::Document;
use super::{add_dss, append_signature, check_byte_range, pdf_err, DssScope, FoundSig, Limits};
use crate::cades::parse_signed_data;
use crate::lt::{self, RevocationSource};
use crate::validate::{classify_ts_error, Evidence, Indication, SignatureReport};
use crate::{rfc3339, SignError, Timestamper};

/// The /SubFilter of a document time-stamp.
pub const SUB_FILTER: &str = "ETSI.RFC3161";

/// The `level` of a document time-stamp's [`SignatureReport`], which tells it apart from a
/// signature's.
pub const LEVEL: &str = "DocTimeStamp";

/// One document time-stamp of a PDF and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfTimestamp {
    /// The signature field's name (`/T`).
    pub field: String,
    /// The time-stamped revision's length in bytes (the end of its `/ByteRange`).
    pub revision_end: usize,
    /// genTime of the token, RFC 3339 (when the token could be read).
    pub time: Option<String>,
    /// Subject of the time-stamping authority's certificate.
    pub tsa: String,
    /// The verdict: `signer` is the TSA, `proven_signing_time` the genTime, `level`
    /// "DocTimeStamp", `revocation` the TSA certificate's status.
    pub report: SignatureReport,
}

/// A validated document time-stamp and the proof of existence it gives (its genTime, when it
/// is TOTAL_PASSED).
pub(crate) struct Checked {
    pub ts: PdfTimestamp,
    pub poe: Option<SystemTime>,
}

/// The TSA certificate of a TimeStampToken (found among the token's certificates or `extra`)
/// and the token's certificates.
pub(crate) fn token_tsa(
    token: &[u8],
    extra: &[Certificate],
) -> Option<(Certificate, Vec<Certificate>)> {
    let sd = parse_signed_data(token).ok()?;
    let certs = lt::cms_certs(&sd).ok()?;
    let si = sd.signer_infos.0.iter().next()?;
    let tsa = certs
        .iter()
        .chain(extra.iter())
        .find(|c| crate::ess::sid_matches(&si.sid, c))?
        .clone();
    Some((tsa, certs))
}

/// The digest algorithm of a TimeStampToken's message imprint, when it can be read.
fn imprint_alg(token: &[u8]) -> Option<korpu_pki::alg::HashAlg> {
    use der::Decode;
    let sd = parse_signed_data(token).ok()?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()?
        .decode_as::<der::asn1::OctetString>()
        .ok()?;
    let info = x509_tsp::TstInfo::from_der(content.as_bytes()).ok()?;
    korpu_pki::alg::HashAlg::from_oid(&info.message_imprint.hash_algorithm.oid)
}

/// The earliest genTime of a valid document time-stamp whose revision includes the one
/// ending at `revision_end`.
pub(crate) fn poe_for(stamps: &[Checked], revision_end: usize) -> Option<SystemTime> {
    stamps
        .iter()
        .filter(|c| c.ts.revision_end > revision_end)
        .filter_map(|c| c.poe)
        .min()
}

/// Validates the document time-stamps `found` of `doc` (newest first, see the module doc);
/// returns them oldest first.
pub(crate) fn validate_all(
    doc: &Document<'_>,
    mut found: Vec<FoundSig>,
    anchors: &[Certificate],
    at: SystemTime,
    evidence: &Evidence,
) -> Vec<Checked> {
    found.sort_by_key(|s| std::cmp::Reverse(s.revision_end()));
    let (crls, _) = lt::parse_crls(&evidence.crls);
    let mut control = at;
    let mut out = Vec::new();
    for s in found {
        let mut report = SignatureReport::new();
        report.level = LEVEL.into();
        let mut tsa_name = String::new();
        let mut time = None;
        let mut poe = None;
        match check_byte_range(doc, &s) {
            Err(why) => report = report.verdict(Indication::TotalFailed, "FORMAT_FAILURE", why),
            Ok((first, second)) => {
                report = check_one(
                    report,
                    &s.cms,
                    first,
                    second,
                    anchors,
                    control,
                    evidence,
                    &crls,
                    &mut tsa_name,
                    &mut time,
                );
                if report.indication == Indication::TotalPassed {
                    poe = time;
                }
            }
        }
        if let Some(t) = poe {
            // The older time-stamps are covered by this one: judged at its time.
            control = t;
        }
        out.push(Checked {
            ts: PdfTimestamp {
                revision_end: s.revision_end(),
                field: s.field,
                time: time.map(rfc3339),
                tsa: tsa_name,
                report,
            },
            poe,
        });
    }
    out.reverse();
    out
}

#[allow(clippy::too_many_arguments)]
fn check_one(
    mut report: SignatureReport,
    token: &[u8],
    first: &[u8],
    second: &[u8],
    anchors: &[Certificate],
    control: SystemTime,
    evidence: &Evidence,
    crls: &[korpu_pki::crl::Crl],
    tsa_name: &mut String,
    time: &mut Option<SystemTime>,
) -> SignatureReport {
    let Some((tsa_cert, token_certs)) = token_tsa(token, anchors) else {
        // Not even a SignedData with a known signer: let the verifier say what is wrong.
        let e = tsa::verify_token_over(token, &[], None, anchors)
            .err()
            .unwrap_or_else(|| PkiError::TimeStampRejected("no TSA certificate".into()));
        let (ind, sub) = classify_ts_error(&e);
        return report.verdict(ind, sub, format!("document time-stamp: {e}"));
    };
    *tsa_name = tsa_cert.subject();
    report.signer = tsa_cert.subject();
    // The imprint is over the byte ranges. SHA-256 (what Körpü and pyHanko stamp) is hashed
    // in place; another algorithm is left to verify_token_over, which needs one buffer.
    let verified = if imprint_alg(token) == Some(korpu_pki::alg::HashAlg::Sha256) {
        let d = korpu_pki::alg::HashAlg::Sha256.digest_parts(&[first, second]);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&d);
        tsa::verify_token(token, &digest, None, anchors)
    } else {
        let mut covered = Vec::with_capacity(first.len() + second.len());
        covered.extend_from_slice(first);
        covered.extend_from_slice(second);
        tsa::verify_token_over(token, &covered, None, anchors)
    };
    let gen = match verified {
        Ok(t) => t,
        Err(e) => {
            let (ind, sub) = classify_ts_error(&e);
            return report.verdict(ind, sub, format!("document time-stamp: {e}"));
        }
    };
    *time = Some(gen);
    report.proven_signing_time = Some(rfc3339(gen));
    report.claimed_signing_time = Some(rfc3339(gen));
    // The TSA's path must hold at the control time: now for the newest time-stamp, the time
    // proven by the next one for the others.
    let mut pool = token_certs;
    pool.extend(evidence.certs.iter().cloned());
    let chain = match build_path(
        &tsa_cert,
        &pool,
        anchors,
        control,
        Usage::Any,
        PathLimits::default(),
    ) {
        Ok(c) => c,
        Err(e @ PkiError::Expired { .. }) | Err(e @ PkiError::NotYetValid { .. }) => {
            return report.verdict(
                Indication::Indeterminate,
                "OUT_OF_BOUNDS_NO_POE",
                format!(
                    "document time-stamp: {e} at {}, and no later time-stamp proves this one \
                     existed before",
                    rfc3339(control)
                ),
            )
        }
        Err(e) => {
            return report.verdict(
                Indication::Indeterminate,
                "NO_CERTIFICATE_CHAIN_FOUND",
                format!("document time-stamp: {e}"),
            )
        }
    };
    report.trust_anchor = chain.last().map(|c| c.subject());
    // Revocation of the TSA (and its CAs) as of genTime: an answer valid then, from the DSS
    // (pyHanko puts it there before stamping, `extend_lta` after) or fetched when allowed.
    let r = lt::check_path_revocation(
        report,
        &chain,
        anchors,
        &evidence.ocsps,
        crls,
        None,
        gen,
        &evidence.options,
    );
    if r.indication != Indication::TotalPassed {
        let why = r.reason.clone().unwrap_or_default();
        let sub = r.sub_indication.clone().unwrap_or_default();
        let ind = r.indication;
        return r.verdict(ind, &sub, format!("document time-stamp's TSA: {why}"));
    }
    r
}

/// Adds a document time-stamp from `timestamper` over the whole of `pdf`, as an incremental
/// update (an invisible field `DocTimeStampN` with `/SubFilter /ETSI.RFC3161`).
pub fn add_document_timestamp(
    pdf: &[u8],
    timestamper: &dyn Timestamper,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    append_signature(
        pdf,
        limits,
        "DocTimeStamp",
        &format!("/Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/{SUB_FILTER}"),
        8192,
        &|digest| timestamper.timestamp(digest),
    )
}

/// Raises the signatures of `pdf` to B-LTA, or renews a B-LTA file (EN 319 142-1 §5.4.3):
/// with a `source`, first a DSS update with the revocation data of every signer, its CAs and
/// its time-stamping authorities, and of the TSAs of the document time-stamps already there;
/// then a new document time-stamp over all of it; then (with a `source`) a last DSS update
/// with the new time-stamp's TSA certificates and revocation data, which a later renewal will
/// cover in turn. Without a `source` the file must already carry its validation data.
pub fn extend_lta(
    pdf: &[u8],
    timestamper: &dyn Timestamper,
    source: Option<&dyn RevocationSource>,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    let base = match source {
        Some(s) => add_dss(pdf, s, limits, DssScope::All)?,
        None => {
            // Still refuse a file without signatures, as add_dss does.
            let doc = Document::parse(pdf, limits).map_err(pdf_err)?;
            let (_, catalog) = super::catalog(&doc).map_err(pdf_err)?;
            let found = super::find_signatures(&doc, &catalog, limits).map_err(pdf_err)?;
            if !found.iter().any(|s| s.sub_filter != SUB_FILTER) {
                return Err(SignError::InvalidInput("the PDF has no signature".into()));
            }
            pdf.to_vec()
        }
    };
    let stamped = add_document_timestamp(&base, timestamper, limits)?;
    match source {
        Some(s) => add_dss(&stamped, s, limits, DssScope::NewestTimestamp),
        None => Ok(stamped),
    }
}
