//! RFC 5280 path building and CRLs judged on what openssl makes: RSA and EC hierarchies,
//! several candidate issuers under one name, names that differ only in case and spacing, key
//! usage of CAs and signers, and openssl-made CRLs (parsed, signature checked, entries read).
// Slices of one certificate read best as `&[c.clone()]` here.
#![allow(clippy::cloned_ref_to_slice_refs)]

use std::time::{Duration, SystemTime};

use korpu_pki::cert::{verify_chain, Certificate};
use korpu_pki::crl::{self, Crl};
use korpu_pki::ocsp::{CertStatus, RevocationReason};
use korpu_pki::path::{build_path, Limits, Usage};
use korpu_pki::PkiError;
use korpu_testkit::ossl::{self, KeyKind, Ossl, CA_EXT, SIGNER_EXT};

fn signing_path(
    target: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
) -> Result<Vec<Certificate>, PkiError> {
    build_path(
        target,
        pool,
        anchors,
        SystemTime::now(),
        Usage::DocumentSigning,
        Limits::default(),
    )
}

fn subjects(chain: &[Certificate]) -> Vec<String> {
    chain.iter().map(|c| c.subject()).collect()
}

#[test]
fn rsa_root_ec_intermediate_ec_signer_chain() {
    let o = Ossl::new();
    let root = o.root("root", "/O=Example/CN=RSA Root", KeyKind::Rsa2048);
    let ca = o.ca("ca", "/O=Example/CN=EC Issuing CA", KeyKind::P384, &root);
    let signer = o.signer("signer", "/O=Example/CN=Signer", KeyKind::P256, &ca);
    let chain = signing_path(&signer.cert, &[ca.cert.clone()], &[root.cert.clone()]).unwrap();
    assert_eq!(
        subjects(&chain),
        subjects(&[signer.cert.clone(), ca.cert.clone(), root.cert.clone()])
    );
    // The plain form other callers use builds the same path.
    assert_eq!(
        verify_chain(
            &signer.cert,
            &[ca.cert.clone()],
            &[root.cert],
            SystemTime::now()
        )
        .unwrap()
        .len(),
        3
    );
}

#[test]
fn ec_root_rsa_signer_chain() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=EC Root", KeyKind::P256);
    let signer = o.signer("signer", "/CN=RSA Signer", KeyKind::Rsa2048, &root);
    let chain = signing_path(&signer.cert, &[], &[root.cert.clone()]).unwrap();
    assert_eq!(chain.len(), 2);
}

#[test]
fn the_issuer_with_the_right_key_is_found_among_same_named_candidates() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    // Two CAs with one name: the decoy has another key (and another subjectKeyIdentifier).
    let decoy = o.ca("decoy", "/O=Example/CN=Issuing CA", KeyKind::P256, &root);
    let ca = o.ca("ca", "/O=Example/CN=Issuing CA", KeyKind::P256, &root);
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &ca);
    // The decoy first in the pool, so a first-match walk would take it.
    let pool = [decoy.cert.clone(), ca.cert.clone()];
    let chain = signing_path(&signer.cert, &pool, &[root.cert.clone()]).unwrap();
    assert_eq!(chain[1], ca.cert);

    // Without key identifiers to tell them apart, the search still backtracks to the right
    // one: the decoy's signature check fails and the next candidate is tried.
    let bare = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
    let decoy2 = o.issue("decoy2", "/CN=Bare CA", KeyKind::P256, &root, bare);
    let ca2 = o.issue("ca2", "/CN=Bare CA", KeyKind::P256, &root, bare);
    let leaf_ext = "keyUsage=critical,nonRepudiation\n";
    let signer2 = o.issue("signer2", "/CN=Signer 2", KeyKind::P256, &ca2, leaf_ext);
    let pool = [decoy2.cert.clone(), ca2.cert.clone()];
    let chain = signing_path(&signer2.cert, &pool, &[root.cert.clone()]).unwrap();
    assert_eq!(chain[1], ca2.cert);
    // And with only the decoy, the error says the key did not fit.
    let err = signing_path(&signer2.cert, &[decoy2.cert], &[root.cert]).unwrap_err();
    assert!(matches!(err, PkiError::Untrusted { .. }), "{err}");
    assert!(err.to_string().contains("signature"), "{err}");
}

#[test]
fn an_issuer_name_differing_only_in_case_and_spaces_matches() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ca_key = o.key("ca", KeyKind::P256);
    // The same CA key certified twice: the leaf is issued under the second spelling, the
    // validator is given only the first.
    let ca = o.issue_with_key(
        "ca",
        "/O=Example Trust/CN=Issuing CA",
        &ca_key,
        &root,
        CA_EXT,
    );
    let respelled = o.issue_with_key(
        "ca-upper",
        "/O=EXAMPLE  trust/CN= issuing   ca ",
        &ca_key,
        &root,
        CA_EXT,
    );
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &respelled);
    assert_ne!(signer.cert.issuer(), ca.cert.subject());
    let chain = signing_path(&signer.cert, &[ca.cert.clone()], &[root.cert.clone()]).unwrap();
    assert_eq!(chain[1], ca.cert);

    // A name that differs in more than case and spacing does not.
    let other = o.issue_with_key(
        "ca-other",
        "/O=Example Trust/CN=Issuing CA 2",
        &ca_key,
        &root,
        CA_EXT,
    );
    let signer2 = o.signer("signer2", "/CN=Signer", KeyKind::P256, &other);
    let err = signing_path(&signer2.cert, &[ca.cert], &[root.cert]).unwrap_err();
    assert!(err.to_string().contains("no issuer"), "{err}");
}

#[test]
fn a_ca_without_key_cert_sign_is_refused() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let no_kcs = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,cRLSign,digitalSignature\n";
    let ca = o.issue("ca", "/CN=Issuing CA", KeyKind::P256, &root, no_kcs);
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &ca);
    let err = signing_path(&signer.cert, &[ca.cert.clone()], &[root.cert.clone()]).unwrap_err();
    match &err {
        PkiError::WrongCertificateUsage { subject, reason } => {
            assert!(subject.contains("Issuing CA"), "{err}");
            assert!(reason.contains("keyCertSign"), "{err}");
        }
        other => panic!("expected a usage error, got {other}"),
    }
    // Not a CA at all (cA false) is refused too.
    let not_ca = o.signer("notca", "/CN=Not A CA", KeyKind::P256, &root);
    let leaf = o.signer("leaf", "/CN=Leaf", KeyKind::P256, &not_ca);
    let err = signing_path(&leaf.cert, &[not_ca.cert], &[root.cert]).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
}

#[test]
fn path_length_constraint_is_enforced() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ext0 = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n";
    let ca1 = o.issue("ca1", "/CN=CA 1", KeyKind::P256, &root, ext0);
    let ca2 = o.ca("ca2", "/CN=CA 2", KeyKind::P256, &ca1);
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &ca2);
    let err = signing_path(&signer.cert, &[ca1.cert, ca2.cert], &[root.cert]).unwrap_err();
    assert!(err.to_string().contains("pathLenConstraint"), "{err}");
}

#[test]
fn a_signer_without_signing_key_usage_is_refused() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let enc_only = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n";
    let signer = o.issue(
        "signer",
        "/CN=Encryption Only",
        KeyKind::Rsa2048,
        &root,
        enc_only,
    );
    let err = signing_path(&signer.cert, &[], &[root.cert.clone()]).unwrap_err();
    assert!(
        matches!(&err, PkiError::WrongCertificateUsage { reason, .. }
            if reason.contains("digitalSignature")),
        "{err}"
    );
    // For other uses (TLS peers, the gateway) the same certificate chains.
    assert!(build_path(
        &signer.cert,
        &[],
        &[root.cert.clone()],
        SystemTime::now(),
        Usage::Any,
        Limits::default()
    )
    .is_ok());

    // A TLS server certificate signs with digitalSignature but its EKU says what for.
    let tls = "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    let server = o.issue("server", "/CN=www.example.test", KeyKind::P256, &root, tls);
    let err = signing_path(&server.cert, &[], &[root.cert.clone()]).unwrap_err();
    assert!(err.to_string().contains("extendedKeyUsage"), "{err}");
    // emailProtection (what many qualified certificates carry) is fine.
    let smime = "keyUsage=critical,nonRepudiation\nextendedKeyUsage=emailProtection,clientAuth\n";
    let person = o.issue("person", "/CN=A Person", KeyKind::P256, &root, smime);
    assert!(signing_path(&person.cert, &[], &[root.cert]).is_ok());
}

#[test]
fn search_is_bounded() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ca = o.ca("ca", "/CN=CA", KeyKind::P256, &root);
    let signer = o.signer("signer", "/CN=Signer", KeyKind::P256, &ca);
    let limits = Limits {
        max_depth: 2,
        max_attempts: 64,
    };
    let err = build_path(
        &signer.cert,
        &[ca.cert.clone()],
        &[root.cert.clone()],
        SystemTime::now(),
        Usage::Any,
        limits,
    )
    .unwrap_err();
    assert!(err.to_string().contains("within 2"), "{err}");
    let limits = Limits {
        max_depth: 8,
        max_attempts: 1,
    };
    let err = build_path(
        &signer.cert,
        &[ca.cert],
        &[root.cert],
        SystemTime::now(),
        Usage::Any,
        limits,
    )
    .unwrap_err();
    assert!(err.to_string().contains("gave up"), "{err}");
}

#[test]
fn openssl_crls_parse_verify_and_list_revocations() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=CRL Root", KeyKind::Rsa2048);
    let ca = o.ca("ca", "/CN=CRL Issuing CA", KeyKind::P256, &root);
    let good = o.signer("good", "/CN=Good", KeyKind::P256, &ca);
    let bad = o.signer("bad", "/CN=Revoked", KeyKind::P256, &ca);
    let before = SystemTime::now() - Duration::from_secs(5);
    o.revoke(&ca, &bad, "keyCompromise");
    let der = o.crl(&ca, None);
    let crl = Crl::from_der(&der).unwrap();
    crl.verify_issued_by(&ca.cert).unwrap();
    assert!(crl.this_update() >= before);
    assert!(crl.next_update().unwrap() > crl.this_update());
    assert_eq!(crl.status(&good.cert).unwrap(), CertStatus::Good);
    match crl.status(&bad.cert).unwrap() {
        CertStatus::Revoked { at, reason } => {
            assert!(
                at >= before,
                "revocation date is the time of `openssl ca -revoke`"
            );
            assert_eq!(reason, Some(RevocationReason::KeyCompromise));
        }
        other => panic!("expected revoked, got {other:?}"),
    }
    // PEM is read too.
    let pem = std::fs::read(o.path("ca.crl.pem")).unwrap();
    assert_eq!(Crl::from_der_or_pem(&pem).unwrap(), crl);

    // The RSA root's CRL (an ARL for the issuing CA) verifies with the RSA key.
    o.revoke(&root, &ca, "cACompromise");
    let arl = Crl::from_der(&o.crl(&root, None)).unwrap();
    arl.verify_issued_by(&root.cert).unwrap();
    assert!(matches!(
        arl.status(&ca.cert).unwrap(),
        CertStatus::Revoked { .. }
    ));
    // A CRL speaks only for its issuer's certificates.
    assert!(arl.status(&good.cert).is_err());
}

#[test]
fn a_crl_with_a_bad_signature_is_not_trusted() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ca = o.ca("ca", "/CN=CA", KeyKind::P256, &root);
    let mut der = o.crl(&ca, None);
    // Another CA under the same name (another key) did not sign it.
    let impostor = o.ca("impostor", "/CN=CA", KeyKind::P256, &root);
    let crl = Crl::from_der(&der).unwrap();
    assert!(crl.verify_issued_by(&impostor.cert).is_err());
    // A flipped bit in the signed part breaks the signature.
    let n = der.len();
    let pos = n / 3;
    der[pos] ^= 0x01;
    if let Ok(tampered) = Crl::from_der(&der) {
        let err = tampered.verify_issued_by(&ca.cert).unwrap_err();
        assert!(matches!(err, PkiError::WrongIssuer { .. }), "{err}");
    }
    // thisUpdate moved (the CRL's date bytes edited): the signature no longer holds.
    let der = o.crl(&ca, None);
    let text = der.clone();
    let at = text
        .windows(2)
        .position(|w| w == [0x17, 0x0d])
        .expect("a UTCTime");
    let mut edited = der.clone();
    edited[at + 2] = if edited[at + 2] == b'9' {
        b'8'
    } else {
        edited[at + 2] + 1
    };
    let tampered = Crl::from_der(&edited).unwrap();
    assert!(tampered.verify_issued_by(&ca.cert).is_err());
}

#[test]
fn a_ca_without_crl_sign_cannot_issue_crls() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let no_crl_sign = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
    let ca = o.issue("ca", "/CN=CA", KeyKind::P256, &root, no_crl_sign);
    let crl = Crl::from_der(&o.crl(&ca, None)).unwrap();
    let err = crl.verify_issued_by(&ca.cert).unwrap_err();
    assert!(err.to_string().contains("cRLSign"), "{err}");
}

#[test]
fn distribution_points_and_ocsp_urls_are_read() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ext = format!(
        "{SIGNER_EXT}crlDistributionPoints=URI:http://crl.example.test/ca.crl\n\
         authorityInfoAccess=OCSP;URI:http://ocsp.example.test/\n"
    );
    let c = o.issue("c", "/CN=C", KeyKind::P256, &root, &ext);
    assert_eq!(
        crl::crl_urls(&c.cert),
        vec!["http://crl.example.test/ca.crl"]
    );
    assert_eq!(crl::ocsp_urls(&c.cert), vec!["http://ocsp.example.test/"]);
}

#[test]
fn crls_we_issue_are_accepted_by_openssl_and_read_back() {
    use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
    use korpu_pki::crl::Revoked;
    use korpu_pki::key::SigningKey;
    let now = SystemTime::now() - Duration::from_secs(60);
    let day = Duration::from_secs(86400);
    let req = |cn: &str, pk: &'static [u8], profile| IssueRequest {
        subject: Subject::cn(cn),
        public_key_der: pk,
        profile,
        not_before: now,
        not_after: now + 30 * day,
        ocsp_url: None,
    };
    let leak = |v: Vec<u8>| -> &'static [u8] { Box::leak(v.into_boxed_slice()) };
    let root_key = SigningKey::generate();
    let root = ca::self_signed(
        &root_key,
        req("Our Root", leak(root_key.public_key_der()), Profile::Root),
        &ca::random_serial(),
    )
    .unwrap();
    let ca_key = SigningKey::generate();
    let issuing = ca::issue(
        &root,
        &root_key,
        req("Our CA", leak(ca_key.public_key_der()), Profile::IssuingCa),
        &ca::random_serial(),
    )
    .unwrap();

    let o = Ossl::new();
    let root_pem = o.path("root.pem");
    std::fs::write(&root_pem, root.to_pem()).unwrap();
    std::fs::write(o.path("ca.pem"), issuing.to_pem()).unwrap();
    let check = |crl: &Crl| {
        std::fs::write(o.path("our.crl"), crl.der()).unwrap();
        let out = std::process::Command::new(ossl::openssl_bin())
            .args([
                "verify",
                "-crl_check",
                "-CAfile",
                "root.pem",
                "-CRLfile",
                "our.crl",
            ])
            .arg("ca.pem")
            .current_dir(o.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    // Nothing revoked: openssl verifies the CA against our CRL.
    let empty = crl::issue(&root, &root_key, &[], now, now + 7 * day, 1).unwrap();
    let (ok, text) = check(&empty);
    assert!(ok, "{text}");
    empty.verify_issued_by(&root).unwrap();
    assert_eq!(empty.status(&issuing).unwrap(), CertStatus::Good);

    // The CA revoked: openssl says so, and so do we.
    let revoked = [Revoked {
        serial_hex: issuing.serial_hex(),
        at: now,
        reason: Some(RevocationReason::CaCompromise),
    }];
    let crl = crl::issue(&root, &root_key, &revoked, now, now + 7 * day, 2).unwrap();
    let (ok, text) = check(&crl);
    assert!(!ok && text.contains("revoked"), "{text}");
    assert!(matches!(
        crl.status(&issuing).unwrap(),
        CertStatus::Revoked {
            reason: Some(RevocationReason::CaCompromise),
            ..
        }
    ));
    // Only the issuer's own key may sign it.
    assert!(crl::issue(&root, &ca_key, &[], now, now + day, 3).is_err());
}

#[test]
fn delta_crls_and_unknown_critical_extensions_are_refused_as_unsupported() {
    let o = Ossl::new();
    let root = o.root("root", "/CN=Root", KeyKind::P256);
    let ca = o.ca("ca", "/CN=CA", KeyKind::P256, &root);
    // deltaCRLIndicator (RFC 5280 §5.2.4): only complete CRLs are understood.
    let delta = o.crl_with(&ca, None, "2.5.29.27=critical,DER:02:01:01\n");
    let err = Crl::from_der(&delta).unwrap_err();
    assert!(
        matches!(&err, PkiError::CrlRejected(why) if why.contains("delta")),
        "{err}"
    );
    // A critical extension we do not know must not be ignored (RFC 5280 §5.2).
    let odd = o.crl_with(&ca, None, "1.3.6.1.4.1.99999.7=critical,DER:05:00\n");
    let err = Crl::from_der(&odd).unwrap_err();
    assert!(err.to_string().contains("unknown critical"), "{err}");
    // The same extension not critical is fine.
    let fine = o.crl_with(&ca, None, "1.3.6.1.4.1.99999.7=DER:05:00\n");
    Crl::from_der(&fine)
        .unwrap()
        .verify_issued_by(&ca.cert)
        .unwrap();
}
