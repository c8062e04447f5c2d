//! RFC 3161 time-stamping: a pure authority (request bytes in, response bytes out) and the
//! client helpers the ledger uses to request and verify tokens.
//!
//! Tokens are CMS SignedData (RFC 5652) over a TSTInfo, signed with ECDSA-SHA256 and carrying
//! the ESS signingCertificateV2 attribute (RFC 5816) that binds the token to the TSA certificate.
//! Not supported: the `accuracy`, `ordering` and `tsa` TSTInfo fields, request extensions (any
//! extension is refused as RFC 3161 §2.4.1 requires for unknown ones), and SHA-1 imprints.
//!
//! The authority is in `authority`, request building and response reading in `request`,
//! token verification in `verify`; the ASN.1 structures they share are here.

mod authority;
mod request;
mod verify;

pub use authority::Authority;
pub use request::{build_request, token_from_response};
pub use verify::{verify_response, verify_token, verify_token_over};

use cms::content_info::ContentInfo;
use der::asn1::{BitString, OctetString};
use der::{Any, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::tests::pki;
    use crate::ca::{issue, random_serial, IssueRequest, Profile, Subject};
    use crate::cert::Certificate;
    use crate::key::SigningKey;
    use crate::util;
    use crate::PkiError;
    use der::asn1::{Int, ObjectIdentifier};
    use der::{Decode, Encode};
    use sha2::{Digest, Sha256};
    use std::time::Duration;
    use std::time::SystemTime;
    use x509_tsp::TimeStampReq;

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
