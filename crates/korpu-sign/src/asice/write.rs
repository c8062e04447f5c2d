//! Writing containers: a new one with its first signature, a parallel signature added to an
//! existing one, and B-LT validation data added to every signature; the zip is written with
//! the stored `mimetype` entry first.
//!
//! Reading back what was written goes through `read`, with its limits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Write};
use std::time::SystemTime;

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::cades::{self, Signer};
use crate::{SignError, Timestamper};

use super::manifest::manifest_xml;
use super::read::{check_data_name, is_signature, meta_names, open};
use super::{DataFile, Limits, MIMETYPE};

/// Builds an ASiC-E container with `files`, signed in parallel by each of `signers` (each over
/// every file). With a `timestamper` the signatures are B-T.
pub fn create(
    files: &[DataFile],
    signers: &[Signer<'_>],
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, SignError> {
    if files.is_empty() {
        return Err(SignError::InvalidInput(
            "a container needs a data file".into(),
        ));
    }
    if signers.is_empty() {
        return Err(SignError::InvalidInput("a container needs a signer".into()));
    }
    let mut seen = BTreeSet::new();
    for f in files {
        check_data_name(&f.name)?;
        if !seen.insert(f.name.as_str()) {
            return Err(SignError::InvalidInput(format!(
                "file \"{}\" is given twice",
                f.name
            )));
        }
    }
    let mut meta = Vec::new();
    for (i, signer) in signers.iter().enumerate() {
        let (m, s) = meta_names(i, signers.len());
        let manifest = manifest_xml(&s, files);
        let p7s = cades::sign(manifest.as_bytes(), signer, signing_time, timestamper)?;
        meta.push((m, manifest.into_bytes()));
        meta.push((s, p7s));
    }
    let data: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_slice()))
        .collect();
    write_zip(&data, &meta)
}

/// Adds a parallel signature by `signer` over every data file of an existing container (read
/// within `limits`). Existing signatures are kept byte for byte.
pub fn add_signature(
    container: &[u8],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    let c = open(container, limits).map_err(|e| SignError::InvalidInput(e.to_string()))?;
    let mut i = c.meta.len();
    let (m, s) = loop {
        let (m, s) = meta_names(i, i + 1);
        if !c.meta.contains_key(&m) && !c.meta.contains_key(&s) {
            break (m, s);
        }
        i += 1;
    };
    let files: Vec<DataFile> = c
        .files
        .iter()
        .map(|(n, d)| DataFile {
            name: n.clone(),
            mime_type: guess_mime(n).into(),
            content: d.clone(),
        })
        .collect();
    let manifest = manifest_xml(&s, &files);
    let p7s = cades::sign(manifest.as_bytes(), signer, signing_time, timestamper)?;
    let mut meta: Vec<(String, Vec<u8>)> = c.meta.into_iter().collect();
    meta.push((m, manifest.into_bytes()));
    meta.push((s, p7s));
    rezip(&c.files, &meta)
}

/// Makes every signature of a container B-LT: each CAdES signature gets the OCSP responses for
/// its signer (and time-stamping authority) from `source` as a revocation-values attribute
/// (see [`crate::lt`]). Data files and manifests are kept byte for byte.
pub fn add_validation_data(
    container: &[u8],
    source: &dyn crate::RevocationSource,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    let c = open(container, limits).map_err(|e| SignError::InvalidInput(e.to_string()))?;
    c.signatures()
        .map_err(|e| SignError::InvalidInput(e.to_string()))?;
    let mut meta = Vec::new();
    for (name, bytes) in &c.meta {
        let bytes = if is_signature(name) {
            crate::lt::add_revocation_values(bytes, source)?
        } else {
            bytes.clone()
        };
        meta.push((name.clone(), bytes));
    }
    rezip(&c.files, &meta)
}

/// A container of an existing one's data files, unchanged, with `meta` as its META-INF.
fn rezip(
    files: &BTreeMap<String, Vec<u8>>,
    meta: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, SignError> {
    let data: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    write_zip(&data, meta)
}

pub(crate) fn guess_mime(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Whether deflate shrinks a sample of `content` (its first 64 KiB, at the fastest level) by
/// at least a tenth.
pub(super) fn worth_compressing(content: &[u8]) -> bool {
    const SAMPLE: usize = 64 << 10;
    let sample = &content[..content.len().min(SAMPLE)];
    if sample.len() < 512 {
        return true;
    }
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    if e.write_all(sample).is_err() {
        return true;
    }
    e.finish()
        .map_or(true, |out| out.len() * 10 < sample.len() * 9)
}

pub(crate) fn write_zip(
    data: &[(&str, &[u8])],
    meta: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, SignError> {
    let enc = |e: &dyn std::fmt::Display| SignError::encoding("ASiC-E container", e);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    // EN 319 162-1 §A.1: first, stored, no compression, so the media type sits at offset 38.
    zip.start_file("mimetype", stored).map_err(|e| enc(&e))?;
    zip.write_all(MIMETYPE.as_bytes()).map_err(|e| enc(&e))?;
    for (name, content) in data {
        // Already-compressed files (PDF, images, office formats) gain nothing from deflate
        // and cost it most of the signing time; store them (both methods are allowed).
        let opts = if worth_compressing(content) {
            deflated
        } else {
            stored
        };
        zip.start_file(*name, opts).map_err(|e| enc(&e))?;
        zip.write_all(content).map_err(|e| enc(&e))?;
    }
    for (name, content) in meta {
        zip.start_file(name.as_str(), deflated)
            .map_err(|e| enc(&e))?;
        zip.write_all(content).map_err(|e| enc(&e))?;
    }
    Ok(zip.finish().map_err(|e| enc(&e))?.into_inner())
}
