//! Validating one `ds:Signature`: the references (through `references`), the canonicalised
//! `ds:SignedInfo` and its signature value, the signed properties, the signature time-stamps,
//! and the chain and revocation of the signer certificate, into one [`SignatureReport`].
//!
//! The verdict rule is the module's (see `xades`); finding the signatures of a file is
//! `validate_file`'s job.

use std::collections::BTreeMap;
use std::time::SystemTime;

use korpu_pki::alg::{AlgError, EcdsaEncoding, SignatureAlgorithm, Verified};
use korpu_pki::cert::Certificate;
use korpu_pki::path::{build_path, Limits as PathLimits, Usage};
use korpu_pki::{tsa, PkiError};

use crate::lt::ValidationOptions;
use crate::rfc3339;
use crate::validate::{classify_ts_error, Indication, SignatureReport};
use crate::xml::{C14n, Document, NodeId};

use super::algorithms::{c14n_of, signature_from_uri};
use super::read::{attr, b64, parse_xs_datetime, signing_cert_digests};
use super::references::check_references;
use super::{DigestCache, XadesSignature, DS, XADES};

pub(super) fn validate_signature(
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
    let malformed = |out, why| fail(out, TotalFailed, "FORMAT_FAILURE", why);
    let Some(si) = doc.child(sig, DS, "SignedInfo") else {
        return malformed(out, "no ds:SignedInfo".into());
    };
    let Some(sv) = doc.child(sig, DS, "SignatureValue") else {
        return malformed(out, "no ds:SignatureValue".into());
    };
    let sig_value = match b64(&doc.text(sv)) {
        Ok(v) => v,
        Err(e) => return malformed(out, format!("SignatureValue: {e}")),
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
        return malformed(out, why);
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
                return malformed(
                    out,
                    "SignatureTimeStamp without EncapsulatedTimeStamp".into(),
                );
            };
            let token = match b64(&doc.text(enc)) {
                Ok(t) => t,
                Err(e) => return malformed(out, format!("time-stamp: {e}")),
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
                        Err(e) => return malformed(out, format!("an OCSP value: {e}")),
                    }
                }
            }
        }
    }
    out.report.proven_signing_time = proven.map(rfc3339);
    let (crls, bad) = crate::lt::parse_crls(&crl_ders);
    if let Some(e) = bad.first() {
        return malformed(out, format!("a CRL value: {e}"));
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
