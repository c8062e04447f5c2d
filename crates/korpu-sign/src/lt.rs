//! Baseline level B-LT: the validation data (OCSP responses and CRLs) that lets a signature be
//! validated later without any network access, and the revocation check over a whole
//! certification path that uses that data (and, only when the caller allows it, data fetched
//! from the URLs in the certificates).
//!
//! CAdES (EN 319 122-1 §5.5.2): OCSP responses go into the `revocation-values` unsigned
//! attribute (`ocspVals`, BasicOCSPResponse values), CRLs into its `crlVals`; the certificates
//! are already in SignedData.certificates. PAdES (EN 319 142-1 §5.4): the full OCSPResponses
//! and CRLs go into the document security store, see [`crate::pdf::add_validation_data`].
//! Revocation data is gathered for the signer and for each CA certificate above it that the
//! signature carries (OCSP first, a CRL when the CA publishes one).
//!
//! Validation ([`check_path_revocation`]) follows EN 319 102-1 §5.2.6 as EU DSS applies it:
//! every certificate of the path but the trust anchor needs fresh revocation data, or the
//! verdict is INDETERMINATE/TRY_LATER. Not here: delta CRLs (refused by
//! [`korpu_pki::crl`], hence no data), revocation of time-stamping units' certificates (their
//! tokens are checked by chain only; a document time-stamp's TSA is, see
//! [`crate::pdf::doc_ts`]), and B-LTA archive time-stamps themselves.
use std::time::SystemTime;

use cms::signed_data::SignerInfo;
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use korpu_pki::cert::Certificate;
use korpu_pki::crl::{self, Crl};
use korpu_pki::ocsp::{self, CertStatus, Responder};
use x509_cert::attr::Attribute;
use x509_ocsp::{
    BasicOcspResponse, OcspResponse, OcspResponseStatus, ResponseBytes, SingleResponse,
};

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

    /// Returns a DER CRL of `issuer` that covers `cert`, when the CA publishes CRLs; asked when
    /// [`RevocationSource::ocsp`] has no answer. The default publishes none.
    fn crl(&self, cert: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        let _ = (cert, issuer);
        Ok(None)
    }
}

/// Revocation data for one signature: OCSP responses and CRLs.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// OCSP response, else CRL, about `cert` from `source`.
fn revocation_for(
    source: &dyn RevocationSource,
    cert: &Certificate,
    issuer: &Certificate,
    into: &mut Gathered,
) -> Result<(), SignError> {
    let ocsp_err = match source.ocsp(cert, issuer) {
        Ok(r) => {
            into.ocsps.push(r);
            return Ok(());
        }
        Err(e) => e,
    };
    match source.crl(cert, issuer)? {
        Some(c) => {
            if !into.crls.contains(&c) {
                into.crls.push(c);
            }
            Ok(())
        }
        None => Err(ocsp_err),
    }
}

/// Revocation data for `signer` (which must be found: an error otherwise) and, as far as the
/// source answers, for every CA certificate above it whose issuer is in `pool`, so a validator
/// can check the whole path offline (EN 319 102-1 checks CA certificates too). The walk stops
/// at a self-signed certificate, a certificate whose issuer is not in `pool`, or after a
/// bounded number of steps.
pub(crate) fn gather(
    source: &dyn RevocationSource,
    signer: &Certificate,
    pool: &[Certificate],
) -> Result<Gathered, SignError> {
    const MAX_STEPS: usize = 8;
    let mut out = Gathered::default();
    let mut current = signer.clone();
    for step in 0..MAX_STEPS {
        let Some(issuer) = pool
            .iter()
            .find(|c| **c != current && current.verify_issued_by(c).is_ok())
        else {
            if step == 0 {
                return Err(SignError::InvalidInput(format!(
                    "the issuer of \"{}\" is not in the signature; give the chain",
                    current.subject()
                )));
            }
            break;
        };
        match revocation_for(source, &current, issuer, &mut out) {
            Ok(()) => {}
            Err(e) if step == 0 => return Err(e),
            // A CA's status is best effort: many roots publish nothing about their CAs.
            Err(_) => {}
        }
        if issuer.verify_issued_by(issuer).is_ok() {
            break;
        }
        current = issuer.clone();
    }
    Ok(out)
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
    let sd = parse_signed_data(p7s).map_err(|d| SignError::malformed("CAdES signature", d))?;
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
        let gathered = gather(source, signer, &certs)?;
        let mut responses = gathered.ocsps;
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
        let mut crl_vals = Vec::new();
        for c in &gathered.crls {
            crl_vals.push(Any::from_der(c).map_err(enc)?);
        }
        let rv = RevocationValues {
            crl_vals: (!crl_vals.is_empty()).then_some(crl_vals),
            ocsp_vals: (!basics.is_empty()).then_some(basics),
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
    crate::cades::with_signer_infos(sd, infos)
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
    single_responses(resp)?
        .iter()
        .map(|s| s.this_update.0.to_system_time())
        .max()
}

/// The SingleResponses of an OCSP response (`None` when it is not a readable basic response);
/// what they say is believed only after [`ocsp::verify_response_dated`].
fn single_responses(resp: &[u8]) -> Option<Vec<SingleResponse>> {
    let r = OcspResponse::from_der(resp).ok()?;
    let b = BasicOcspResponse::from_der(r.response_bytes?.response.as_bytes()).ok()?;
    Some(b.tbs_response_data.responses)
}

/// Where revocation data for a validation may come from besides the signature and the
/// document: the CRL distribution points and OCSP responders certificates name. Validation
/// uses one only when the caller hands it in ([`ValidationOptions::fetcher`]); by default
/// nothing is fetched and validation needs no network.
pub trait RevocationFetcher: Send + Sync {
    /// GETs `url` (a CRL distribution point) and returns the body.
    fn get(&self, url: &str) -> Result<Vec<u8>, String>;
    /// POSTs `body` with `content_type` to `url` (an OCSP responder) and returns the body.
    fn post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, String>;
}

/// How a validation may go about its work beyond the bytes it is given.
#[derive(Clone, Default)]
pub struct ValidationOptions {
    /// Fetch revocation data the signature lacks from the URLs in the certificates. `None`
    /// (the default): only embedded data counts, and a signature without it is
    /// INDETERMINATE/TRY_LATER.
    pub fetcher: Option<std::sync::Arc<dyn RevocationFetcher>>,
    /// The cryptographic constraints to judge algorithms by; `None`: the embedded default
    /// ([`crate::policy::Policy::default`]).
    pub policy: Option<std::sync::Arc<crate::policy::Policy>>,
}

impl std::fmt::Debug for ValidationOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidationOptions")
            .field("fetcher", &self.fetcher.is_some())
            .field("policy", &self.policy.as_ref().map(|p| p.name.clone()))
            .finish()
    }
}

/// One answer about one certificate's status.
struct Statement {
    status: CertStatus,
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    /// "embedded OCSP response", "embedded CRL", "fetched CRL", ...
    source: &'static str,
    embedded: bool,
}

/// Whether a response has a SingleResponse for `cert`'s serial number (the rest of the CertID
/// is checked with the signature by [`ocsp::verify_response_dated`]).
fn ocsp_mentions(resp: &[u8], cert: &Certificate) -> bool {
    let serial = cert.parsed().tbs_certificate.serial_number.as_bytes();
    single_responses(resp).is_some_and(|all| {
        all.iter()
            .any(|s| s.cert_id.serial_number.as_bytes() == serial)
    })
}

/// The latest nextUpdate of a response's single responses.
fn next_update_of(resp: &[u8]) -> Option<SystemTime> {
    single_responses(resp)?
        .iter()
        .filter_map(|s| s.next_update.map(|n| n.0.to_system_time()))
        .max()
}

/// What `ocsps` and `crls` (already parsed) say about `cert`, each checked against `issuer`.
/// `Err` carries why the data that was there could not be used.
fn statements(
    cert: &Certificate,
    issuer: &Certificate,
    ocsps: &[Vec<u8>],
    crls: &[Crl],
    embedded: bool,
) -> (Vec<Statement>, Option<String>) {
    let mut out = Vec::new();
    let mut last_err = None;
    for r in ocsps {
        // The response is judged at the time it speaks for: it was fresh then, and it is old
        // now by design (that is what "long-term" means).
        let Some(when) = produced_at(r) else { continue };
        // Each response is about one certificate of the path: skip the others before paying
        // for a signature check.
        if !ocsp_mentions(r, cert) {
            continue;
        }
        match ocsp::verify_response_dated(r, cert, issuer, None, when) {
            Ok((status, this_update)) => out.push(Statement {
                status,
                this_update,
                next_update: next_update_of(r),
                source: if embedded {
                    "embedded OCSP response"
                } else {
                    "fetched OCSP response"
                },
                embedded,
            }),
            Err(e) => last_err = Some(format!("OCSP response: {e}")),
        }
    }
    for crl in crls {
        // A CRL of another CA is simply not about this certificate.
        if !korpu_pki::name::names_match(crl.issuer_name(), &cert.parsed().tbs_certificate.issuer) {
            continue;
        }
        match crl.verify_issued_by(issuer).and_then(|()| crl.status(cert)) {
            Ok(status) => out.push(Statement {
                status,
                this_update: crl.this_update(),
                next_update: crl.next_update(),
                source: if embedded {
                    "embedded CRL"
                } else {
                    "fetched CRL"
                },
                embedded,
            }),
            Err(e) => last_err = Some(format!("CRL of {}: {e}", crl.issuer())),
        }
    }
    (out, last_err)
}

/// Asks the certificate's OCSP responders, then its CRL distribution points, through
/// `fetcher`; stops at the first usable answer.
fn fetch_statements(
    fetcher: &dyn RevocationFetcher,
    cert: &Certificate,
    issuer: &Certificate,
) -> (Vec<Statement>, Option<String>) {
    let mut last_err = None;
    let now = SystemTime::now();
    for url in crl::ocsp_urls(cert).iter() {
        let got = ocsp::build_request(cert, issuer)
            .map_err(|e| e.to_string())
            .and_then(|(req, nonce)| {
                let resp = fetcher.post(url, "application/ocsp-request", &req)?;
                let (status, this_update) =
                    ocsp::verify_response_dated(&resp, cert, issuer, Some(&nonce), now)
                        .map_err(|e| e.to_string())?;
                Ok(Statement {
                    status,
                    this_update,
                    next_update: next_update_of(&resp),
                    source: "fetched OCSP response",
                    embedded: false,
                })
            });
        match got {
            Ok(s) => return (vec![s], None),
            Err(e) => last_err = Some(format!("{url}: {e}")),
        }
    }
    for url in crl::crl_urls(cert).iter() {
        let got = fetcher
            .get(url)
            .and_then(|b| Crl::from_der_or_pem(&b).map_err(|e| e.to_string()))
            .and_then(|c| {
                let (found, err) = statements(cert, issuer, &[], &[c], false);
                if found.is_empty() {
                    Err(err.unwrap_or_else(|| "the CRL is not about this certificate".into()))
                } else {
                    Ok(found)
                }
            });
        match got {
            Ok(s) => return (s, None),
            Err(e) => last_err = Some(format!("{url}: {e}")),
        }
    }
    (Vec::new(), last_err)
}

/// The revocation data a signature carries besides OCSP: CRLs in SignedData.crls and in the
/// revocation-values attribute (crlVals). Malformed or unsupported ones are skipped (they are
/// then simply not revocation data), except that the reasons are returned for the report.
pub(crate) fn embedded_crls(
    sd: &cms::signed_data::SignedData,
    si: &SignerInfo,
) -> (Vec<Crl>, Vec<String>) {
    let mut ders = Vec::new();
    for c in sd.crls.iter().flat_map(|c| c.0.iter()) {
        if let cms::revocation::RevocationInfoChoice::Crl(l) = c {
            if let Ok(d) = l.to_der() {
                ders.push(d);
            }
        }
    }
    for a in si.unsigned_attrs.iter().flat_map(|u| u.iter()) {
        if a.oid != ID_AA_ETS_REVOCATION_VALUES {
            continue;
        }
        for v in a.values.iter() {
            if let Ok(rv) = v.decode_as::<RevocationValues>() {
                for c in rv.crl_vals.iter().flatten() {
                    if let Ok(d) = c.to_der() {
                        ders.push(d);
                    }
                }
            }
        }
    }
    parse_crls(&ders)
}

/// Parses CRLs, keeping the ones that parse and the reasons of those that do not.
pub(crate) fn parse_crls(ders: &[Vec<u8>]) -> (Vec<Crl>, Vec<String>) {
    let mut out: Vec<Crl> = Vec::new();
    let mut errs = Vec::new();
    for d in ders {
        match Crl::from_der(d) {
            Ok(c) if !out.contains(&c) => out.push(c),
            Ok(_) => {}
            Err(e) => errs.push(e.to_string()),
        }
    }
    (out, errs)
}

/// How bad a certificate's revocation outcome is for the signature; the worst one decides.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Fine,
    TryLater,
    RevokedNoPoe,
    Revoked,
}

/// Checks revocation of every certificate of `chain` (signer first, anchor last) but the
/// anchor, following EN 319 102-1 §5.2.6 and the DSS semantics, and sets the report's
/// revocation text, level and verdict:
/// - revoked at or before the proven signing time → TOTAL_FAILED/REVOKED (signer or CA);
/// - revoked and no proof of an earlier signing time → INDETERMINATE/REVOKED_NO_POE (signer)
///   or REVOKED_CA_NO_POE (a CA);
/// - revoked only after the proven time → still valid, the revocation noted;
/// - no usable, fresh revocation data → INDETERMINATE/TRY_LATER.
///
/// Fresh means, as EN 319 102-1 §5.2.5.4 puts it when no maximum age is configured: issued at
/// or after the control time (the proven signing time, else the validation time `at`), or
/// issued before it with a nextUpdate at or after it, so its validity period covers the
/// control time. That is what a CA publishing a CRL every few hours gives a B-LT signature made
/// between two CRLs. A "revoked" answer counts whatever its age. A CA certificate
/// that names no CRL distribution point and no OCSP responder (its issuer publishes nothing
/// about it, as in closed PKIs where the root vouches for one issuing CA) and for which no data
/// is present is reported as "no revocation service" without lowering the verdict; the signer
/// certificate always needs revocation data. The level becomes B-LT when a time-stamped
/// signature carries (embedded, not fetched) data for every certificate that needs it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_path_revocation(
    mut report: SignatureReport,
    chain: &[Certificate],
    anchors: &[Certificate],
    ocsps: &[Vec<u8>],
    crls: &[Crl],
    proven: Option<SystemTime>,
    at: SystemTime,
    options: &ValidationOptions,
) -> SignatureReport {
    report.objects.chain = chain.iter().map(|c| c.der().to_vec()).collect();
    report.objects.ocsp_responses = ocsps.to_vec();
    report.objects.crls = crls.iter().map(|c| c.der().to_vec()).collect();
    let control = proven.unwrap_or(at);
    let mut parts: Vec<String> = Vec::new();
    let mut worst = (Severity::Fine, String::new(), "");
    let mut all_embedded = true;
    for (i, cert) in chain.iter().enumerate() {
        let Some(issuer) = chain.get(i + 1) else {
            break;
        };
        if anchors.contains(cert) {
            break;
        }
        let who = if i == 0 {
            "the signer certificate".to_owned()
        } else {
            format!("CA certificate \"{}\"", cert.subject())
        };
        let label = |text: String| {
            if i == 0 {
                text
            } else {
                format!("CA \"{}\": {text}", cert.subject())
            }
        };
        // id-pkix-ocsp-nocheck: the CA vouches for it for its whole life (RFC 6960 §4.2.2.2.1).
        if cert
            .extension(const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK)
            .is_some()
        {
            parts.push(label("not checked (id-pkix-ocsp-nocheck)".into()));
            continue;
        }
        let (mut found, mut err) = statements(cert, issuer, ocsps, crls, true);
        let usable = |s: &Statement| match s.status {
            CertStatus::Revoked { .. } => true,
            _ => fresh(s, control),
        };
        if !found.iter().any(usable) {
            if let Some(f) = &options.fetcher {
                let (more, e) = fetch_statements(f.as_ref(), cert, issuer);
                found.extend(more);
                err = e.or(err);
            }
        }
        // Revoked: the earliest revocation any source states.
        let revoked = found
            .iter()
            .filter_map(|s| match s.status {
                CertStatus::Revoked { at, reason } => Some((at, reason, s)),
                _ => None,
            })
            .min_by_key(|(at, _, _)| *at);
        if let Some((when, reason, s)) = revoked {
            all_embedded &= s.embedded;
            let why = reason.map(|r| format!(" ({r:?})")).unwrap_or_default();
            parts.push(label(format!(
                "revoked at {}{why} ({} of {})",
                rfc3339(when),
                s.source,
                rfc3339(s.this_update)
            )));
            let (sev, sub, text) = match proven {
                // Proof that the signature existed before the revocation: it keeps its value
                // (EN 319 102-1 §5.6.2.4, past signature validation).
                Some(p) if when > p => continue,
                Some(p) => (
                    Severity::Revoked,
                    "REVOKED",
                    format!(
                        "{who} was revoked at {}{why}, before the time-stamped signing time {}",
                        rfc3339(when),
                        rfc3339(p)
                    ),
                ),
                None => (
                    Severity::RevokedNoPoe,
                    if i == 0 {
                        "REVOKED_NO_POE"
                    } else {
                        "REVOKED_CA_NO_POE"
                    },
                    format!(
                        "{who} was revoked at {}{why} and no signature time-stamp proves the \
                         signature is older",
                        rfc3339(when)
                    ),
                ),
            };
            if sev > worst.0 {
                worst = (sev, text, sub);
            }
            continue;
        }
        let good = found
            .iter()
            .filter(|s| s.status == CertStatus::Good && fresh(s, control))
            .max_by_key(|s| (s.embedded, s.this_update));
        if let Some(s) = good {
            all_embedded &= s.embedded;
            parts.push(label(format!(
                "good ({} of {})",
                s.source,
                rfc3339(s.this_update)
            )));
            continue;
        }
        let text = if let Some(s) = found.iter().find(|s| s.status == CertStatus::Unknown) {
            parts.push(label(format!(
                "unknown to the OCSP responder ({})",
                s.source
            )));
            format!("the OCSP responder does not know {who}")
        } else if let Some(s) = found.iter().max_by_key(|s| s.this_update) {
            parts.push(label(format!(
                "not established: the {} ({}) no longer covers the signing time",
                s.source,
                rfc3339(s.this_update)
            )));
            format!(
                "the revocation data for {who} ({} of {}) expired before the time it would \
                 vouch for",
                s.source,
                rfc3339(s.this_update)
            )
        } else if i > 0 && crl::crl_urls(cert).is_empty() && crl::ocsp_urls(cert).is_empty() {
            parts.push(label(
                "no revocation service (its issuer publishes none)".into(),
            ));
            continue;
        } else {
            parts.push(label(match &err {
                Some(e) => format!("not checked: the revocation data is unusable: {e}"),
                None => "not checked: no revocation data".into(),
            }));
            format!(
                "no usable revocation data for {who}{}; it must be embedded (level B-LT) or \
                 fetching allowed",
                err.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            )
        };
        if Severity::TryLater > worst.0 {
            worst = (Severity::TryLater, text, "TRY_LATER");
        }
    }
    report.revocation = if parts.is_empty() {
        "not needed (the signer certificate is a trust anchor)".into()
    } else {
        parts.join("; ")
    };
    let established = worst.0 != Severity::TryLater;
    if report.level == "B-T" && established && all_embedded {
        report.level = "B-LT".into();
    }
    match worst.0 {
        Severity::Fine => report,
        Severity::Revoked => report.verdict(Indication::TotalFailed, worst.2, worst.1),
        Severity::RevokedNoPoe | Severity::TryLater => {
            report.verdict(Indication::Indeterminate, worst.2, worst.1)
        }
    }
}

/// Whether a "good" answer covers the control time (see [`check_path_revocation`]).
fn fresh(s: &Statement, control: SystemTime) -> bool {
    // An answer whose validity ended before the control time says nothing about a revocation
    // between then and the signing; one without nextUpdate vouches only for its own time.
    s.this_update >= control || s.next_update.is_some_and(|n| n >= control)
}
