//! PKCS#10 certification requests (RFC 2986): creating one for our own key and checking one a
//! member submitted.
//!
//! Parsing proves possession of the private key (the self-signature) and that the key is
//! P-256; it deliberately ignores requested extensions and attributes, because the CA's profile,
//! not the requester, decides what a certificate may do.
use der::asn1::{BitString, SetOfVec};
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use crate::ca::Subject;
use crate::key::{self, SigningKey};
use crate::util::{self, signed_part};
use crate::PkiError;

const PEM_LABEL: &str = "CERTIFICATE REQUEST";

/// A PKCS#10 CSR (DER) for `key` with subject CN=`common_name`, signed by `key`.
pub fn create(key: &SigningKey, common_name: &str) -> Result<Vec<u8>, PkiError> {
    let enc = |e: der::Error| PkiError::encoding("CSR", e);
    let subject = Subject::cn(common_name).to_name()?;
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key: SubjectPublicKeyInfoOwned::from_der(&key.public_key_der()).map_err(enc)?,
        attributes: SetOfVec::new(),
    };
    let sig = key.sign(&info.to_der().map_err(enc)?);
    CertReq {
        info,
        algorithm: util::ecdsa_sha256_alg(),
        signature: BitString::from_bytes(&sig).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// PEM ("CERTIFICATE REQUEST") of a CSR DER.
pub fn to_pem(der: &[u8]) -> String {
    der::pem::encode_string(PEM_LABEL, der::pem::LineEnding::LF, der)
        .expect("base64 of an in-memory CSR cannot fail")
}

/// What the CA takes from a verified CSR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCsr {
    /// SubjectPublicKeyInfo DER of the (P-256) key.
    pub public_key_der: Vec<u8>,
    /// The requested subject, RFC 4514.
    pub subject: String,
}

/// Parses a CSR given as PEM or DER, verifies its self-signature (proof of possession) and
/// that its key is P-256.
pub fn parse(input: &[u8]) -> Result<ParsedCsr, PkiError> {
    let der = decode_input(input)?;
    let req = CertReq::from_der(&der).map_err(|e| PkiError::malformed("CSR", e))?;
    let public_key_der = req
        .info
        .public_key
        .to_der()
        .map_err(|e| PkiError::malformed("CSR", e))?;
    // Rejects RSA, other curves and invalid points with a message naming the key type problem.
    key::parse_public_key(&public_key_der)?;
    if req.algorithm.oid != const_oid::db::rfc5912::ECDSA_WITH_SHA_256 {
        return Err(PkiError::malformed(
            "CSR",
            format!(
                "signature algorithm {} is not supported (only ecdsa-with-SHA256)",
                req.algorithm.oid
            ),
        ));
    }
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError::malformed("CSR", "signature BIT STRING has unused bits"))?;
    let tbs = signed_part(&der).map_err(|e| PkiError::malformed("CSR", e))?;
    key::verify_signature(&public_key_der, tbs, sig).map_err(|_| {
        PkiError::BadSignature(
            "the CSR's self-signature does not verify: it was altered or not signed by the \
             private key of the public key it contains"
                .into(),
        )
    })?;
    Ok(ParsedCsr {
        public_key_der,
        subject: req.info.subject.to_string(),
    })
}

fn decode_input(input: &[u8]) -> Result<Vec<u8>, PkiError> {
    let trimmed = input.trim_ascii();
    if trimmed.starts_with(b"-----BEGIN") {
        let (label, der) = der::pem::decode_vec(trimmed)
            .map_err(|e| PkiError::malformed("CSR", format!("bad PEM: {e}")))?;
        // "NEW CERTIFICATE REQUEST" is what older tools (and Windows certreq) write.
        if label != PEM_LABEL && label != "NEW CERTIFICATE REQUEST" {
            return Err(PkiError::malformed(
                "CSR",
                format!("PEM block is \"{label}\", expected \"{PEM_LABEL}\""),
            ));
        }
        Ok(der)
    } else if input.first() == Some(&0x30) {
        Ok(input.to_vec())
    } else {
        Err(PkiError::malformed(
            "CSR",
            "input is neither PEM (\"-----BEGIN CERTIFICATE REQUEST-----\") nor DER",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_der_and_pem() {
        let k = SigningKey::generate();
        let der = create(&k, "AZ/GOV/1234567").unwrap();
        let p = parse(&der).unwrap();
        assert_eq!(p.public_key_der, k.public_key_der());
        assert_eq!(p.subject, "CN=AZ/GOV/1234567");
        let pem = to_pem(&der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert_eq!(parse(pem.as_bytes()).unwrap(), p);
    }

    #[test]
    fn tampered_csr_is_rejected() {
        let k = SigningKey::generate();
        let der = create(&k, "AZ/GOV/1234567").unwrap();
        // Change one letter of the CN: structure stays valid, signature must fail.
        let pos = der
            .windows(3)
            .position(|w| w == b"GOV")
            .expect("CN is in the DER");
        let mut bad = der.clone();
        bad[pos] = b'X';
        let err = parse(&bad).unwrap_err();
        assert!(matches!(err, PkiError::BadSignature(_)), "{err}");
        // Every single-byte flip is rejected one way or another, never accepted or a panic.
        for i in 0..der.len() {
            let mut b = der.clone();
            b[i] ^= 0x04;
            assert!(parse(&b).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [
            &b""[..],
            b"hello",
            b"\x30",
            b"\x30\x80\x00\x00",
            b"-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let e = parse(input).unwrap_err();
            assert!(matches!(e, PkiError::Malformed { .. }), "{e}");
        }
        let e = parse(b"junk").unwrap_err();
        assert!(e.to_string().contains("neither PEM"), "{e}");
    }
}
