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
pub mod doc_ts;
pub mod parse;

use std::collections::BTreeSet;
use std::time::SystemTime;

use korpu_pki::cert::Certificate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cades::{self, Signer};
use crate::lt::{self, RevocationSource};
use crate::validate::{self, Evidence, Indication, SignatureReport};
use crate::{SignError, Timestamper};
use parse::{get, write_obj, Dict, Document, Obj};

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

/// Signs `pdf` with a new invisible signature field appended as an incremental update; earlier
/// signatures stay valid. With a `timestamper` the signature is B-T, otherwise B-B.
pub fn sign(
    pdf: &[u8],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    // Room for the CMS: the certificates, the signature, and a time-stamp token with its own
    // certificates. Doubled and retried if a TSA sends a larger token than expected.
    let certs_len: usize = std::iter::once(signer.cert)
        .chain(signer.chain.iter())
        .map(|c| c.der().len())
        .sum();
    let reserve = 2048 + certs_len + if timestamper.is_some() { 6144 } else { 0 };
    let head = format!(
        "/Type/Sig/Filter/Adobe.PPKLite/SubFilter/{SUB_FILTER}/M({})",
        pdf_date(signing_time)
    );
    append_signature(pdf, limits, "Signature", &head, reserve, &|digest| {
        cades::sign_digest_pades(digest, signer, signing_time, timestamper)
    })
}

/// Makes a signature field's /Contents from the SHA-256 of its byte ranges.
pub(crate) type ContentsFn<'a> = dyn Fn(&[u8; 32]) -> Result<Vec<u8>, SignError> + 'a;

/// Appends, as an incremental update, an invisible signature field named `{prefix}N` (the
/// first unused N) whose value is the dictionary `<<{head}/ByteRange[..]/Contents<..>>>`;
/// `contents` turns the SHA-256 of the byte ranges into the /Contents bytes (a CMS signature,
/// or a time-stamp token for a document time-stamp). `reserve` is the first guess of their
/// size.
pub(crate) fn append_signature(
    pdf: &[u8],
    limits: &Limits,
    prefix: &str,
    head: &str,
    mut reserve: usize,
    contents: &ContentsFn<'_>,
) -> Result<Vec<u8>, SignError> {
    let doc = Document::parse(pdf, limits).map_err(pdf_err)?;
    let (root, mut catalog) = catalog(&doc).map_err(pdf_err)?;
    let page = first_page(&doc, &catalog).map_err(pdf_err)?;
    let next = doc.next_number();
    let (sig_num, field_num) = (next, next + 1);
    let field_ref = Obj::Ref(field_num, 0);

    let mut names = BTreeSet::new();
    for (_, f) in signature_fields(&doc, &catalog, limits).map_err(pdf_err)? {
        names.insert(f);
    }
    let name = (1..)
        .map(|i| format!("{prefix}{i}"))
        .find(|n| !names.contains(n))
        .expect("an unused name exists");

    let mut updates: Vec<(u32, u16, Vec<u8>)> = Vec::new();
    let push = |num: u32, gen: u16, o: &Obj, updates: &mut Vec<(u32, u16, Vec<u8>)>| {
        let mut b = Vec::new();
        write_obj(o, &mut b);
        updates.push((num, gen, b));
    };
    // The field goes into the AcroForm's /Fields, wherever that array lives.
    match get(&catalog, "AcroForm").cloned() {
        Some(Obj::Ref(n, g)) => {
            let mut af = doc
                .resolve(&Obj::Ref(n, g))
                .map_err(pdf_err)?
                .dict()
                .cloned()
                .unwrap_or_default();
            append_to(&doc, &mut af, "Fields", field_ref.clone(), &mut updates).map_err(pdf_err)?;
            af.insert(b"SigFlags".to_vec(), Obj::Int(3));
            push(n, g, &Obj::Dict(af), &mut updates);
        }
        Some(Obj::Dict(mut af)) => {
            append_to(&doc, &mut af, "Fields", field_ref.clone(), &mut updates).map_err(pdf_err)?;
            af.insert(b"SigFlags".to_vec(), Obj::Int(3));
            catalog.insert(b"AcroForm".to_vec(), Obj::Dict(af));
        }
        _ => {
            let mut af = Dict::new();
            af.insert(b"Fields".to_vec(), Obj::Array(vec![field_ref.clone()]));
            af.insert(b"SigFlags".to_vec(), Obj::Int(3));
            catalog.insert(b"AcroForm".to_vec(), Obj::Dict(af));
        }
    }
    // Catalog rewritten unconditionally: cheap, and the AcroForm may have been inline.
    push(root.0, root.1, &Obj::Dict(catalog), &mut updates);

    let (page_num, page_gen, mut page_dict) = page;
    append_to(
        &doc,
        &mut page_dict,
        "Annots",
        field_ref.clone(),
        &mut updates,
    )
    .map_err(pdf_err)?;
    push(page_num, page_gen, &Obj::Dict(page_dict), &mut updates);

    let mut field = Dict::new();
    for (k, v) in [
        ("FT", Obj::Name(b"Sig".to_vec())),
        ("T", Obj::Str(name.into_bytes())),
        ("V", Obj::Ref(sig_num, 0)),
        ("Type", Obj::Name(b"Annot".to_vec())),
        ("Subtype", Obj::Name(b"Widget".to_vec())),
        (
            "Rect",
            Obj::Array(vec![Obj::Int(0), Obj::Int(0), Obj::Int(0), Obj::Int(0)]),
        ),
        // Print + Locked: an invisible widget nobody can move or delete in a viewer.
        ("F", Obj::Int(132)),
        ("P", Obj::Ref(page_num, page_gen)),
    ] {
        field.insert(k.as_bytes().to_vec(), v);
    }
    push(field_num, 0, &Obj::Dict(field), &mut updates);

    for _ in 0..3 {
        let sig_body = format!(
            "<<{head}/ByteRange[{}]/Contents<{}>>>",
            " ".repeat(BYTE_RANGE_WIDTH),
            "0".repeat(reserve * 2)
        );
        let mut all = updates.clone();
        all.push((sig_num, 0, sig_body.into_bytes()));
        let (mut out, offsets) = append_update(pdf, &doc, &all, field_num + 1);
        let sig_at = offsets
            .iter()
            .find(|(n, _)| *n == sig_num)
            .map(|(_, o)| *o)
            .expect("the signature object was written");
        let br_at = sig_at
            + find(&out[sig_at..], b"/ByteRange[").expect("written above")
            + b"/ByteRange[".len();
        let lt = sig_at + find(&out[sig_at..], b"/Contents<").expect("written above") + 9;
        let gt = lt + 1 + reserve * 2;
        let ranges = [0, lt, gt + 1, out.len() - (gt + 1)];
        let br = format!("0 {} {} {}", ranges[1], ranges[2], ranges[3]);
        out[br_at..br_at + br.len()].copy_from_slice(br.as_bytes());
        let mut h = Sha256::new();
        h.update(&out[..lt]);
        h.update(&out[gt + 1..]);
        let digest: [u8; 32] = h.finalize().into();
        let cms = contents(&digest)?;
        if cms.len() > reserve {
            reserve = cms.len() * 2;
            continue;
        }
        let hexed = hex::encode_upper(&cms);
        out[lt + 1..lt + 1 + hexed.len()].copy_from_slice(hexed.as_bytes());
        return Ok(out);
    }
    Err(SignError::encoding(
        "PAdES signature",
        "the signature keeps outgrowing the space reserved for it",
    ))
}

/// Makes every B-T signature of `pdf` B-LT: fetches OCSP responses for the signer
/// certificates (and their time-stamping authorities) from `source` and appends them, with the
/// certificates, in a document security store (EN 319 142-1 §5.4.2) as an incremental update.
///
/// Document time-stamps already in the file get the revocation data of their TSA too (as far
/// as `source` answers), which is what renewing a B-LTA archive time-stamp chain needs.
pub fn add_validation_data(
    pdf: &[u8],
    source: &dyn RevocationSource,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    add_dss(pdf, source, limits, DssScope::All)
}

/// Which signatures [`add_dss`] gathers validation data for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DssScope {
    /// Every signature and document time-stamp.
    All,
    /// Only the newest document time-stamp's TSA (which must be answered for).
    NewestTimestamp,
}

pub(crate) fn add_dss(
    pdf: &[u8],
    source: &dyn RevocationSource,
    limits: &Limits,
    scope: DssScope,
) -> Result<Vec<u8>, SignError> {
    let doc = Document::parse(pdf, limits).map_err(pdf_err)?;
    let (root, mut catalog) = catalog(&doc).map_err(pdf_err)?;
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut ocsps: Vec<Vec<u8>> = Vec::new();
    let mut crls: Vec<Vec<u8>> = Vec::new();
    let all = find_signatures(&doc, &catalog, limits).map_err(pdf_err)?;
    let (stamps, found): (Vec<FoundSig>, Vec<FoundSig>) = all
        .into_iter()
        .partition(|s| s.sub_filter == doc_ts::SUB_FILTER);
    if found.is_empty() {
        return Err(SignError::InvalidInput("the PDF has no signature".into()));
    }
    let newest_stamp = stamps.iter().map(|s| s.revision_end()).max();
    for s in &stamps {
        let is_newest = Some(s.revision_end()) == newest_stamp;
        if scope == DssScope::NewestTimestamp && !is_newest {
            continue;
        }
        let Some((tsa, pool)) = doc_ts::token_tsa(&s.cms, &[]) else {
            continue;
        };
        match lt::gather(source, &tsa, &pool) {
            Ok(g) => {
                ocsps.extend(g.ocsps);
                crls.extend(g.crls);
            }
            Err(e) if scope == DssScope::NewestTimestamp => return Err(e),
            Err(_) => {}
        }
        certs.extend(pool.iter().map(|c| c.der().to_vec()));
    }
    let found = if scope == DssScope::All {
        found
    } else {
        Vec::new()
    };
    // The newest signature is the one being extended: failing to get its revocation data is
    // an error. Older ones (perhaps from signers of another PKI) get it when the source knows
    // them.
    let newest = found
        .iter()
        .map(|s| {
            s.byte_range
                .get(2)
                .zip(s.byte_range.get(3))
                .map(|(c, d)| c + d)
        })
        .max()
        .flatten();
    for s in &found {
        let is_newest = s
            .byte_range
            .get(2)
            .zip(s.byte_range.get(3))
            .map(|(c, d)| c + d)
            == newest;
        let Ok(sd) = cades::parse_signed_data(&s.cms) else {
            continue;
        };
        let Ok(pool) = lt::cms_certs(&sd) else {
            continue;
        };
        for si in sd.signer_infos.0.iter() {
            let Some(signer) = pool.iter().find(|c| crate::ess::sid_matches(&si.sid, c)) else {
                continue;
            };
            match lt::gather(source, signer, &pool) {
                Ok(g) => {
                    ocsps.extend(g.ocsps);
                    crls.extend(g.crls);
                }
                Err(e) if is_newest => return Err(e),
                Err(_) => continue,
            }
            for (tsa, tsa_pool) in lt::timestamp_signers(si) {
                let mut p = pool.clone();
                p.extend(tsa_pool.iter().cloned());
                if let Ok(r) = lt::fetch(source, &tsa, &p) {
                    ocsps.push(r);
                }
                certs.extend(tsa_pool.iter().map(|c| c.der().to_vec()));
            }
        }
        certs.extend(pool.iter().map(|c| c.der().to_vec()));
    }
    // What an earlier DSS already holds is not written again (each renewal of a B-LTA file
    // would otherwise repeat every certificate and CRL).
    let held = dss_evidence(&doc, &catalog);
    let mut seen: BTreeSet<Vec<u8>> = held.certs.iter().map(|c| c.der().to_vec()).collect();
    certs.retain(|c| seen.insert(c.clone()));
    let mut seen: BTreeSet<Vec<u8>> = held.crls.into_iter().collect();
    crls.retain(|c| seen.insert(c.clone()));

    let mut num = doc.next_number();
    let mut objects = Vec::new();
    let mut stream_refs = |items: &[Vec<u8>], objects: &mut Vec<(u32, u16, Vec<u8>)>| {
        let mut refs = Vec::new();
        for it in items {
            let mut b = format!("<</Length {}>>stream\n", it.len()).into_bytes();
            b.extend_from_slice(it);
            b.extend_from_slice(b"\nendstream");
            objects.push((num, 0, b));
            refs.push(Obj::Ref(num, 0));
            num += 1;
        }
        refs
    };
    let cert_refs = stream_refs(&certs, &mut objects);
    let ocsp_refs = stream_refs(&ocsps, &mut objects);
    let crl_refs = stream_refs(&crls, &mut objects);
    // Keep what an earlier DSS holds (another signer's validation data).
    let mut dss = match get(&catalog, "DSS") {
        Some(o) => doc
            .resolve(o)
            .map_err(pdf_err)?
            .dict()
            .cloned()
            .unwrap_or_default(),
        None => Dict::new(),
    };
    for (key, new) in [
        ("Certs", cert_refs),
        ("OCSPs", ocsp_refs),
        ("CRLs", crl_refs),
    ] {
        if new.is_empty() && key == "CRLs" {
            continue;
        }
        let mut arr = match get(&dss, key) {
            Some(o) => match doc.resolve(o).map_err(pdf_err)? {
                Obj::Array(a) => a,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        arr.extend(new);
        dss.insert(key.as_bytes().to_vec(), Obj::Array(arr));
    }
    catalog.insert(b"DSS".to_vec(), Obj::Dict(dss));
    let mut b = Vec::new();
    write_obj(&Obj::Dict(catalog), &mut b);
    objects.push((root.0, root.1, b));
    Ok(append_update(pdf, &doc, &objects, num).0)
}

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
    let indication = worst(
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

/// The worst of some indications (TOTAL_FAILED when there are none).
pub(crate) fn worst(it: impl Iterator<Item = Indication>) -> Indication {
    let rank = |i: Indication| match i {
        Indication::TotalPassed => 0,
        Indication::Indeterminate => 1,
        Indication::TotalFailed => 2,
    };
    it.max_by_key(|i| rank(*i))
        .unwrap_or(Indication::TotalFailed)
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

fn first_page(doc: &Document<'_>, catalog: &Dict) -> Result<(u32, u16, Dict), PdfError> {
    let mut cur = get(catalog, "Pages")
        .cloned()
        .ok_or_else(|| PdfError::Malformed("the catalog has no /Pages".into()))?;
    for _ in 0..64 {
        let Obj::Ref(n, g) = cur else {
            return Err(PdfError::Malformed(
                "a page tree node is not a reference".into(),
            ));
        };
        let d = doc.resolve(&cur)?.dict().cloned().ok_or_else(|| {
            PdfError::Malformed(format!("page tree node {n} is not a dictionary"))
        })?;
        if get(&d, "Type").is_some_and(|t| t.is_name(b"Page")) {
            return Ok((n, g, d));
        }
        cur = match get(&d, "Kids") {
            Some(k) => match doc.resolve(k)? {
                Obj::Array(a) if !a.is_empty() => a[0].clone(),
                _ => return Err(PdfError::Malformed("the PDF has no page".into())),
            },
            None => return Err(PdfError::Malformed("the PDF has no page".into())),
        };
    }
    Err(PdfError::Malformed(
        "the page tree is deeper than 64".into(),
    ))
}

/// Appends `item` to the array `key` of `d`, rewriting the array object when it is indirect.
fn append_to(
    doc: &Document<'_>,
    d: &mut Dict,
    key: &str,
    item: Obj,
    updates: &mut Vec<(u32, u16, Vec<u8>)>,
) -> Result<(), PdfError> {
    match get(d, key).cloned() {
        Some(Obj::Ref(n, g)) => {
            let mut a = match doc.resolve(&Obj::Ref(n, g))? {
                Obj::Array(a) => a,
                _ => Vec::new(),
            };
            a.push(item);
            let mut b = Vec::new();
            write_obj(&Obj::Array(a), &mut b);
            updates.push((n, g, b));
        }
        Some(Obj::Array(mut a)) => {
            a.push(item);
            d.insert(key.as_bytes().to_vec(), Obj::Array(a));
        }
        _ => {
            d.insert(key.as_bytes().to_vec(), Obj::Array(vec![item]));
        }
    }
    Ok(())
}

/// Every terminal field of the AcroForm with `/FT /Sig` (inherited or its own): (dict, name).
fn signature_fields(
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

/// Compares the revision ending at `end` with the whole file; `Err` describes the first change
/// that is not a signature or validation data.
fn changes_after(doc: &Document<'_>, end: usize, limits: &Limits) -> Result<(), String> {
    let data = doc.data();
    if end == data.len() {
        return Ok(());
    }
    // Trailing whitespace after %%EOF is not a revision.
    if data[end..].iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(());
    }
    let old = Document::parse(&data[..end], limits)
        .map_err(|e| format!("the signed revision cannot be read: {e}"))?;
    // A later trailer pointing at another catalog would swap the whole document while
    // leaving every signed object untouched.
    if get(&old.trailer, "Root") != get(&doc.trailer, "Root") {
        return Err("the trailer's /Root now points to another catalog".into());
    }
    let mut changed: Vec<u32> = doc
        .xref
        .iter()
        .filter(|(n, e)| old.xref.get(n) != Some(e))
        .map(|(n, _)| *n)
        .collect();
    changed.sort_unstable();
    // Adding signatures and validation data touches a handful of objects per signature; a
    // revision rewriting this many is something else, and checking each would cost unbounded
    // time on hostile input.
    const MAX_CHANGED: usize = 10_000;
    if changed.len() > MAX_CHANGED {
        return Err(format!(
            "{} objects were changed or added, more than the {MAX_CHANGED} checked",
            changed.len()
        ));
    }
    for num in changed {
        let new = doc
            .get(num)
            .map_err(|e| format!("object {num} cannot be read: {e}"))?;
        let prev = old
            .get(num)
            .map_err(|e| format!("object {num} of the signed revision: {e}"))?;
        let (Some(new), Some(prev)) = (new, prev) else {
            match (old.xref.get(&num), doc.xref.get(&num)) {
                // Objects added later matter only through what refers to them, and every
                // referring object that existed when signing is checked here.
                (None | Some(parse::Entry::Free), _) => continue,
                _ => return Err(format!("object {num} was deleted")),
            }
        };
        if new == prev {
            continue;
        }
        // Document information and XMP metadata are bookkeeping that signers update (pyHanko,
        // Acrobat); they are not what a reader sees as the document.
        let info_num = match get(&doc.trailer, "Info") {
            Some(Obj::Ref(n, _)) => Some(*n),
            _ => None,
        };
        if info_num == Some(num) || is_metadata(&prev) && is_metadata(&new) {
            continue;
        }
        allowed_change(doc, &old, &prev, &new)
            .map_err(|why| format!("object {num} was changed: {why}"))?;
    }
    Ok(())
}

fn is_metadata(o: &Obj) -> bool {
    matches!(o, Obj::Stream(d, _) if get(d, "Type").is_some_and(|t| t.is_name(b"Metadata")))
}

fn is_sig_field(doc: &Document<'_>, o: &Obj) -> bool {
    let Ok(d) = doc.resolve(o) else { return false };
    let Some(d) = d.dict() else { return false };
    if get(d, "FT").is_some_and(|t| t.is_name(b"Sig")) {
        return true;
    }
    // A widget whose parent is a signature field.
    get(d, "Parent")
        .and_then(|p| doc.resolve(p).ok())
        .is_some_and(|p| {
            p.dict()
                .is_some_and(|p| get(p, "FT").is_some_and(|t| t.is_name(b"Sig")))
        })
}

/// Whether the change from `prev` to `new` is one that adding a signature or validation data
/// makes.
fn allowed_change(
    doc: &Document<'_>,
    old: &Document<'_>,
    prev: &Obj,
    new: &Obj,
) -> Result<(), String> {
    match (prev, new) {
        (Obj::Array(p), Obj::Array(n)) => {
            // /Fields or /Annots kept indirect: only signature fields may be appended.
            if n.len() < p.len() || n[..p.len()] != p[..] {
                return Err("an array lost or reordered entries".into());
            }
            if let Some(x) = n[p.len()..].iter().find(|x| !is_sig_field(doc, x)) {
                return Err(format!("{x:?} added to an array is not a signature field"));
            }
            Ok(())
        }
        (Obj::Dict(p), Obj::Dict(n)) => {
            let keys: BTreeSet<&Vec<u8>> = p.keys().chain(n.keys()).collect();
            let is = |t: &[u8]| get(p, "Type").is_some_and(|x| x.is_name(t));
            let allowed: &[&str] = if is(b"Catalog") {
                &["DSS", "AcroForm", "Extensions", "Metadata", "Version"]
            } else if is(b"Page") {
                &["Annots"]
            } else if get(p, "Fields").is_some() {
                &["Fields", "SigFlags"]
            } else if get(p, "FT").is_some_and(|t| t.is_name(b"Sig")) && get(p, "V").is_none() {
                // An empty signature field being signed.
                &["V", "AP"]
            } else if get(p, "OCSPs").is_some() || get(p, "Certs").is_some() || is(b"DSS") {
                &["Certs", "OCSPs", "CRLs", "VRI"]
            } else {
                &[]
            };
            for k in keys {
                let (a, b) = (p.get(k), n.get(k));
                if a == b {
                    continue;
                }
                let key = String::from_utf8_lossy(k);
                if !allowed.contains(&key.as_ref()) {
                    return Err(format!("/{key} differs"));
                }
                match key.as_ref() {
                    "AcroForm" => {
                        let pa = a
                            .map(|x| old.resolve(x))
                            .transpose()
                            .map_err(|e| e.to_string())?;
                        let na = b
                            .map(|x| doc.resolve(x))
                            .transpose()
                            .map_err(|e| e.to_string())?;
                        match (pa, na) {
                            (Some(pa), Some(na)) => allowed_change(doc, old, &pa, &na)
                                .map_err(|e| format!("/AcroForm: {e}"))?,
                            (None, Some(na)) => {
                                let fields = na.dict().and_then(|d| get(d, "Fields")).cloned();
                                let fields = match fields.map(|f| doc.resolve(&f)) {
                                    Some(Ok(Obj::Array(f))) => f,
                                    _ => Vec::new(),
                                };
                                if let Some(x) = fields.iter().find(|x| !is_sig_field(doc, x)) {
                                    return Err(format!(
                                        "new /AcroForm field {x:?} is not a signature"
                                    ));
                                }
                            }
                            _ => return Err("/AcroForm removed".into()),
                        }
                    }
                    "Metadata" => {
                        let ok = b
                            .map(|x| doc.resolve(x))
                            .is_some_and(|m| m.is_ok_and(|m| is_metadata(&m)));
                        if !ok {
                            return Err("/Metadata is not a metadata stream".into());
                        }
                    }
                    "Fields" | "Annots" => {
                        let pa = match a.map(|x| old.resolve(x)) {
                            Some(Ok(o)) => o,
                            _ => Obj::Array(Vec::new()),
                        };
                        let na = match b.map(|x| doc.resolve(x)) {
                            Some(Ok(o)) => o,
                            _ => Obj::Array(Vec::new()),
                        };
                        allowed_change(doc, old, &pa, &na).map_err(|e| format!("/{key}: {e}"))?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        _ => Err("its content differs".into()),
    }
}

/// Writes `objects` (number, generation, serialised body) after `pdf` with a cross-reference
/// section of the same kind as the previous one; returns the file and each object's offset.
fn append_update(
    pdf: &[u8],
    doc: &Document<'_>,
    objects: &[(u32, u16, Vec<u8>)],
    size: u32,
) -> (Vec<u8>, Vec<(u32, usize)>) {
    let body: usize = objects.iter().map(|o| o.2.len() + 32).sum();
    let mut out = Vec::with_capacity(pdf.len() + body + 1024);
    out.extend_from_slice(pdf);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets = Vec::new();
    for (n, g, b) in objects {
        offsets.push((*n, out.len()));
        out.extend_from_slice(format!("{n} {g} obj\n").as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\nendobj\n");
    }
    let mut trailer = Dict::new();
    for k in ["Root", "Info", "ID"] {
        if let Some(v) = get(&doc.trailer, k) {
            trailer.insert(k.as_bytes().to_vec(), v.clone());
        }
    }
    trailer.insert(b"Prev".to_vec(), Obj::Int(doc.startxref as i64));
    let mut entries: Vec<(u32, u16, usize)> = objects
        .iter()
        .zip(&offsets)
        .map(|((n, g, _), (_, o))| (*n, *g, *o))
        .collect();
    let xref_at;
    if doc.xref_is_stream {
        // An update of a PDF 1.5 file continues with an xref stream (uncompressed), so that
        // readers that follow only one kind of section find every object.
        let xnum = size;
        xref_at = out.len();
        entries.push((xnum, 0, xref_at));
        entries.sort_unstable();
        let mut rows = Vec::new();
        let mut index = Vec::new();
        for run in runs(&entries) {
            index.push(Obj::Int(i64::from(run[0].0)));
            index.push(Obj::Int(run.len() as i64));
            for (_, g, o) in run {
                rows.push(1u8);
                rows.extend_from_slice(&(*o as u32).to_be_bytes());
                rows.extend_from_slice(&g.to_be_bytes());
            }
        }
        for (k, v) in [
            ("Type", Obj::Name(b"XRef".to_vec())),
            ("Size", Obj::Int(i64::from(xnum) + 1)),
            ("W", Obj::Array(vec![Obj::Int(1), Obj::Int(4), Obj::Int(2)])),
            ("Index", Obj::Array(index)),
            ("Length", Obj::Int(rows.len() as i64)),
        ] {
            trailer.insert(k.as_bytes().to_vec(), v);
        }
        out.extend_from_slice(format!("{xnum} 0 obj\n").as_bytes());
        write_obj(&Obj::Dict(trailer), &mut out);
        out.extend_from_slice(b"stream\n");
        out.extend_from_slice(&rows);
        out.extend_from_slice(b"\nendstream\nendobj\n");
    } else {
        xref_at = out.len();
        entries.sort_unstable();
        out.extend_from_slice(b"xref\n");
        for run in runs(&entries) {
            out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
            for (_, g, o) in run {
                out.extend_from_slice(format!("{o:010} {g:05} n\r\n").as_bytes());
            }
        }
        trailer.insert(b"Size".to_vec(), Obj::Int(i64::from(size)));
        out.extend_from_slice(b"trailer\n");
        write_obj(&Obj::Dict(trailer), &mut out);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
    (out, offsets)
}

/// Consecutive object numbers grouped into xref subsections.
fn runs(entries: &[(u32, u16, usize)]) -> Vec<&[(u32, u16, usize)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || entries[i].0 != entries[i - 1].0 + 1 {
            out.push(&entries[start..i]);
            start = i;
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A PDF date (ISO 32000-1 §7.9.4) in UTC.
fn pdf_date(t: SystemTime) -> String {
    match der::DateTime::from_system_time(t) {
        Ok(d) => format!(
            "D:{:04}{:02}{:02}{:02}{:02}{:02}+00'00'",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        ),
        Err(_) => "D:19700101000000+00'00'".into(),
    }
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
