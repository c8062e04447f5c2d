//! Reading a container, bounded: the zip's entries counted and sized against [`Limits`] before
//! and while they are inflated, entry names checked (no absolute paths, `..`, backslashes or
//! duplicates), the `mimetype` entry checked, and the data files kept apart from `META-INF`.
//!
//! What the signatures say is `verify`'s job; ASiC-S shares this reader.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use zip::CompressionMethod;

use crate::SignError;

use super::manifest::parse_manifest;
use super::{AsicError, Container, Limits, SignatureEntry, MIMETYPE};

/// Reads a container within `limits` and checks its structure (see the module documentation).
pub fn open(bytes: &[u8], limits: &Limits) -> Result<Container, AsicError> {
    open_as(bytes, limits, MIMETYPE, false)
}

/// [`open`] for a container whose `mimetype` must be `mimetype` (ASiC-E or ASiC-S).
/// With `optional`, a container without any `mimetype` entry is read too (one that has it must
/// still have it first, stored and right).
pub(crate) fn open_as(
    bytes: &[u8],
    limits: &Limits,
    mimetype: &str,
    optional: bool,
) -> Result<Container, AsicError> {
    let corrupt = |e: &dyn std::fmt::Display| AsicError::Corrupt(e.to_string());
    // The local header of the first entry must be at offset 0 and name "mimetype": the check
    // `file` and other sniffers make (EN 319 162-1 §A.1, like ODF), before trusting the
    // central directory.
    if bytes.len() < 38 || bytes[0..4] != *b"PK\x03\x04" {
        return Err(AsicError::Corrupt(
            "no zip local file header at the start".into(),
        ));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(&e))?;
    if zip.len() > limits.max_entries {
        return Err(AsicError::TooManyEntries {
            count: zip.len(),
            limit: limits.max_entries,
        });
    }
    // The zip crate keeps one entry per name, so a second entry with the same name would be
    // silently hidden from us while other tools extract it: compare with the count recorded in
    // the end-of-central-directory record (zip64 counts, 0xFFFF, are left to the zip crate).
    if let Some(listed) = eocd_entry_count(bytes) {
        if listed != 0xFFFF && usize::from(listed) != zip.len() {
            return Err(AsicError::DuplicateNames {
                listed: usize::from(listed),
                distinct: zip.len(),
            });
        }
    }
    let mut files = BTreeMap::new();
    let mut meta = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut total: u64 = 0;
    let mut mimetype_seen = false;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| corrupt(&e))?;
        let name = entry.name().to_owned();
        if !names.insert(name.clone()) {
            return Err(AsicError::DuplicateEntry(name));
        }
        if entry.header_start() == 0 && (name == "mimetype" || !optional) {
            if name != "mimetype" {
                return Err(AsicError::MimetypeNotFirst(format!("\"{name}\"")));
            }
            if entry.compression() != CompressionMethod::Stored {
                return Err(AsicError::MimetypeCompressed(
                    entry.compression().to_string(),
                ));
            }
        }
        if entry.is_dir() {
            check_name(name.trim_end_matches('/'))?;
            continue;
        }
        check_name(&name)?;
        match entry.compression() {
            CompressionMethod::Stored | CompressionMethod::Deflated => {}
            other => {
                return Err(AsicError::UnsupportedCompression {
                    name,
                    method: other.to_string(),
                })
            }
        }
        let limit = limits.max_entry_size;
        if entry.size() > limit {
            return Err(AsicError::EntryTooLarge { name, limit });
        }
        // The declared size may lie; read at most one byte past the limit to find out.
        let mut content = Vec::with_capacity(entry.size() as usize);
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut content)
            .map_err(|e| AsicError::Corrupt(format!("entry \"{name}\": {e}")))?;
        if content.len() as u64 > limit {
            return Err(AsicError::EntryTooLarge { name, limit });
        }
        total += content.len() as u64;
        if total > limits.max_total_size {
            return Err(AsicError::TotalTooLarge {
                limit: limits.max_total_size,
            });
        }
        if name == "mimetype" {
            if entry.header_start() != 0 {
                return Err(AsicError::MimetypeNotFirst(
                    "\"mimetype\" further into the zip".into(),
                ));
            }
            if content != mimetype.as_bytes() {
                return Err(AsicError::WrongMimetype(
                    String::from_utf8_lossy(&content)
                        .chars()
                        .take(100)
                        .collect(),
                ));
            }
            mimetype_seen = true;
        } else if name.starts_with("META-INF/") {
            meta.insert(name, content);
        } else {
            files.insert(name, content);
        }
    }
    if !mimetype_seen && !optional {
        return Err(AsicError::MimetypeNotFirst("no mimetype entry".into()));
    }
    Ok(Container { files, meta })
}

impl Container {
    /// Entries under META-INF (manifests, signatures, time-stamps), by name.
    pub(crate) fn meta(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.meta
    }

    /// The signatures: each `META-INF/ASiCManifest*.xml` with the p7s its SigReference names.
    pub fn signatures(&self) -> Result<Vec<SignatureEntry>, AsicError> {
        let mut out = Vec::new();
        let mut referenced = BTreeSet::new();
        for (name, xml) in &self.meta {
            if !is_manifest(name) {
                continue;
            }
            let m = parse_manifest(name, xml)?;
            let sig = self
                .meta
                .get(&m.sig_ref)
                .ok_or_else(|| AsicError::MissingSignatureFile {
                    manifest: name.clone(),
                    signature: m.sig_ref.clone(),
                })?;
            referenced.insert(m.sig_ref.clone());
            out.push(SignatureEntry {
                manifest_name: name.clone(),
                manifest: xml.clone(),
                signature_name: m.sig_ref,
                signature: sig.clone(),
            });
        }
        for name in self.meta.keys() {
            if is_signature(name) && !referenced.contains(name) {
                return Err(AsicError::OrphanSignature(name.clone()));
            }
        }
        if out.is_empty() && !self.meta.keys().any(|n| is_xades(n)) {
            return Err(AsicError::NoSignature);
        }
        Ok(out)
    }
}

/// Total entries in the end-of-central-directory record (APPNOTE 4.3.16), found as the last
/// signature within the 64 KiB comment window.
pub(super) fn eocd_entry_count(bytes: &[u8]) -> Option<u16> {
    const EOCD_LEN: usize = 22;
    let start = bytes.len().saturating_sub(EOCD_LEN + 0xFFFF);
    let p = (start..=bytes.len().checked_sub(EOCD_LEN)?)
        .rev()
        .find(|&p| bytes[p..p + 4] == *b"PK\x05\x06")?;
    Some(u16::from_le_bytes([bytes[p + 10], bytes[p + 11]]))
}

pub(super) fn meta_names(i: usize, count: usize) -> (String, String) {
    if count == 1 && i == 0 {
        (
            "META-INF/ASiCManifest.xml".into(),
            "META-INF/signature.p7s".into(),
        )
    } else {
        (
            format!("META-INF/ASiCManifest{:03}.xml", i + 1),
            format!("META-INF/signature{:03}.p7s", i + 1),
        )
    }
}

pub(super) fn is_manifest(name: &str) -> bool {
    name.strip_prefix("META-INF/ASiCManifest")
        .is_some_and(|r| r.ends_with(".xml") && !r.contains('/'))
}

/// `META-INF/*signatures*.xml`: XAdES signatures (EN 319 162-1 §4.4.3.2).
pub(crate) fn is_xades(name: &str) -> bool {
    name.strip_prefix("META-INF/")
        .is_some_and(|r| r.contains("signatures") && r.ends_with(".xml") && !r.contains('/'))
}

pub(super) fn is_signature(name: &str) -> bool {
    name.strip_prefix("META-INF/signature")
        .is_some_and(|r| r.ends_with(".p7s") && !r.contains('/'))
}

pub(super) fn check_name(name: &str) -> Result<(), AsicError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(AsicError::UnsafeName(name.chars().take(200).collect()))
    } else {
        Ok(())
    }
}

pub(crate) fn check_data_name(name: &str) -> Result<(), SignError> {
    check_name(name).map_err(|e| SignError::InvalidInput(e.to_string()))?;
    if name == "mimetype" || name.starts_with("META-INF/") {
        return Err(SignError::InvalidInput(format!(
            "\"{name}\" is reserved for the container's own entries"
        )));
    }
    Ok(())
}
