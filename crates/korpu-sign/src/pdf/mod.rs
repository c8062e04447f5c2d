//! PAdES baseline signatures (ETSI EN 319 142-1) in PDF files: B-B and B-T signatures appended
//! as incremental updates (any number of them, one after the other), the B-LT document
//! security store (DSS), and validation of every signature in a file, including the detection
//! of changes made by incremental updates after a signature.
//!
//! A signature is an invisible signature field whose `/V` is a `/Sig` dictionary with
//! `/SubFilter /ETSI.CAdES.detached`: a detached CAdES signature (from [`crate::cades`],
//! without the signing-time attribute, which PAdES replaces by `/M`) over the `/ByteRange`, the
//! whole file up to that revision except the `/Contents` hex string itself.
//!
//! After a signature, later revisions may add signatures and validation data (DSS) only. Any
//! other change (page content, annotations, form values, the catalog) is reported: the
//! signed revision is intact but the document a reader shows is not the one that was signed.
//!
//! Document time-stamps (`/SubFilter /ETSI.RFC3161`) and the B-LTA level, validation and
//! extension, are in [`doc_ts`].
//!
//! Not here: visible signature appearances, certification (DocMDP) signatures, encrypted
//! PDFs, and rendering of any kind.
//!
//! Writing (signatures, the DSS) is in `sign`, validation in `verify`, the rules for changes
//! after a signature in `changes`, the PDF object reader and writer in [`parse`].
mod changes;
pub mod doc_ts;
pub mod parse;
mod sign;
mod text;
mod verify;

pub(crate) use sign::{add_dss, append_signature, DssScope};
pub use sign::{add_validation_data, sign};
pub use text::text_page;
pub(crate) use verify::{check_byte_range, find_signatures, FoundSig};
pub use verify::{validate, validate_opts};

use serde::{Deserialize, Serialize};

use crate::validate::{Indication, SignatureReport};
use crate::SignError;
use parse::{get, Dict, Document, Obj};

/// Bounds on what reading a PDF may cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest file accepted, in bytes. Default 256 MiB.
    pub max_pdf_size: u64,
    /// Most objects in the cross-reference. Default 1,000,000.
    pub max_objects: usize,
    /// Most cross-reference sections (revisions). Default 1000.
    pub max_revisions: usize,
    /// Largest decoded stream (xref and object streams), in bytes. Default 64 MiB.
    pub max_stream_size: u64,
    /// Deepest nesting of arrays and dictionaries. Default 64.
    pub max_depth: usize,
    /// Most signature fields examined. Default 1000.
    pub max_signatures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pdf_size: 256 << 20,
            max_objects: 1_000_000,
            max_revisions: 1000,
            max_stream_size: 64 << 20,
            max_depth: 64,
            max_signatures: 1000,
        }
    }
}

/// Why a PDF could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    /// The file is not a well-formed PDF (or is cut short).
    #[error("malformed or truncated PDF: {0}")]
    Malformed(String),
    /// The file or one of its streams is larger than the configured limit.
    #[error("{size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// The size found.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A feature this reader does not implement.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The file has no signature field with a value.
    #[error("the PDF has no signature")]
    NoSignature,
}

/// One signature of a PDF and its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfSignature {
    /// The signature field's name (`/T`).
    pub field: String,
    /// `/SubFilter` of the signature dictionary.
    pub sub_filter: String,
    /// The signed revision's length in bytes (the end of its `/ByteRange`).
    pub revision_end: usize,
    /// Changes made after this signature that are not signatures or validation data; `None`
    /// when there are none.
    pub modified_after: Option<String>,
    /// The verdict.
    pub report: SignatureReport,
}

/// The verdict on a PDF.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdfReport {
    /// One entry per signature, in file order (oldest first).
    pub signatures: Vec<PdfSignature>,
    /// One entry per document time-stamp (`/SubFilter /ETSI.RFC3161`, the B-LTA archive
    /// time-stamps), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timestamps: Vec<doc_ts::PdfTimestamp>,
    /// The worst of the signatures' indications.
    pub indication: Indication,
}

const SUB_FILTER: &str = "ETSI.CAdES.detached";
/// Width reserved for the four ByteRange numbers (filled in once the file is complete).
const BYTE_RANGE_WIDTH: usize = 64;

fn pdf_err(e: PdfError) -> SignError {
    SignError::InvalidInput(format!("cannot read the PDF: {e}"))
}

pub(crate) fn catalog(doc: &Document<'_>) -> Result<((u32, u16), Dict), PdfError> {
    let Some(Obj::Ref(n, g)) = get(&doc.trailer, "Root") else {
        return Err(PdfError::Malformed("the trailer has no /Root".into()));
    };
    let c = doc.resolve(&Obj::Ref(*n, *g))?;
    match c {
        Obj::Dict(d) => Ok(((*n, *g), d)),
        _ => Err(PdfError::Malformed("/Root is not a dictionary".into())),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
