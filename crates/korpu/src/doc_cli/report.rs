//! What `doc verify` finds in a file and how it says so: the format read from the content,
//! every signature's ETSI verdict with a label (field, container entry, archive time-stamp),
//! the text and JSON reports. It reads nothing from disk or the network itself.

use std::path::Path;
use std::time::SystemTime;

use korpu_pki::cert::Certificate;
use korpu_sign::asice;
use korpu_sign::pdf;
use korpu_sign::validate::{Indication, SignatureReport};

/// One signature in the printed report.
pub(super) struct Line {
    label: String,
    pub(super) report: SignatureReport,
    modified_after: Option<String>,
}

/// What `doc verify` prints.
pub(super) struct Verdict {
    format: &'static str,
    pub(super) signatures: Vec<Line>,
    /// The file could not be read as a signed document at all.
    pub(super) error: Option<String>,
    /// The signed content of an enveloping signature.
    pub(super) content: Option<Vec<u8>>,
}

impl Verdict {
    pub(super) fn failed(format: &'static str, error: String) -> Self {
        Verdict {
            format,
            signatures: Vec::new(),
            error: Some(error),
            content: None,
        }
    }

    fn container(
        format: &'static str,
        r: Result<asice::ContainerReport, asice::AsicError>,
    ) -> Self {
        match r {
            Ok(r) => Verdict {
                format,
                signatures: r
                    .signatures
                    .into_iter()
                    .map(|s| Line {
                        label: format!("{} over {}", s.signature_file, s.covers.join(", ")),
                        report: s.report,
                        modified_after: None,
                    })
                    .collect(),
                error: None,
                content: None,
            },
            Err(e) => Verdict::failed(format, format!("FORMAT_FAILURE: {e}")),
        }
    }
}

pub(super) fn verify(
    data: &[u8],
    detached: Option<&Detached>,
    anchors: &[Certificate],
    at: SystemTime,
    options: &korpu_sign::ValidationOptions,
) -> Verdict {
    use korpu_sign::detect::{self, Format};
    let format = detect::detect(data);
    if detached.is_some() && !matches!(format, Format::Cms | Format::CmsPem | Format::Xml) {
        return Verdict::failed(
            format.name(),
            "--detached-content is for a detached signature (CAdES .p7s or XAdES .xml); this \
             file is not one"
                .into(),
        );
    }
    match format {
        Format::Pdf => verify_pdf(data, anchors, at, options),
        Format::AsicE => {
            // What others send may lack the mimetype entry; detection already placed it.
            let r = asice::validate_opts_mimetype_optional(
                data,
                anchors,
                at,
                &asice::Limits::default(),
                options,
            );
            let xades = r.as_ref().is_ok_and(|r| {
                r.signatures
                    .iter()
                    .any(|s| s.signature_file.contains("signatures"))
            });
            Verdict::container(
                if xades {
                    "ASiC-E (XAdES)"
                } else {
                    "ASiC-E (CAdES)"
                },
                r,
            )
        }
        Format::AsicS => {
            let r = korpu_sign::asics::validate_opts(
                data,
                anchors,
                at,
                &asice::Limits::default(),
                options,
            );
            Verdict::container("ASiC-S", r)
        }
        Format::Cms | Format::CmsPem => {
            let Some(der) = detect::cms_der(data) else {
                return Verdict::failed("CAdES", "FORMAT_FAILURE: malformed PEM".into());
            };
            let (label, report, content) = match detached.map(|d| d.content.as_slice()) {
                Some(content) => (
                    "detached signature".to_string(),
                    korpu_sign::validate::validate_cades_opts(&der, content, anchors, at, options),
                    None,
                ),
                None => {
                    let (r, content) =
                        korpu_sign::validate::validate_cades_enveloping(&der, anchors, at, options);
                    let label = match &content {
                        Some(c) => format!(
                            "enveloping signature over {} bytes of {}",
                            c.len(),
                            content_kind(c)
                        ),
                        None => "detached signature, content not given".to_string(),
                    };
                    (label, r, content)
                }
            };
            Verdict {
                format: "CAdES",
                signatures: vec![Line {
                    label,
                    report,
                    modified_after: None,
                }],
                error: None,
                content,
            }
        }
        Format::Xml => {
            // A signed XML document (enveloped XAdES), or a detached XAdES signature whose
            // data file --detached-content gives under its own name.
            let files = detached
                .map(|d| std::collections::BTreeMap::from([(d.name.clone(), d.content.clone())]))
                .unwrap_or_default();
            match korpu_sign::xades::validate_file(
                data,
                &files,
                anchors,
                at,
                &korpu_sign::xml::Limits::default(),
                options,
            ) {
                Ok(sigs) => Verdict {
                    format: "XAdES (XML)",
                    signatures: sigs
                        .into_iter()
                        .map(|s| Line {
                            label: match (&s.id, s.covers.is_empty()) {
                                (Some(id), true) => format!("signature {id}"),
                                (Some(id), false) => {
                                    format!("signature {id} over {}", s.covers.join(", "))
                                }
                                (None, _) => "signature".into(),
                            },
                            report: s.report,
                            modified_after: None,
                        })
                        .collect(),
                    error: None,
                    content: None,
                },
                Err(e) => Verdict::failed("XML", format!("FORMAT_FAILURE: {e}")),
            }
        }
        Format::Unknown => Verdict::failed(
            "unknown",
            "FORMAT_FAILURE: not a signed document Körpü recognises (PDF, ASiC-E, ASiC-S, \
                 CAdES .p7s/.p7m)"
                .into(),
        ),
    }
}

/// The data of a detached signature, with its file name (XAdES references name it).
pub(super) struct Detached {
    pub(super) name: String,
    pub(super) content: Vec<u8>,
}

fn verify_pdf(
    data: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    options: &korpu_sign::ValidationOptions,
) -> Verdict {
    {
        match pdf::validate_opts(data, anchors, at, &pdf::Limits::default(), options) {
            Ok(r) => Verdict {
                format: "PAdES (PDF)",
                signatures: r
                    .signatures
                    .into_iter()
                    .map(|s| Line {
                        label: format!("field {}", s.field),
                        report: s.report,
                        modified_after: s.modified_after,
                    })
                    // Archive (document) time-stamps, each with its time and TSA.
                    .chain(r.timestamps.into_iter().map(|t| Line {
                        label: format!(
                            "archive time-stamp, field {}, by {} at {}",
                            t.field,
                            t.tsa,
                            t.time.as_deref().unwrap_or("-")
                        ),
                        report: t.report,
                        modified_after: None,
                    }))
                    .collect(),
                error: None,
                content: None,
            },
            Err(e) => Verdict::failed("PAdES (PDF)", format!("FORMAT_FAILURE: {e}")),
        }
    }
}

/// What the content of an enveloping signature looks like, for the report.
fn content_kind(c: &[u8]) -> &'static str {
    use korpu_sign::detect::{detect, Format};
    match detect(c) {
        Format::Pdf => "PDF",
        Format::Xml => "XML",
        Format::AsicE | Format::AsicS => "a zip container",
        _ if std::str::from_utf8(c).is_ok() => "text",
        _ => "binary data",
    }
}

impl Verdict {
    fn overall(&self) -> &'static str {
        if self.error.is_some() {
            return "TOTAL_FAILED";
        }
        match Indication::worst(self.signatures.iter().map(|s| s.report.indication)) {
            Indication::TotalPassed => "TOTAL_PASSED",
            Indication::Indeterminate => "INDETERMINATE",
            Indication::TotalFailed => "TOTAL_FAILED",
        }
    }

    pub(super) fn to_text(&self, file: &Path) -> String {
        let mut s = format!("{}: {}\n", file.display(), self.format);
        if let Some(e) = &self.error {
            s.push_str(&format!("  TOTAL_FAILED: {e}\n"));
        }
        for (i, l) in self.signatures.iter().enumerate() {
            let r = &l.report;
            s.push_str(&format!(
                "signature {} ({}): {}\n",
                i + 1,
                l.label,
                indication(r.indication)
            ));
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            s.push_str(&format!("  signer:               {}\n", r.signer));
            s.push_str(&format!(
                "  claimed signing time: {}\n",
                opt(&r.claimed_signing_time)
            ));
            s.push_str(&format!(
                "  proven signing time:  {}\n",
                opt(&r.proven_signing_time)
            ));
            s.push_str(&format!("  level:                {}\n", r.level));
            s.push_str(&format!(
                "  trust anchor:         {}\n",
                opt(&r.trust_anchor)
            ));
            s.push_str(&format!("  revocation:           {}\n", r.revocation));
            if let Some(m) = &l.modified_after {
                s.push_str(&format!("  modified after:       {m}\n"));
            }
            if r.indication != Indication::TotalPassed {
                s.push_str(&format!(
                    "  reason:               {}: {}\n",
                    opt(&r.sub_indication),
                    opt(&r.reason)
                ));
            }
        }
        s.push_str(&format!("overall: {}\n", self.overall()));
        s
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format": self.format,
            "indication": self.overall(),
            "error": self.error,
            "signatures": self.signatures.iter().map(|l| serde_json::json!({
                "label": l.label,
                "modified_after": l.modified_after,
                "report": l.report,
            })).collect::<Vec<_>>(),
        })
    }
}

fn indication(i: Indication) -> &'static str {
    match i {
        Indication::TotalPassed => "TOTAL_PASSED",
        Indication::Indeterminate => "INDETERMINATE",
        Indication::TotalFailed => "TOTAL_FAILED",
    }
}
