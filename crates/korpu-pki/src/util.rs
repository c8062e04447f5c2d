//! Small ASN.1 and time helpers shared by the modules: OIDs the `const-oid` database lacks,
//! SystemTime ⇄ ASN.1 time conversions, and extraction of the exact signed bytes of a
//! SIGNED{...} structure.
//!
//! Not a general ASN.1 toolkit: only what certificates, OCSP and TSP here need.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{GeneralizedTime, ObjectIdentifier, UtcTime};
use der::{DateTime, Decode, Header, Reader, SliceReader, Tag};

use spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::PkiError;

/// id-ct-TSTInfo (RFC 3161 §2.4.2), absent from the const-oid database.
pub(crate) const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// ecdsa-with-SHA256: the only signature algorithm this crate produces or accepts.
pub(crate) fn ecdsa_sha256_alg() -> AlgorithmIdentifierOwned {
    // RFC 5758 §3.2: the parameters field MUST be absent for ecdsa-with-SHA*.
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

/// Truncates to whole seconds: ASN.1 times here carry no fractions, and round-tripping must
/// compare equal.
pub(crate) fn whole_seconds(t: SystemTime) -> Result<Duration, PkiError> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::encoding("time", "time is before 1970"))?;
    Ok(Duration::from_secs(d.as_secs()))
}

/// A GeneralizedTime with whole seconds (OCSP and TSP use GeneralizedTime only).
pub(crate) fn generalized_time(t: SystemTime) -> Result<GeneralizedTime, PkiError> {
    GeneralizedTime::from_unix_duration(whole_seconds(t)?)
        .map_err(|e| PkiError::encoding("time", e))
}

/// An X.509 Time: RFC 5280 §4.1.2.5 requires UTCTime through 2049 and GeneralizedTime from 2050.
pub(crate) fn x509_time(t: SystemTime) -> Result<Time, PkiError> {
    let dt = DateTime::from_unix_duration(whole_seconds(t)?)
        .map_err(|e| PkiError::encoding("time", e))?;
    if dt.year() < 2050 {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(|e| PkiError::encoding("time", e))?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// RFC 3339 text for error messages.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    match whole_seconds(t)
        .and_then(|d| DateTime::from_unix_duration(d).map_err(|e| PkiError::encoding("time", e)))
    {
        Ok(dt) => dt.to_string(),
        Err(_) => format!("{t:?}"),
    }
}

/// The exact bytes of the first element (the to-be-signed part) of a `SEQUENCE { tbs, alg, sig }`.
///
/// Signatures are checked over the bytes as received rather than a re-encoding of the parsed
/// structure, so an encoder quirk on either side cannot make a valid signature fail or, worse,
/// make us vouch for bytes other than the ones signed.
pub(crate) fn signed_part(outer_der: &[u8]) -> Result<&[u8], der::Error> {
    let mut reader = SliceReader::new(outer_der)?;
    let header = Header::decode(&mut reader)?;
    header.tag.assert_eq(Tag::Sequence)?;
    reader.tlv_bytes()
}

/// The signed part ([`signed_part`]) and the signature value of a certificate or a CRL
/// (`what`, named when it is malformed); a signature BIT STRING with unused bits is `wrong`,
/// as any other reason its issuer did not sign it.
pub(crate) fn signed_and_signature<'a>(
    outer_der: &'a [u8],
    signature: &'a der::asn1::BitString,
    what: &'static str,
    wrong: impl FnOnce(String) -> PkiError,
) -> Result<(&'a [u8], &'a [u8]), PkiError> {
    let tbs = signed_part(outer_der).map_err(|e| PkiError::malformed(what, e))?;
    let sig = signature
        .as_bytes()
        .ok_or_else(|| wrong("signature BIT STRING has unused bits".into()))?;
    Ok((tbs, sig))
}

/// The digest algorithms accepted for message imprints, CertIDs and ESS cert IDs: the same
/// four as for signatures.
pub(crate) use crate::alg::HashAlg;

/// Lowercase hex of an INTEGER's content octets without the sign-padding leading zero bytes.
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[first..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_hex_strips_sign_padding() {
        assert_eq!(serial_hex(&[0x00, 0x80, 0x01]), "8001");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x12]), "12");
    }

    #[test]
    fn x509_time_switches_at_2050() {
        let t2049 = UNIX_EPOCH + Duration::from_secs(2_524_607_999); // 2049-12-31T23:59:59Z
        assert!(matches!(x509_time(t2049).unwrap(), Time::UtcTime(_)));
        let t2050 = t2049 + Duration::from_secs(1);
        assert!(matches!(x509_time(t2050).unwrap(), Time::GeneralTime(_)));
    }

    #[test]
    fn signed_part_rejects_garbage() {
        assert!(signed_part(b"").is_err());
        assert!(signed_part(&[0x30, 0x05, 0x01]).is_err());
        assert_eq!(
            signed_part(&[0x30, 0x03, 0x02, 0x01, 0x05]).unwrap(),
            &[0x02, 0x01, 0x05]
        );
    }
}
