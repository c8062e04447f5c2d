//! The requesting side of RFC 3161: building a TimeStampReq and taking the token out of a
//! TimeStampResp, turning a rejection into a readable [`PkiError::TimeStampRejected`].
//!
//! Checking the token itself is `verify`'s job.

use der::asn1::{Int, Null, OctetString, Uint};
use der::{Any, Decode, Encode};
use rand_core::{OsRng, RngCore};
use spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use super::{FailInfo, TimeStampResp, GRANTED, GRANTED_WITH_MODS};
use crate::PkiError;

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
