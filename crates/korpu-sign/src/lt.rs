//! Baseline level B-LT: the validation data (OCSP responses) that lets a signature be validated
//! later without any network access, and the revocation check that uses only that data.
//!
//! CAdES (EN 319 122-1 §5.5.2): OCSP responses go into the `revocation-values` unsigned
//! attribute (`ocspVals`, BasicOCSPResponse values); the certificates are already in
//! SignedData.certificates. PAdES (EN 319 142-1 §5.4): the full OCSPResponses go into the
//! document security store, see [`crate::pdf::add_validation_data`].
//!
//! Not here: CRLs (the platform PKI answers by OCSP only), revocation of CA certificates
//! (the issuing CA is checked by chain validity only), and B-LTA archive time-stamps.
use std::time::SystemTime;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignerInfo, SignerInfos};
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use korpu_pki::cert::Certificate;
use korpu_pki::ocsp::{self, CertStatus, Responder};
use x509_cert::attr::Attribute;
use x509_ocsp::{BasicOcspResponse, OcspResponse, OcspResponseStatus, ResponseBytes};

use crate::cades::parse_signed_data;
use crate::ess;
use crate::validate::{Indication, SignatureReport};
use crate::{rfc3339, SignError};

/// id-aa-ets-revocationValues (EN 319 122-1 §5.5.2, RFC 5126 §6.3.4).
pub(crate) const ID_AA_ETS_REVOCATION_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.24");

/// RevocationValues with only the OCSP branch, which is all we write
/// (`ocspVals [1] SEQUENCE OF BasicOCSPResponse`, explicit tagging as in the ETSI module).
#[derive(Clone, Debug, Sequence)]
struct RevocationValues {
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    crl_vals: Option<Vec<Any>>,
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    ocsp_vals: Option<Vec<Any>>,
    #[asn1(context_specific = "2", optional = "true", tag_mode = "EXPLICIT")]
    other_rev_vals: Option<Any>,
}

/// A source of OCSP responses about certificates (an OCSP responder reached over HTTP, or an
/// in-process one).
pub trait RevocationSource {
    /// Returns a DER OCSPResponse about `cert`, issued by `issuer`, already checked to be a
    /// valid, fresh answer for it.
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError>;
}

/// A [`RevocationSource`] over an in-process [`Responder`] and a status lookup: for tests,
/// benchmarks and a signer running beside the registry.
pub struct LocalOcsp<F> {
    responder: Responder,
    status_of: F,
}

impl<F: Fn(&str) -> CertStatus> LocalOcsp<F> {
    /// Answers with `responder`, asking `status_of(serial_hex)` for each certificate's status.
    pub fn new(responder: Responder, status_of: F) -> Self {
        LocalOcsp {
            responder,
            status_of,
        }
    }
}

impl<F: Fn(&str) -> CertStatus> RevocationSource for LocalOcsp<F> {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        let (req, nonce) = ocsp::build_request(cert, issuer)?;
        let resp = self
            .responder
            .respond(&req, SystemTime::now(), &self.status_of);
        ocsp::verify_response(&resp, cert, issuer, Some(&nonce), SystemTime::now())?;
        Ok(resp)
    }
}

/// Fetches OCSP responses for every signer of `p7s` (the signer certificate and, when they are
/// in the signature, the certificates of its time-stamping authorities) and embeds them, which
/// makes a B-T signature B-LT. The signature value is untouched: unsigned attributes are
/// outside what was signed.
pub fn add_revocation_values(
    p7s: &[u8],
    source: &dyn RevocationSource,
) -> Result<Vec<u8>, SignError> {
    let enc = |e: der::Error| SignError::encoding("CAdES signature", e);
    let mut sd = parse_signed_data(p7s).map_err(|d| SignError::malformed("CAdES signature", d))?;
    let certs = cms_certs(&sd).map_err(|d| SignError::malformed("CAdES signature", d))?;
    let mut infos = Vec::new();
    for si in sd.signer_infos.0.iter() {
        let mut si = si.clone();
        let signer = certs
            .iter()
            .find(|c| ess::sid_matches(&si.sid, c))
            .ok_or_else(|| {
                SignError::malformed("CAdES signature", "the signer certificate is not in it")
            })?;
        let mut responses = vec![fetch(source, signer, &certs)?];
        for tsa in timestamp_signers(&si) {
            let mut pool = certs.clone();
            pool.extend(tsa.1);
            if let Ok(r) = fetch(source, &tsa.0, &pool) {
                responses.push(r);
            }
        }
        let mut basics = Vec::new();
        for r in &responses {
            basics.push(Any::from_der(&basic_of(r)?).map_err(enc)?);
        }
        let rv = RevocationValues {
            crl_vals: None,
            ocsp_vals: Some(basics),
            other_rev_vals: None,
        };
        let mut all: Vec<Attribute> = si
            .unsigned_attrs
            .take()
            .map(|u| u.into_vec())
            .unwrap_or_default();
        all.retain(|a| a.oid != ID_AA_ETS_REVOCATION_VALUES);
        all.push(Attribute {
            oid: ID_AA_ETS_REVOCATION_VALUES,
            values: SetOfVec::try_from(vec![Any::encode_from(&rv).map_err(enc)?]).map_err(enc)?,
        });
        si.unsigned_attrs = Some(SetOfVec::try_from(all).map_err(enc)?);
        infos.push(si);
    }
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).map_err(enc)?);
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// The OCSP response about `cert` from `source`, its issuer found among `pool`.
pub(crate) fn fetch(
    source: &dyn RevocationSource,
    cert: &Certificate,
    pool: &[Certificate],
) -> Result<Vec<u8>, SignError> {
    let issuer = pool
        .iter()
        .find(|c| *c != cert && cert.verify_issued_by(c).is_ok())
        .ok_or_else(|| {
            SignError::InvalidInput(format!(
                "the issuer of \"{}\" is not in the signature; give the chain",
                cert.subject()
            ))
        })?;
    source.ocsp(cert, issuer)
}

/// The certificates of a SignedData.
pub(crate) fn cms_certs(sd: &cms::signed_data::SignedData) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(c) = c {
            let der = c.to_der().map_err(|e| e.to_string())?;
            out.push(Certificate::from_der(&der).map_err(|e| e.to_string())?);
        }
    }
    Ok(out)
}

/// For each signature time-stamp of `si`: the TSA certificate and the other certificates the
/// token carries.
pub(crate) fn timestamp_signers(si: &SignerInfo) -> Vec<(Certificate, Vec<Certificate>)> {
    let mut out = Vec::new();
    for a in si.unsigned_attrs.iter().flat_map(|u| u.iter()) {
        if a.oid != ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN {
            continue;
        }
        for v in a.values.iter() {
            let Ok(der) = v.to_der() else { continue };
            let Ok(sd) = parse_signed_data(&der) else {
                continue;
            };
            let Ok(certs) = cms_certs(&sd) else { continue };
            for tsi in sd.signer_infos.0.iter() {
                if let Some(c) = certs.iter().find(|c| ess::sid_matches(&tsi.sid, c)) {
                    out.push((c.clone(), certs.clone()));
                }
            }
        }
    }
    out
}

/// The BasicOCSPResponse DER inside an OCSPResponse.
fn basic_of(resp: &[u8]) -> Result<Vec<u8>, SignError> {
    let r = OcspResponse::from_der(resp).map_err(|e| SignError::malformed("OCSP response", e))?;
    let b = r
        .response_bytes
        .ok_or_else(|| SignError::malformed("OCSP response", "no responseBytes"))?;
    Ok(b.response.as_bytes().to_vec())
}

/// The OCSPResponses (re-wrapped from BasicOCSPResponse) in `si`'s revocation-values.
pub(crate) fn embedded_ocsps(si: &SignerInfo) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for a in si.unsigned_attrs.iter().flat_map(|u| u.iter()) {
        if a.oid != ID_AA_ETS_REVOCATION_VALUES {
            continue;
        }
        for v in a.values.iter() {
            let rv: RevocationValues = v
                .decode_as()
                .map_err(|e| format!("malformed revocation-values: {e}"))?;
            for b in rv.ocsp_vals.iter().flatten() {
                let basic_der = b.to_der().map_err(|e| e.to_string())?;
                let wrapped = OcspResponse {
                    response_status: OcspResponseStatus::Successful,
                    response_bytes: Some(ResponseBytes {
                        response_type: const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC,
                        response: OctetString::new(basic_der).map_err(|e| e.to_string())?,
                    }),
                };
                out.push(wrapped.to_der().map_err(|e| e.to_string())?);
            }
        }
    }
    Ok(out)
}

/// The newest thisUpdate of a response's single responses: the time at which it speaks.
fn produced_at(resp: &[u8]) -> Option<SystemTime> {
    let r = OcspResponse::from_der(resp).ok()?;
    let b = BasicOcspResponse::from_der(r.response_bytes?.response.as_bytes()).ok()?;
    b.tbs_response_data
        .responses
        .iter()
        .map(|s| s.this_update.0.to_system_time())
        .max()
}

/// Sets the report's revocation status and level from the embedded `ocsps`, following EN 319
/// 102-1 §5.2.6 and the DSS semantics: revoked at or before the proven signing time →
/// TOTAL_FAILED/REVOKED; revoked and no proof of an earlier signing time → INDETERMINATE/
/// REVOKED_NO_POE; revoked only after the proven time → the signature stays valid. No usable
/// response → the status stays "not checked" and the level B-T at most.
pub(crate) fn check_revocation(
    mut report: SignatureReport,
    signer: &Certificate,
    issuer: &Certificate,
    ocsps: &[Vec<u8>],
    proven: Option<SystemTime>,
) -> SignatureReport {
    let mut best: Option<(CertStatus, SystemTime)> = None;
    let mut last_err = None;
    for r in ocsps {
        // The response is judged at the time it speaks for: it was fresh then, and it is old
        // now by design (that is what "long-term" means).
        let Some(when) = produced_at(r) else { continue };
        match ocsp::verify_response_dated(r, signer, issuer, None, when) {
            Ok((status, this_update)) => {
                if best.as_ref().is_none_or(|(_, t)| this_update > *t) {
                    best = Some((status, this_update));
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((status, this_update)) = best else {
        if let Some(e) = last_err {
            report.revocation = format!("not checked: the embedded OCSP response is unusable: {e}");
        }
        return report;
    };
    match status {
        CertStatus::Good if proven.is_some_and(|p| this_update < p) => {
            // An answer older than the time-stamped signature says nothing about a revocation
            // between then and the signing: it does not make the signature long-term
            // (EN 319 102-1 §5.2.5.4, revocation freshness).
            report.revocation = format!(
                "not established: the embedded OCSP response ({}) predates the proven signing \
                 time",
                rfc3339(this_update)
            );
            report
        }
        CertStatus::Good => {
            if report.level == "B-T" {
                report.level = "B-LT".into();
            }
            report.revocation =
                format!("good (embedded OCSP response of {})", rfc3339(this_update));
            report
        }
        CertStatus::Unknown => {
            report.revocation = format!(
                "unknown to the OCSP responder (embedded response of {})",
                rfc3339(this_update)
            );
            report.verdict(
                Indication::Indeterminate,
                "TRY_LATER",
                "the embedded OCSP response does not know the signer certificate",
            )
        }
        CertStatus::Revoked {
            at: revoked,
            reason,
        } => {
            let why = reason.map(|r| format!(" ({r:?})")).unwrap_or_default();
            report.revocation = format!("revoked at {}{why}", rfc3339(revoked));
            if report.level == "B-T" {
                report.level = "B-LT".into();
            }
            match proven {
                Some(p) if revoked > p => {
                    // Proof that the signature existed before the revocation: it keeps its
                    // value (EN 319 102-1 §5.6.2.4, past signature validation).
                    report
                }
                Some(p) => report.verdict(
                    Indication::TotalFailed,
                    "REVOKED",
                    format!(
                        "the signer certificate was revoked at {}{why}, before the time-stamped \
                         signing time {}",
                        rfc3339(revoked),
                        rfc3339(p)
                    ),
                ),
                None => report.verdict(
                    Indication::Indeterminate,
                    "REVOKED_NO_POE",
                    format!(
                        "the signer certificate was revoked at {}{why} and no signature \
                         time-stamp proves the signature is older",
                        rfc3339(revoked)
                    ),
                ),
            }
        }
    }
}
