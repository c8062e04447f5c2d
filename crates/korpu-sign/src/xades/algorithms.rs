//! XML-DSig algorithm URIs as XAdES signatures name them: the digest, the signature scheme
//! (ECDSA values raw `r||s`) and the canonicalisation.
//!
//! An unknown URI gives `None` or an error the validator reports as INDETERMINATE; nothing
//! here verifies anything.

use korpu_pki::alg::{EcdsaEncoding, HashAlg, SignatureAlgorithm};

use crate::xml::{C14n, Document, NodeId};

use super::read::attr;
use super::{DS, EXC_C14N_NS, PSS_NS};

/// The digest algorithm named by an XML-DSig `DigestMethod` URI.
pub fn digest_from_uri(uri: &str) -> Option<HashAlg> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => HashAlg::Sha1,
        "http://www.w3.org/2001/04/xmlenc#sha256" => HashAlg::Sha256,
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => HashAlg::Sha384,
        "http://www.w3.org/2001/04/xmlenc#sha512" => HashAlg::Sha512,
        _ => return None,
    })
}

/// The signature scheme named by a `SignatureMethod` URI (RFC 6931, XML-DSig 1.1); the
/// `rsa-pss` form reads its parameters from the element `method`.
pub(super) fn signature_from_uri(
    doc: &Document,
    method: NodeId,
    uri: &str,
) -> Result<SignatureAlgorithm, String> {
    use HashAlg::*;
    let ecdsa = |hash| SignatureAlgorithm::Ecdsa {
        hash,
        encoding: EcdsaEncoding::Raw,
    };
    let pss = |hash: HashAlg| SignatureAlgorithm::RsaPss {
        hash,
        mgf1_hash: hash,
        salt_len: hash.output_len(),
    };
    Ok(match uri {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => SignatureAlgorithm::RsaPkcs1 { hash: Sha1 },
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha256 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha384 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
            SignatureAlgorithm::RsaPkcs1 { hash: Sha512 }
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => ecdsa(Sha1),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => ecdsa(Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => ecdsa(Sha384),
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => ecdsa(Sha512),
        "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1" => pss(Sha1),
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" => pss(Sha256),
        "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1" => pss(Sha384),
        "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => pss(Sha512),
        "http://www.w3.org/2007/05/xmldsig-more#rsa-pss" => {
            // RFC 6931 §2.3.10: RSAPSSParams with DigestMethod, MaskGenerationFunction and
            // SaltLength; absent values default to SHA-256 and a salt of its length.
            let params = doc.child(method, PSS_NS, "RSAPSSParams");
            let hash = match params.and_then(|p| doc.child(p, DS, "DigestMethod")) {
                Some(d) => {
                    let u = attr(doc, d, "Algorithm");
                    digest_from_uri(&u).ok_or(format!("RSA-PSS digest {u}"))?
                }
                None => Sha256,
            };
            let mgf1_hash = match params
                .and_then(|p| doc.child(p, PSS_NS, "MaskGenerationFunction"))
                .and_then(|m| doc.child(m, DS, "DigestMethod"))
            {
                Some(d) => {
                    let u = attr(doc, d, "Algorithm");
                    digest_from_uri(&u).ok_or(format!("RSA-PSS MGF1 digest {u}"))?
                }
                None => hash,
            };
            let salt_len = match params.and_then(|p| doc.child(p, PSS_NS, "SaltLength")) {
                Some(s) => doc
                    .text(s)
                    .trim()
                    .parse()
                    .map_err(|_| "RSA-PSS SaltLength is not a number".to_owned())?,
                None => hash.output_len(),
            };
            SignatureAlgorithm::RsaPss {
                hash,
                mgf1_hash,
                salt_len,
            }
        }
        "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519" => SignatureAlgorithm::Ed25519,
        other => return Err(format!("signature method {other}")),
    })
}

/// The canonicalisation named by element `m` (a CanonicalizationMethod or Transform), with
/// its InclusiveNamespaces PrefixList.
pub(super) fn c14n_of(doc: &Document, m: NodeId) -> Option<C14n> {
    let mut alg = C14n::from_uri(&attr(doc, m, "Algorithm"))?;
    if let Some(inc) = doc.child(m, EXC_C14N_NS, "InclusiveNamespaces") {
        alg.inclusive_prefixes = attr(doc, inc, "PrefixList")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    }
    Some(alg)
}
