//! Creation of detached CAdES baseline signatures (ETSI EN 319 122-1): B-B, and B-T with a
//! signature time-stamp from a [`Timestamper`].
//!
//! A signature is a CMS SignedData (RFC 5652) without encapsulated content, SHA-256 and
//! ecdsa-with-SHA256, whose signed attributes are content-type, message-digest, signing-time and
//! signing-certificate-v2 (the attributes EN 319 122-1 §6.3 requires for B-B), and which carries
//! the signer certificate and its chain. B-T adds the id-aa-signatureTimeStampToken unsigned
//! attribute over the signature value (§5.3). Not here: content-hints, commitment types,
//! signature policies, counter-signatures, and the B-LT/B-LTA validation data.
use std::time::SystemTime;

use crate::keys::SignatureKey;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerInfo, SignerInfos,
    UnsignedAttributes,
};
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    ID_SIGNING_TIME,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use korpu_pki::cert::Certificate;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;

use crate::ess::{self, EssCertIdV2, IssuerSerial, SigningCertificateV2};
use crate::{SignError, Timestamper};

/// Who signs: the key, its certificate, and the CA certificates to include so that a verifier
/// holding only the root can build the chain.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    /// The signing key (its certificate's key): the platform's P-256
    /// [`korpu_pki::key::SigningKey`], or a [`crate::keys::DocumentKey`] (RSA, P-384).
    pub key: &'a dyn SignatureKey,
    /// The signer certificate (profile `MemberSigning`).
    pub cert: &'a Certificate,
    /// Intermediate CA certificates (and optionally the root) to embed.
    pub chain: &'a [Certificate],
}

/// Signs `data` as a detached CAdES signature and returns the DER ContentInfo (a `.p7s`).
/// With a `timestamper` the result is B-T, otherwise B-B.
pub fn sign(
    data: &[u8],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, SignError> {
    sign_digest(
        &Sha256::digest(data).into(),
        signer,
        signing_time,
        timestamper,
    )
}

/// Like [`sign`], for data whose SHA-256 the caller has already computed (large files).
pub fn sign_digest(
    sha256: &[u8; 32],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, SignError> {
    sign_inner(sha256, signer, signing_time, timestamper, true)
}

/// The CMS for a PAdES signature: as [`sign_digest`] but without the signing-time attribute,
/// which EN 319 142-1 §5.2.1 forbids (the claimed time is the signature dictionary's /M).
pub(crate) fn sign_digest_pades(
    sha256: &[u8; 32],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Vec<u8>, SignError> {
    sign_inner(sha256, signer, signing_time, timestamper, false)
}

fn sign_inner(
    sha256: &[u8; 32],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    with_signing_time: bool,
) -> Result<Vec<u8>, SignError> {
    let enc = |e: der::Error| SignError::encoding("CAdES signature", e);
    if signer.cert.public_key_der() != signer.key.public_key_der() {
        return Err(SignError::KeyMismatch(signer.cert.subject()));
    }
    // A signature claiming a time at which its certificate was not valid is one no validator
    // accepts; refuse to make it rather than hand out something that fails later.
    signer.cert.check_validity(signing_time)?;

    let tbs = &signer.cert.parsed().tbs_certificate;
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(Sha256::digest(signer.cert.der()).to_vec()).map_err(enc)?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: tbs.serial_number.clone(),
            }),
        }],
        policies: None,
    };
    let mut attrs = vec![
        attr(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(enc)?)?,
        attr(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(sha256.to_vec()).map_err(enc)?).map_err(enc)?,
        )?,
        attr(
            ID_AA_SIGNING_CERTIFICATE_V_2,
            Any::encode_from(&ess).map_err(enc)?,
        )?,
    ];
    if with_signing_time {
        attrs.push(attr(
            ID_SIGNING_TIME,
            ess::signing_time_any(signing_time).map_err(enc)?,
        )?);
    }
    let signed_attrs: SignedAttributes = SetOfVec::try_from(attrs).map_err(enc)?;
    // RFC 5652 §5.4: the signature is over the DER of the attributes with the SET OF tag.
    let signature = signer
        .key
        .sign_message(&signed_attrs.to_der().map_err(enc)?)?;
    let signature_algorithm = signer
        .key
        .algorithm()
        .algorithm_identifier()
        .map_err(|e| SignError::encoding("signature algorithm", e))?;

    let unsigned_attrs = match timestamper {
        Some(t) => Some(timestamp_attrs(&signature, t)?),
        None => None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: ess::sid_for(signer.cert),
        digest_alg: sha256_alg(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs,
    };
    let mut certs = vec![CertificateChoices::Certificate(
        signer.cert.parsed().clone(),
    )];
    for c in signer.chain.iter().filter(|c| *c != signer.cert) {
        certs.push(CertificateChoices::Certificate(c.parsed().clone()));
    }
    let signed = SignedData {
        // RFC 5652 §5.1: version 1 for id-data content, issuerAndSerialNumber, X.509 only.
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(enc)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs).map_err(enc)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(enc)?),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// Extends a B-B signature to B-T: adds a signature time-stamp to every signer that has none.
/// Signers already time-stamped are left as they are.
pub fn add_signature_timestamp(
    p7s: &[u8],
    timestamper: &dyn Timestamper,
) -> Result<Vec<u8>, SignError> {
    let enc = |e: der::Error| SignError::encoding("CAdES signature", e);
    let sd = parse_signed_data(p7s).map_err(|d| SignError::malformed("CAdES signature", d))?;
    let mut infos = Vec::new();
    for si in sd.signer_infos.0.iter() {
        let mut si = si.clone();
        let stamped = si.unsigned_attrs.as_ref().is_some_and(|u| {
            u.iter()
                .any(|a| a.oid == ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        });
        if !stamped {
            let ts = timestamp_attrs(si.signature.as_bytes(), timestamper)?;
            let mut all: Vec<Attribute> = si
                .unsigned_attrs
                .take()
                .map(|u| u.into_vec())
                .unwrap_or_default();
            all.extend(ts.into_vec());
            si.unsigned_attrs = Some(SetOfVec::try_from(all).map_err(enc)?);
        }
        infos.push(si);
    }
    with_signer_infos(sd, infos)
}

/// `sd` with `infos` as its SignerInfos, as a DER ContentInfo: how an extended signature (a
/// time-stamp or revocation values added to its unsigned attributes) is written back.
pub(crate) fn with_signer_infos(
    mut sd: SignedData,
    infos: Vec<SignerInfo>,
) -> Result<Vec<u8>, SignError> {
    let enc = |e: der::Error| SignError::encoding("CAdES signature", e);
    sd.signer_infos = SignerInfos(SetOfVec::try_from(infos).map_err(enc)?);
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

fn timestamp_attrs(
    signature: &[u8],
    timestamper: &dyn Timestamper,
) -> Result<UnsignedAttributes, SignError> {
    let enc = |e: der::Error| SignError::encoding("signature time-stamp attribute", e);
    let token = timestamper.timestamp(&Sha256::digest(signature).into())?;
    let token = Any::from_der(&token)
        .map_err(|e| SignError::Timestamp(format!("the TSA's token is not DER: {e}")))?;
    SetOfVec::try_from(vec![attr(ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN, token)?]).map_err(enc)
}

fn attr(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SignError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])
            .map_err(|e| SignError::encoding("signed attribute", e))?,
    })
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    }
}

/// Parses a DER ContentInfo holding a SignedData; the error says what is wrong, for reports.
///
/// BER input (indefinite lengths, constructed OCTET STRINGs: what `openssl cms -stream` and Java
/// signers write), and a certificate or CRL listed twice (`openssl ts -reply` tokens), are parsed
/// in a DER form without them ([`korpu_pki::ber::cms_for_parsing`]); signatures over signed
/// attributes are then still checked over the original bytes ([`korpu_pki::ber::cms_signer_infos`]).
pub(crate) fn parse_signed_data(p7s: &[u8]) -> Result<SignedData, String> {
    let normalised;
    let input = match ContentInfo::from_der(p7s) {
        Ok(_) => p7s,
        Err(der_err) => {
            normalised = korpu_pki::ber::cms_for_parsing(p7s)
                .map_err(|e| format!("not a DER or BER CMS ContentInfo: {der_err}; {e}"))?;
            &normalised[..]
        }
    };
    let ci = ContentInfo::from_der(input).map_err(|e| format!("not a DER CMS ContentInfo: {e}"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(format!(
            "content type {} is not signedData",
            ci.content_type
        ));
    }
    let inner = ci.content.to_der().map_err(|e| e.to_string())?;
    SignedData::from_der(&inner).map_err(|e| format!("SignedData: {e}"))
}

/// What one signer of a CAdES signature carries that outside tools check separately: the
/// signature value and the signature time-stamp tokens over it (for `openssl ts -verify
/// -data`, or for archiving the evidence on its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerParts {
    /// The signature value (DER ECDSA-Sig-Value for our signatures).
    pub signature_value: Vec<u8>,
    /// The id-aa-signatureTimeStampToken values, each a DER TimeStampToken.
    pub timestamp_tokens: Vec<Vec<u8>>,
}

/// Splits a CAdES signature into its signers' [`SignerParts`].
pub fn signer_parts(p7s: &[u8]) -> Result<Vec<SignerParts>, SignError> {
    let sd = parse_signed_data(p7s).map_err(|d| SignError::malformed("CAdES signature", d))?;
    let mut out = Vec::new();
    for si in sd.signer_infos.0.iter() {
        let mut timestamp_tokens = Vec::new();
        for a in si.unsigned_attrs.iter().flat_map(|u| u.iter()) {
            if a.oid == ess::ID_AA_SIGNATURE_TIME_STAMP_TOKEN {
                for v in a.values.iter() {
                    timestamp_tokens.push(
                        v.to_der()
                            .map_err(|e| SignError::malformed("signature time-stamp", e))?,
                    );
                }
            }
        }
        out.push(SignerParts {
            signature_value: si.signature.as_bytes().to_vec(),
            timestamp_tokens,
        });
    }
    Ok(out)
}
