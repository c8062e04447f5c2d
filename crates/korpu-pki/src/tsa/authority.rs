//! The issuing side of RFC 3161: an [`Authority`] that answers a DER TimeStampReq with a DER
//! TimeStampResp, granted (a token signed with its key) or rejected with a PKIFailureInfo.
//!
//! It reads no clock and keeps no serial counter: the caller passes `now` and the serial.
//! Verifying tokens is `verify`'s job.

use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    ID_SIGNING_TIME,
};
use const_oid::AssociatedOid;
use der::asn1::{Int, ObjectIdentifier, OctetString, SetOfVec, Uint, UtcTime};
use der::{Any, Decode, Encode, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_tsp::{TimeStampReq, TspVersion, TstInfo};

use super::{
    EssCertIdV2, FailInfo, IssuerSerial, PkiStatusInfo, SigningCertificateV2, TimeStampResp,
    GRANTED, MAX_NONCE_OCTETS, REJECTION,
};
use crate::cert::Certificate;
use crate::key::SigningKey;
use crate::util::{self, HashAlg, ID_CT_TST_INFO};
use crate::PkiError;

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
        cert.check_key(&key, "TSA")?;
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
pub(super) fn check_tsa_cert(cert: &Certificate) -> Result<(), PkiError> {
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
