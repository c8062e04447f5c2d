//! Certificate issuance: the profiles of the Körpü PKI (root, issuing CA and the leaf kinds) and
//! the signing of certificates with them.
//!
//! Profiles fix the extensions; callers choose only subject, key, validity, SANs and the OCSP
//! URL, so a member cannot end up with a certificate usable as a CA or for a purpose it did not
//! ask for. Not here: storing issued certificates, serial uniqueness bookkeeping (the registry
//! keeps the serial index) and CRL issuance.
use std::net::IpAddr;
use std::time::SystemTime;

use const_oid::db::rfc5280::{
    ID_AD_OCSP, ID_KP_CLIENT_AUTH, ID_KP_OCSP_SIGNING, ID_KP_SERVER_AUTH, ID_KP_TIME_STAMPING,
};
use const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK;
use const_oid::AssociatedOid;
use der::asn1::{
    BitString, Ia5String, Null, OctetString, PrintableString, SetOfVec, Utf8StringRef,
};
use der::{Any, Decode, Encode};
use rand_core::{OsRng, RngCore};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use crate::cert::Certificate;
use crate::key::{parse_public_key, SigningKey};
use crate::util::{self, HashAlg};
use crate::PkiError;

/// What a certificate is for; decides its extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Self-signed trust anchor: cA, keyCertSign + cRLSign.
    Root,
    /// CA under the root that issues leaves only: cA with pathLenConstraint 0.
    IssuingCa,
    /// A member's document signing key: digitalSignature + nonRepudiation.
    MemberSigning,
    /// A security server's mutual-TLS certificate: serverAuth + clientAuth.
    GatewayTls {
        /// subjectAltName DNS names.
        dns_names: Vec<String>,
        /// subjectAltName IP addresses.
        ip_addrs: Vec<IpAddr>,
    },
    /// A central service's TLS server certificate: serverAuth.
    ServerTls {
        /// subjectAltName DNS names.
        dns_names: Vec<String>,
        /// subjectAltName IP addresses.
        ip_addrs: Vec<IpAddr>,
    },
    /// Signs the global configuration distributed to members.
    ConfSigning,
    /// RFC 3161 time-stamping unit.
    Tsa,
    /// Delegated OCSP responder (RFC 6960 §4.2.2.2).
    OcspResponder,
}

impl Profile {
    fn is_ca(&self) -> bool {
        matches!(self, Profile::Root | Profile::IssuingCa)
    }
}

/// The subject of a certificate to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// commonName, e.g. the member identifier "AZ/GOV/1234567".
    pub common_name: String,
    /// organizationName.
    pub organization: Option<String>,
    /// countryName, two letters (ISO 3166).
    pub country: Option<String>,
}

impl Subject {
    /// A subject with only a common name.
    pub fn cn(common_name: impl Into<String>) -> Self {
        Subject {
            common_name: common_name.into(),
            organization: None,
            country: None,
        }
    }

    /// The X.501 Name: C, O, CN from the most general down, one attribute per RDN.
    pub fn to_name(&self) -> Result<Name, PkiError> {
        let bad = |e: der::Error| PkiError::InvalidIssueRequest(format!("subject: {e}"));
        let mut rdns = Vec::new();
        let mut push = |oid, value: Any| -> Result<(), PkiError> {
            let atv = AttributeTypeAndValue { oid, value };
            rdns.push(RelativeDistinguishedName(
                SetOfVec::try_from(vec![atv]).map_err(bad)?,
            ));
            Ok(())
        };
        if let Some(c) = &self.country {
            // RFC 5280 Appendix A: countryName is a two-letter PrintableString.
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(PkiError::InvalidIssueRequest(format!(
                    "country \"{c}\" is not a two-letter upper-case ISO 3166 code"
                )));
            }
            let v = PrintableString::new(c).map_err(bad)?;
            push(
                const_oid::db::rfc4519::C,
                Any::encode_from(&v).map_err(bad)?,
            )?;
        }
        if let Some(o) = &self.organization {
            push(const_oid::db::rfc4519::O, utf8(o)?)?;
        }
        if self.common_name.is_empty() {
            return Err(PkiError::InvalidIssueRequest("empty common name".into()));
        }
        push(const_oid::db::rfc4519::CN, utf8(&self.common_name)?)?;
        Ok(RdnSequence(rdns))
    }
}

fn utf8(s: &str) -> Result<Any, PkiError> {
    // RFC 5280 §4.1.2.4: ub-common-name / ub-organization-name is 64 characters.
    if s.chars().count() > 64 {
        return Err(PkiError::InvalidIssueRequest(format!(
            "\"{s}\" is longer than the 64 characters X.520 allows"
        )));
    }
    let v = Utf8StringRef::new(s)
        .map_err(|e| PkiError::InvalidIssueRequest(format!("subject \"{s}\": {e}")))?;
    Any::encode_from(&v).map_err(|e| PkiError::InvalidIssueRequest(format!("subject: {e}")))
}

/// Everything about a certificate except its issuer and serial.
#[derive(Clone, Debug)]
pub struct IssueRequest<'a> {
    /// Subject name.
    pub subject: Subject,
    /// SubjectPublicKeyInfo DER (from a CSR or a key); must be P-256.
    pub public_key_der: &'a [u8],
    /// What the certificate is for.
    pub profile: Profile,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity (inclusive).
    pub not_after: SystemTime,
    /// Authority Information Access id-ad-ocsp URL, for certificates below the root.
    pub ocsp_url: Option<String>,
}

/// A fresh random positive 16-byte serial (RFC 5280 §4.1.2.2: positive, at most 20 octets).
///
/// 127 random bits make serials unpredictable, which is what defeats chosen-prefix collision
/// attacks on the issuer's signature (CA/B Forum BR §7.1 asks for at least 64 bits).
pub fn random_serial() -> Vec<u8> {
    let mut s = vec![0u8; 16];
    OsRng.fill_bytes(&mut s);
    // Clear the sign bit so the INTEGER is positive without a padding byte, and keep the first
    // octet non-zero so the encoding is exactly 16 octets (DER forbids leading zero octets).
    s[0] &= 0x7f;
    if s[0] == 0 {
        s[0] = 0x01;
    }
    s
}

/// Issues the self-signed root certificate. `req.profile` must be [`Profile::Root`] and
/// `req.public_key_der` must be `key`'s public key.
pub fn self_signed(
    key: &SigningKey,
    req: IssueRequest,
    serial: &[u8],
) -> Result<Certificate, PkiError> {
    if req.profile != Profile::Root {
        return Err(PkiError::InvalidIssueRequest(format!(
            "self-signed certificates are for the root profile only, not {:?}",
            req.profile
        )));
    }
    if req.public_key_der != key.public_key_der().as_slice() {
        return Err(PkiError::InvalidIssueRequest(
            "the public key in the request is not the signing key's".into(),
        ));
    }
    let name = req.subject.to_name()?;
    build(key, name, None, req, serial)
}

/// Issues a certificate signed by `issuer` (whose private key is `issuer_key`).
///
/// Refuses to issue from a certificate that is not a CA, or with a key that does not match it:
/// either would produce a certificate nothing can verify.
pub fn issue(
    issuer: &Certificate,
    issuer_key: &SigningKey,
    req: IssueRequest,
    serial: &[u8],
) -> Result<Certificate, PkiError> {
    if req.profile == Profile::Root {
        return Err(PkiError::InvalidIssueRequest(
            "a root certificate must be self-signed; use ca::self_signed".into(),
        ));
    }
    if !issuer.is_ca() {
        return Err(PkiError::InvalidIssueRequest(format!(
            "issuer \"{}\" is not a CA certificate",
            issuer.subject()
        )));
    }
    issuer.check_key(issuer_key, "issuer")?;
    if let Some((_, Some(0))) = issuer.basic_constraints() {
        if req.profile.is_ca() {
            return Err(PkiError::InvalidIssueRequest(format!(
                "issuer \"{}\" has pathLenConstraint 0 and cannot issue CA certificates",
                issuer.subject()
            )));
        }
    }
    let name = req.subject.to_name()?;
    build(issuer_key, name, Some(issuer), req, serial)
}

fn build(
    signer: &SigningKey,
    subject: Name,
    issuer: Option<&Certificate>,
    req: IssueRequest,
    serial: &[u8],
) -> Result<Certificate, PkiError> {
    let enc = |e: der::Error| PkiError::encoding("certificate", e);
    parse_public_key(req.public_key_der)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(req.public_key_der)
        .map_err(|e| PkiError::InvalidPublicKey(e.to_string()))?;
    if req.not_after <= req.not_before {
        return Err(PkiError::InvalidIssueRequest(format!(
            "notAfter {} is not after notBefore {}",
            util::rfc3339(req.not_after),
            util::rfc3339(req.not_before)
        )));
    }
    let serial_number = SerialNumber::new(serial)
        .map_err(|e| PkiError::InvalidIssueRequest(format!("serial: {e}")))?;
    // RFC 5280 §4.1.2.2: serial numbers MUST be positive; SerialNumber::new already prepends a
    // zero octet to keep a high first bit positive, so only zero is left to reject.
    if serial.iter().all(|b| *b == 0) {
        return Err(PkiError::InvalidIssueRequest(
            "serial number must not be zero".into(),
        ));
    }

    let issuer_name = match issuer {
        Some(i) => i.parsed().tbs_certificate.subject.clone(),
        None => subject.clone(),
    };
    let ski = HashAlg::Sha1.digest(spki.subject_public_key.raw_bytes());

    let mut exts = Vec::new();
    let mut add = |critical: bool, oid, value: Vec<u8>| -> Result<(), PkiError> {
        exts.push(Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value).map_err(enc)?,
        });
        Ok(())
    };

    let bc = match req.profile {
        Profile::Root => BasicConstraints {
            ca: true,
            path_len_constraint: None,
        },
        Profile::IssuingCa => BasicConstraints {
            ca: true,
            path_len_constraint: Some(0),
        },
        _ => BasicConstraints {
            ca: false,
            path_len_constraint: None,
        },
    };
    // RFC 5280 §4.2.1.9: critical in CA certificates; we mark it critical in leaves too so a
    // relying party that ignores non-critical extensions still cannot mistake a leaf for a CA.
    add(true, BasicConstraints::OID, bc.to_der().map_err(enc)?)?;

    let ku = match req.profile {
        Profile::Root | Profile::IssuingCa => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        Profile::MemberSigning | Profile::Tsa => {
            KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
        }
        Profile::GatewayTls { .. }
        | Profile::ServerTls { .. }
        | Profile::ConfSigning
        | Profile::OcspResponder => KeyUsages::DigitalSignature.into(),
    };
    add(true, KeyUsage::OID, KeyUsage(ku).to_der().map_err(enc)?)?;

    let eku: Option<(bool, Vec<_>)> = match &req.profile {
        Profile::GatewayTls { .. } => Some((false, vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH])),
        Profile::ServerTls { .. } => Some((false, vec![ID_KP_SERVER_AUTH])),
        // RFC 3161 §2.3: the TSA certificate MUST have exactly one EKU, timeStamping, critical.
        Profile::Tsa => Some((true, vec![ID_KP_TIME_STAMPING])),
        // RFC 6960 §4.2.2.2: a delegated responder is recognised by id-kp-OCSPSigning.
        Profile::OcspResponder => Some((false, vec![ID_KP_OCSP_SIGNING])),
        _ => None,
    };
    if let Some((critical, oids)) = eku {
        add(
            critical,
            ExtendedKeyUsage::OID,
            ExtendedKeyUsage(oids).to_der().map_err(enc)?,
        )?;
    }

    if let Profile::GatewayTls {
        dns_names,
        ip_addrs,
    }
    | Profile::ServerTls {
        dns_names,
        ip_addrs,
    } = &req.profile
    {
        if dns_names.is_empty() && ip_addrs.is_empty() {
            return Err(PkiError::InvalidIssueRequest(
                "a TLS certificate needs at least one DNS name or IP address: clients match \
                 the subjectAltName, not the common name (RFC 6125 §6.4.4)"
                    .into(),
            ));
        }
        let mut names = Vec::new();
        for d in dns_names {
            if d.is_empty() || !d.is_ascii() {
                return Err(PkiError::InvalidIssueRequest(format!(
                    "DNS name \"{d}\" must be non-empty ASCII (use the A-label of IDNs)"
                )));
            }
            names.push(GeneralName::DnsName(Ia5String::new(d).map_err(|e| {
                PkiError::InvalidIssueRequest(format!("DNS name \"{d}\": {e}"))
            })?));
        }
        names.extend(ip_addrs.iter().map(|ip| GeneralName::from(*ip)));
        add(
            false,
            SubjectAltName::OID,
            SubjectAltName(names).to_der().map_err(enc)?,
        )?;
    }

    if req.profile == Profile::OcspResponder {
        // RFC 6960 §4.2.2.2.1: without this a client would need to check the responder's own
        // revocation status, which cannot be done with the responder itself.
        add(false, ID_PKIX_OCSP_NOCHECK, Null.to_der().map_err(enc)?)?;
    }

    add(
        false,
        SubjectKeyIdentifier::OID,
        OctetString::new(ski).map_err(enc)?.to_der().map_err(enc)?,
    )?;
    if let Some(issuer) = issuer {
        // RFC 5280 §4.2.1.1: keyIdentifier equal to the issuer's subjectKeyIdentifier, so
        // chain builders (openssl among them) can pick the right issuer key.
        let issuer_ski = issuer
            .extension(SubjectKeyIdentifier::OID)
            .and_then(|(_, v)| OctetString::from_der(v).ok())
            .map(|o| o.as_bytes().to_vec())
            .unwrap_or_else(|| issuer.key_hash(HashAlg::Sha1));
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_ski).map_err(enc)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        add(
            false,
            AuthorityKeyIdentifier::OID,
            aki.to_der().map_err(enc)?,
        )?;
    }

    // The responder needs no AIA: with ocsp-nocheck nobody asks about it.
    if let (Some(url), true) = (
        &req.ocsp_url,
        issuer.is_some() && req.profile != Profile::OcspResponder,
    ) {
        let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: GeneralName::UniformResourceIdentifier(
                Ia5String::new(url).map_err(|e| {
                    PkiError::InvalidIssueRequest(format!("OCSP URL \"{url}\": {e}"))
                })?,
            ),
        }]);
        add(
            false,
            AuthorityInfoAccessSyntax::OID,
            aia.to_der().map_err(enc)?,
        )?;
    }

    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number,
        signature: util::ecdsa_sha256_alg(),
        issuer: issuer_name,
        validity: Validity {
            not_before: util::x509_time(req.not_before)?,
            not_after: util::x509_time(req.not_after)?,
        },
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    let tbs_der = tbs.to_der().map_err(enc)?;
    let sig = signer.sign(&tbs_der);
    let cert = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: util::ecdsa_sha256_alg(),
        signature: BitString::from_bytes(&sig).map_err(enc)?,
    };
    Certificate::from_der(&cert.to_der().map_err(enc)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) struct Pki {
        pub root: Certificate,
        pub root_key: SigningKey,
        pub issuing: Certificate,
        pub issuing_key: SigningKey,
    }

    fn req<'a>(cn: &str, key: &'a [u8], profile: Profile) -> IssueRequest<'a> {
        let now = SystemTime::now();
        IssueRequest {
            subject: Subject {
                common_name: cn.to_owned(),
                organization: Some("Körpü Test".into()),
                country: Some("AZ".into()),
            },
            public_key_der: key,
            profile,
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(86400),
            ocsp_url: Some("http://ocsp.example/".into()),
        }
    }

    pub(crate) fn pki() -> Pki {
        let root_key = SigningKey::generate();
        let pk = root_key.public_key_der();
        let root =
            self_signed(&root_key, req("Root", &pk, Profile::Root), &random_serial()).unwrap();
        let issuing_key = SigningKey::generate();
        let pk = issuing_key.public_key_der();
        let issuing = issue(
            &root,
            &root_key,
            req("Issuing", &pk, Profile::IssuingCa),
            &random_serial(),
        )
        .unwrap();
        Pki {
            root,
            root_key,
            issuing,
            issuing_key,
        }
    }

    fn all_leaf_profiles() -> Vec<Profile> {
        vec![
            Profile::MemberSigning,
            Profile::GatewayTls {
                dns_names: vec!["gw.example".into()],
                ip_addrs: vec!["127.0.0.1".parse().unwrap()],
            },
            Profile::ServerTls {
                dns_names: vec!["central.example".into()],
                ip_addrs: vec![],
            },
            Profile::ConfSigning,
            Profile::Tsa,
            Profile::OcspResponder,
        ]
    }

    #[test]
    fn root_issuing_and_every_profile() {
        let p = pki();
        p.root.verify_issued_by(&p.root).unwrap();
        p.issuing.verify_issued_by(&p.root).unwrap();
        assert!(p.root.is_ca() && p.issuing.is_ca());
        assert_eq!(p.issuing.basic_constraints(), Some((true, Some(0))));
        for profile in all_leaf_profiles() {
            let k = SigningKey::generate();
            let pk = k.public_key_der();
            let leaf = issue(
                &p.issuing,
                &p.issuing_key,
                req("AZ/GOV/1234567", &pk, profile.clone()),
                &random_serial(),
            )
            .unwrap();
            leaf.verify_issued_by(&p.issuing).unwrap();
            assert!(!leaf.is_ca(), "{profile:?}");
            assert_eq!(leaf.subject(), "CN=AZ/GOV/1234567,O=Körpü Test,C=AZ");
            assert_eq!(leaf.common_name().as_deref(), Some("AZ/GOV/1234567"));
            assert_eq!(leaf.public_key_der(), pk);
            // Wrong issuer: the root did not sign the leaf, and the leaf did not sign itself.
            assert!(matches!(
                leaf.verify_issued_by(&p.root),
                Err(PkiError::WrongIssuer { .. })
            ));
            assert!(leaf.verify_issued_by(&leaf).is_err());
            crate::cert::verify_chain(
                &leaf,
                std::slice::from_ref(&p.issuing),
                std::slice::from_ref(&p.root),
                SystemTime::now(),
            )
            .unwrap();
            let expect_eku = match profile {
                Profile::Tsa => Some(vec![ID_KP_TIME_STAMPING]),
                Profile::OcspResponder => Some(vec![ID_KP_OCSP_SIGNING]),
                Profile::GatewayTls { .. } => Some(vec![ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH]),
                Profile::ServerTls { .. } => Some(vec![ID_KP_SERVER_AUTH]),
                _ => None,
            };
            assert_eq!(leaf.extended_key_usage(), expect_eku);
            assert_eq!(
                leaf.extension(ID_PKIX_OCSP_NOCHECK).is_some(),
                profile == Profile::OcspResponder
            );
            // A leaf cannot issue.
            let k2 = SigningKey::generate();
            let pk2 = k2.public_key_der();
            assert!(issue(
                &leaf,
                &k,
                req("x", &pk2, Profile::MemberSigning),
                &random_serial()
            )
            .is_err());
        }
    }

    #[test]
    fn signature_tamper_is_detected() {
        let p = pki();
        let mut der = p.issuing.der().to_vec();
        // Flip a byte inside the subject public key (well inside the TBS).
        let n = der.len() / 2;
        der[n] ^= 0x01;
        if let Ok(c) = Certificate::from_der(&der) {
            assert!(c.verify_issued_by(&p.root).is_err());
        }
    }

    #[test]
    fn issuance_refusals() {
        let p = pki();
        let k = SigningKey::generate();
        let pk = k.public_key_der();
        // Key mismatch.
        assert!(issue(
            &p.issuing,
            &p.root_key,
            req("x", &pk, Profile::MemberSigning),
            &random_serial()
        )
        .is_err());
        // pathlen 0 issuer cannot issue a CA.
        assert!(issue(
            &p.issuing,
            &p.issuing_key,
            req("x", &pk, Profile::IssuingCa),
            &random_serial()
        )
        .is_err());
        // TLS without names.
        let tls = Profile::ServerTls {
            dns_names: vec![],
            ip_addrs: vec![],
        };
        assert!(issue(
            &p.issuing,
            &p.issuing_key,
            req("x", &pk, tls),
            &random_serial()
        )
        .is_err());
        // Bad key, bad validity, zero serial.
        assert!(matches!(
            issue(
                &p.issuing,
                &p.issuing_key,
                req("x", b"junk", Profile::MemberSigning),
                &random_serial()
            ),
            Err(PkiError::InvalidPublicKey(_))
        ));
        let mut r = req("x", &pk, Profile::MemberSigning);
        r.not_after = r.not_before;
        assert!(issue(&p.issuing, &p.issuing_key, r, &random_serial()).is_err());
        assert!(issue(
            &p.issuing,
            &p.issuing_key,
            req("x", &pk, Profile::MemberSigning),
            &[0]
        )
        .is_err());
        // Root via issue, and self-signing a non-root.
        assert!(issue(
            &p.issuing,
            &p.issuing_key,
            req("x", &pk, Profile::Root),
            &random_serial()
        )
        .is_err());
        assert!(self_signed(&k, req("x", &pk, Profile::MemberSigning), &random_serial()).is_err());
    }

    #[test]
    fn random_serial_is_positive_16_octets() {
        for _ in 0..200 {
            let s = random_serial();
            assert_eq!(s.len(), 16);
            assert!(s[0] != 0 && s[0] < 0x80);
        }
    }

    #[test]
    fn serial_hex_and_validity() {
        let p = pki();
        let k = SigningKey::generate();
        let pk = k.public_key_der();
        let serial = [0x80, 0x01, 0x02];
        let leaf = issue(
            &p.issuing,
            &p.issuing_key,
            req("v", &pk, Profile::MemberSigning),
            &serial,
        )
        .unwrap();
        assert_eq!(leaf.serial_hex(), "800102");
        let now = SystemTime::now();
        leaf.check_validity(now).unwrap();
        let early = leaf
            .check_validity(now - Duration::from_secs(3600))
            .unwrap_err();
        assert!(matches!(early, PkiError::NotYetValid { .. }), "{early}");
        let late = leaf
            .check_validity(now + Duration::from_secs(2 * 86400))
            .unwrap_err();
        assert!(matches!(late, PkiError::Expired { .. }), "{late}");
        assert!(late.to_string().contains("expired at"));
        // Bounds are inclusive.
        leaf.check_validity(leaf.not_before()).unwrap();
        leaf.check_validity(leaf.not_after()).unwrap();
        assert!(crate::cert::verify_chain(
            &leaf,
            std::slice::from_ref(&p.issuing),
            std::slice::from_ref(&p.root),
            now + Duration::from_secs(2 * 86400)
        )
        .is_err());
    }

    #[test]
    fn pem_round_trip_and_bundle() {
        let p = pki();
        let pem = p.issuing.to_pem();
        assert_eq!(Certificate::from_pem(&pem).unwrap(), p.issuing);
        let bundle = format!("junk\n{}\n{}", p.issuing.to_pem(), p.root.to_pem());
        let all = Certificate::all_from_pem(&bundle).unwrap();
        assert_eq!(all, vec![p.issuing.clone(), p.root.clone()]);
        assert_eq!(p.root.sha256_fingerprint_hex().len(), 64);
        assert!(Certificate::all_from_pem("nothing").is_err());
        assert!(Certificate::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .is_err());
        assert!(Certificate::from_der(b"\x30\x03\x02\x01\x01").is_err());
    }
}
