//! Writing PAdES into a PDF: a signature or document time-stamp field appended as an
//! incremental update (the /ByteRange and /Contents placeholder filled in once the file is
//! complete), and the document security store (DSS) of the B-LT level.
//!
//! Earlier revisions are never rewritten, so signatures already in the file stay valid.

use std::collections::BTreeSet;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::doc_ts;
use super::parse::{get, write_obj, Dict, Document, Obj};
use crate::cades::{self, Signer};
use crate::lt::{self, RevocationSource};
use crate::{SignError, Timestamper};

use super::verify::{dss_evidence, find_signatures, signature_fields, FoundSig};
use super::{catalog, find, pdf_err, Limits, PdfError, BYTE_RANGE_WIDTH, SUB_FILTER};

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
