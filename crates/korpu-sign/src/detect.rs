//! Recognising what a signed file is from its bytes, never from its name: a renamed `.p7s`, a
//! `.bdoc` saved as `.zip` or a PDF without extension must reach the right validator.
//!
//! Recognised: PDF (`%PDF-` within the first KiB, as readers accept), ASiC containers (a zip
//! whose first entry is `mimetype` naming ASiC-E or ASiC-S; a zip without `mimetype` is judged
//! by its `META-INF` entries), CMS SignedData (DER or BER `ContentInfo`, or PEM armoured as
//! `PKCS7`/`CMS`) and XML. Detection reads headers only (the zip's central directory at most);
//! it does not validate anything, and what it cannot place is [`Format::Unknown`].
use base64::Engine as _;

use crate::asice;

/// The media type in the `mimetype` entry of an ASiC-S container (EN 319 162-1 §A.1).
pub const ASICS_MIMETYPE: &str = "application/vnd.etsi.asic-s+zip";

/// What a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A PDF (signatures inside are PAdES).
    Pdf,
    /// An ASiC-E container (CAdES with ASiCManifest, or XAdES `signatures*.xml`).
    AsicE,
    /// An ASiC-S container (one data object, one CAdES signature or time-stamp token).
    AsicS,
    /// A CMS SignedData: a standalone CAdES signature (`.p7s` detached, `.p7m` enveloping).
    Cms,
    /// A CMS SignedData armoured in PEM (`-----BEGIN PKCS7-----` or `CMS`); see [`cms_der`].
    CmsPem,
    /// An XML document.
    Xml,
    /// None of the above.
    Unknown,
}

impl Format {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pdf => "PDF",
            Format::AsicE => "ASiC-E",
            Format::AsicS => "ASiC-S",
            Format::Cms | Format::CmsPem => "CMS (CAdES)",
            Format::Xml => "XML",
            Format::Unknown => "unknown",
        }
    }
}

/// DER of id-signedData (1.2.840.113549.1.7.2) with its tag and length.
const SIGNED_DATA_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02,
];

/// Tells what `bytes` is. Reads at most the first KiB, plus a zip's central directory.
pub fn detect(bytes: &[u8]) -> Format {
    let head = &bytes[..bytes.len().min(1024)];
    if bytes.starts_with(b"%PDF-") {
        return Format::Pdf;
    }
    // Containers and CMS before the looser PDF search below: a zip storing a PDF, or a .p7m
    // enveloping one, has "%PDF-" within its first KiB too.
    if bytes.starts_with(b"PK\x03\x04") {
        return detect_zip(bytes);
    }
    if is_cms_der(bytes) {
        return Format::Cms;
    }
    // Readers accept a PDF header anywhere in the first KiB (junk before it is common).
    if find(head, b"%PDF-").is_some() {
        return Format::Pdf;
    }
    let text = strip_bom(head);
    let trimmed = trim_start(text);
    if trimmed.starts_with(b"-----BEGIN PKCS7-----") || trimmed.starts_with(b"-----BEGIN CMS-----")
    {
        return Format::CmsPem;
    }
    if trimmed.starts_with(b"<?xml") || (trimmed.starts_with(b"<") && looks_like_tag(trimmed)) {
        return Format::Xml;
    }
    Format::Unknown
}

/// The DER (or BER) of a CMS file, un-armouring PEM; `None` when it is neither.
pub fn cms_der(bytes: &[u8]) -> Option<Vec<u8>> {
    if is_cms_der(bytes) {
        return Some(bytes.to_vec());
    }
    let text = std::str::from_utf8(strip_bom(bytes)).ok()?.trim();
    let (label, rest) = ["PKCS7", "CMS"].iter().find_map(|l| {
        text.strip_prefix(&format!("-----BEGIN {l}-----"))
            .map(|r| (*l, r))
    })?;
    let body = rest
        .trim_end()
        .strip_suffix(&format!("-----END {label}-----"))?;
    let b64: String = body.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    is_cms_der(&der).then_some(der)
}

/// A ContentInfo SEQUENCE (definite or indefinite length) whose contentType is id-signedData.
fn is_cms_der(bytes: &[u8]) -> bool {
    if bytes.first() != Some(&0x30) {
        return false;
    }
    let Some(&len) = bytes.get(1) else {
        return false;
    };
    // 0x80 is BER's indefinite length; 0x81..=0x84 say how many length octets follow.
    let skip = match len {
        0x00..=0x80 => 2,
        0x81..=0x84 => 2 + usize::from(len - 0x80),
        _ => return false,
    };
    bytes
        .get(skip..)
        .is_some_and(|r| r.starts_with(SIGNED_DATA_OID))
}

fn detect_zip(bytes: &[u8]) -> Format {
    // The first local header: name length at 26, extra length at 28, the name at 30, and for a
    // stored entry the content right after the extra field (EN 319 162-1 §A.1 puts the media
    // type at offset 38 this way).
    let u16_at = |p: usize| {
        bytes
            .get(p..p + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |p: usize| {
        bytes
            .get(p..p + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if let (Some(method), Some(size), Some(name_len), Some(extra_len)) =
        (u16_at(8), u32_at(18), u16_at(26), u16_at(28))
    {
        let name_end = 30 + usize::from(name_len);
        if method == 0 && bytes.get(30..name_end) == Some(b"mimetype".as_slice()) {
            let start = name_end + usize::from(extra_len);
            let size = usize::try_from(size).unwrap_or(usize::MAX).min(256);
            if let Some(content) = bytes.get(start..start.saturating_add(size)) {
                let mt = String::from_utf8_lossy(content);
                let mt = mt.trim();
                if mt == asice::MIMETYPE {
                    return Format::AsicE;
                }
                if mt == ASICS_MIMETYPE {
                    return Format::AsicS;
                }
            }
        }
    }
    // No (known) mimetype: EN 319 162-1 makes it optional, so judge by META-INF.
    let Ok(zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return Format::AsicE;
    };
    let names: Vec<&str> = zip.file_names().collect();
    let meta = |pred: &dyn Fn(&str) -> bool| {
        names
            .iter()
            .filter_map(|n| n.strip_prefix("META-INF/"))
            .any(pred)
    };
    let e_like = meta(&|n| {
        (n.starts_with("ASiCManifest") || n.contains("signatures") || n.contains("manifest"))
            && n.ends_with(".xml")
    });
    let s_like = meta(&|n| n == "signature.p7s" || n == "timestamp.tst" || n == "signatures.xml");
    let data_files = names
        .iter()
        .filter(|n| !n.starts_with("META-INF/") && **n != "mimetype" && !n.ends_with('/'))
        .count();
    if s_like && !e_like && data_files == 1 {
        Format::AsicS
    } else {
        // Everything else in a zip goes to the ASiC-E reader, whose errors say what is missing.
        Format::AsicE
    }
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn looks_like_tag(b: &[u8]) -> bool {
    b.get(1)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'!' || *c >= 0x80)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_headers_in_der_ber_and_pem() {
        let mut der = vec![0x30, 0x82, 0x01, 0x00];
        der.extend_from_slice(SIGNED_DATA_OID);
        assert_eq!(detect(&der), Format::Cms);
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(SIGNED_DATA_OID);
        assert_eq!(detect(&ber), Format::Cms);
        let pem = format!(
            "-----BEGIN PKCS7-----\n{}\n-----END PKCS7-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        assert_eq!(detect(pem.as_bytes()), Format::CmsPem);
        assert_eq!(cms_der(pem.as_bytes()), Some(der.clone()));
        // Another content type (id-data) is not a signature.
        let mut data = der.clone();
        data[14] = 0x01;
        assert_eq!(detect(&data), Format::Unknown);
    }

    #[test]
    fn text_formats() {
        assert_eq!(detect(b"%PDF-1.7\n"), Format::Pdf);
        assert_eq!(
            detect(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>"),
            Format::Xml
        );
        assert_eq!(detect(b"  <asic:XAdESSignatures/>"), Format::Xml);
        assert_eq!(detect(b"hello"), Format::Unknown);
        assert_eq!(detect(b""), Format::Unknown);
        assert_eq!(detect(b"PK\x03\x04"), Format::AsicE);
        assert_eq!(detect(b"\r\n%%junk\n%PDF-1.4\n"), Format::Pdf);
    }

    #[test]
    fn a_pdf_inside_a_container_or_cms_does_not_make_it_a_pdf() {
        // A container storing a small PDF uncompressed right after mimetype.
        let pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj<<>>endobj\n%%EOF\n";
        let zip = asice::write_zip(&[("letter.pdf", pdf)], &[]).unwrap();
        assert!(zip[..zip.len().min(1024)].windows(5).any(|w| w == b"%PDF-"));
        assert_eq!(detect(&zip), Format::AsicE);
        // An enveloping CMS whose content is a PDF.
        let mut p7m = vec![0x30, 0x80];
        p7m.extend_from_slice(SIGNED_DATA_OID);
        p7m.extend_from_slice(b"\xA0\x80\x30\x80%PDF-1.7");
        assert_eq!(detect(&p7m), Format::Cms);
    }
}
