//! The ASiC manifest (EN 319 162-1 §A.5): `META-INF/ASiCManifest*.xml` naming the signature
//! file it belongs to and each covered data file with its digest, written and read here.
//!
//! Whether the digests match the files is decided in `verify`.

use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode};
use quick_xml::events::{BytesStart, Event};
use sha2::{Digest, Sha256};

use super::{AsicError, DataFile, ASIC_NS, DS_NS, URI_KEEP, XMLENC_SHA256};

/// The ASiCManifest (EN 319 162-1 Annex A.4) for a signature `sig_name` over `files`.
/// The digest algorithm an XML-DSig DigestMethod URI names (XMLDSig 1.1 §6.2, RFC 6931).
pub(super) fn manifest_digest(uri: &str) -> Option<korpu_pki::alg::HashAlg> {
    use korpu_pki::alg::HashAlg;
    match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Some(HashAlg::Sha1),
        XMLENC_SHA256 => Some(HashAlg::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(HashAlg::Sha384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(HashAlg::Sha512),
        _ => None,
    }
}

pub(super) fn manifest_xml(sig_name: &str, files: &[DataFile]) -> String {
    use quick_xml::escape::escape;
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    x.push_str(&format!(
        "<asic:ASiCManifest xmlns:asic=\"{ASIC_NS}\" xmlns:ds=\"{DS_NS}\">\n"
    ));
    x.push_str(&format!(
        "  <asic:SigReference URI=\"{}\" MimeType=\"application/x-pkcs7-signature\"/>\n",
        utf8_percent_encode(sig_name, URI_KEEP)
    ));
    for f in files {
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&f.content));
        x.push_str(&format!(
            "  <asic:DataObjectReference URI=\"{}\" MimeType=\"{}\">\n",
            utf8_percent_encode(&f.name, URI_KEEP),
            escape(f.mime_type.as_str())
        ));
        x.push_str(&format!(
            "    <ds:DigestMethod Algorithm=\"{XMLENC_SHA256}\"/>\n"
        ));
        x.push_str(&format!("    <ds:DigestValue>{digest}</ds:DigestValue>\n"));
        x.push_str("  </asic:DataObjectReference>\n");
    }
    x.push_str("</asic:ASiCManifest>\n");
    x
}

pub(super) struct Manifest {
    pub(super) sig_ref: String,
    pub(super) refs: Vec<Reference>,
}

pub(super) struct Reference {
    pub(super) uri: String,
    pub(super) digest_method: String,
    pub(super) digest: Vec<u8>,
}

pub(super) fn parse_manifest(name: &str, xml: &[u8]) -> Result<Manifest, AsicError> {
    let bad = |reason: String| AsicError::BadManifest {
        name: name.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(xml).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut sig_ref = None;
    let mut refs: Vec<Reference> = Vec::new();
    let mut root_seen = false;
    let mut in_ref = false;
    let mut in_digest_value = false;
    let mut digest_text = String::new();
    let attr = |e: &BytesStart<'_>, want: &[u8]| -> Result<Option<String>, AsicError> {
        for a in e.attributes() {
            let a = a.map_err(|err| bad(format!("attribute: {err}")))?;
            if a.key.local_name().as_ref() == want {
                let v = a
                    .unescape_value()
                    .map_err(|err| bad(format!("attribute value: {err}")))?;
                return Ok(Some(v.into_owned()));
            }
        }
        Ok(None)
    };
    let uri = |raw: String| -> Result<String, AsicError> {
        percent_decode_str(&raw)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|e| bad(format!("URI \"{raw}\": {e}")))
    };
    loop {
        let ev = reader.read_event().map_err(|e| bad(format!("XML: {e}")))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            match e.local_name().as_ref() {
                b"ASiCManifest" => root_seen = true,
                b"SigReference" => {
                    let u =
                        attr(&e, b"URI")?.ok_or_else(|| bad("SigReference without URI".into()))?;
                    if sig_ref.replace(uri(u)?).is_some() {
                        return Err(bad("more than one SigReference".into()));
                    }
                }
                b"DataObjectReference" => {
                    let u = attr(&e, b"URI")?
                        .ok_or_else(|| bad("DataObjectReference without URI".into()))?;
                    refs.push(Reference {
                        uri: uri(u)?,
                        digest_method: String::new(),
                        digest: Vec::new(),
                    });
                    in_ref = !empty;
                }
                b"DigestMethod" if in_ref => {
                    if let Some(r) = refs.last_mut() {
                        r.digest_method = attr(&e, b"Algorithm")?.unwrap_or_default();
                    }
                }
                b"DigestValue" if in_ref && !empty => {
                    in_digest_value = true;
                    digest_text.clear();
                }
                _ => {}
            }
            continue;
        }
        match ev {
            Event::Text(t) if in_digest_value => {
                let t = t.unescape().map_err(|e| bad(format!("XML text: {e}")))?;
                digest_text.push_str(&t);
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"DigestValue" if in_digest_value => {
                    in_digest_value = false;
                    let clean: String = digest_text.split_whitespace().collect();
                    let d = base64::engine::general_purpose::STANDARD
                        .decode(clean)
                        .map_err(|e| bad(format!("DigestValue: {e}")))?;
                    if let Some(r) = refs.last_mut() {
                        r.digest = d;
                    }
                }
                b"DataObjectReference" => in_ref = false,
                _ => {}
            },
            // A DTD could declare entities; a manifest has no reason to carry one.
            Event::DocType(_) => return Err(bad("a DOCTYPE is not allowed".into())),
            Event::Eof => break,
            _ => {}
        }
    }
    if !root_seen {
        return Err(bad("no ASiCManifest element".into()));
    }
    let sig_ref = sig_ref.ok_or_else(|| bad("no SigReference".into()))?;
    if refs.is_empty() {
        return Err(bad("no DataObjectReference".into()));
    }
    if let Some(r) = refs.iter().find(|r| r.digest.is_empty()) {
        return Err(bad(format!("no DigestValue for \"{}\"", r.uri)));
    }
    Ok(Manifest { sig_ref, refs })
}
