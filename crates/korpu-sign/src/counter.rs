//! Counter-signatures (RFC 5652 §11.4, EN 319 122-1 §5.2.7): SignerInfos in a signer's
//! unsigned `countersignature` attribute, signing that signer's signature value. Each is
//! checked (message-digest over the parent's signature value with its own digest algorithm,
//! its signature over its signed attributes as encoded, its certificate's chain) and reported
//! beside the signature it counter-signs; it does not change that signature's verdict.
//!
//! Not here: counter-signatures of counter-signatures (reported as not checked), and the
//! revocation status of counter-signers.
use std::time::SystemTime;

use cms::signed_data::SignerInfo;
use const_oid::db::rfc5911::ID_MESSAGE_DIGEST;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use korpu_pki::cert::{verify_chain, Certificate};

use crate::cms_check::{self, Content};
use crate::ess;
use crate::validate::{CounterSignatureReport, Indication};

/// id-countersignature (RFC 5652 §11.4).
pub(crate) const ID_COUNTERSIGNATURE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.6");

/// Reports on every counter-signature of `si`.
pub(crate) fn check_all(
    si: &SignerInfo,
    certs: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Vec<CounterSignatureReport> {
    si.unsigned_attrs
        .iter()
        .flat_map(|u| u.iter())
        .filter(|a| a.oid == ID_COUNTERSIGNATURE)
        .flat_map(|a| a.values.iter())
        .map(|v| {
            let report = |indication, sub: &str, reason: String| CounterSignatureReport {
                signer: String::new(),
                indication,
                sub_indication: Some(sub.into()),
                reason: Some(reason),
            };
            let der = match v.to_der() {
                Ok(d) => d,
                Err(e) => return report(Indication::TotalFailed, "FORMAT_FAILURE", e.to_string()),
            };
            check_one(&der, si.signature.as_bytes(), certs, anchors, at)
                .unwrap_or_else(|(i, sub, why)| report(i, sub, why))
        })
        .collect()
}

type Verdict = (Indication, &'static str, String);

fn check_one(
    der: &[u8],
    parent_signature: &[u8],
    certs: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Result<CounterSignatureReport, Verdict> {
    let format = |e: String| (Indication::TotalFailed, "FORMAT_FAILURE", e);
    let cs = SignerInfo::from_der(der).map_err(|e| format(format!("counter-signature: {e}")))?;
    let raw = korpu_pki::ber::signer_info_raw(der).map_err(|e| format(e.to_string()))?;
    let signer = certs
        .iter()
        .chain(anchors.iter())
        .find(|c| ess::sid_matches(&cs.sid, c))
        .ok_or((
            Indication::Indeterminate,
            "NO_SIGNING_CERTIFICATE_FOUND",
            "the counter-signer's certificate is not in the signature".to_string(),
        ))?;
    let mut out = CounterSignatureReport {
        signer: signer.subject(),
        indication: Indication::TotalPassed,
        sub_indication: None,
        reason: None,
    };
    let fail = |out: &mut CounterSignatureReport, f: cms_check::Failure| {
        out.indication = f.indication;
        out.sub_indication = Some(f.sub.into());
        out.reason = Some(f.reason);
    };
    let content = Content::Data(parent_signature);
    // RFC 5652 §11.4: signed attributes are required, with a message-digest over the
    // counter-signed signature value (and no content-type).
    let Some(attrs) = cs.signed_attrs.as_ref() else {
        return Err(format(
            "a counter-signature without signed attributes".into(),
        ));
    };
    let md = attrs
        .iter()
        .find(|a| a.oid == ID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or_else(|| format("counter-signature without a message-digest".into()))?;
    let checked = cms_check::digest_alg(&cs)
        .and_then(|h| cms_check::check_message_digest(&content, h, md.as_bytes()))
        .and_then(|()| {
            cms_check::check_signature(&cs, raw.signed_attrs.as_deref(), &content, signer)
        });
    if let Err(f) = checked {
        fail(&mut out, f);
        return Ok(out);
    }
    if let Err(e) = verify_chain(signer, certs, anchors, at) {
        out.indication = Indication::Indeterminate;
        out.sub_indication = Some("NO_CERTIFICATE_CHAIN_FOUND".into());
        out.reason = Some(e.to_string());
    }
    Ok(out)
}
