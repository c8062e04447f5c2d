//! Signing and verifying the global configuration.
//!
//! The signed form is a JWS, flattened JSON serialization (RFC 7515 §7.2.2):
//! `{"protected": B64U(header), "payload": B64U(conf JSON), "signature": B64U(r || s)}` with
//! header `{"alg":"ES256","typ":"korpu-global-conf+json","x5t#S256": B64U(SHA-256(cert DER))}`.
//!
//! Verification is ordered so that nothing from the document is believed before its signature
//! has been checked against a key from the anchor: the header only *selects* an anchor
//! certificate, and the payload is parsed only after the signature holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64U;
use base64::Engine;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Anchor, GlobalConf, Timestamp, CONF_FORMAT};

/// How far a document's `issued_at` may lie in the future, for clocks that disagree a little.
const CLOCK_SKEW_SECS: u64 = 300;

const JWS_TYPE: &str = "korpu-global-conf+json";

/// Why a configuration (or an anchor) was not accepted. Each message says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("the anchor is unusable: {0}")]
    BadAnchor(String),
    #[error("not a signed global configuration: {0}")]
    Malformed(String),
    #[error("signature algorithm {0:?} is not accepted: only ES256 is")]
    UnsupportedAlgorithm(String),
    #[error("signed by a key that is not in the anchor (certificate SHA-256 {thumbprint}); the anchor trusts only {trusted}")]
    UnknownSigner { thumbprint: String, trusted: String },
    #[error("the anchor's signing certificate is not valid now: {0}")]
    SignerCertificate(String),
    #[error(
        "the signature does not match the content: the document was altered after it was signed"
    )]
    BadSignature,
    #[error("the document is for instance {found}, but the anchor is for instance {expected}")]
    WrongInstance { expected: String, found: String },
    #[error("the document format is {0:?}; this gateway understands {CONF_FORMAT:?}")]
    UnknownFormat(String),
    #[error("the document expired at {expired_at} (now {now}); the central registry must publish a fresh one")]
    Expired {
        expired_at: Timestamp,
        now: Timestamp,
    },
    #[error("the document claims to be issued at {issued_at}, in the future (now {now}); check this machine's clock")]
    NotYetValid {
        issued_at: Timestamp,
        now: Timestamp,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    protected: String,
    payload: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: String,
}

fn thumbprint(cert: &Certificate) -> String {
    B64U.encode(Sha256::digest(cert.der()))
}

/// Signs `conf` with `key`, whose certificate is `cert`; returns the JWS JSON bytes.
pub fn sign(conf: &GlobalConf, key: &SigningKey, cert: &Certificate) -> Vec<u8> {
    let header = Header {
        alg: "ES256".into(),
        typ: Some(JWS_TYPE.into()),
        x5t_s256: thumbprint(cert),
    };
    let protected =
        B64U.encode(serde_json::to_vec(&header).expect("a JWS header always serialises"));
    let payload = B64U.encode(serde_json::to_vec(conf).expect("a configuration always serialises"));
    let signing_input = format!("{protected}.{payload}");
    let signature: Signature = key.inner().sign(signing_input.as_bytes());
    let envelope = Envelope {
        protected,
        payload,
        signature: B64U.encode(signature.to_bytes()),
    };
    serde_json::to_vec_pretty(&envelope).expect("an envelope always serialises")
}

/// Verifies a signed configuration against `anchor` at time `now` and returns its content.
pub fn verify(signed: &[u8], anchor: &Anchor, now: Timestamp) -> Result<GlobalConf, ConfError> {
    let envelope: Envelope = serde_json::from_slice(signed)
        .map_err(|e| ConfError::Malformed(format!("the JWS JSON does not parse: {e}")))?;
    let header_bytes = B64U
        .decode(&envelope.protected)
        .map_err(|e| ConfError::Malformed(format!("the protected header is not base64url: {e}")))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| ConfError::Malformed(format!("the protected header does not parse: {e}")))?;
    // Checking `alg` before anything else closes the classic JWS "alg: none" and algorithm
    // confusion attacks.
    if header.alg != "ES256" {
        return Err(ConfError::UnsupportedAlgorithm(header.alg));
    }

    let trusted = anchor.certificates()?;
    let cert = trusted
        .iter()
        .find(|c| thumbprint(c) == header.x5t_s256)
        .ok_or_else(|| ConfError::UnknownSigner {
            thumbprint: hex_of_b64u(&header.x5t_s256),
            trusted: trusted
                .iter()
                .map(Certificate::sha256_fingerprint_hex)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    cert.check_validity(now.to_system_time())
        .map_err(|e| ConfError::SignerCertificate(e.to_string()))?;

    let signature_bytes = B64U
        .decode(&envelope.signature)
        .map_err(|_| ConfError::BadSignature)?;
    let signature = Signature::from_slice(&signature_bytes).map_err(|_| ConfError::BadSignature)?;
    let key = VerifyingKey::from_public_key_der(&cert.public_key_der()).map_err(|e| {
        ConfError::SignerCertificate(format!("its key is not an ECDSA P-256 key: {e}"))
    })?;
    let signing_input = format!("{}.{}", envelope.protected, envelope.payload);
    key.verify(signing_input.as_bytes(), &signature)
        .map_err(|_| ConfError::BadSignature)?;

    let payload = B64U.decode(&envelope.payload).map_err(|e| {
        ConfError::Malformed(format!("signed, but the payload is not base64url: {e}"))
    })?;
    let conf: GlobalConf = serde_json::from_slice(&payload).map_err(|e| {
        ConfError::Malformed(format!("signed, but the content does not parse: {e}"))
    })?;
    if conf.format != CONF_FORMAT {
        return Err(ConfError::UnknownFormat(conf.format));
    }
    if conf.instance != anchor.instance {
        return Err(ConfError::WrongInstance {
            expected: anchor.instance.to_string(),
            found: conf.instance.to_string(),
        });
    }
    if now >= conf.expires_at {
        return Err(ConfError::Expired {
            expired_at: conf.expires_at,
            now,
        });
    }
    if conf.issued_at.unix() > now.unix() + CLOCK_SKEW_SECS {
        return Err(ConfError::NotYetValid {
            issued_at: conf.issued_at,
            now,
        });
    }
    Ok(conf)
}

fn hex_of_b64u(s: &str) -> String {
    B64U.decode(s)
        .map(hex::encode)
        .unwrap_or_else(|_| format!("{s:?} (not base64url)"))
}

#[cfg(test)]
mod tests;
