//! Counter-signatures (RFC 5652 §11.4): a notary counter-signs a member's CAdES signature. The
//! counter-signature is checked and reported beside the signature it counter-signs; a broken one
//! is TOTAL_FAILED in its own report and does not change the counter-signed signature's verdict.
mod common;

use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo, SignerInfos};
use const_oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use korpu_pki::alg::HashAlg;
use korpu_sign::cades::sign;
use korpu_sign::validate::{validate_cades, Indication};
use x509_cert::attr::Attribute;

const DATA: &[u8] = b"A contract the notary counter-signs.\n";
const ID_COUNTERSIGNATURE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.6");

/// `p7s` with a counter-signature by `notary` on its (only) signer.
fn counter_sign(p7s: &[u8], notary: &common::Member) -> Vec<u8> {
    let ci = ContentInfo::from_der(p7s).unwrap();
    let mut sd: SignedData = ci.content.decode_as().unwrap();
    let mut si = sd.signer_infos.0.iter().next().unwrap().clone();
    let md = HashAlg::Sha256.digest(si.signature.as_bytes());
    let attrs = SetOfVec::try_from(vec![Attribute {
        oid: ID_MESSAGE_DIGEST,
        values: SetOfVec::try_from(vec![
            Any::encode_from(&OctetString::new(md).unwrap()).unwrap()
        ])
        .unwrap(),
    }])
    .unwrap();
    let tbs = &notary.cert.parsed().tbs_certificate;
    let counter = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: HashAlg::Sha256.algorithm_identifier(),
        signature: OctetString::new(notary.key.sign(&attrs.to_der().unwrap())).unwrap(),
        signed_attrs: Some(attrs),
        signature_algorithm: spki::AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        },
        unsigned_attrs: None,
    };
    si.unsigned_attrs = Some(
        SetOfVec::try_from(vec![Attribute {
            oid: ID_COUNTERSIGNATURE,
            values: SetOfVec::try_from(vec![Any::encode_from(&counter).unwrap()]).unwrap(),
        }])
        .unwrap(),
    );
    sd.signer_infos = SignerInfos(SetOfVec::try_from(vec![si]).unwrap());
    let mut certs: Vec<CertificateChoices> = sd
        .certificates
        .take()
        .map(|c| c.0.into_vec())
        .unwrap_or_default();
    certs.push(CertificateChoices::Certificate(
        notary.cert.parsed().clone(),
    ));
    sd.certificates = Some(cms::signed_data::CertificateSet(
        SetOfVec::try_from(certs).unwrap(),
    ));
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn counter_signatures_are_checked_and_reported() {
    let pki = common::Pki::new("Counter");
    let member = pki.member("AZ/GOV/7000001");
    let notary = pki.member("AZ/GOV/7000002 Notary");
    let now = SystemTime::now();
    let p7s = sign(DATA, &member.signer(), now, None).unwrap();
    let countersigned = counter_sign(&p7s, &notary);

    let r = validate_cades(&countersigned, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    assert!(r.signer.contains("7000001"), "{r:#?}");
    assert_eq!(r.counter_signatures.len(), 1, "{r:#?}");
    let c = &r.counter_signatures[0];
    assert!(c.signer.contains("Notary"), "{c:#?}");
    assert_eq!(c.indication, Indication::TotalPassed, "{c:#?}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["counter_signatures"][0]["indication"], "TOTAL_PASSED");

    // The notary's signature value altered: the counter-signature fails on its own; the
    // member's signature is as valid as before.
    let csig = {
        let ci = ContentInfo::from_der(&countersigned).unwrap();
        let sd: SignedData = ci.content.decode_as().unwrap();
        let si = sd.signer_infos.0.iter().next().unwrap().clone();
        let attr = si.unsigned_attrs.unwrap().into_vec().remove(0);
        let cs: SignerInfo = attr.values.iter().next().unwrap().decode_as().unwrap();
        cs.signature.as_bytes().to_vec()
    };
    let at = countersigned
        .windows(csig.len())
        .position(|w| w == &csig[..])
        .unwrap();
    let mut broken = countersigned.clone();
    broken[at + csig.len() / 2] ^= 0x01;
    let r = validate_cades(&broken, DATA, &pki.anchors(), now);
    common::assert_valid_without_revocation(&r);
    let c = &r.counter_signatures[0];
    assert_eq!(c.indication, Indication::TotalFailed, "{c:#?}");
    assert_eq!(
        c.sub_indication.as_deref(),
        Some("SIG_CRYPTO_FAILURE"),
        "{c:#?}"
    );

    // A signature without counter-signatures reports none (and the JSON has no such key).
    let r = validate_cades(&p7s, DATA, &pki.anchors(), now);
    assert!(r.counter_signatures.is_empty());
    assert!(serde_json::to_value(&r)
        .unwrap()
        .get("counter_signatures")
        .is_none());
}
