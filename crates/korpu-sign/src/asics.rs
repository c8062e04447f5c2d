//! Validation of ASiC-S containers (ETSI EN 319 162-1 §4.3): a zip with `mimetype`
//! `application/vnd.etsi.asic-s+zip`, exactly one data object outside `META-INF`, and in
//! `META-INF` either `signature.p7s` (a detached CAdES signature over the data object),
//! `timestamp.tst` (an RFC 3161 time-stamp token over it), or `signatures.xml` (XAdES).
//!
//! The container is read with the bounds of [`crate::asice::Limits`] by the same reader as
//! ASiC-E. Not here: creating ASiC-S, and ASiC-S archive time-stamp renewals
//! (`ASiCArchiveManifest.xml`).
use std::time::SystemTime;

use korpu_pki::cert::Certificate;
use korpu_pki::{tsa, PkiError};

use crate::asice::{self, AsicError, ContainerReport, ContainerSignature, Limits};
use crate::detect::ASICS_MIMETYPE;
use crate::lt::ValidationOptions;
use crate::validate::{validate_cades_opts, Indication, SignatureReport};

/// Reads and validates an ASiC-S container against `anchors` at `at`.
pub fn validate(
    bytes: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
) -> Result<ContainerReport, AsicError> {
    validate_opts(bytes, anchors, at, limits, &ValidationOptions::default())
}

/// [`validate`] with options (e.g. allowing missing revocation data to be fetched).
pub fn validate_opts(
    bytes: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
    options: &ValidationOptions,
) -> Result<ContainerReport, AsicError> {
    // EN 319 162-1 §4.3: the mimetype entry of ASiC-S is optional.
    let c = asice::open_as(bytes, limits, ASICS_MIMETYPE, true)?;
    let (name, data) = match c.files.iter().collect::<Vec<_>>().as_slice() {
        [(n, d)] => ((*n).clone(), (*d).clone()),
        other => return Err(AsicError::NotOneDataObject(other.len())),
    };
    let meta = c.meta();
    let mut signatures = Vec::new();
    if let Some(p7s) = meta.get("META-INF/signature.p7s") {
        signatures.push(ContainerSignature {
            manifest: String::new(),
            signature_file: "META-INF/signature.p7s".into(),
            covers: vec![name.clone()],
            report: validate_cades_opts(p7s, &data, anchors, at, options),
        });
    }
    if let Some(tst) = meta.get("META-INF/timestamp.tst") {
        signatures.push(ContainerSignature {
            manifest: String::new(),
            signature_file: "META-INF/timestamp.tst".into(),
            covers: vec![name.clone()],
            report: time_stamp_report(tst, &data, anchors),
        });
    }
    for (xml_name, xml) in meta.iter().filter(|(n, _)| asice::is_xades(n)) {
        match asice::validate_xades_file(xml, &c, anchors, at, options) {
            Ok(sigs) => signatures.extend(sigs.into_iter().map(|s| ContainerSignature {
                manifest: String::new(),
                signature_file: xml_name.clone(),
                covers: s.covers,
                report: s.report,
            })),
            Err(e) => signatures.push(ContainerSignature {
                manifest: String::new(),
                signature_file: xml_name.clone(),
                covers: Vec::new(),
                report: SignatureReport::failed("FORMAT_FAILURE", format!("{xml_name}: {e}")),
            }),
        }
    }
    if signatures.is_empty() {
        return Err(AsicError::NoSignature);
    }
    let indication = Indication::worst(signatures.iter().map(|s| s.report.indication));
    Ok(ContainerReport {
        files: vec![name],
        signatures,
        indication,
    })
}

/// The verdict on a time-stamp token over `data`: its genTime is the proven time, its TSA the
/// "signer".
fn time_stamp_report(token: &[u8], data: &[u8], anchors: &[Certificate]) -> SignatureReport {
    let mut report = SignatureReport::new();
    report.level = "time-stamp".into();
    let signer = token_signer(token);
    if let Some((tsa_cert, _)) = &signer {
        report.signer = tsa_cert.subject();
    }
    match tsa::verify_token_over(token, data, None, anchors) {
        Ok(t) => {
            report.proven_signing_time = Some(crate::rfc3339(t));
            // verify_token has checked the chain; find its anchor again for the report.
            report.trust_anchor = signer
                .and_then(|(c, pool)| korpu_pki::cert::verify_chain(&c, &pool, anchors, t).ok())
                .and_then(|chain| chain.last().map(|a| a.subject()));
            report
        }
        Err(e) => {
            let (ind, sub) = match &e {
                PkiError::TimeStampRejected(w) if w.contains("different digest") => {
                    (Indication::TotalFailed, "HASH_FAILURE")
                }
                PkiError::TimeStampRejected(w)
                    if w.contains("token signature") || w.contains("altered") =>
                {
                    (Indication::TotalFailed, "SIG_CRYPTO_FAILURE")
                }
                PkiError::BadSignature(_) => (Indication::TotalFailed, "SIG_CRYPTO_FAILURE"),
                PkiError::Malformed { .. } => (Indication::TotalFailed, "FORMAT_FAILURE"),
                _ => (Indication::Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND"),
            };
            report.verdict(ind, sub, format!("time-stamp token: {e}"))
        }
    }
}

/// The TSA certificate of a token, and the certificates it carries.
fn token_signer(token: &[u8]) -> Option<(Certificate, Vec<Certificate>)> {
    let sd = crate::cades::parse_signed_data(token).ok()?;
    let certs = crate::lt::cms_certs(&sd).ok()?;
    let si = sd.signer_infos.0.iter().next()?;
    let signer = certs
        .iter()
        .find(|c| crate::ess::sid_matches(&si.sid, c))?
        .clone();
    Some((signer, certs))
}
