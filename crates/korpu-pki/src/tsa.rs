//! RFC 3161 time-stamping: a pure authority (request bytes in, response bytes out) and the
//! client helpers the ledger uses to request and verify tokens.
//!
//! Tokens are CMS SignedData (RFC 5652) over a TSTInfo, signed with ECDSA-SHA256 and carrying
//! the ESS signingCertificateV2 attribute (RFC 5816) that binds the token to the TSA certificate.
//! Not supported: the `accuracy`, `ordering` and `tsa` TSTInfo fields, request extensions (any
//! extension is refused as RFC 3161 §2.4.1 requires for unknown ones), and SHA-1 imprints.
use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE, ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST,
    ID_SIGNED_DATA, ID_SIGNING_TIME,
};
use const_oid::AssociatedOid;
use der::asn1::{BitString, Int, Null, ObjectIdentifier, OctetString, SetOfVec, Uint, UtcTime};
use der::{Any, Decode, Encode, Sequence, Tagged};
use rand_core::{OsRng, RngCore};
use spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::serial_number::SerialNumber;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion, TstInfo};

use crate::cert::{verify_chain, Certificate};
use crate::key::SigningKey;
use crate::util::{self, HashAlg, ID_CT_TST_INFO};
use crate::PkiError;

/// PKIStatusInfo (RFC 3161 §2.4.2). Defined here rather than taken from `cmpv2`, whose
/// PKIFailureInfo flag values are masks mistaken for bit numbers (badAlg would encode as no bit).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// TimeStampResp (RFC 3161 §2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// IssuerSerial (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// ESSCertIDv2 (RFC 5035 §4). `hashAlgorithm` is `DEFAULT {algorithm id-sha256}`; DER omits a
/// default value, so `None` stands for SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Vec<Any>>,
}

/// ESSCertID (RFC 2634 §5.4.1), SHA-1; accepted on tokens from other TSAs.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

/// SigningCertificate (RFC 2634 §5.4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Vec<Any>>,
}

/// Longest nonce (INTEGER content octets) a request may carry.
pub const MAX_NONCE_OCTETS: usize = 32;

/// PKIStatus values (RFC 3161 §2.4.2).
const GRANTED: u8 = 0;
const GRANTED_WITH_MODS: u8 = 1;
const REJECTION: u8 = 2;

/// PKIFailureInfo bit numbers (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailInfo {
    BadAlg = 0,
    BadDataFormat = 5,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    SystemFailure = 25,
}

impl FailInfo {
    fn bits(self) -> BitString {
        // A named BIT STRING in DER has no trailing zero bits (X.690 §11.2.2), so the value is
        // exactly as long as needed to hold the one bit set.
        let bit = self as usize;
        let mut bytes = vec![0u8; bit / 8 + 1];
        bytes[bit / 8] = 0x80 >> (bit % 8);
        BitString::new((7 - bit % 8) as u8, bytes)
            .expect("a BIT STRING with fewer than 8 unused bits is valid")
    }

    fn name_of_bit(bit: usize) -> &'static str {
        match bit {
            0 => "badAlg",
            2 => "badRequest",
            5 => "badDataFormat",
            14 => "timeNotAvailable",
            15 => "unacceptedPolicy",
            16 => "unacceptedExtension",
            17 => "addInfoNotAvailable",
            25 => "systemFailure",
            _ => "unknown failure",
        }
    }
}

/// A time-stamping authority: certificate, key, chain to include, and the policy it operates.
#[derive(Clone, Debug)]
pub struct Authority {
    /// The TSA certificate (profile [`crate::ca::Profile::Tsa`]).
    pub cert: Certificate,
    /// Its key.
    pub key: SigningKey,
    /// Further certificates to include when the request sets certReq (the issuing CA, ...).
    pub chain: Vec<Certificate>,
    /// The TSA policy OID put in every TSTInfo.
    pub policy: ObjectIdentifier,
}

struct Rejection {
    info: FailInfo,
    text: String,
}

impl Rejection {
    fn new(info: FailInfo, text: impl Into<String>) -> Self {
        Rejection {
            info,
            text: text.into(),
        }
    }
}

impl Authority {
    /// An authority after checking that `key` belongs to `cert` and that `cert` is a TSA
    /// certificate (critical, sole EKU timeStamping, RFC 3161 §2.3).
    pub fn new(
        cert: Certificate,
        key: SigningKey,
        chain: Vec<Certificate>,
        policy: ObjectIdentifier,
    ) -> Result<Self, PkiError> {
        if cert.public_key_der() != key.public_key_der() {
            return Err(PkiError::InvalidIssueRequest(format!(
                "the TSA key does not belong to \"{}\"",
                cert.subject()
            )));
        }
        check_tsa_cert(&cert)?;
        Ok(Authority {
            cert,
            key,
            chain,
            policy,
        })
    }

    /// Answers a DER TimeStampReq with a DER TimeStampResp: granted with a token stamped `now`
    /// with serial number `serial`, or a rejection naming the problem. Never panics.
    pub fn respond(&self, request_der: &[u8], now: SystemTime, serial: u64) -> Vec<u8> {
        self.respond_explained(request_der, now, serial).0
    }

    /// Like [`Authority::respond`], also returning the reason for a rejection, for logging.
    pub fn respond_explained(
        &self,
        request_der: &[u8],
        now: SystemTime,
        serial: u64,
    ) -> (Vec<u8>, Option<String>) {
        let (resp, why) = match self.grant(request_der, now, serial) {
            Ok(token) => (
                TimeStampResp {
                    status: PkiStatusInfo {
                        status: GRANTED,
                        status_string: None,
                        fail_info: None,
                    },
                    time_stamp_token: Some(token),
                },
                None,
            ),
            Err(r) => (
                TimeStampResp {
                    status: PkiStatusInfo {
                        status: REJECTION,
                        status_string: Some(vec![r.text.clone()]),
                        fail_info: Some(r.info.bits()),
                    },
                    time_stamp_token: None,
                },
                Some(r.text),
            ),
        };
        match resp.to_der() {
            Ok(der) => (der, why),
            // Only a status string over the DER length limits could get here; answer without it.
            Err(_) => (
                TimeStampResp {
                    status: PkiStatusInfo {
                        status: REJECTION,
                        status_string: None,
                        fail_info: Some(FailInfo::SystemFailure.bits()),
                    },
                    time_stamp_token: None,
                }
                .to_der()
                .expect("a bare rejection always encodes"),
                why,
            ),
        }
    }

    fn grant(
        &self,
        request_der: &[u8],
        now: SystemTime,
        serial: u64,
    ) -> Result<ContentInfo, Rejection> {
        let req = TimeStampReq::from_der(request_der).map_err(|e| {
            Rejection::new(
                FailInfo::BadDataFormat,
                format!("not a DER TimeStampReq: {e}"),
            )
        })?;
        let alg = &req.message_imprint.hash_algorithm;
        let hash = match HashAlg::from_oid(&alg.oid) {
            Some(h @ (HashAlg::Sha256 | HashAlg::Sha384 | HashAlg::Sha512)) => h,
            _ => {
                return Err(Rejection::new(
                    FailInfo::BadAlg,
                    format!(
                        "hash algorithm {} is not accepted (SHA-256/384/512 are)",
                        alg.oid
                    ),
                ))
            }
        };
        if alg
            .parameters
            .as_ref()
            .is_some_and(|p| p.tag() != der::Tag::Null || !p.value().is_empty())
        {
            return Err(Rejection::new(
                FailInfo::BadAlg,
                "hash algorithm parameters must be absent or NULL",
            ));
        }
        let imprint_len = req.message_imprint.hashed_message.as_bytes().len();
        if imprint_len != hash.output_len() {
            return Err(Rejection::new(
                FailInfo::BadDataFormat,
                format!(
                    "a {:?} digest is {} octets, the request has {imprint_len}",
                    hash,
                    hash.output_len()
                ),
            ));
        }
        // The nonce is the requester's, echoed into the signed token: bounded, so nobody has
        // the TSA sign a megabyte of their choosing (64 bits is customary; RFC 3161 §2.4.1
        // wants "a large random number", which 32 octets covers), and not negative, which a
        // random number never is and which some verifiers compare wrongly.
        if let Some(nonce) = &req.nonce {
            let octets = nonce.as_bytes();
            if octets.len() > MAX_NONCE_OCTETS {
                return Err(Rejection::new(
                    FailInfo::BadDataFormat,
                    format!(
                        "the nonce is {} octets long; at most {MAX_NONCE_OCTETS} are accepted",
                        octets.len()
                    ),
                ));
            }
            if octets.first().is_some_and(|b| b & 0x80 != 0) {
                return Err(Rejection::new(
                    FailInfo::BadDataFormat,
                    "the nonce is negative; it must be a positive random number",
                ));
            }
        }
        // RFC 3161 §2.4.2: the policy in the token MUST be the requested one; a TSA that does
        // not operate under it must refuse rather than claim it.
        if let Some(p) = req.req_policy {
            if p != self.policy {
                return Err(Rejection::new(
                    FailInfo::UnacceptedPolicy,
                    format!(
                        "policy {p} is not offered (this TSA operates under {})",
                        self.policy
                    ),
                ));
            }
        }
        if req.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return Err(Rejection::new(
                FailInfo::UnacceptedExtension,
                "request extensions are not supported",
            ));
        }
        if serial == 0 {
            // RFC 3161 §2.4.2: serialNumber is a positive integer.
            return Err(Rejection::new(
                FailInfo::SystemFailure,
                "time-stamp serial counter returned 0",
            ));
        }
        self.sign_token(&req, now, serial)
            .map_err(|e| Rejection::new(FailInfo::SystemFailure, format!("cannot sign token: {e}")))
    }

    fn sign_token(
        &self,
        req: &TimeStampReq,
        now: SystemTime,
        serial: u64,
    ) -> Result<ContentInfo, PkiError> {
        let enc = |e: der::Error| PkiError::encoding("time-stamp token", e);
        if self.cert.public_key_der() != self.key.public_key_der() {
            return Err(PkiError::InvalidIssueRequest(
                "TSA key does not match its certificate".into(),
            ));
        }
        let serial_number = Int::from(Uint::new(&serial.to_be_bytes()).map_err(enc)?);
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: self.policy,
            // RFC 3161 §2.4.2: messageImprint MUST equal the request's, algorithm included.
            message_imprint: req.message_imprint.clone(),
            serial_number,
            gen_time: util::generalized_time(now)?,
            accuracy: None,
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: None,
            extensions: None,
        };
        let tst_der = tst.to_der().map_err(enc)?;

        let tbs = &self.cert.parsed().tbs_certificate;
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(HashAlg::Sha256.digest(self.cert.der()))
                    .map_err(enc)?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                    serial_number: tbs.serial_number.clone(),
                }),
            }],
            policies: None,
        };
        let attr = |oid, value: Any| -> Result<Attribute, PkiError> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(enc)?,
            })
        };
        let signing_time = UtcTime::from_unix_duration(util::whole_seconds(now)?).map_err(enc)?;
        let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
            attr(
                ID_CONTENT_TYPE,
                Any::encode_from(&ID_CT_TST_INFO).map_err(enc)?,
            )?,
            attr(
                ID_SIGNING_TIME,
                Any::encode_from(&signing_time).map_err(enc)?,
            )?,
            attr(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(HashAlg::Sha256.digest(&tst_der)).map_err(enc)?)
                    .map_err(enc)?,
            )?,
            attr(
                ID_AA_SIGNING_CERTIFICATE_V_2,
                Any::encode_from(&ess).map_err(enc)?,
            )?,
        ])
        .map_err(enc)?;
        // RFC 5652 §5.4: the signature covers the DER of the attributes with a SET OF tag.
        let signature = self.key.sign(&signed_attrs.to_der().map_err(enc)?);

        let sha256 = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_256,
            parameters: None,
        };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: util::ecdsa_sha256_alg(),
            signature: OctetString::new(signature).map_err(enc)?,
            unsigned_attrs: None,
        };
        let certificates = if req.cert_req {
            let mut set = vec![CertificateChoices::Certificate(self.cert.parsed().clone())];
            set.extend(
                self.chain
                    .iter()
                    .filter(|c| **c != self.cert)
                    .map(|c| CertificateChoices::Certificate(c.parsed().clone())),
            );
            Some(CertificateSet(SetOfVec::try_from(set).map_err(enc)?))
        } else {
            None
        };
        let signed = SignedData {
            // RFC 5652 §5.1: version 3 because eContentType is not id-data.
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).map_err(enc)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).map_err(enc)?).map_err(enc)?,
                ),
            },
            certificates,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(enc)?),
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed).map_err(enc)?,
        })
    }
}

/// RFC 3161 §2.3: the TSA certificate's only extended key usage is timeStamping, critical.
fn check_tsa_cert(cert: &Certificate) -> Result<(), PkiError> {
    let wrong = |reason: &str| PkiError::WrongCertificateUsage {
        subject: cert.subject(),
        reason: reason.into(),
    };
    match cert.extension(x509_cert::ext::pkix::ExtendedKeyUsage::OID) {
        Some((true, _)) => {}
        Some((false, _)) => {
            return Err(wrong(
                "its extendedKeyUsage is not critical (RFC 3161 §2.3)",
            ))
        }
        None => return Err(wrong("it has no extendedKeyUsage timeStamping")),
    }
    if cert.extended_key_usage() != Some(vec![ID_KP_TIME_STAMPING]) {
        return Err(wrong(
            "its extendedKeyUsage must be timeStamping and nothing else (RFC 3161 §2.3)",
        ));
    }
    Ok(())
}

/// A DER TimeStampReq for a SHA-256 digest with certReq true and a random 63-bit nonce.
/// Returns the request and the nonce (the INTEGER's content octets) for [`verify_response`].
pub fn build_request(sha256_digest: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
    let nonce_value = (OsRng.next_u64() >> 1).max(1);
    let nonce = Int::from(
        Uint::new(&nonce_value.to_be_bytes()).expect("eight octets always make a valid INTEGER"),
    );
    let nonce_bytes = nonce.as_bytes().to_vec();
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            // NULL parameters, as openssl sends: some TSAs compare the AlgorithmIdentifier bytes.
            hash_algorithm: AlgorithmIdentifier {
                oid: const_oid::db::rfc5912::ID_SHA_256,
                parameters: Some(Any::from(Null)),
            },
            hashed_message: OctetString::new(sha256_digest.to_vec())
                .expect("32 octets always make a valid OCTET STRING"),
        },
        req_policy: None,
        nonce: Some(nonce),
        cert_req: true,
        extensions: None,
    };
    (
        req.to_der()
            .expect("encoding a fixed-shape TimeStampReq cannot fail"),
        nonce_bytes,
    )
}

/// The TimeStampToken (a CMS ContentInfo, DER) of a granted TimeStampResp, for storage.
pub fn token_from_response(response_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let resp = TimeStampResp::from_der(response_der)
        .map_err(|e| PkiError::malformed("time-stamp response", e))?;
    match resp.status.status {
        GRANTED | GRANTED_WITH_MODS => {}
        other => {
            let mut why = format!("status {}", status_name(other));
            if let Some(bits) = &resp.status.fail_info {
                let names: Vec<_> = bits
                    .bits()
                    .enumerate()
                    .filter(|(_, on)| *on)
                    .map(|(i, _)| FailInfo::name_of_bit(i))
                    .collect();
                if !names.is_empty() {
                    why.push_str(&format!(" ({})", names.join(", ")));
                }
            }
            for s in resp.status.status_string.iter().flatten() {
                why.push_str(&format!(": {s}"));
            }
            return Err(PkiError::TimeStampRejected(why));
        }
    }
    let token = resp.time_stamp_token.ok_or_else(|| {
        PkiError::malformed(
            "time-stamp response",
            "status granted but no timeStampToken",
        )
    })?;
    token
        .to_der()
        .map_err(|e| PkiError::malformed("time-stamp token", e))
}

fn status_name(status: u8) -> String {
    match status {
        0 => "granted".into(),
        1 => "grantedWithMods".into(),
        2 => "rejection".into(),
        3 => "waiting".into(),
        4 => "revocationWarning".into(),
        5 => "revocationNotification".into(),
        n => format!("{n}"),
    }
}

/// Verifies a TimeStampResp for `sha256_digest` and returns the token's genTime. See
/// [`verify_token`] for what is checked.
pub fn verify_response(
    response_der: &[u8],
    sha256_digest: &[u8; 32],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    let token = token_from_response(response_der)?;
    verify_token(&token, sha256_digest, nonce, trust)
}

/// Verifies a TimeStampToken (DER ContentInfo) and returns its genTime.
///
/// Checks: a SignedData with one signer over an id-ct-TSTInfo; the signed attributes'
/// contentType and messageDigest; the ECDSA-SHA256 signature; the ESS signing-certificate
/// attribute names the signer certificate (so the certificate cannot be swapped); the signer
/// has the sole critical timeStamping EKU and chains (through the token's certificates) to one
/// of `trust`, valid at genTime; the message imprint is SHA-256 of `sha256_digest`; the nonce
/// equals `nonce` when given. A TSA certificate placed in `trust` is trusted directly, which is
/// how tokens issued without certificates (certReq false) are verified.
pub fn verify_token(
    token_der: &[u8],
    sha256_digest: &[u8; 32],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    verify_token_imprint(token_der, Imprint::Sha256(sha256_digest), nonce, trust)
}

/// As [`verify_token`] for a token over `stamped` (e.g. a CMS signature value) hashed with
/// whichever digest the token's message imprint names (SHA-1/256/384/512): foreign TSAs do not
/// all use SHA-256.
pub fn verify_token_over(
    token_der: &[u8],
    stamped: &[u8],
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    verify_token_imprint(token_der, Imprint::Data(stamped), nonce, trust)
}

/// What the token's message imprint must match.
#[derive(Clone, Copy)]
enum Imprint<'a> {
    /// A SHA-256 digest the caller computed.
    Sha256(&'a [u8; 32]),
    /// The stamped data, hashed with the imprint's own algorithm.
    Data(&'a [u8]),
}

fn verify_token_imprint(
    token_der: &[u8],
    imprint_want: Imprint<'_>,
    nonce: Option<&[u8]>,
    trust: &[Certificate],
) -> Result<SystemTime, PkiError> {
    let bad = |d: String| PkiError::malformed("time-stamp token", d);
    let rejected = |d: String| PkiError::TimeStampRejected(d);
    // Tokens written in BER (indefinite lengths) are parsed in their DER form, and a
    // certificate listed twice (`openssl ts -reply` with the signer in its `certs` file) once;
    // the signature is still checked over the original signed attributes below.
    let normalised = crate::ber::cms_for_parsing(token_der).map_err(|e| bad(e.to_string()))?;
    let ci = ContentInfo::from_der(&normalised).map_err(|e| bad(e.to_string()))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(bad(format!(
            "content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd = SignedData::from_der(&ci.content.to_der().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(format!("SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(bad(format!(
            "eContentType {} is not id-ct-TSTInfo",
            sd.encap_content_info.econtent_type
        )));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("no eContent".into()))?;
    let tst_der = OctetString::from_der(&econtent.to_der().map_err(|e| bad(e.to_string()))?)
        .map_err(|e| bad(format!("eContent: {e}")))?;
    let tst = TstInfo::from_der(tst_der.as_bytes()).map_err(|e| bad(format!("TSTInfo: {e}")))?;

    let signer_infos: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    let [si] = signer_infos.as_slice() else {
        return Err(bad(format!(
            "{} signers, expected exactly one",
            signer_infos.len()
        )));
    };
    // The unsigned framing must agree with what was signed (RFC 5652 §5.1, §5.3): version
    // numbers follow from the content type and signer identifier, and digestAlgorithms lists
    // the signer's digest. None of it is security-critical, but a token whose framing was
    // edited is not one any conforming TSA produced, so it is refused rather than reinterpreted.
    let expected_si_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if sd.version != CmsVersion::V3 || si.version != expected_si_version {
        return Err(bad(
            "SignedData/SignerInfo version does not match its content".into(),
        ));
    }
    if !sd
        .digest_algorithms
        .iter()
        .any(|a| a.oid == si.digest_alg.oid)
    {
        return Err(bad(
            "digestAlgorithms does not list the signer's digest algorithm".into(),
        ));
    }
    // Digest and (except RSASSA-PSS) signature AlgorithmIdentifiers carry absent or NULL
    // parameters (RFC 5754 §2, RFC 4055 §5, RFC 5758 §3.2); the parameters are not signed, so
    // anything else there is an edit, refused like the framing above.
    let null_or_absent = |a: &AlgorithmIdentifierOwned| {
        a.parameters
            .as_ref()
            .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
    };
    if !sd.digest_algorithms.iter().all(null_or_absent)
        || !null_or_absent(&si.digest_alg)
        || (si.signature_algorithm.oid != const_oid::db::rfc5912::ID_RSASSA_PSS
            && !null_or_absent(&si.signature_algorithm))
    {
        return Err(bad(
            "algorithm parameters where only NULL or none are defined".into(),
        ));
    }

    // Candidate certificates: the token's own, then the caller's.
    let mut token_certs = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = c {
            token_certs.push(Certificate::from_der(
                &c.to_der().map_err(|e| bad(e.to_string()))?,
            )?);
        }
    }
    let signer = token_certs
        .iter()
        .chain(trust.iter())
        .find(|c| sid_matches(&si.sid, c))
        .cloned()
        .ok_or_else(|| {
            rejected(
                "the signer certificate is neither in the token nor in the trusted set \
                      (a token requested without certReq needs the TSA certificate in `trust`)"
                    .into(),
            )
        })?;

    // Signed attributes: RFC 5652 §5.3 requires contentType and messageDigest when present,
    // and they must be present for eContentType other than id-data.
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("no signed attributes".into()))?;
    let single = |oid: ObjectIdentifier| -> Option<&Any> {
        let mut it = attrs.iter().filter(|a| a.oid == oid);
        let a = it.next()?;
        if it.next().is_some() || a.values.len() != 1 {
            return None;
        }
        a.values.iter().next()
    };
    let ct = single(ID_CONTENT_TYPE)
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| bad("missing or repeated contentType attribute".into()))?;
    if ct != ID_CT_TST_INFO {
        return Err(bad(format!(
            "contentType attribute {ct} does not match eContentType"
        )));
    }
    let digest_alg = HashAlg::from_oid(&si.digest_alg.oid).ok_or_else(|| {
        PkiError::UnsupportedAlgorithm(format!(
            "time-stamp token digest algorithm {}",
            si.digest_alg.oid
        ))
    })?;
    let md = single(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| bad("missing or repeated messageDigest attribute".into()))?;
    if md.as_bytes() != digest_alg.digest(tst_der.as_bytes()).as_slice() {
        return Err(rejected(
            "messageDigest does not match the TSTInfo: the token was altered".into(),
        ));
    }
    // Any algorithm of [`crate::alg`] (foreign TSAs sign with RSA), over the signed attributes
    // exactly as the TSA encoded them (RFC 5652 §5.4), not over a re-encoding.
    let alg = crate::alg::SignatureAlgorithm::from_cms(
        &si.signature_algorithm,
        Some(&si.digest_alg.oid),
    )?;
    let attrs_der = crate::ber::cms_signed_attrs(token_der)
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(|| bad("no signed attributes".into()))?;
    signer
        .verify_with(&alg, &attrs_der, si.signature.as_bytes())
        .map_err(|e| match e {
            crate::alg::AlgError::BadSignature(_) => rejected(format!("token signature: {e}")),
            other => PkiError::from(other),
        })?;

    check_ess(&single, &signer)?;
    check_tsa_cert(&signer)?;

    let gen_time = tst.gen_time.to_system_time();
    verify_chain(&signer, &token_certs, trust, gen_time)?;

    let imprint = &tst.message_imprint;
    let matches = match imprint_want {
        Imprint::Sha256(d) => {
            imprint.hash_algorithm.oid == const_oid::db::rfc5912::ID_SHA_256
                && imprint.hashed_message.as_bytes() == d.as_slice()
        }
        Imprint::Data(data) => {
            let h = HashAlg::from_oid(&imprint.hash_algorithm.oid).ok_or_else(|| {
                PkiError::UnsupportedAlgorithm(format!(
                    "message imprint digest {}",
                    imprint.hash_algorithm.oid
                ))
            })?;
            imprint.hashed_message.as_bytes() == h.digest(data).as_slice()
        }
    };
    if !matches {
        return Err(rejected("the token stamps a different digest".into()));
    }
    if let Some(expected) = nonce {
        let ok = tst
            .nonce
            .as_ref()
            .is_some_and(|n| strip_zeros(n.as_bytes()) == strip_zeros(expected));
        if !ok {
            return Err(rejected(
                "the token's nonce is not ours (possible replay)".into(),
            ));
        }
    }
    Ok(gen_time)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

fn sid_matches(sid: &SignerIdentifier, c: &Certificate) -> bool {
    let tbs = &c.parsed().tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.serial_number == tbs.serial_number && ias.issuer == tbs.issuer
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => c
            .extension(SubjectKeyIdentifier::OID)
            .and_then(|(_, v)| SubjectKeyIdentifier::from_der(v).ok())
            .is_some_and(|own| own == *ski),
    }
}

/// The ESS signing-certificate attribute (RFC 5816 §2.2.1, RFC 2634 §5.4) must name the signer
/// certificate by hash: without it an attacker holding another certificate for the same key
/// (or a re-issued one) could change which certificate, and so which policy, the token claims.
fn check_ess<'a>(
    single: &dyn Fn(ObjectIdentifier) -> Option<&'a Any>,
    signer: &Certificate,
) -> Result<(), PkiError> {
    let rejected = |d: &str| PkiError::TimeStampRejected(d.into());
    let issuer_serial_ok = |is: &Option<IssuerSerial>| match is {
        None => true,
        Some(is) => {
            let tbs = &signer.parsed().tbs_certificate;
            is.serial_number == tbs.serial_number
                && is
                    .issuer
                    .iter()
                    .any(|g| matches!(g, GeneralName::DirectoryName(n) if *n == tbs.issuer))
        }
    };
    if let Some(v) = single(ID_AA_SIGNING_CERTIFICATE_V_2) {
        let sc: SigningCertificateV2 = v
            .decode_as()
            .map_err(|e| PkiError::malformed("signingCertificateV2 attribute", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| rejected("signingCertificateV2 is empty"))?;
        let alg = match &first.hash_algorithm {
            None => Some(HashAlg::Sha256),
            Some(a) => HashAlg::from_oid(&a.oid),
        }
        .ok_or_else(|| rejected("signingCertificateV2 uses an unknown hash"))?;
        if first.cert_hash.as_bytes() != alg.digest(signer.der()).as_slice()
            || !issuer_serial_ok(&first.issuer_serial)
        {
            return Err(rejected(
                "signingCertificateV2 does not name the signer certificate",
            ));
        }
        return Ok(());
    }
    if let Some(v) = single(ID_AA_SIGNING_CERTIFICATE) {
        let sc: SigningCertificate = v
            .decode_as()
            .map_err(|e| PkiError::malformed("signingCertificate attribute", e))?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| rejected("signingCertificate is empty"))?;
        if first.cert_hash.as_bytes() != HashAlg::Sha1.digest(signer.der()).as_slice()
            || !issuer_serial_ok(&first.issuer_serial)
        {
            return Err(rejected(
                "signingCertificate does not name the signer certificate",
            ));
        }
        return Ok(());
    }
    Err(rejected(
        "no ESS signing-certificate attribute binds the token to its certificate",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::tests::pki;
    use crate::ca::{issue, random_serial, IssueRequest, Profile, Subject};
    use sha2::{Digest, Sha256};
    use std::time::Duration;

    const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1.1");

    struct Setup {
        tsa: Authority,
        root: Certificate,
        issuing: Certificate,
    }

    fn setup() -> Setup {
        let p = pki();
        let k = SigningKey::generate();
        let pk = k.public_key_der();
        let now = SystemTime::now();
        let cert = issue(
            &p.issuing,
            &p.issuing_key,
            IssueRequest {
                subject: Subject::cn("TSA"),
                public_key_der: &pk,
                profile: Profile::Tsa,
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(3600),
                ocsp_url: None,
            },
            &random_serial(),
        )
        .unwrap();
        let tsa = Authority::new(cert, k, vec![p.issuing.clone()], POLICY).unwrap();
        Setup {
            tsa,
            root: p.root,
            issuing: p.issuing,
        }
    }

    fn status_of(resp: &[u8]) -> (u8, Option<BitString>) {
        let r = TimeStampResp::from_der(resp).unwrap();
        (r.status.status, r.status.fail_info)
    }

    #[test]
    fn grant_and_verify() {
        let s = setup();
        let digest: [u8; 32] = Sha256::digest(b"ledger entry").into();
        let (req, nonce) = build_request(&digest);
        let now = SystemTime::now();
        let resp = s.tsa.respond(&req, now, 42);
        assert_eq!(status_of(&resp).0, GRANTED);
        let t =
            verify_response(&resp, &digest, Some(&nonce), std::slice::from_ref(&s.root)).unwrap();
        assert_eq!(
            util::whole_seconds(t).unwrap(),
            util::whole_seconds(now).unwrap()
        );
        // Wrong digest, wrong nonce, wrong trust anchor.
        let other: [u8; 32] = Sha256::digest(b"other").into();
        assert!(
            verify_response(&resp, &other, Some(&nonce), std::slice::from_ref(&s.root)).is_err()
        );
        assert!(verify_response(
            &resp,
            &digest,
            Some(&[1, 2, 3]),
            std::slice::from_ref(&s.root)
        )
        .is_err());
        let stranger = pki().root;
        assert!(matches!(
            verify_response(&resp, &digest, Some(&nonce), &[stranger]),
            Err(PkiError::Untrusted { .. })
        ));
        // Any single-byte change to the token is caught, never accepted.
        let token = token_from_response(&resp).unwrap();
        for i in 0..token.len() {
            let mut b = token.clone();
            b[i] ^= 0x01;
            assert!(
                verify_token(&b, &digest, Some(&nonce), std::slice::from_ref(&s.root)).is_err(),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn without_cert_req_the_tsa_cert_must_be_trusted() {
        let s = setup();
        let digest: [u8; 32] = Sha256::digest(b"x").into();
        let (req, nonce) = build_request(&digest);
        let mut parsed = TimeStampReq::from_der(&req).unwrap();
        parsed.cert_req = false;
        let resp = s
            .tsa
            .respond(&parsed.to_der().unwrap(), SystemTime::now(), 7);
        assert!(
            verify_response(&resp, &digest, Some(&nonce), std::slice::from_ref(&s.root)).is_err()
        );
        verify_response(
            &resp,
            &digest,
            Some(&nonce),
            &[s.root.clone(), s.issuing.clone(), s.tsa.cert.clone()],
        )
        .unwrap();
    }

    #[test]
    fn rejections_carry_fail_info() {
        let s = setup();
        let now = SystemTime::now();
        let expect = |resp: &[u8], bit: FailInfo| {
            let (status, fi) = status_of(resp);
            assert_eq!(status, REJECTION);
            assert_eq!(fi.unwrap(), bit.bits());
            assert!(matches!(
                verify_response(resp, &[0; 32], None, &[]),
                Err(PkiError::TimeStampRejected(_))
            ));
        };
        for garbage in [
            &b""[..],
            b"junk",
            b"\x30\x00",
            b"\x30\x80\x00\x00",
            b"\x30\x03\x02\x01\x01",
        ] {
            expect(&s.tsa.respond(garbage, now, 1), FailInfo::BadDataFormat);
        }
        let (req, _) = build_request(&[0; 32]);
        let base = TimeStampReq::from_der(&req).unwrap();

        let mut r = base.clone();
        r.message_imprint.hash_algorithm.oid = const_oid::db::rfc5912::ID_SHA_1;
        expect(
            &s.tsa.respond(&r.to_der().unwrap(), now, 1),
            FailInfo::BadAlg,
        );
        r.message_imprint.hash_algorithm.oid = ObjectIdentifier::new_unwrap("1.2.3.4");
        expect(
            &s.tsa.respond(&r.to_der().unwrap(), now, 1),
            FailInfo::BadAlg,
        );

        let mut r = base.clone();
        r.message_imprint.hashed_message = OctetString::new(vec![0; 20]).unwrap();
        expect(
            &s.tsa.respond(&r.to_der().unwrap(), now, 1),
            FailInfo::BadDataFormat,
        );

        let mut r = base.clone();
        r.message_imprint.hash_algorithm.oid = const_oid::db::rfc5912::ID_SHA_512;
        r.message_imprint.hashed_message = OctetString::new(vec![0; 64]).unwrap();
        assert_eq!(
            status_of(&s.tsa.respond(&r.to_der().unwrap(), now, 1)).0,
            GRANTED
        );

        let mut r = base.clone();
        r.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4.5"));
        expect(
            &s.tsa.respond(&r.to_der().unwrap(), now, 1),
            FailInfo::UnacceptedPolicy,
        );
        r.req_policy = Some(POLICY);
        assert_eq!(
            status_of(&s.tsa.respond(&r.to_der().unwrap(), now, 1)).0,
            GRANTED
        );

        expect(&s.tsa.respond(&req, now, 0), FailInfo::SystemFailure);

        // Byte flips of a valid request never panic.
        for i in 0..req.len() {
            let mut b = req.clone();
            b[i] ^= 0x41;
            let _ = s.tsa.respond(&b, now, 1);
        }
    }

    /// 1 MiB and negative nonces were granted (issue 13, item 14).
    #[test]
    fn nonces_over_32_octets_or_negative_are_rejected_as_bad_data_format() {
        let s = setup();
        let now = SystemTime::now();
        let (req, _) = build_request(&[0; 32]);
        let base = TimeStampReq::from_der(&req).unwrap();
        let with_nonce = |octets: &[u8]| {
            let mut r = base.clone();
            r.nonce = Some(Int::new(octets).unwrap());
            s.tsa.respond(&r.to_der().unwrap(), now, 1)
        };
        let rejected = |resp: &[u8]| {
            let (status, fi) = status_of(resp);
            status == REJECTION && fi == Some(FailInfo::BadDataFormat.bits())
        };
        let mut big = vec![0x7f; 1 << 20];
        assert!(rejected(&with_nonce(&big)), "a 1 MiB nonce");
        big.truncate(33);
        assert!(rejected(&with_nonce(&big)), "a 33-octet nonce");
        assert!(rejected(&with_nonce(&[0xff])), "nonce -1");
        assert!(
            rejected(&with_nonce(&[0x80, 0, 0, 0, 0, 0, 0, 0])),
            "a negative 64-bit nonce"
        );
        big.truncate(32);
        assert_eq!(status_of(&with_nonce(&big)).0, GRANTED, "32 octets");
        assert_eq!(status_of(&with_nonce(&[0x00, 0xff])).0, GRANTED, "255");
        assert_eq!(status_of(&with_nonce(&[0])).0, GRANTED, "zero");
    }

    #[test]
    fn fail_info_bits_are_der() {
        assert_eq!(
            FailInfo::BadAlg.bits().to_der().unwrap(),
            [0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            FailInfo::BadDataFormat.bits().to_der().unwrap(),
            [0x03, 0x02, 0x02, 0x04]
        );
        assert_eq!(
            FailInfo::UnacceptedPolicy.bits().to_der().unwrap(),
            [0x03, 0x03, 0x00, 0x00, 0x01]
        );
    }

    #[test]
    fn authority_requires_tsa_certificate() {
        let p = pki();
        let s = setup();
        assert!(Authority::new(p.issuing.clone(), p.issuing_key.clone(), vec![], POLICY).is_err());
        assert!(Authority::new(s.tsa.cert.clone(), p.issuing_key, vec![], POLICY).is_err());
    }
}
