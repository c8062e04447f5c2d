//! Public keys as signatures need them: the type and size of a SubjectPublicKeyInfo's key
//! ([`KeyKind`], [`Curve`]) and a parsed [`PublicKey`] borrowing its bytes.
//!
//! Refused here, before any arithmetic: EC keys with explicit parameters or unknown curves,
//! RSA keys under 512 or over 16384 bits, malformed Ed25519 keys.

use super::{AlgError, ID_ED25519};
use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY, ID_RSASSA_PSS, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1, SECP_521_R_1,
};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Sequence};
use spki::SubjectPublicKeyInfoRef;

/// A named elliptic curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
}

impl Curve {
    /// "P-256" etc.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The key size in bits.
    pub fn bits(self) -> usize {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
}

/// A public key's type and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// RSA with a modulus of `bits` bits.
    Rsa {
        /// Modulus length.
        bits: usize,
    },
    /// EC on a named curve.
    Ec {
        /// The curve from the key's parameters.
        curve: Curve,
    },
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// "RSA-2048", "EC P-384", "Ed25519".
    pub fn name(&self) -> String {
        match self {
            KeyKind::Rsa { bits } => format!("RSA-{bits}"),
            KeyKind::Ec { curve } => format!("EC {}", curve.name()),
            KeyKind::Ed25519 => "Ed25519".into(),
        }
    }

    /// The key size in bits (Ed25519: 256).
    pub fn bits(&self) -> usize {
        match self {
            KeyKind::Rsa { bits } => *bits,
            KeyKind::Ec { curve } => curve.bits(),
            KeyKind::Ed25519 => 256,
        }
    }
}

/// A parsed public key borrowing the SubjectPublicKeyInfo's key bytes.
#[derive(Clone, Copy, Debug)]
pub struct PublicKey<'a> {
    /// Type and size.
    pub kind: KeyKind,
    /// The subjectPublicKey BIT STRING contents: PKCS#1 RSAPublicKey, SEC1 point, or the
    /// 32 Ed25519 bytes.
    pub(super) raw: &'a [u8],
}

/// The largest RSA modulus verified: bigger keys cost seconds per check (a resource attack).
pub(super) const MAX_RSA_BITS: usize = 16384;

impl<'a> PublicKey<'a> {
    /// Parses a SubjectPublicKeyInfo DER.
    pub fn from_spki_der(spki_der: &'a [u8]) -> Result<Self, AlgError> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| AlgError::Malformed(format!("public key: {e}")))?;
        Self::from_fields(
            spki.algorithm.oid,
            spki.algorithm.parameters,
            spki.subject_public_key.as_bytes(),
        )
    }

    /// A parsed certificate's key.
    pub fn from_spki(spki: &'a spki::SubjectPublicKeyInfoOwned) -> Result<Self, AlgError> {
        Self::from_fields(
            spki.algorithm.oid,
            spki.algorithm.parameters.as_ref().map(der::AnyRef::from),
            spki.subject_public_key.as_bytes(),
        )
    }

    /// The key from an algorithm OID, its parameters (the curve, for EC keys) and the
    /// subjectPublicKey bits (`None` when the BIT STRING has unused bits).
    fn from_fields(
        oid: ObjectIdentifier,
        params: Option<der::AnyRef<'_>>,
        raw: Option<&'a [u8]>,
    ) -> Result<Self, AlgError> {
        let curve = match params {
            Some(p) if oid == ID_EC_PUBLIC_KEY => p.decode_as::<ObjectIdentifier>().ok(),
            _ => None,
        };
        let raw =
            raw.ok_or_else(|| AlgError::Malformed("public key BIT STRING has unused bits".into()))?;
        Self::from_parts(oid, curve, raw)
    }

    fn from_parts(
        oid: ObjectIdentifier,
        curve: Option<ObjectIdentifier>,
        raw: &'a [u8],
    ) -> Result<Self, AlgError> {
        let kind = match oid {
            RSA_ENCRYPTION | ID_RSASSA_PSS => KeyKind::Rsa {
                bits: rsa_modulus_bits(raw)?,
            },
            ID_EC_PUBLIC_KEY => {
                let curve_oid = curve.ok_or_else(|| {
                    AlgError::Unsupported(
                        "EC key without a named curve (explicit parameters)".into(),
                    )
                })?;
                let curve = match curve_oid {
                    SECP_256_R_1 => Curve::P256,
                    SECP_384_R_1 => Curve::P384,
                    SECP_521_R_1 => Curve::P521,
                    other => return Err(AlgError::Unsupported(format!("EC curve {other}"))),
                };
                KeyKind::Ec { curve }
            }
            ID_ED25519 => {
                if raw.len() != 32 {
                    return Err(AlgError::Malformed(format!(
                        "Ed25519 key of {} bytes",
                        raw.len()
                    )));
                }
                KeyKind::Ed25519
            }
            other => return Err(AlgError::Unsupported(format!("public key type {other}"))),
        };
        Ok(PublicKey { kind, raw })
    }
}

/// The type and size of the key in `spki_der`.
pub fn key_kind(spki_der: &[u8]) -> Result<KeyKind, AlgError> {
    PublicKey::from_spki_der(spki_der).map(|k| k.kind)
}

fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<usize, AlgError> {
    #[derive(Sequence)]
    struct RsaPub<'a> {
        n: UintRef<'a>,
        _e: UintRef<'a>,
    }
    let k = RsaPub::from_der(pkcs1).map_err(|e| AlgError::Malformed(format!("RSA key: {e}")))?;
    let n = k.n.as_bytes();
    let bits = match n.first() {
        None => 0,
        Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    };
    if bits > MAX_RSA_BITS {
        return Err(AlgError::Unsupported(format!(
            "RSA key of {bits} bits (at most {MAX_RSA_BITS})"
        )));
    }
    if bits < 512 {
        return Err(AlgError::Unsupported(format!("RSA key of {bits} bits")));
    }
    Ok(bits)
}
