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
//!
//! Reading is in `read`, writing in `write`, the ASiC manifest in `manifest`, validation in
//! `verify`; the types they share are here.

mod manifest;
mod read;
mod verify;
mod write;

pub use read::open;
pub use verify::{validate, validate_opts, validate_opts_mimetype_optional};
pub use write::{add_signature, add_validation_data, create};

pub(crate) use read::{check_data_name, is_xades, open_as};
pub(crate) use verify::validate_xades_file;
pub(crate) use write::{guess_mime, write_zip};

use std::collections::BTreeMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::validate::{Indication, SignatureReport};

/// The content of the `mimetype` entry of an ASiC-E container (EN 319 162-1 §A.1).
pub const MIMETYPE: &str = "application/vnd.etsi.asic-e+zip";

const ASIC_NS: &str = "http://uri.etsi.org/02918/v1.2.1#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XMLENC_SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// URI path characters left as they are in manifest references (RFC 3986 unreserved and '/').
pub(crate) const URI_KEEP: &AsciiSet = &NON_ALPHANUMERIC
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

#[cfg(test)]
mod tests {
    use super::manifest::{manifest_xml, parse_manifest};
    use super::read::check_name;
    use super::*;
    use sha2::{Digest, Sha256};

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
