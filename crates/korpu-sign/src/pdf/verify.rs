//! Validating every signature of a PDF: finding the signature fields, checking each
//! /ByteRange covers the whole revision but its /Contents, validating the CAdES inside with the
//! file's DSS as evidence, and reporting changes made after each signature.
//!
//! What counts as an allowed later change is `changes`' job; document time-stamps are
//! validated in `doc_ts`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use korpu_pki::cert::Certificate;

use super::doc_ts;
use super::parse::{get, Dict, Document, Obj};
use crate::validate::{self, Evidence, Indication, SignatureReport};

use super::changes::changes_after;
use super::{catalog, Limits, PdfError, PdfReport, PdfSignature};

/// Validates every signature of `pdf` against `anchors` at `at`, using only what the file
/// contains (embedded certificates and OCSP responses).
pub fn validate(
    pdf: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
) -> Result<PdfReport, PdfError> {
    validate_opts(
        pdf,
        anchors,
        at,
        limits,
        &crate::lt::ValidationOptions::default(),
    )
}

/// [`validate`] with options (e.g. allowing missing revocation data to be fetched).
pub fn validate_opts(
    pdf: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    limits: &Limits,
    options: &crate::lt::ValidationOptions,
) -> Result<PdfReport, PdfError> {
    let doc = Document::parse(pdf, limits)?;
    let (_, catalog) = catalog(&doc)?;
    let all = find_signatures(&doc, &catalog, limits)?;
    if all.is_empty() {
        return Err(PdfError::NoSignature);
    }
    let (stamps, found): (Vec<FoundSig>, Vec<FoundSig>) = all
        .into_iter()
        .partition(|s| s.sub_filter == doc_ts::SUB_FILTER);
    let mut evidence_base = dss_evidence(&doc, &catalog);
    evidence_base.options = options.clone();
    // Document time-stamps first: each valid one is proof of existence of everything before
    // it, which the signatures' past validation (EN 319 102-1 §5.6.2) uses.
    let stamps = doc_ts::validate_all(&doc, stamps, anchors, at, &evidence_base);
    let mut out = Vec::new();
    for s in found {
        let mut evidence = evidence_base.clone();
        evidence.claimed_time = s.m.as_deref().and_then(parse_pdf_date);
        evidence.archive_poe = doc_ts::poe_for(&stamps, s.revision_end());
        let report = match check_byte_range(&doc, &s) {
            Err(why) => SignatureReport::failed("FORMAT_FAILURE", why),
            // Hashed with the signer's own digest algorithm (SHA-256/384/512, SHA-1).
            Ok((first, second)) => validate::validate_cades_content(
                &s.cms,
                &crate::cms_check::Content::Parts(vec![first, second]),
                anchors,
                at,
                &evidence,
            ),
        };
        let end = s
            .byte_range
            .get(2)
            .zip(s.byte_range.get(3))
            .map(|(c, d)| c + d);
        let mut modified_after = None;
        let mut report = report;
        // B-LTA (EN 319 142-1 §5.4.3): B-LT, and a valid document time-stamp after it.
        if report.level == "B-LT" && evidence.archive_poe.is_some() {
            report.level = "B-LTA".into();
        }
        if let Some(end) = end.filter(|e| *e <= pdf.len()) {
            if let Err(why) = changes_after(&doc, end, limits) {
                // A change after signing outweighs missing revocation data.
                if report.indication == Indication::TotalPassed || report.lacks_only_revocation() {
                    report = report.verdict(
                        Indication::Indeterminate,
                        "SIG_CONSTRAINTS_FAILURE",
                        format!("the document was changed after this signature: {why}"),
                    );
                }
                modified_after = Some(why);
            }
        }
        out.push(PdfSignature {
            field: s.field,
            sub_filter: s.sub_filter,
            revision_end: end.unwrap_or(0),
            modified_after,
            report,
        });
    }
    out.sort_by_key(|s| s.revision_end);
    let timestamps: Vec<doc_ts::PdfTimestamp> = stamps.into_iter().map(|c| c.ts).collect();
    let indication = Indication::worst(
        out.iter()
            .map(|s| s.report.indication)
            .chain(timestamps.iter().map(|t| t.report.indication)),
    );
    Ok(PdfReport {
        signatures: out,
        timestamps,
        indication,
    })
}

pub(crate) struct FoundSig {
    pub(crate) field: String,
    pub(crate) sub_filter: String,
    pub(crate) byte_range: Vec<usize>,
    contents: Vec<u8>,
    /// The CMS with the zero padding after its DER removed.
    pub(crate) cms: Vec<u8>,
    m: Option<String>,
}

impl FoundSig {
    /// The end of the signed revision (0 when the /ByteRange is unusable).
    pub(crate) fn revision_end(&self) -> usize {
        self.byte_range
            .get(2)
            .zip(self.byte_range.get(3))
            .and_then(|(c, d)| c.checked_add(*d))
            .unwrap_or(0)
    }
}

/// Every terminal field of the AcroForm with `/FT /Sig` (inherited or its own): (dict, name).
pub(super) fn signature_fields(
    doc: &Document<'_>,
    catalog: &Dict,
    limits: &Limits,
) -> Result<Vec<(Dict, String)>, PdfError> {
    let Some(af) = get(catalog, "AcroForm") else {
        return Ok(Vec::new());
    };
    let af = doc.resolve(af)?;
    let Some(fields) = af.dict().and_then(|d| get(d, "Fields")) else {
        return Ok(Vec::new());
    };
    let Obj::Array(fields) = doc.resolve(fields)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut stack: Vec<(Obj, bool, String, usize)> = fields
        .into_iter()
        .rev()
        .map(|f| (f, false, String::new(), 0))
        .collect();
    let mut visited = BTreeSet::new();
    let mut steps = 0;
    while let Some((f, inherited_sig, prefix, depth)) = stack.pop() {
        steps += 1;
        if steps > limits.max_signatures * 4 || depth > 32 {
            return Err(PdfError::Malformed(
                "the form field tree is too large".into(),
            ));
        }
        if let Obj::Ref(n, _) = f {
            if !visited.insert(n) {
                continue;
            }
        }
        let Some(d) = doc.resolve(&f)?.dict().cloned() else {
            continue;
        };
        let is_sig = inherited_sig || get(&d, "FT").is_some_and(|t| t.is_name(b"Sig"));
        let name = match get(&d, "T") {
            Some(Obj::Str(t)) => {
                let t = String::from_utf8_lossy(t).into_owned();
                if prefix.is_empty() {
                    t
                } else {
                    format!("{prefix}.{t}")
                }
            }
            _ => prefix.clone(),
        };
        match get(&d, "Kids") {
            Some(k) if get(&d, "T").is_some() || get(&d, "FT").is_some() => {
                if let Obj::Array(kids) = doc.resolve(k)? {
                    // Kids that are only widgets (no /T) belong to this field.
                    let mut pushed = false;
                    for kid in kids.into_iter().rev() {
                        let kd = doc.resolve(&kid)?;
                        if kd.dict().is_some_and(|kd| get(kd, "T").is_some()) {
                            stack.push((kid, is_sig, name.clone(), depth + 1));
                            pushed = true;
                        }
                    }
                    if !pushed && is_sig {
                        out.push((d, name));
                    }
                }
            }
            _ => {
                if is_sig {
                    out.push((d, name));
                }
            }
        }
    }
    Ok(out)
}

pub(crate) fn find_signatures(
    doc: &Document<'_>,
    catalog: &Dict,
    limits: &Limits,
) -> Result<Vec<FoundSig>, PdfError> {
    let mut out = Vec::new();
    for (f, name) in signature_fields(doc, catalog, limits)? {
        let Some(v) = get(&f, "V") else { continue };
        let v = doc.resolve(v)?;
        let Some(v) = v.dict() else { continue };
        // Document time-stamps (ETSI.RFC3161) are returned too; callers tell them apart.
        let sub_filter = match get(v, "SubFilter") {
            Some(Obj::Name(n)) => String::from_utf8_lossy(n).into_owned(),
            _ => String::new(),
        };
        let contents = match get(v, "Contents") {
            Some(Obj::Str(s)) => s.clone(),
            _ => Vec::new(),
        };
        let byte_range = match get(v, "ByteRange") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(|x| x.int().and_then(|i| usize::try_from(i).ok()))
                .collect::<Option<Vec<usize>>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let cms = der_prefix(&contents).unwrap_or(&contents).to_vec();
        let m = match get(v, "M") {
            Some(Obj::Str(s)) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        };
        out.push(FoundSig {
            field: name,
            sub_filter,
            byte_range,
            contents,
            cms,
            m,
        });
    }
    Ok(out)
}

/// The DER element at the start of `b` (the /Contents string is zero-padded after it).
fn der_prefix(b: &[u8]) -> Option<&[u8]> {
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut l = 0usize;
        for i in 0..n {
            l = (l << 8) | usize::from(*b.get(2 + i)?);
        }
        (l, 2 + n)
    };
    b.get(..hdr.checked_add(len)?)
}

/// Checks that the ByteRange is `[0 a b c]` with the gap exactly the /Contents string and the
/// end at the end of a revision; returns the two covered pieces.
pub(crate) fn check_byte_range<'d>(
    doc: &'d Document<'_>,
    s: &FoundSig,
) -> Result<(&'d [u8], &'d [u8]), String> {
    let data = doc.data();
    let [a, b, c, d] = s.byte_range[..] else {
        return Err("the /ByteRange is not four non-negative integers".into());
    };
    let end = c.checked_add(d).ok_or("the /ByteRange overflows")?;
    // At least "<>" between the two ranges.
    if a != 0 || b.saturating_add(2) > c || end > data.len() {
        return Err(format!(
            "the /ByteRange [{a} {b} {c} {d}] does not cover the file from its start, in order, \
             within its {} bytes",
            data.len()
        ));
    }
    // The gap must be exactly the /Contents hex string: nothing else may be left unsigned.
    if data.get(b) != Some(&b'<') || data.get(c - 1) != Some(&b'>') {
        return Err("the /ByteRange gap is not the /Contents string".into());
    }
    let gap = &data[b + 1..c - 1];
    if gap.len() != s.contents.len() * 2 || hex::decode(gap).map_or(true, |g| g != s.contents) {
        return Err("the /ByteRange gap is not the /Contents string".into());
    }
    // The signed part must end a revision (%%EOF, then at most an end of line).
    let mut e = end;
    while e > 0 && matches!(data[e - 1], b'\r' | b'\n' | b' ') {
        e -= 1;
    }
    if !data[..e].ends_with(b"%%EOF") {
        return Err("the /ByteRange does not end at the end of a revision (%%EOF)".into());
    }
    Ok((&data[..b], &data[c..end]))
}

/// Collects the certificates and OCSP responses of the document security store.
pub(crate) fn dss_evidence(doc: &Document<'_>, catalog: &Dict) -> Evidence {
    let mut ev = Evidence::default();
    let Some(dss) = get(catalog, "DSS").and_then(|d| doc.resolve(d).ok()) else {
        return ev;
    };
    let Some(dss) = dss.dict() else { return ev };
    let streams = |key: &str| -> Vec<Vec<u8>> {
        let Some(Obj::Array(a)) = get(dss, key).and_then(|o| doc.resolve(o).ok()) else {
            return Vec::new();
        };
        a.iter()
            .filter_map(|r| match doc.resolve(r).ok()? {
                Obj::Stream(d, raw) => doc.decode(&d, &raw).ok(),
                _ => None,
            })
            .collect()
    };
    ev.certs = streams("Certs")
        .iter()
        .filter_map(|c| Certificate::from_der(c).ok())
        .collect();
    ev.ocsps = streams("OCSPs");
    ev.crls = streams("CRLs");
    ev
}

/// Parses a PDF date with an optional offset; `None` if it is not one.
fn parse_pdf_date(s: &str) -> Option<SystemTime> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let num = |r: std::ops::Range<usize>, default: u32| -> Option<u32> {
        match s.get(r) {
            Some(x) if !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit()) => x.parse().ok(),
            _ => Some(default),
        }
    };
    if s.len() < 4 {
        return None;
    }
    let y = u16::try_from(num(0..4, 0)?).ok()?;
    let dt = der::DateTime::new(
        y,
        num(4..6, 1)? as u8,
        num(6..8, 1)? as u8,
        num(8..10, 0)? as u8,
        num(10..12, 0)? as u8,
        num(12..14, 0)? as u8,
    )
    .ok()?;
    let mut t = dt.to_system_time();
    if let Some(sign @ (b'+' | b'-')) = s.as_bytes().get(14) {
        let oh = u64::from(num(15..17, 0)?);
        let om = u64::from(num(18..20, 0)?);
        let off = std::time::Duration::from_secs(oh * 3600 + om * 60);
        t = if *sign == b'+' {
            t.checked_sub(off)?
        } else {
            t.checked_add(off)?
        };
    }
    Some(t)
}
