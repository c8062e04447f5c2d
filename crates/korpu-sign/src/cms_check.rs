//! The cryptographic checks of one CMS SignerInfo, and the verdict rule they follow.
//!
//! The rule (issue 14, ETSI EN 319 102-1 §5.1.3): TOTAL_FAILED only for a check that was
//! computed and failed — the data's digest differs from the signed message-digest
//! (HASH_FAILURE), the signature value does not verify (SIG_CRYPTO_FAILURE) — or for a
//! structure that is malformed (FORMAT_FAILURE). An algorithm, key or parameter set Körpü cannot
//! check is INDETERMINATE (CRYPTO_CONSTRAINTS_FAILURE_NO_POE), never failed; so is data whose
//! digest the caller could not give for the signer's algorithm (SIGNED_DATA_NOT_FOUND).
//!
//! Signatures over signed attributes are verified over the attributes' bytes as they are in
//! the input ([`korpu_pki::ber::cms_signer_infos`]), never a re-encoding. Message digests are
//! computed with the SignerInfo's own digest algorithm (SHA-1/256/384/512).
//!
//! Not here: which algorithms are acceptable (that is [`crate::policy`]), attributes other than
//! message-digest (the caller checks them), chains and revocation.
use cms::signed_data::SignerInfo;
use korpu_pki::alg::{AlgError, HashAlg, SignatureAlgorithm, Verified};
use korpu_pki::cert::Certificate;

use crate::validate::Indication;

/// What was signed, as the caller has it.
#[derive(Clone, Debug)]
pub(crate) enum Content<'a> {
    /// The data itself: any digest can be computed.
    Data(&'a [u8]),
    /// Pieces to hash as one (a PDF's ByteRange).
    Parts(Vec<&'a [u8]>),
    /// Only its SHA-256 (callers that hashed a large file while streaming it).
    Sha256([u8; 32]),
}

impl Content<'_> {
    /// The digest with `h`, or `None` when only another digest is known.
    pub(crate) fn digest(&self, h: HashAlg) -> Option<Vec<u8>> {
        match self {
            Content::Data(d) => Some(h.digest(d)),
            Content::Parts(p) => Some(h.digest_parts(p)),
            Content::Sha256(d) => (h == HashAlg::Sha256).then(|| d.to_vec()),
        }
    }
}

/// A verdict other than passed, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub indication: Indication,
    pub sub: &'static str,
    pub reason: String,
}

impl Failure {
    fn new(indication: Indication, sub: &'static str, reason: impl Into<String>) -> Self {
        Failure {
            indication,
            sub,
            reason: reason.into(),
        }
    }
}

/// The verdict rule applied to an algorithm error.
pub(crate) fn alg_failure(e: AlgError, what: &str) -> Failure {
    match e {
        AlgError::BadSignature(d) => Failure::new(
            Indication::TotalFailed,
            "SIG_CRYPTO_FAILURE",
            format!("{what} does not verify: {d}"),
        ),
        AlgError::Unsupported(d) => Failure::new(
            Indication::Indeterminate,
            "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
            format!("{what} cannot be checked: unsupported {d}"),
        ),
        AlgError::Malformed(d) => Failure::new(
            Indication::TotalFailed,
            "FORMAT_FAILURE",
            format!("{what}: malformed {d}"),
        ),
    }
}

/// The SignerInfo's digest algorithm.
pub(crate) fn digest_alg(si: &SignerInfo) -> Result<HashAlg, Failure> {
    korpu_pki::alg::hash_from_oid(&si.digest_alg.oid)
        .map_err(|e| alg_failure(e, "the message digest"))
}

/// Compares the signed message-digest with the content's digest under `h`.
pub(crate) fn check_message_digest(
    content: &Content<'_>,
    h: HashAlg,
    signed: &[u8],
) -> Result<(), Failure> {
    let Some(actual) = content.digest(h) else {
        return Err(Failure::new(
            Indication::Indeterminate,
            "SIGNED_DATA_NOT_FOUND",
            format!(
                "the signature uses {}, and only the data's SHA-256 was given",
                h.name()
            ),
        ));
    };
    if actual != signed {
        return Err(Failure::new(
            Indication::TotalFailed,
            "HASH_FAILURE",
            "the data does not match the signed message digest: it was altered",
        ));
    }
    Ok(())
}

/// Verifies the signature value of `si` with `signer`'s key: over `signed_attrs` (the bytes as
/// signed, see [`korpu_pki::ber::cms_signer_infos`]) when there are signed attributes, over the
/// content itself otherwise (RFC 5652 §5.4).
pub(crate) fn check_signature(
    si: &SignerInfo,
    signed_attrs: Option<&[u8]>,
    content: &Content<'_>,
    signer: &Certificate,
) -> Result<Verified, Failure> {
    let what = "the signature value";
    let alg = SignatureAlgorithm::from_cms(&si.signature_algorithm, Some(&si.digest_alg.oid))
        .map_err(|e| alg_failure(e, what))?;
    let sig = si.signature.as_bytes();
    match (signed_attrs, content) {
        (Some(attrs), _) => signer.verify_with(&alg, attrs, sig),
        (None, Content::Data(d)) => signer.verify_with(&alg, d, sig),
        (None, _) => {
            let Some(digest) = content.digest(alg.hash()) else {
                return Err(Failure::new(
                    Indication::Indeterminate,
                    "SIGNED_DATA_NOT_FOUND",
                    format!(
                        "the signature has no signed attributes and uses {}; only the data's \
                         SHA-256 was given",
                        alg.hash().name()
                    ),
                ));
            };
            let spki = signer.public_key_der();
            alg.verify_prehashed(&spki, &digest, sig)
                // Pure Ed25519 signs the data, not a digest: rebuild it once from the pieces
                // (legacy signatures without signed attributes only).
                .or_else(|e| match (e, content) {
                    (AlgError::Unsupported(_), Content::Parts(p)) => {
                        signer.verify_with(&alg, &p.concat(), sig)
                    }
                    (e, _) => Err(e),
                })
        }
    }
    .map_err(|e| alg_failure(e, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_computed_mismatch_is_a_failure() {
        let unsupported = alg_failure(AlgError::Unsupported("x".into()), "it");
        assert_eq!(unsupported.indication, Indication::Indeterminate);
        let bad = alg_failure(AlgError::BadSignature("x".into()), "it");
        assert_eq!(
            (bad.indication, bad.sub),
            (Indication::TotalFailed, "SIG_CRYPTO_FAILURE")
        );
        // A SHA-384 signature given only the data's SHA-256: undecided, not altered.
        let c = Content::Sha256([0; 32]);
        let e = check_message_digest(&c, HashAlg::Sha384, &[0; 48]).unwrap_err();
        assert_eq!(e.indication, Indication::Indeterminate);
        let e = check_message_digest(&Content::Data(b"x"), HashAlg::Sha384, &[0; 48]).unwrap_err();
        assert_eq!(
            (e.indication, e.sub),
            (Indication::TotalFailed, "HASH_FAILURE")
        );
        check_message_digest(
            &Content::Parts(vec![b"a", b"b"]),
            HashAlg::Sha512,
            &HashAlg::Sha512.digest(b"ab"),
        )
        .unwrap();
    }
}
