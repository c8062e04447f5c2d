//! The ASN.1 shared by signing and validation: ESS signing-certificate-v2 (RFC 5035), the
//! object identifiers CAdES uses that `const-oid` lacks, and signing-time encoding.
use std::time::SystemTime;

use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::SignerIdentifier;
use der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use der::{Any, Decode, Sequence};
use korpu_pki::cert::Certificate;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::serial_number::SerialNumber;

/// id-aa-signatureTimeStampToken (RFC 3161 Appendix A, EN 319 122-1 §5.3).
pub(crate) const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// IssuerSerial (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// ESSCertIDv2 (RFC 5035 §4); `hashAlgorithm` DEFAULT id-sha256 is `None` in DER.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// SigningCertificateV2 (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// id-aa-signingCertificate (RFC 2634 §5.4): the SHA-1 form older signers (and openssl for
/// SHA-1 signatures) write instead of signing-certificate-v2.
pub(crate) const ID_AA_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");

/// ESSCertID (RFC 2634 §5.4.1): SHA-1 certHash, optional issuerSerial.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// SigningCertificate (RFC 2634 §5.4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub(crate) struct SigningCertificate {
    pub certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// A v1 attribute in the v2 shape (hash SHA-1), so one check serves both.
pub(crate) fn v1_as_v2(v: &Any) -> der::Result<SigningCertificateV2> {
    let v1: SigningCertificate = v.decode_as()?;
    Ok(SigningCertificateV2 {
        certs: v1
            .certs
            .into_iter()
            .map(|c| EssCertIdV2 {
                hash_algorithm: Some(korpu_pki::alg::HashAlg::Sha1.algorithm_identifier()),
                cert_hash: c.cert_hash,
                issuer_serial: c.issuer_serial,
            })
            .collect(),
        policies: v1.policies,
    })
}

/// RFC 5652 §11.3: signing-time is UTCTime from 1950 to 2049 and GeneralizedTime otherwise.
pub(crate) fn signing_time_any(t: SystemTime) -> der::Result<Any> {
    let dt = der::DateTime::from_system_time(t)?;
    if dt.year() < 2050 {
        Any::encode_from(&UtcTime::from_date_time(dt)?)
    } else {
        Any::encode_from(&GeneralizedTime::from_date_time(dt))
    }
}

/// Reads a signing-time value (either encoding).
pub(crate) fn signing_time_from(v: &Any) -> Option<SystemTime> {
    if let Ok(t) = v.decode_as::<UtcTime>() {
        return Some(t.to_system_time());
    }
    v.decode_as::<GeneralizedTime>()
        .ok()
        .map(|t| t.to_system_time())
}

/// The SignerIdentifier naming `cert` by issuer and serial (the form every verifier accepts).
pub(crate) fn sid_for(cert: &Certificate) -> SignerIdentifier {
    let tbs = &cert.parsed().tbs_certificate;
    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer.clone(),
        serial_number: tbs.serial_number.clone(),
    })
}

/// Whether `sid` names `cert`.
pub(crate) fn sid_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.parsed().tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.serial_number == tbs.serial_number && ias.issuer == tbs.issuer
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .extension(<SubjectKeyIdentifier as const_oid::AssociatedOid>::OID)
            .and_then(|(_, v)| SubjectKeyIdentifier::from_der(v).ok())
            .is_some_and(|own| own == *ski),
    }
}
