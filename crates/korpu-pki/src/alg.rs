//! Signature and digest algorithms as the world uses them: one verifier for CMS SignerInfos,
//! X.509 certificates, OCSP responses, RFC 3161 tokens and XML signatures.
//!
//! [`SignatureAlgorithm`] is parsed from an AlgorithmIdentifier (plus, for CMS, the SignerInfo's
//! digest algorithm when the signature OID names only the key type, as `rsaEncryption` and
//! `id-ecPublicKey` do) and verifies against a SubjectPublicKeyInfo. Supported: RSA PKCS#1 v1.5
//! and RSASSA-PSS with SHA-1/256/384/512, ECDSA on P-256, P-384 and P-521 (the curve is read
//! from the key, never assumed) with any of those digests, DER or raw `r||s` signatures, and
//! Ed25519. SHA-1 and RSA keys under 2048 bits verify here too: whether they are acceptable is a
//! policy question for the caller, which [`Verified`] gives what it needs to answer (algorithm,
//! key type and size).
//!
//! Errors keep three outcomes apart, because validation reports must ([`AlgError`]): the check
//! was computed and failed (a forgery or an alteration), the algorithm, key or parameters are
//! not supported (undecided), or the input is malformed.
//!
//! ring does the work where it has the combination (it is several times faster and constant
//! time); RustCrypto (`rsa`, `p256`, `p384`, `p521`) covers the rest: PSS salt lengths other
//! than the digest length, prehashed digests, P-521, and digests of another size than the curve.
//! Not here: DSA, RSA keys over 16384 bits, Ed448, brainpool curves (all reported unsupported).
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_224, ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512,
    ID_EC_PUBLIC_KEY, ID_MGF_1, ID_RSASSA_PSS, ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512,
    RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1, SECP_521_R_1, SHA_1_WITH_RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Encode, Sequence};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};

/// ecdsa-with-SHA1 (RFC 3279 §2.2.3), absent from the const-oid database's rfc5912 module.
pub const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
/// id-Ed25519 (RFC 8410).
pub const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A verification outcome other than success, in the three classes a validator must keep apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlgError {
    /// The signature was computed over and does not match the key and data: TOTAL_FAILED.
    #[error("the signature value does not verify: {0}")]
    BadSignature(String),
    /// The algorithm, its parameters or the key type/size is one this module cannot check:
    /// INDETERMINATE, never failed.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// The key, the parameters or the signature are not well-formed: FORMAT_FAILURE.
    #[error("malformed {0}")]
    Malformed(String),
}

/// Digest algorithms accepted for signatures and message digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1: verifiable for legacy input; policy decides whether it is acceptable.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// The algorithm named by a digest OID, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA_1 => Some(Self::Sha1),
            ID_SHA_256 => Some(Self::Sha256),
            ID_SHA_384 => Some(Self::Sha384),
            ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Its OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ID_SHA_1,
            Self::Sha256 => ID_SHA_256,
            Self::Sha384 => ID_SHA_384,
            Self::Sha512 => ID_SHA_512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// The digest of several pieces, as if concatenated (a PDF's ByteRange).
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// "SHA-256" etc., for reports and policy files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The AlgorithmIdentifier (parameters absent, RFC 5754 §2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// The digest algorithm named by a digest AlgorithmIdentifier's OID.
pub fn hash_from_oid(oid: &ObjectIdentifier) -> Result<HashAlg, AlgError> {
    HashAlg::from_oid(oid).ok_or_else(|| AlgError::Unsupported(format!("digest algorithm {oid}")))
}

/// How an ECDSA signature value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdsaEncoding {
    /// DER `Ecdsa-Sig-Value` (X.509, CMS, OCSP).
    Der,
    /// Fixed-width big-endian `r || s` (XML-DSig, RFC 4050 / XMLDSig 1.1 §6.4.3, JWS).
    Raw,
}

/// A signature scheme, with everything needed to verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1 {
        /// The digest in the DigestInfo.
        hash: HashAlg,
    },
    /// RSASSA-PSS (RFC 4055) with MGF1.
    RsaPss {
        /// The message digest.
        hash: HashAlg,
        /// The digest MGF1 uses.
        mgf1_hash: HashAlg,
        /// The salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA on the key's curve.
    Ecdsa {
        /// The message digest.
        hash: HashAlg,
        /// How the signature value is encoded.
        encoding: EcdsaEncoding,
    },
    /// Ed25519 (pure EdDSA, RFC 8032).
    Ed25519,
}

/// RSASSA-PSS-params (RFC 4055 §3.1); the trailer field must be 1 and is ignored.
#[derive(Clone, Debug, Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u32>,
}

impl SignatureAlgorithm {
    /// The scheme of a certificate's, CRL's or OCSP response's signatureAlgorithm.
    pub fn from_x509(alg: &AlgorithmIdentifierOwned) -> Result<Self, AlgError> {
        Self::from_cms(alg, None)
    }

    /// The scheme of a SignerInfo: `sig_alg` is its signatureAlgorithm, `digest` its
    /// digestAlgorithm OID, which supplies the hash when `sig_alg` names only the key type
    /// (`rsaEncryption`, `id-ecPublicKey`, as many CMS writers put it, RFC 3370 §3.2 and
    /// RFC 5753 §7.1.3).
    pub fn from_cms(
        sig_alg: &AlgorithmIdentifierOwned,
        digest: Option<&ObjectIdentifier>,
    ) -> Result<Self, AlgError> {
        let from_digest = || -> Result<HashAlg, AlgError> {
            match digest {
                Some(d) => hash_from_oid(d),
                None => Err(AlgError::Unsupported(format!(
                    "signature algorithm {} needs a digest algorithm",
                    sig_alg.oid
                ))),
            }
        };
        let der_ecdsa = |hash| SignatureAlgorithm::Ecdsa {
            hash,
            encoding: EcdsaEncoding::Der,
        };
        Ok(match sig_alg.oid {
            SHA_1_WITH_RSA_ENCRYPTION => Self::RsaPkcs1 {
                hash: HashAlg::Sha1,
            },
            SHA_256_WITH_RSA_ENCRYPTION => Self::RsaPkcs1 {
                hash: HashAlg::Sha256,
            },
            SHA_384_WITH_RSA_ENCRYPTION => Self::RsaPkcs1 {
                hash: HashAlg::Sha384,
            },
            SHA_512_WITH_RSA_ENCRYPTION => Self::RsaPkcs1 {
                hash: HashAlg::Sha512,
            },
            RSA_ENCRYPTION => Self::RsaPkcs1 {
                hash: from_digest()?,
            },
            ID_RSASSA_PSS => Self::pss_from_params(sig_alg)?,
            ECDSA_WITH_SHA_1 => der_ecdsa(HashAlg::Sha1),
            ECDSA_WITH_SHA_256 => der_ecdsa(HashAlg::Sha256),
            ECDSA_WITH_SHA_384 => der_ecdsa(HashAlg::Sha384),
            ECDSA_WITH_SHA_512 => der_ecdsa(HashAlg::Sha512),
            ID_EC_PUBLIC_KEY => der_ecdsa(from_digest()?),
            ID_ED25519 => Self::Ed25519,
            ECDSA_WITH_SHA_224 => {
                return Err(AlgError::Unsupported("ecdsa-with-SHA224".into()));
            }
            other => {
                return Err(AlgError::Unsupported(format!(
                    "signature algorithm {other}"
                )))
            }
        })
    }

    fn pss_from_params(alg: &AlgorithmIdentifierOwned) -> Result<Self, AlgError> {
        let bad = |d: String| AlgError::Malformed(format!("RSASSA-PSS parameters: {d}"));
        // RFC 4055 §3.1: absent parameters mean all defaults (SHA-1, MGF1-SHA-1, salt 20).
        let params = match &alg.parameters {
            None => PssParams {
                hash: None,
                mask_gen: None,
                salt_len: None,
                trailer: None,
            },
            Some(p) => {
                let der = p.to_der().map_err(|e| bad(e.to_string()))?;
                PssParams::from_der(&der).map_err(|e| bad(e.to_string()))?
            }
        };
        let hash = match &params.hash {
            None => HashAlg::Sha1,
            Some(a) => hash_from_oid(&a.oid)?,
        };
        let mgf1_hash = match &params.mask_gen {
            None => HashAlg::Sha1,
            Some(mg) if mg.oid == ID_MGF_1 => {
                let inner = mg
                    .parameters
                    .as_ref()
                    .ok_or_else(|| bad("MGF1 without its digest".into()))?
                    .decode_as::<AlgorithmIdentifierOwned>()
                    .map_err(|e| bad(e.to_string()))?;
                hash_from_oid(&inner.oid)?
            }
            Some(mg) => {
                return Err(AlgError::Unsupported(format!(
                    "mask generation function {}",
                    mg.oid
                )))
            }
        };
        if params.trailer.is_some_and(|t| t != 1) {
            return Err(AlgError::Unsupported(
                "PSS trailer field other than 1".into(),
            ));
        }
        Ok(Self::RsaPss {
            hash,
            mgf1_hash,
            salt_len: params.salt_len.unwrap_or(20) as usize,
        })
    }

    /// The message digest this scheme uses (SHA-512 for Ed25519, inside the algorithm).
    pub fn hash(&self) -> HashAlg {
        match *self {
            Self::RsaPkcs1 { hash } | Self::RsaPss { hash, .. } | Self::Ecdsa { hash, .. } => hash,
            Self::Ed25519 => HashAlg::Sha512,
        }
    }

    /// A short name for reports, e.g. "RSA-PSS with SHA-256", "ECDSA with SHA-384".
    pub fn name(&self) -> String {
        match self {
            Self::RsaPkcs1 { hash } => format!("RSA with {}", hash.name()),
            Self::RsaPss { hash, .. } => format!("RSA-PSS with {}", hash.name()),
            Self::Ecdsa { hash, .. } => format!("ECDSA with {}", hash.name()),
            Self::Ed25519 => "Ed25519".into(),
        }
    }

    /// The AlgorithmIdentifier for this scheme as Körpü writes it (CMS signatureAlgorithm,
    /// certificates): the combined OIDs, PSS with explicit parameters.
    pub fn algorithm_identifier(&self) -> Result<AlgorithmIdentifierOwned, AlgError> {
        let plain = |oid| AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        };
        Ok(match *self {
            Self::RsaPkcs1 { hash } => AlgorithmIdentifierOwned {
                oid: match hash {
                    HashAlg::Sha1 => SHA_1_WITH_RSA_ENCRYPTION,
                    HashAlg::Sha256 => SHA_256_WITH_RSA_ENCRYPTION,
                    HashAlg::Sha384 => SHA_384_WITH_RSA_ENCRYPTION,
                    HashAlg::Sha512 => SHA_512_WITH_RSA_ENCRYPTION,
                },
                // RFC 4055 §5: NULL parameters for the PKCS#1 v1.5 OIDs.
                parameters: Some(der::asn1::Null.into()),
            },
            Self::RsaPss {
                hash,
                mgf1_hash,
                salt_len,
            } => {
                let enc = |e: der::Error| AlgError::Malformed(e.to_string());
                let mgf_param =
                    der::Any::encode_from(&mgf1_hash.algorithm_identifier()).map_err(enc)?;
                let params = PssParams {
                    hash: Some(hash.algorithm_identifier()),
                    mask_gen: Some(AlgorithmIdentifierOwned {
                        oid: ID_MGF_1,
                        parameters: Some(mgf_param),
                    }),
                    salt_len: Some(salt_len as u32),
                    trailer: None,
                };
                AlgorithmIdentifierOwned {
                    oid: ID_RSASSA_PSS,
                    parameters: Some(der::Any::encode_from(&params).map_err(enc)?),
                }
            }
            Self::Ecdsa { hash, .. } => plain(match hash {
                HashAlg::Sha1 => ECDSA_WITH_SHA_1,
                HashAlg::Sha256 => ECDSA_WITH_SHA_256,
                HashAlg::Sha384 => ECDSA_WITH_SHA_384,
                HashAlg::Sha512 => ECDSA_WITH_SHA_512,
            }),
            Self::Ed25519 => plain(ID_ED25519),
        })
    }

    /// Verifies `sig` over `msg` with the key in `spki_der` (a SubjectPublicKeyInfo).
    pub fn verify(&self, spki_der: &[u8], msg: &[u8], sig: &[u8]) -> Result<Verified, AlgError> {
        let key = PublicKey::from_spki_der(spki_der)?;
        self.verify_key(&key, msg, sig)
    }

    /// As [`SignatureAlgorithm::verify`] with an already parsed key.
    pub fn verify_key(
        &self,
        key: &PublicKey<'_>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        if let Some(r) = self.verify_ring(key, msg, sig) {
            return r.map(|()| self.verified(key));
        }
        match self {
            Self::Ed25519 => unreachable_ed25519(key),
            _ => self.verify_prehashed_key(key, &self.hash().digest(msg), sig),
        }
    }

    /// Verifies `sig` over a `digest` the caller computed with [`SignatureAlgorithm::hash`]
    /// (Ed25519 signs the message itself, so it has no prehashed form and is unsupported here).
    pub fn verify_prehashed(
        &self,
        spki_der: &[u8],
        digest: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        let key = PublicKey::from_spki_der(spki_der)?;
        self.verify_prehashed_key(&key, digest, sig)
    }

    /// As [`SignatureAlgorithm::verify_prehashed`] with an already parsed key.
    pub fn verify_prehashed_key(
        &self,
        key: &PublicKey<'_>,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<Verified, AlgError> {
        if digest.len() != self.hash().output_len() {
            return Err(AlgError::Malformed(format!(
                "{} digest of {} bytes",
                self.hash().name(),
                digest.len()
            )));
        }
        match (self, key.kind) {
            (Self::RsaPkcs1 { hash }, KeyKind::Rsa { .. }) => {
                rsa_verify(key, rsa_pkcs1_scheme(*hash), digest, sig)?
            }
            (
                Self::RsaPss {
                    hash,
                    mgf1_hash,
                    salt_len,
                },
                KeyKind::Rsa { .. },
            ) => {
                if hash != mgf1_hash {
                    return Err(AlgError::Unsupported(format!(
                        "RSA-PSS with MGF1-{} for a {} digest",
                        mgf1_hash.name(),
                        hash.name()
                    )));
                }
                rsa_verify(key, rsa_pss_scheme(*hash, *salt_len), digest, sig)?
            }
            (Self::Ecdsa { encoding, .. }, KeyKind::Ec { curve }) => {
                ecdsa_verify_prehash(curve, key.raw, digest, sig, *encoding)?
            }
            (Self::Ed25519, KeyKind::Ed25519) => {
                return Err(AlgError::Unsupported(
                    "Ed25519 over a digest (it signs the message itself)".into(),
                ))
            }
            (alg, kind) => {
                return Err(AlgError::Unsupported(format!(
                    "{} with a {} key",
                    alg.name(),
                    kind.name()
                )))
            }
        }
        Ok(self.verified(key))
    }

    fn verified(&self, key: &PublicKey<'_>) -> Verified {
        Verified {
            algorithm: *self,
            key: key.kind,
        }
    }

    /// ring's verdict where ring has this combination, `None` where it has not.
    fn verify_ring(
        &self,
        key: &PublicKey<'_>,
        msg: &[u8],
        sig: &[u8],
    ) -> Option<Result<(), AlgError>> {
        use ring::signature as rs;
        let params: &'static dyn rs::VerificationAlgorithm = match (*self, key.kind) {
            (Self::RsaPkcs1 { hash }, KeyKind::Rsa { bits }) => match (hash, bits) {
                (HashAlg::Sha256, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA256,
                (HashAlg::Sha384, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA384,
                (HashAlg::Sha512, 2048..=8192) => &rs::RSA_PKCS1_2048_8192_SHA512,
                (HashAlg::Sha1, 1024..=8192) => &rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                (HashAlg::Sha256, 1024..=2047) => {
                    &rs::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (HashAlg::Sha512, 1024..=2047) => {
                    &rs::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
                }
                _ => return None,
            },
            (
                Self::RsaPss {
                    hash,
                    mgf1_hash,
                    salt_len,
                },
                KeyKind::Rsa { bits: 2048..=8192 },
            ) if hash == mgf1_hash && salt_len == hash.output_len() => match hash {
                HashAlg::Sha256 => &rs::RSA_PSS_2048_8192_SHA256,
                HashAlg::Sha384 => &rs::RSA_PSS_2048_8192_SHA384,
                HashAlg::Sha512 => &rs::RSA_PSS_2048_8192_SHA512,
                HashAlg::Sha1 => return None,
            },
            (Self::Ecdsa { hash, encoding }, KeyKind::Ec { curve }) => {
                match (curve, hash, encoding) {
                    (Curve::P256, HashAlg::Sha256, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P256_SHA256_ASN1
                    }
                    (Curve::P256, HashAlg::Sha384, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P256_SHA384_ASN1
                    }
                    (Curve::P384, HashAlg::Sha256, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P384_SHA256_ASN1
                    }
                    (Curve::P384, HashAlg::Sha384, EcdsaEncoding::Der) => {
                        &rs::ECDSA_P384_SHA384_ASN1
                    }
                    (Curve::P256, HashAlg::Sha256, EcdsaEncoding::Raw) => {
                        &rs::ECDSA_P256_SHA256_FIXED
                    }
                    (Curve::P384, HashAlg::Sha384, EcdsaEncoding::Raw) => {
                        &rs::ECDSA_P384_SHA384_FIXED
                    }
                    _ => return None,
                }
            }
            (Self::Ed25519, KeyKind::Ed25519) => &rs::ED25519,
            _ => return None,
        };
        let ok = rs::UnparsedPublicKey::new(params, key.raw)
            .verify(msg, sig)
            .is_ok();
        if ok {
            return Some(Ok(()));
        }
        // ring does not say why it refused. Its refusal of a well-formed signature is a
        // mismatch; RustCrypto then gives the precise class (malformed value, odd exponent),
        // and for Ed25519 the only other reason is a malformed value.
        match (self, key.kind) {
            (Self::Ed25519, _) => Some(if sig.len() == 64 {
                Err(AlgError::BadSignature(
                    "Ed25519 signature does not match the key and data".into(),
                ))
            } else {
                Err(AlgError::Malformed(format!(
                    "Ed25519 signature of {} bytes",
                    sig.len()
                )))
            }),
            _ => None,
        }
    }
}

fn unreachable_ed25519(key: &PublicKey<'_>) -> Result<Verified, AlgError> {
    // verify_ring answers every Ed25519 key; reaching here means the key is of another type.
    Err(AlgError::Unsupported(format!(
        "Ed25519 with a {} key",
        key.kind.name()
    )))
}

/// What was verified, for a policy to judge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The scheme.
    pub algorithm: SignatureAlgorithm,
    /// The key's type and size.
    pub key: KeyKind,
}

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
    raw: &'a [u8],
}

/// The largest RSA modulus verified: bigger keys cost seconds per check (a resource attack).
const MAX_RSA_BITS: usize = 16384;

impl<'a> PublicKey<'a> {
    /// Parses a SubjectPublicKeyInfo DER.
    pub fn from_spki_der(spki_der: &'a [u8]) -> Result<Self, AlgError> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| AlgError::Malformed(format!("public key: {e}")))?;
        let curve = match &spki.algorithm.parameters {
            Some(p) if spki.algorithm.oid == ID_EC_PUBLIC_KEY => {
                p.decode_as::<ObjectIdentifier>().ok()
            }
            _ => None,
        };
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| AlgError::Malformed("public key BIT STRING has unused bits".into()))?;
        Self::from_parts(spki.algorithm.oid, curve, raw)
    }

    /// A parsed certificate's key.
    pub fn from_spki(spki: &'a spki::SubjectPublicKeyInfoOwned) -> Result<Self, AlgError> {
        let curve = match &spki.algorithm.parameters {
            Some(p) if spki.algorithm.oid == ID_EC_PUBLIC_KEY => {
                p.decode_as::<ObjectIdentifier>().ok()
            }
            _ => None,
        };
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| AlgError::Malformed("public key BIT STRING has unused bits".into()))?;
        Self::from_parts(spki.algorithm.oid, curve, raw)
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

fn rsa_pkcs1_scheme(hash: HashAlg) -> rsa::Pkcs1v15Sign {
    match hash {
        HashAlg::Sha1 => rsa::Pkcs1v15Sign::new::<Sha1>(),
        HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
        HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
        HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
    }
}

fn rsa_pss_scheme(hash: HashAlg, salt_len: usize) -> rsa::Pss {
    match hash {
        HashAlg::Sha1 => rsa::Pss::new_with_salt::<Sha1>(salt_len),
        HashAlg::Sha256 => rsa::Pss::new_with_salt::<Sha256>(salt_len),
        HashAlg::Sha384 => rsa::Pss::new_with_salt::<Sha384>(salt_len),
        HashAlg::Sha512 => rsa::Pss::new_with_salt::<Sha512>(salt_len),
    }
}

fn rsa_verify<S: rsa::traits::SignatureScheme>(
    key: &PublicKey<'_>,
    scheme: S,
    digest: &[u8],
    sig: &[u8],
) -> Result<(), AlgError> {
    let pk = rsa::pkcs1::RsaPublicKey::from_der(key.raw)
        .map_err(|e| AlgError::Malformed(format!("RSA key: {e}")))?;
    let n = rsa::BigUint::from_bytes_be(pk.modulus.as_bytes());
    let e = rsa::BigUint::from_bytes_be(pk.public_exponent.as_bytes());
    let key = rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS)
        .map_err(|e| AlgError::Unsupported(format!("RSA key: {e}")))?;
    match key.verify(scheme, digest, sig) {
        Ok(()) => Ok(()),
        Err(rsa::Error::Verification) => Err(AlgError::BadSignature(
            "RSA signature does not match the key and data".into(),
        )),
        Err(e) => Err(AlgError::BadSignature(format!("RSA signature: {e}"))),
    }
}

fn ecdsa_verify_prehash(
    curve: Curve,
    point: &[u8],
    digest: &[u8],
    sig: &[u8],
    encoding: EcdsaEncoding,
) -> Result<(), AlgError> {
    use ecdsa::signature::hazmat::PrehashVerifier;
    let bad_key = |e: ecdsa::Error| AlgError::Malformed(format!("{} key: {e}", curve.name()));
    let bad_sig = |e: ecdsa::Error| {
        AlgError::Malformed(format!("{} ECDSA signature value: {e}", curve.name()))
    };
    let mismatch = |_| {
        AlgError::BadSignature(format!(
            "ECDSA {} signature does not match the key and data",
            curve.name()
        ))
    };
    // A digest shorter than the group order is used as an integer as it is (FIPS 186-4
    // §6.4); the RustCrypto verifier wants at least half the field, so pad on the left, which
    // leaves that integer unchanged.
    let field = curve.bits().div_ceil(8);
    let mut padded = vec![0u8; field.saturating_sub(digest.len())];
    padded.extend_from_slice(digest);
    macro_rules! run {
        ($vk:ty, $sig:ty) => {{
            let vk = <$vk>::from_sec1_bytes(point).map_err(bad_key)?;
            let s = match encoding {
                EcdsaEncoding::Der => <$sig>::from_der(sig).map_err(bad_sig)?,
                EcdsaEncoding::Raw => <$sig>::from_slice(sig).map_err(bad_sig)?,
            };
            vk.verify_prehash(&padded, &s).map_err(mismatch)
        }};
    }
    match curve {
        Curve::P256 => run!(p256::ecdsa::VerifyingKey, p256::ecdsa::Signature),
        Curve::P384 => run!(p384::ecdsa::VerifyingKey, p384::ecdsa::Signature),
        Curve::P521 => run!(p521::ecdsa::VerifyingKey, p521::ecdsa::Signature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::EncodePublicKey;

    fn p384_key() -> (p384::ecdsa::SigningKey, Vec<u8>) {
        let k = p384::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let spki = k.verifying_key().to_public_key_der().unwrap().into_vec();
        (k, spki)
    }

    fn rsa_key(bits: usize) -> (rsa::RsaPrivateKey, Vec<u8>) {
        let k = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
        let spki = k.to_public_key().to_public_key_der().unwrap().into_vec();
        (k, spki)
    }

    #[test]
    fn rsa_pkcs1_and_pss_with_every_digest_and_salt() {
        let (k, spki) = rsa_key(2048);
        for hash in [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ] {
            let d = hash.digest(b"doc");
            let sig = k.sign(rsa_pkcs1_scheme(hash), &d).unwrap();
            let alg = SignatureAlgorithm::RsaPkcs1 { hash };
            let v = alg.verify(&spki, b"doc", &sig).unwrap();
            assert_eq!(v.key, KeyKind::Rsa { bits: 2048 });
            alg.verify_prehashed(&spki, &d, &sig).unwrap();
            let mut bad = sig.clone();
            let n = bad.len();
            bad[n - 3] ^= 1;
            assert!(matches!(
                alg.verify(&spki, b"doc", &bad),
                Err(AlgError::BadSignature(_))
            ));
            assert!(matches!(
                alg.verify(&spki, b"dox", &sig),
                Err(AlgError::BadSignature(_))
            ));
            // Salt as long as the digest (ring's path) and the maximum (pyHanko's choice).
            for salt_len in [hash.output_len(), 256 - hash.output_len() - 2] {
                let sig = k
                    .sign_with_rng(&mut rand_core::OsRng, rsa_pss_scheme(hash, salt_len), &d)
                    .unwrap();
                let alg = SignatureAlgorithm::RsaPss {
                    hash,
                    mgf1_hash: hash,
                    salt_len,
                };
                alg.verify(&spki, b"doc", &sig).unwrap();
                let mut bad = sig.clone();
                bad[10] ^= 1;
                assert!(matches!(
                    alg.verify(&spki, b"doc", &bad),
                    Err(AlgError::BadSignature(_))
                ));
            }
        }
    }

    #[test]
    fn legacy_rsa_1024_verifies_and_reports_its_size() {
        let (k, spki) = rsa_key(1024);
        let d = HashAlg::Sha1.digest(b"old");
        let sig = k.sign(rsa_pkcs1_scheme(HashAlg::Sha1), &d).unwrap();
        let v = SignatureAlgorithm::RsaPkcs1 {
            hash: HashAlg::Sha1,
        }
        .verify(&spki, b"old", &sig)
        .unwrap();
        assert_eq!(v.key.bits(), 1024);
    }

    #[test]
    fn ed25519_verifies_and_a_flipped_bit_is_a_bad_signature() {
        use ring::signature::KeyPair;
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap();
        let kp = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let spki = spki::SubjectPublicKeyInfoRef {
            algorithm: spki::AlgorithmIdentifierRef {
                oid: ID_ED25519,
                parameters: None,
            },
            subject_public_key: der::asn1::BitStringRef::from_bytes(kp.public_key().as_ref())
                .unwrap(),
        }
        .to_der()
        .unwrap();
        let sig = kp.sign(b"m");
        SignatureAlgorithm::Ed25519
            .verify(&spki, b"m", sig.as_ref())
            .unwrap();
        let mut bad = sig.as_ref().to_vec();
        bad[3] ^= 1;
        assert!(matches!(
            SignatureAlgorithm::Ed25519.verify(&spki, b"m", &bad),
            Err(AlgError::BadSignature(_))
        ));
    }

    #[test]
    fn the_curve_comes_from_the_key_not_the_hash() {
        use ecdsa::signature::hazmat::PrehashSigner;
        let (k, spki) = p384_key();
        // P-384 key, SHA-256 digest: the combination the old verifier handed to P-256.
        for hash in [
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
            HashAlg::Sha1,
        ] {
            let mut d = vec![0u8; 48usize.saturating_sub(hash.output_len())];
            d.extend(hash.digest(b"doc"));
            let sig: p384::ecdsa::Signature = k.sign_prehash(&d).unwrap();
            let alg = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Der,
            };
            let v = alg.verify(&spki, b"doc", sig.to_der().as_bytes()).unwrap();
            assert_eq!(v.key, KeyKind::Ec { curve: Curve::P384 });
            let raw = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Raw,
            };
            raw.verify(&spki, b"doc", &sig.to_bytes()).unwrap();
            assert!(matches!(
                alg.verify(&spki, b"dox", sig.to_der().as_bytes()),
                Err(AlgError::BadSignature(_))
            ));
        }
    }

    #[test]
    fn p521_with_a_short_digest_verifies() {
        use ecdsa::signature::hazmat::PrehashSigner;
        let k = p521::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let vk = p521::ecdsa::VerifyingKey::from(&k);
        let spki = p521::PublicKey::from_sec1_bytes(vk.to_encoded_point(false).as_bytes())
            .unwrap()
            .to_public_key_der()
            .unwrap()
            .into_vec();
        for hash in [HashAlg::Sha256, HashAlg::Sha512] {
            let mut d = vec![0u8; 66 - hash.output_len()];
            d.extend(hash.digest(b"x"));
            let sig: p521::ecdsa::Signature = k.sign_prehash(&d).unwrap();
            let alg = SignatureAlgorithm::Ecdsa {
                hash,
                encoding: EcdsaEncoding::Der,
            };
            alg.verify(&spki, b"x", sig.to_der().as_bytes()).unwrap();
            assert!(matches!(
                alg.verify(&spki, b"y", sig.to_der().as_bytes()),
                Err(AlgError::BadSignature(_))
            ));
        }
    }

    #[test]
    fn unknown_algorithms_are_unsupported_not_bad() {
        let alg = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"), // dsa-with-sha1
            parameters: None,
        };
        assert!(matches!(
            SignatureAlgorithm::from_x509(&alg),
            Err(AlgError::Unsupported(_))
        ));
        let (_, spki) = p384_key();
        // An RSA scheme with an EC key is undecidable, not a forgery.
        assert!(matches!(
            SignatureAlgorithm::RsaPkcs1 {
                hash: HashAlg::Sha256
            }
            .verify(&spki, b"x", &[0; 256]),
            Err(AlgError::Unsupported(_))
        ));
        assert!(matches!(
            PublicKey::from_spki_der(b"junk"),
            Err(AlgError::Malformed(_))
        ));
    }

    #[test]
    fn rsa_encryption_takes_the_digest_from_the_signer_info() {
        let alg = AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: None,
        };
        assert_eq!(
            SignatureAlgorithm::from_cms(&alg, Some(&ID_SHA_384)).unwrap(),
            SignatureAlgorithm::RsaPkcs1 {
                hash: HashAlg::Sha384
            }
        );
        assert!(matches!(
            SignatureAlgorithm::from_x509(&alg),
            Err(AlgError::Unsupported(_))
        ));
    }

    #[test]
    fn pss_parameters_round_trip() {
        let a = SignatureAlgorithm::RsaPss {
            hash: HashAlg::Sha384,
            mgf1_hash: HashAlg::Sha384,
            salt_len: 222,
        };
        let id = a.algorithm_identifier().unwrap();
        assert_eq!(SignatureAlgorithm::from_x509(&id).unwrap(), a);
        // Absent parameters are RFC 4055's defaults.
        let bare = AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: None,
        };
        assert_eq!(
            SignatureAlgorithm::from_x509(&bare).unwrap(),
            SignatureAlgorithm::RsaPss {
                hash: HashAlg::Sha1,
                mgf1_hash: HashAlg::Sha1,
                salt_len: 20
            }
        );
    }
}
