//! ASiC-E containers with CAdES signatures (ETSI EN 319 162-1 §4.4, "ASiC-E CAdES"): a zip
//! whose first entry is the stored `mimetype`, the data files, and per signer one
//! `META-INF/ASiCManifest*.xml` listing each covered file with its SHA-256, plus the detached
//! CAdES signature over that manifest, `META-INF/signature*.p7s`. Signers sign in parallel:
//! each has its own manifest and signature.
//!
//! Reading is bounded, because containers come from outside: the number of entries, each
//! entry's declared and actual uncompressed size and the total are limited ([`Limits`]), so a
//! zip bomb is refused after reading at most the limit, and a corrupt or truncated container
//! yields an [`AsicError`], never a panic. Unsafe entry names (absolute, `..`, backslashes) and
//! duplicate names, with which two tools would see different files, are refused.
//!
//! Validation also reads ASiC-E with XAdES (`META-INF/signatures*.xml`, the DigiDoc/BDOC form,
//! see [`crate::xades`]); ASiC-S is [`crate::asics`], which shares this bounded reader.
//!
//! XAdES containers are made by [`crate::xades_sign`]. Not here: ASiC archive manifests (B-LTA), and zip64 containers
//! beyond what the `zip` crate reads transparently.
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};
use std::time::SystemTime;

use base64::Engine as _;
use korpu_pki::cert::Certificate;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::cades::{self, Signer};
use crate::validate::{Indication, SignatureReport};
use crate::{SignError, Timestamper};

/// The content of the `mimetype` entry of an ASiC-E container (EN 319 162-1 §A.1).
pub const MIMETYPE: &str = "application/vnd.etsi.asic-e+zip";

const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XMLENC_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// URI path characters left as they are in manifest references (RFC 3986 unreserved and '/').
const URI_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Bounds on what reading a container may cost. Defaults suit documents exchanged between
/// organisations; raise them in configuration for archives of scans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Most entries (files and directories) a container may have. Default 1000.
    pub max_entries: usize,
    /// Largest uncompressed size of one entry, declared or actual, in bytes. Default 64 MiB.
    pub max_entry_size: u64,
    /// Largest uncompressed size of all entries together, in bytes. Default 256 MiB.
    pub max_total_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1000,
            max_entry_size: 64 << 20,
            max_total_size: 256 << 20,
        }
    }
}

/// Why a container was refused before or instead of validating its signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsicError {
    /// Not a zip, or a zip whose structure is damaged or cut short.
    #[error("corrupt or truncated container: {0}")]
    Corrupt(String),
    /// The first entry is not `mimetype`.
    #[error("the first entry must be \"mimetype\" (EN 319 162-1 §A.1), found {0}")]
    MimetypeNotFirst(String),
    /// `mimetype` is compressed.
    #[error("the mimetype entry must be stored uncompressed, it uses {0}")]
    MimetypeCompressed(String),
    /// `mimetype` does not hold the ASiC-E media type.
    #[error("mimetype is \"{0}\", expected \"{MIMETYPE}\"")]
    WrongMimetype(String),
    /// More entries than [`Limits::max_entries`].
    #[error("the container has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries in the central directory.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// An entry is, or claims to be, larger than [`Limits::max_entry_size`] (a zip bomb).
    #[error("entry \"{name}\" is larger than the limit of {limit} bytes uncompressed")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// The configured limit.
        limit: u64,
    },
    /// The entries together are larger than [`Limits::max_total_size`].
    #[error("the container holds more than the limit of {limit} bytes uncompressed")]
    TotalTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// An entry name is absolute, climbs with `..`, uses backslashes or is empty.
    #[error("unsafe entry name \"{0}\"")]
    UnsafeName(String),
    /// Two entries have the same name.
    #[error("entry \"{0}\" appears more than once")]
    DuplicateEntry(String),
    /// The central directory lists more entries than it has distinct names: two entries share
    /// a name, and different tools would extract different files under it.
    #[error("the central directory lists {listed} entries but only {distinct} distinct names")]
    DuplicateNames {
        /// Entries the end-of-central-directory record counts.
        listed: usize,
        /// Distinct names among them.
        distinct: usize,
    },
    /// An entry uses a compression method other than stored or deflate.
    #[error("entry \"{name}\" uses unsupported compression {method}")]
    UnsupportedCompression {
        /// The entry.
        name: String,
        /// The method.
        method: String,
    },
    /// A manifest is not a well-formed ASiCManifest.
    #[error("manifest {name} is malformed: {reason}")]
    BadManifest {
        /// The manifest entry.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The container has no signature at all.
    #[error("the container has no ASiCManifest and no signature")]
    NoSignature,
    /// A manifest refers to a signature file the container lacks.
    #[error("manifest {manifest} refers to signature {signature}, which is not in the container")]
    MissingSignatureFile {
        /// The manifest entry.
        manifest: String,
        /// The signature it names.
        signature: String,
    },
    /// A signature file no manifest refers to (in ASiC-E CAdES a signature signs a manifest).
    #[error("signature {0} is not referenced by any ASiCManifest")]
    OrphanSignature(String),
    /// An ASiC-S container must hold exactly one data object (EN 319 162-1 §4.3.3).
    #[error("an ASiC-S container holds exactly one data object, this one {0}")]
    NotOneDataObject(usize),
    /// A data file no manifest covers: it would be delivered as if signed, but is not.
    #[error("file \"{0}\" is not covered by any signature")]
    UncoveredFile(String),
}

/// A file to put in a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    /// Path inside the container, '/'-separated, e.g. "decision.pdf".
    pub name: String,
    /// Its media type, e.g. "application/pdf".
    pub mime_type: String,
    /// Its content.
    pub content: Vec<u8>,
}

/// One signature of a container: its manifest and the CAdES signature over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    /// Entry name of the manifest, e.g. "META-INF/ASiCManifest.xml".
    pub manifest_name: String,
    /// The manifest XML.
    pub manifest: Vec<u8>,
    /// Entry name of the signature, e.g. "META-INF/signature.p7s".
    pub signature_name: String,
    /// The DER CAdES signature.
    pub signature: Vec<u8>,
}

/// A container read within [`Limits`], with its structure checked but no signature validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Data files (everything outside META-INF except `mimetype`), by name.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Manifests and p7s files under META-INF, by name.
    meta: BTreeMap<String, Vec<u8>>,
}

/// One signature's verdict within a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSignature {
    /// The manifest entry.
    pub manifest: String,
    /// The signature entry.
    pub signature_file: String,
    /// Data files the manifest covers.
    pub covers: Vec<String>,
    /// The CAdES verdict, failed as well when a covered file does not match its digest.
    pub report: SignatureReport,
}

/// The verdict on a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerReport {
    /// Data files in the container.
    pub files: Vec<String>,
    /// One entry per signature.
    pub signatures: Vec<ContainerSignature>,
    /// The worst of the signatures' indications.
    pub indication: Indication,
}

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
    let data: Vec<(&str, &[u8])> = c
        .files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    write_zip(&data, &meta)
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
    let data: Vec<(&str, &[u8])> = c
        .files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    write_zip(&data, &meta)
}

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

fn validate_container(
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
        match crate::xades::validate_file(
            xml,
            &c.files,
            anchors,
            at,
            &crate::xml::Limits::default(),
            options,
        ) {
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
    let rank = |i: Indication| match i {
        Indication::TotalPassed => 0,
        Indication::Indeterminate => 1,
        Indication::TotalFailed => 2,
    };
    let indication = reports
        .iter()
        .map(|r| r.report.indication)
        .max_by_key(|i| rank(*i))
        .unwrap_or(Indication::TotalFailed);
    Ok(ContainerReport {
        files: c.files.keys().cloned().collect(),
        signatures: reports,
        indication,
    })
}

/// Total entries in the end-of-central-directory record (APPNOTE 4.3.16), found as the last
/// signature within the 64 KiB comment window.
fn eocd_entry_count(bytes: &[u8]) -> Option<u16> {
    const EOCD_LEN: usize = 22;
    let start = bytes.len().saturating_sub(EOCD_LEN + 0xFFFF);
    let p = (start..=bytes.len().checked_sub(EOCD_LEN)?)
        .rev()
        .find(|&p| bytes[p..p + 4] == *b"PK\x05\x06")?;
    Some(u16::from_le_bytes([bytes[p + 10], bytes[p + 11]]))
}

fn meta_names(i: usize, count: usize) -> (String, String) {
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

fn is_manifest(name: &str) -> bool {
    name.strip_prefix("META-INF/ASiCManifest")
        .is_some_and(|r| r.ends_with(".xml") && !r.contains('/'))
}

/// `META-INF/*signatures*.xml`: XAdES signatures (EN 319 162-1 §4.4.3.2).
pub(crate) fn is_xades(name: &str) -> bool {
    name.strip_prefix("META-INF/")
        .is_some_and(|r| r.contains("signatures") && r.ends_with(".xml") && !r.contains('/'))
}

fn is_signature(name: &str) -> bool {
    name.strip_prefix("META-INF/signature")
        .is_some_and(|r| r.ends_with(".p7s") && !r.contains('/'))
}

fn check_name(name: &str) -> Result<(), AsicError> {
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

/// The ASiCManifest (EN 319 162-1 Annex A.4) for a signature `sig_name` over `files`.
/// The digest algorithm an XML-DSig DigestMethod URI names (XMLDSig 1.1 §6.2, RFC 6931).
fn manifest_digest(uri: &str) -> Option<korpu_pki::alg::HashAlg> {
    use korpu_pki::alg::HashAlg;
    match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Some(HashAlg::Sha1),
        XMLENC_SHA256 => Some(HashAlg::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(HashAlg::Sha384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(HashAlg::Sha512),
        _ => None,
    }
}

fn manifest_xml(sig_name: &str, files: &[DataFile]) -> String {
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

struct Manifest {
    sig_ref: String,
    refs: Vec<Reference>,
}

struct Reference {
    uri: String,
    digest_method: String,
    digest: Vec<u8>,
}

fn parse_manifest(name: &str, xml: &[u8]) -> Result<Manifest, AsicError> {
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

/// Whether deflate shrinks a sample of `content` (its first 64 KiB, at the fastest level) by
/// at least a tenth.
fn worth_compressing(content: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_names_needing_escapes() {
        let files = vec![DataFile {
            name: "dir/a b&<c>%.txt".into(),
            mime_type: "text/plain; charset=\"utf-8\"".into(),
            content: b"x".to_vec(),
        }];
        let xml = manifest_xml("META-INF/signature.p7s", &files);
        let m = parse_manifest("m", xml.as_bytes()).unwrap();
        assert_eq!(m.sig_ref, "META-INF/signature.p7s");
        assert_eq!(m.refs[0].uri, "dir/a b&<c>%.txt");
        assert_eq!(m.refs[0].digest_method, XMLENC_SHA256);
        assert_eq!(m.refs[0].digest, Sha256::digest(b"x").to_vec());
    }

    #[test]
    fn manifests_with_a_doctype_or_without_references_are_refused() {
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><ASiCManifest/>";
        assert!(parse_manifest("m", dtd.as_bytes()).is_err());
        let empty = "<ASiCManifest><SigReference URI=\"META-INF/signature.p7s\"/></ASiCManifest>";
        assert!(parse_manifest("m", empty.as_bytes()).is_err());
        assert!(parse_manifest("m", b"\xff\xfe").is_err());
    }

    #[test]
    fn unsafe_names_are_refused() {
        for n in ["", "/etc/passwd", "a/../b", "..", "a\\b", "a//b", "./a"] {
            assert!(check_name(n).is_err(), "{n:?}");
        }
        assert!(check_name("annex/a.pdf").is_ok());
        assert!(check_data_name("META-INF/x.xml").is_err());
        assert!(check_data_name("mimetype").is_err());
    }
}
