use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};

use super::*;

const DAY: Duration = Duration::from_secs(86_400);

fn signing_identity(name: &str) -> (SigningKey, Certificate) {
    let key = SigningKey::generate();
    let now = SystemTime::now();
    let cert = ca::self_signed(
        &key,
        IssueRequest {
            subject: Subject {
                common_name: name.into(),
                organization: None,
                country: None,
            },
            public_key_der: &key.public_key_der(),
            profile: Profile::Root,
            not_before: now - DAY,
            not_after: now + 30 * DAY,
            ocsp_url: None,
        },
        &ca::random_serial(),
    )
    .expect("self-signed certificate");
    (key, cert)
}

fn sample_conf(now: Timestamp) -> GlobalConf {
    GlobalConf {
        access_rights: vec![AccessRightFixture::one()],
        ..GlobalConf::example(now)
    }
}

struct AccessRightFixture;
impl AccessRightFixture {
    fn one() -> crate::AccessRight {
        crate::AccessRight {
            client: "AZ/GOV/1000001/benefits".parse().unwrap(),
            service: "AZ/GOV/1000002/population/persons".parse().unwrap(),
        }
    }
}

fn anchor_for(cert: &Certificate) -> Anchor {
    Anchor::new(
        "AZ".parse().unwrap(),
        "http://127.0.0.1:1/conf".into(),
        std::slice::from_ref(cert),
    )
    .unwrap()
}

#[test]
fn a_signed_configuration_verifies() {
    let (key, cert) = signing_identity("central");
    let now = Timestamp::now();
    let conf = sample_conf(now);
    let signed = sign(&conf, &key, &cert);
    let anchor = Anchor::from_json(anchor_for(&cert).to_json().as_bytes()).unwrap();
    assert_eq!(verify(&signed, &anchor, now).unwrap(), conf);
}

#[test]
fn any_flipped_byte_is_rejected() {
    let (key, cert) = signing_identity("central");
    let now = Timestamp::now();
    let signed = sign(&sample_conf(now), &key, &cert);
    let anchor = anchor_for(&cert);
    for i in 0..signed.len() {
        let mut tampered = signed.clone();
        tampered[i] ^= 0x01;
        assert!(
            verify(&tampered, &anchor, now).is_err(),
            "flipping byte {i} ({:?}) went unnoticed",
            signed[i] as char
        );
    }
}

/// The refusal of `conf`, signed with `key` and carrying `cert`, by a gateway that trusts
/// `trusted` and reads it at `at`.
fn refusal(
    conf: &GlobalConf,
    (key, cert): &(SigningKey, Certificate),
    trusted: &Certificate,
    at: Timestamp,
) -> ConfError {
    verify(&sign(conf, key, cert), &anchor_for(trusted), at).unwrap_err()
}

/// The refusal of a correctly signed sample document whose envelope `edit` changed afterwards.
fn refusal_of_edited(edit: impl FnOnce(&mut serde_json::Value, &Certificate)) -> ConfError {
    let (key, cert) = signing_identity("central");
    let now = Timestamp::now();
    let mut env: serde_json::Value =
        serde_json::from_slice(&sign(&sample_conf(now), &key, &cert)).unwrap();
    edit(&mut env, &cert);
    verify(&serde_json::to_vec(&env).unwrap(), &anchor_for(&cert), now).unwrap_err()
}

#[test]
fn a_payload_edit_is_a_bad_signature() {
    let err = refusal_of_edited(|env, _| {
        let mut conf = sample_conf(Timestamp::now());
        conf.access_rights.clear();
        env["payload"] = B64U.encode(serde_json::to_vec(&conf).unwrap()).into();
    });
    assert!(matches!(err, ConfError::BadSignature), "{err}");
}

#[test]
fn an_expired_document_is_refused() {
    let central = signing_identity("central");
    let issued = Timestamp::now();
    let later = issued.plus(Duration::from_secs(601));
    let err = refusal(&sample_conf(issued), &central, &central.1, later);
    assert!(matches!(err, ConfError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("expired at"), "{err}");
}

#[test]
fn a_document_from_the_future_is_refused() {
    let central = signing_identity("central");
    let now = Timestamp::now();
    let future = sample_conf(now.plus(Duration::from_secs(3600)));
    let err = refusal(&future, &central, &central.1, now);
    assert!(matches!(err, ConfError::NotYetValid { .. }), "{err}");
}

#[test]
fn another_key_is_an_unknown_signer() {
    let (_, trusted) = signing_identity("central");
    let now = Timestamp::now();
    let err = refusal(
        &sample_conf(now),
        &signing_identity("impostor"),
        &trusted,
        now,
    );
    assert!(matches!(err, ConfError::UnknownSigner { .. }), "{err}");
    assert!(
        err.to_string().contains(&trusted.sha256_fingerprint_hex()),
        "{err}"
    );
}

#[test]
fn another_key_claiming_the_anchor_certificate_is_a_bad_signature() {
    let (_, trusted) = signing_identity("central");
    let (key, _) = signing_identity("impostor");
    let now = Timestamp::now();
    let err = refusal(&sample_conf(now), &(key, trusted.clone()), &trusted, now);
    assert!(matches!(err, ConfError::BadSignature), "{err}");
}

#[test]
fn alg_none_is_refused() {
    let err = refusal_of_edited(|env, cert| {
        let header = serde_json::json!({"alg": "none", "x5t#S256": thumbprint(cert)});
        env["protected"] = B64U.encode(header.to_string()).into();
        env["signature"] = "".into();
    });
    assert!(matches!(err, ConfError::UnsupportedAlgorithm(_)), "{err}");
}

#[test]
fn a_document_for_another_instance_is_refused() {
    let central = signing_identity("central");
    let now = Timestamp::now();
    let mut conf = sample_conf(now);
    conf.instance = "EE".parse().unwrap();
    let err = refusal(&conf, &central, &central.1, now);
    assert!(matches!(err, ConfError::WrongInstance { .. }), "{err}");
}

#[test]
fn anchors_are_checked_when_read() {
    assert!(Anchor::from_json(b"{}").is_err());
    let (_, cert) = signing_identity("central");
    let mut anchor = anchor_for(&cert);
    anchor.signing_certs.clear();
    let err = Anchor::from_json(anchor.to_json().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("no signing certificate"), "{err}");
}
