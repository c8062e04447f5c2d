//! Resolving and digesting the `ds:Reference`s of one signature: a container file by its URI
//! or `#id` in the same document (which must be unique), its transforms applied, its digest
//! compared.
//!
//! What they found together is a [`RefOutcome`]; turning it into a verdict is `signature`'s job.

use std::collections::BTreeMap;

use korpu_pki::alg::HashAlg;

use crate::xml::{C14n, Document, Limits, NodeId};

use super::algorithms::{c14n_of, digest_from_uri};
use super::read::{attr, b64, file_name, is_within};
use super::{
    DigestCache, DS, ENVELOPED, MAX_REFERENCES, SIGNED_PROPERTIES_TYPE, SIGNED_PROPERTIES_TYPE_111,
};

/// What checking the references found.
#[derive(Default)]
pub(super) struct RefOutcome {
    pub(super) covers: Vec<String>,
    /// A digest was computed and does not match.
    pub(super) hash_failure: Option<String>,
    /// Something could not be computed (unsupported or weak algorithm).
    pub(super) unsupported: Option<String>,
    /// Something is missing or malformed.
    pub(super) malformed: Option<String>,
    /// A referenced file is not in the container.
    pub(super) not_found: Option<String>,
    /// SignedProperties was covered by a matching reference of the right Type.
    pub(super) signed_properties_ok: bool,
    /// The digest algorithms of the references that were checked.
    pub(super) digests: Vec<HashAlg>,
}

/// Checks each `ds:Reference` of `si`.
pub(super) fn check_references(
    doc: &Document,
    sig: NodeId,
    si: NodeId,
    signed_props: Option<NodeId>,
    files: &BTreeMap<String, Vec<u8>>,
    cache: &mut DigestCache,
) -> RefOutcome {
    let mut o = RefOutcome::default();
    let refs: Vec<NodeId> = doc.children_named(si, DS, "Reference").collect();
    if refs.is_empty() {
        o.malformed = Some("SignedInfo has no Reference".into());
        return o;
    }
    if refs.len() > MAX_REFERENCES {
        o.malformed = Some(format!(
            "{} references, more than the limit of {MAX_REFERENCES}",
            refs.len()
        ));
        return o;
    }
    for r in refs {
        let uri = doc
            .element(r)
            .and_then(|e| e.attr("URI"))
            .map(str::to_owned);
        let ty = attr(doc, r, "Type");
        let Some(dm) = doc.child(r, DS, "DigestMethod") else {
            o.malformed = Some("a Reference without DigestMethod".into());
            return o;
        };
        let Some(dv) = doc.child(r, DS, "DigestValue") else {
            o.malformed = Some("a Reference without DigestValue".into());
            return o;
        };
        let want = match b64(&doc.text(dv)) {
            Ok(v) => v,
            Err(e) => {
                o.malformed = Some(format!("DigestValue: {e}"));
                return o;
            }
        };
        // A container file the reference names is covered by this signature, whether or not
        // its digest can be checked.
        if let Some(u) = uri
            .as_deref()
            .filter(|u| !u.is_empty() && !u.starts_with('#'))
        {
            o.covers.push(file_name(u));
        }
        let dm_uri = attr(doc, dm, "Algorithm");
        let Some(hash) = digest_from_uri(&dm_uri) else {
            o.unsupported
                .get_or_insert(format!("digest method {dm_uri} is not supported"));
            continue;
        };
        // Transforms: canonicalisations and enveloped-signature; anything else is unsupported.
        let mut c14n = None;
        let mut enveloped = false;
        let mut unsupported = None;
        if let Some(ts) = doc.child(r, DS, "Transforms") {
            for t in doc.children_named(ts, DS, "Transform") {
                let a = attr(doc, t, "Algorithm");
                if a == ENVELOPED {
                    enveloped = true;
                } else if let Some(c) = c14n_of(doc, t) {
                    c14n = Some(c);
                } else {
                    unsupported = Some(format!("transform {a} is not supported"));
                }
            }
        }
        if let Some(u) = unsupported {
            o.unsupported.get_or_insert(u);
            continue;
        }
        let Some(uri) = uri else {
            o.unsupported
                .get_or_insert("a Reference without URI (data from elsewhere)".into());
            continue;
        };
        let mut is_sp = false;
        let computed: Result<Vec<u8>, String> = if uri.is_empty() {
            // The whole signatures document (XML-DSig §4.4.3.3: comments removed), less the
            // signature itself under the enveloped-signature transform.
            let alg = C14n {
                with_comments: false,
                ..c14n.clone().unwrap_or_else(C14n::default_inclusive)
            };
            let root = doc.root();
            let exclude = enveloped.then_some(sig);
            if exclude == Some(root) {
                Err("an enveloped signature that is the whole document".into())
            } else {
                doc.canonicalize(root, &alg, exclude)
                    .map(|b| hash.digest(&b))
                    .map_err(|e| format!("canonicalising the document: {e}"))
            }
        } else if uri.starts_with("#xpointer(") {
            Err(format!("XPointer reference {uri} is not supported"))
        } else if let Some(frag) = uri.strip_prefix('#') {
            match doc.by_id(frag) {
                Ok(Some(target)) => {
                    let alg = c14n.clone().unwrap_or_else(C14n::default_inclusive);
                    // A same-document reference drops comments (XML-DSig §4.4.3.3).
                    let alg = C14n {
                        with_comments: false,
                        ..alg
                    };
                    // The enveloped-signature transform removes this signature when the
                    // referenced element contains it.
                    let exclude = enveloped
                        .then_some(sig)
                        .filter(|&s| s != target && is_within(doc, s, target));
                    // XAdES 1.1.1 wrote the Type with its version; older BDOC files have it.
                    is_sp = Some(target) == signed_props
                        && (ty == SIGNED_PROPERTIES_TYPE || ty == SIGNED_PROPERTIES_TYPE_111);
                    doc.canonicalize(target, &alg, exclude)
                        .map(|b| hash.digest(&b))
                        .map_err(|e| format!("canonicalising #{frag}: {e}"))
                }
                Ok(None) => {
                    o.malformed = Some(format!("reference #{frag} names no element"));
                    return o;
                }
                Err(e) => {
                    o.malformed = Some(e.to_string());
                    return o;
                }
            }
        } else {
            let name = file_name(&uri);
            let Some(content) = files.get(&name) else {
                // EN 319 102-1 §5.2.8: the signed data cannot be obtained.
                o.not_found
                    .get_or_insert(format!("\"{name}\" is not in the container"));
                continue;
            };
            // Each (file, digest, canonicalisation) is computed once per signatures file, so
            // many references to one large file cost one pass.
            let key = (
                name.clone(),
                hash,
                c14n.as_ref().map(|c| format!("{c:?}")),
                enveloped,
            );
            cache
                .entry(key)
                .or_insert_with(|| match (&c14n, enveloped) {
                    (None, false) => Ok(hash.digest(content)),
                    (Some(alg), _) => Document::parse(content, &Limits::default())
                        .and_then(|d| d.canonicalize_document(alg))
                        .map(|b| hash.digest(&b))
                        .map_err(|e| format!("canonicalising \"{name}\": {e}")),
                    (None, true) => Err("enveloped-signature over a separate file".into()),
                })
                .clone()
        };
        let digest = match computed {
            Ok(d) => d,
            Err(e) => {
                o.unsupported.get_or_insert(e);
                continue;
            }
        };
        if !o.digests.contains(&hash) {
            o.digests.push(hash);
        }
        if digest == want {
            o.signed_properties_ok |= is_sp;
        } else {
            o.hash_failure.get_or_insert(format!(
                "reference \"{uri}\" does not match its digest: the {} was altered",
                if uri.starts_with('#') {
                    "signed element"
                } else {
                    "file"
                }
            ));
        }
    }
    o
}
