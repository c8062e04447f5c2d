//! PKCE (RFC 7636) with the one method FAPI 2.0 allows, `S256`.
//!
//! Deliberately not here: `plain`, which FAPI 2.0 §5.3.2.2 forbids (it protects nothing against
//! an attacker who reads the authorisation request).
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;

/// The `code_challenge_method` this server accepts.
pub const METHOD: &str = "S256";

/// Why a PKCE value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// The method is not S256.
    #[error("code_challenge_method must be S256 (got {0:?})")]
    Method(String),
    /// Code_challenge must be 43 base64url characters (the SHA-256 of the verifier).
    #[error("code_challenge must be 43 base64url characters (the SHA-256 of the verifier)")]
    Challenge,
    /// Code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1).
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)")]
    VerifierSyntax,
    /// Code_verifier does not match the code_challenge of the authorisation request.
    #[error("code_verifier does not match the code_challenge of the authorisation request")]
    Mismatch,
}

/// Checks a challenge as it arrives in a (pushed) authorisation request.
pub fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), PkceError> {
    match method {
        Some(METHOD) => {}
        other => return Err(PkceError::Method(other.unwrap_or("").to_owned())),
    }
    let decoded = B64URL.decode(challenge).map_err(|_| PkceError::Challenge)?;
    if decoded.len() != 32 || challenge.len() != 43 {
        return Err(PkceError::Challenge);
    }
    Ok(())
}

/// `BASE64URL(SHA256(ASCII(verifier)))`, RFC 7636 §4.2.
pub fn challenge_of(verifier: &str) -> String {
    B64URL.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Checks the token request's verifier against the stored challenge.
pub fn verify(verifier: &str, challenge: &str) -> Result<(), PkceError> {
    let syntax_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !syntax_ok {
        return Err(PkceError::VerifierSyntax);
    }
    // Both sides are public once the code is redeemed; a plain comparison leaks nothing.
    if challenge_of(verifier) != challenge {
        return Err(PkceError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_of(verifier), challenge);
        check_challenge(challenge, Some("S256")).unwrap();
        verify(verifier, challenge).unwrap();
    }

    #[test]
    fn plain_short_and_wrong_verifiers_are_refused() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            check_challenge(challenge, Some("plain")),
            Err(PkceError::Method("plain".into()))
        );
        assert_eq!(
            check_challenge(challenge, None),
            Err(PkceError::Method(String::new()))
        );
        assert_eq!(
            check_challenge("abc", Some("S256")),
            Err(PkceError::Challenge)
        );
        assert_eq!(verify("short", challenge), Err(PkceError::VerifierSyntax));
        let spaced = "dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(verify(spaced, challenge), Err(PkceError::VerifierSyntax));
        let other = "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(verify(other, challenge), Err(PkceError::Mismatch));
        // The challenge itself is not a verifier for itself (the `plain` downgrade).
        assert_eq!(verify(challenge, challenge), Err(PkceError::Mismatch));
    }
}
