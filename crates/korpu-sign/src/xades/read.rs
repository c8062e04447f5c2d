//! Small readers of the XAdES structure: attributes, base64 element text, reference URIs,
//! node containment, the `SigningCertificate(V2)` digests and `xs:dateTime` values.
//!
//! They only read; what the values must be is decided in `signature`.

use std::time::SystemTime;

use base64::Engine as _;
use korpu_pki::alg::HashAlg;
use percent_encoding::percent_decode_str;

use crate::xml::{Document, NodeId};

use super::algorithms::digest_from_uri;
use super::{DS, XADES};

pub(super) fn attr(doc: &Document, id: NodeId, name: &str) -> String {
    doc.element(id)
        .and_then(|e| e.attr(name))
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn b64(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| format!("base64: {e}"))
}

/// The container file a reference URI names (percent-decoded, relative to the root).
pub(super) fn file_name(uri: &str) -> String {
    let name = percent_decode_str(uri).decode_utf8_lossy().into_owned();
    name.strip_prefix("./").unwrap_or(&name).to_owned()
}

/// Whether element `n` lies inside element `outer`.
pub(super) fn is_within(doc: &Document, n: NodeId, outer: NodeId) -> bool {
    let mut cur = doc.element(n).and_then(|e| e.parent);
    while let Some(p) = cur {
        if p == outer {
            return true;
        }
        cur = doc.element(p).and_then(|e| e.parent);
    }
    false
}

/// (digest algorithm, digest) of each certificate SigningCertificate or SigningCertificateV2
/// lists.
pub(super) fn signing_cert_digests(doc: &Document, ssp: NodeId) -> Vec<(HashAlg, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["SigningCertificate", "SigningCertificateV2"] {
        for sc in doc.children_named(ssp, XADES, name) {
            for c in doc.children_named(sc, XADES, "Cert") {
                let Some(cd) = doc.child(c, XADES, "CertDigest") else {
                    continue;
                };
                let (Some(dm), Some(dv)) = (
                    doc.child(cd, DS, "DigestMethod"),
                    doc.child(cd, DS, "DigestValue"),
                ) else {
                    continue;
                };
                if let (Some(h), Ok(d)) = (
                    digest_from_uri(&attr(doc, dm, "Algorithm")),
                    b64(&doc.text(dv)),
                ) {
                    out.push((h, d));
                }
            }
        }
    }
    out
}

/// xs:dateTime as XAdES SigningTime writes it: `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)?`.
pub(super) fn parse_xs_datetime(s: &str) -> Option<SystemTime> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<u32>().ok();
    if s.len() < 19 || s.as_bytes()[10] != b'T' {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0, 4)?,
        num(5, 7)?,
        num(8, 10)?,
        num(11, 13)?,
        num(14, 16)?,
        num(17, 19)?,
    );
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset: i64 = match rest {
        "" | "Z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let oh: i64 = r.get(1..3)?.parse().ok()?;
            let om: i64 = r.get(4..6)?.parse().ok()?;
            let v = oh * 3600 + om * 60;
            if r.starts_with('+') {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let dt = der::DateTime::new(
        u16::try_from(y).ok()?,
        u8::try_from(mo).ok()?,
        u8::try_from(d).ok()?,
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(se).ok()?,
    )
    .ok()?;
    let t = dt.to_system_time();
    if offset >= 0 {
        t.checked_sub(std::time::Duration::from_secs(offset as u64))
    } else {
        t.checked_add(std::time::Duration::from_secs((-offset) as u64))
    }
}
