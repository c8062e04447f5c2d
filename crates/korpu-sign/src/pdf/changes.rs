//! What an incremental update after a signature may change without being reported: signature
//! fields and their values, validation data (the DSS) and document metadata. Anything else
//! (page content, annotations, form values, another catalog) is a change after signing.
//!
//! It compares the objects of the signed revision with those of the whole file, as parsed; it
//! does not render anything.

use std::collections::BTreeSet;

use super::parse::{self, get, Document, Obj};

use super::Limits;

/// Compares the revision ending at `end` with the whole file; `Err` describes the first change
/// that is not a signature or validation data.
pub(super) fn changes_after(doc: &Document<'_>, end: usize, limits: &Limits) -> Result<(), String> {
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
