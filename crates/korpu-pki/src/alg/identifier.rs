//! Reading and writing signature AlgorithmIdentifiers: which [`SignatureAlgorithm`] an
//! X.509 or CMS identifier names (RSASSA-PSS parameters included), and the identifier Körpü
//! writes for one.
//!
//! Nothing here touches a key or a signature value; that is `verify`'s job.

use super::{
    hash_from_oid, AlgError, EcdsaEncoding, HashAlg, SignatureAlgorithm, ECDSA_WITH_SHA_1,
    ID_ED25519,
};
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_224, ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512,
    ID_EC_PUBLIC_KEY, ID_MGF_1, ID_RSASSA_PSS, RSA_ENCRYPTION, SHA_1_WITH_RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;

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
}
