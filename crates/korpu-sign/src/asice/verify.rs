//! Validating a container: each manifest's CAdES signature, the data files its manifest
//! covers and their digests, and the XAdES signature files of the DigiDoc/BDOC form, into one
//! [`ContainerReport`].
//!
//! Reading the zip is `read`'s job, the manifest's structure `manifest`'s.

use std::collections::BTreeSet;
use std::time::SystemTime;

use korpu_pki::cert::Certificate;

use crate::validate::{Indication, SignatureReport};

use super::manifest::{manifest_digest, parse_manifest};
use super::read::{is_xades, open, open_as};
use super::{AsicError, Container, ContainerReport, ContainerSignature, Limits, MIMETYPE};

/// Reads and validates a container: structure (see [`open`]), every manifest against the data
/// files, every data file covered, and each CAdES signature against `anchors` at `at`.
pub fn validate(
    bytes: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
) -> Result<ContainerReport, AsicError> {
    validate_opts(
        bytes,
        anchors,
        at,
        limits,
        &crate::lt::ValidationOptions::default(),
    )
}

/// [`validate`] with options (e.g. allowing missing revocation data to be fetched).
pub fn validate_opts(
    bytes: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
    options: &crate::lt::ValidationOptions,
) -> Result<ContainerReport, AsicError> {
    validate_container(open(bytes, limits)?, anchors, at, options)
}

/// [`validate_opts`] for a container that may lack the `mimetype` entry altogether, as a
/// validator of what others send must take it (DSS does; EN 319 162-1 treats the entry as a
/// media-type hint, and the signatures carry the integrity). A `mimetype` that is present is
/// still checked; the exchange between organisations keeps requiring it ([`validate_opts`]).
pub fn validate_opts_mimetype_optional(
    bytes: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
    options: &crate::lt::ValidationOptions,
) -> Result<ContainerReport, AsicError> {
    validate_container(
        open_as(bytes, limits, MIMETYPE, true)?,
        anchors,
        at,
        options,
    )
}

pub(super) fn validate_container(
    c: Container,
    anchors: &[Certificate],
    at: SystemTime,
    options: &crate::lt::ValidationOptions,
) -> Result<ContainerReport, AsicError> {
    let sigs = c.signatures()?;
    let mut covered = BTreeSet::new();
    let mut reports = Vec::new();
    for s in sigs {
        let m = parse_manifest(&s.manifest_name, &s.manifest)?;
        let mut report =
            crate::validate::validate_cades_opts(&s.signature, &s.manifest, anchors, at, options);
        for r in &m.refs {
            covered.insert(r.uri.clone());
            let Some(content) = c.files.get(&r.uri) else {
                report = report.fail_with(
                    "SIGNED_DATA_NOT_FOUND",
                    format!(
                        "the manifest covers \"{}\", which is not in the container",
                        r.uri
                    ),
                );
                continue;
            };
            // Any digest the manifest names that Körpü can compute; another one leaves the file
            // unverified (INDETERMINATE), which is not evidence of alteration.
            let Some(h) = manifest_digest(&r.digest_method) else {
                if report.indication == crate::validate::Indication::TotalPassed {
                    report = report.verdict(
                        crate::validate::Indication::Indeterminate,
                        "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
                        format!(
                            "\"{}\" is digested with {}, which Körpü does not support",
                            r.uri, r.digest_method
                        ),
                    );
                }
                continue;
            };
            if h.digest(content) != r.digest {
                report = report.fail_with(
                    "HASH_FAILURE",
                    format!(
                        "file \"{}\" does not match its digest: it was altered",
                        r.uri
                    ),
                );
            }
        }
        reports.push(ContainerSignature {
            manifest: s.manifest_name,
            signature_file: s.signature_name,
            covers: m.refs.into_iter().map(|r| r.uri).collect(),
            report,
        });
    }
    // XAdES signatures (`signatures*.xml`): each ds:Signature references the files itself.
    let mut unreadable = false;
    for (name, xml) in c.meta.iter().filter(|(n, _)| is_xades(n)) {
        match validate_xades_file(xml, &c, anchors, at, options) {
            Ok(sigs) => {
                for s in sigs {
                    covered.extend(s.covers.iter().cloned());
                    reports.push(ContainerSignature {
                        manifest: name.clone(),
                        signature_file: match &s.id {
                            Some(id) => format!("{name}#{id}"),
                            None => name.clone(),
                        },
                        covers: s.covers,
                        report: s.report,
                    });
                }
            }
            Err(e) => {
                unreadable = true;
                reports.push(ContainerSignature {
                    manifest: name.clone(),
                    signature_file: name.clone(),
                    covers: Vec::new(),
                    report: SignatureReport::failed("FORMAT_FAILURE", format!("{name}: {e}")),
                });
            }
        }
    }
    // A file no signature covers would be delivered as if signed. (When a signature file
    // could not be read at all, its FORMAT_FAILURE already says more than this would.)
    if let Some(f) = c.files.keys().find(|f| !covered.contains(*f)) {
        if !unreadable {
            return Err(AsicError::UncoveredFile(f.clone()));
        }
    }
    let indication = Indication::worst(reports.iter().map(|r| r.report.indication));
    Ok(ContainerReport {
        files: c.files.keys().cloned().collect(),
        signatures: reports,
        indication,
    })
}

/// The XAdES signatures of one `META-INF/signatures*.xml` of `c` (the DigiDoc/BDOC form), read
/// with the default XML limits; ASiC-S reads its XAdES file the same way.
pub(crate) fn validate_xades_file(
    xml: &[u8],
    c: &Container,
    anchors: &[Certificate],
    at: SystemTime,
    options: &crate::lt::ValidationOptions,
) -> Result<Vec<crate::xades::XadesSignature>, crate::xml::XmlError> {
    crate::xades::validate_file(
        xml,
        &c.files,
        anchors,
        at,
        &crate::xml::Limits::default(),
        options,
    )
}
