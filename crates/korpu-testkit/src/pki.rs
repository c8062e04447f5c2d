//! A test PKI issued with `korpu-pki` itself: a root, an issuing CA under it, and leaves
//! (member signers, TSAs, OCSP responders) issued by that CA, with an in-process TSA and OCSP
//! responder over them, and a CRL revocation source.
//!
//! Not for judging `korpu-pki`'s issuing against an independent CA: that is what [`crate::ossl`]
//! is for.
use std::path::Path;
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{CertStatus, Responder, RevocationReason};
use korpu_pki::tsa::Authority;
use korpu_sign::{LocalOcsp, LocalTimestamper, RevocationSource, SignError};

pub const DAY: Duration = Duration::from_secs(86400);

/// The TSA policy of [`Pki::tsa`].
pub const TSA_POLICY: &str = "1.3.6.1.4.1.99999.1.1";

/// `cn` in the organisation "Korpu Test", country AZ.
pub fn subject(cn: &str) -> Subject {
    Subject {
        common_name: cn.into(),
        organization: Some("Korpu Test".into()),
        country: Some("AZ".into()),
    }
}

/// A request for `subject` over `public_key_der`, valid from `not_before` to `not_after`,
/// naming no OCSP responder (set `ocsp_url` with struct update syntax).
pub fn request(
    subject: Subject,
    public_key_der: &[u8],
    profile: Profile,
    not_before: SystemTime,
    not_after: SystemTime,
) -> IssueRequest<'_> {
    IssueRequest {
        subject,
        public_key_der,
        profile,
        not_before,
        not_after,
        ocsp_url: None,
    }
}

/// A fresh key and a self-signed root certificate over it.
pub fn self_signed_root(
    subject: Subject,
    not_before: SystemTime,
    not_after: SystemTime,
) -> (Certificate, SigningKey) {
    let key = SigningKey::generate();
    let pk = key.public_key_der();
    let req = request(subject, &pk, Profile::Root, not_before, not_after);
    let cert = ca::self_signed(&key, req, &ca::random_serial()).unwrap();
    (cert, key)
}

/// A fresh key and a certificate over it that `issuer` (with `issuer_key`) issues.
pub fn issue(
    issuer: &Certificate,
    issuer_key: &SigningKey,
    subject: Subject,
    profile: Profile,
    not_before: SystemTime,
    not_after: SystemTime,
    ocsp_url: Option<&str>,
) -> (Certificate, SigningKey) {
    let key = SigningKey::generate();
    let pk = key.public_key_der();
    let req = IssueRequest {
        ocsp_url: ocsp_url.map(Into::into),
        ..request(subject, &pk, profile, not_before, not_after)
    };
    let cert = ca::issue(issuer, issuer_key, req, &ca::random_serial()).unwrap();
    (cert, key)
}

/// A fresh self-signed root `root_cn` and a certificate `cn` of `profile` that it issues, with
/// that certificate's key; subjects are the bare common names, all valid from a day ago for 30
/// days.
pub fn root_and_leaf(
    root_cn: &str,
    cn: &str,
    profile: Profile,
) -> (Certificate, Certificate, SigningKey) {
    let now = SystemTime::now();
    let (nb, na) = (now - DAY, now + 30 * DAY);
    let (root, root_key) = self_signed_root(Subject::cn(root_cn), nb, na);
    let (cert, key) = issue(&root, &root_key, Subject::cn(cn), profile, nb, na, None);
    (root, cert, key)
}

/// A root and the issuing CA under it that issues every leaf.
pub struct Pki {
    pub root: Certificate,
    pub root_key: SigningKey,
    pub issuing: Certificate,
    pub issuing_key: SigningKey,
    /// How a common name becomes a subject in this PKI's certificates.
    names: fn(&str) -> Subject,
}

/// A leaf certificate with its key and the chain above it (the issuing CA).
pub struct Member {
    pub cert: Certificate,
    pub key: SigningKey,
    pub chain: Vec<Certificate>,
}

impl Member {
    /// The CAdES signer of this certificate and key.
    pub fn signer(&self) -> korpu_sign::cades::Signer<'_> {
        korpu_sign::cades::Signer {
            key: &self.key,
            cert: &self.cert,
            chain: &self.chain,
        }
    }
}

impl Pki {
    /// "`name` Root" and "`name` Issuing CA", subjects in [`subject`]'s organisation, valid
    /// from a year ago to a year ahead, so tests can sign in the past.
    pub fn new(name: &str) -> Self {
        Self::named(name, subject)
    }

    /// As [`Pki::new`], every subject only its common name (as reports then show it whole).
    pub fn cn_only(name: &str) -> Self {
        Self::named(name, |cn| Subject::cn(cn))
    }

    fn named(name: &str, names: fn(&str) -> Subject) -> Self {
        let now = SystemTime::now();
        let (nb, na) = (now - 365 * DAY, now + 365 * DAY);
        let (root, root_key) = self_signed_root(names(&format!("{name} Root")), nb, na);
        let (issuing, issuing_key) = issue(
            &root,
            &root_key,
            names(&format!("{name} Issuing CA")),
            Profile::IssuingCa,
            nb,
            na,
            None,
        );
        Pki {
            root,
            root_key,
            issuing,
            issuing_key,
            names,
        }
    }

    /// This PKI's root over another issuing CA (one naming an OCSP responder, say), which
    /// then issues every leaf.
    pub fn with_issuing(self, issuing: Certificate, issuing_key: SigningKey) -> Self {
        Pki {
            issuing,
            issuing_key,
            ..self
        }
    }

    /// A leaf `cn` of `profile` issued by the issuing CA, valid from `not_before` to
    /// `not_after`, naming `ocsp_url` as its OCSP responder (authorityInfoAccess) when given.
    pub fn leaf_full(
        &self,
        cn: &str,
        profile: Profile,
        not_before: SystemTime,
        not_after: SystemTime,
        ocsp_url: Option<&str>,
    ) -> Member {
        let (cert, key) = issue(
            &self.issuing,
            &self.issuing_key,
            (self.names)(cn),
            profile,
            not_before,
            not_after,
            ocsp_url,
        );
        Member {
            cert,
            key,
            chain: vec![self.issuing.clone()],
        }
    }

    /// [`Pki::leaf_full`] naming no OCSP responder.
    pub fn leaf_valid(
        &self,
        cn: &str,
        profile: Profile,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Member {
        self.leaf_full(cn, profile, not_before, not_after, None)
    }

    /// A leaf valid from a month ago to a month ahead, naming `ocsp_url` when given.
    pub fn leaf(&self, cn: &str, profile: Profile, ocsp_url: Option<&str>) -> Member {
        let now = SystemTime::now();
        self.leaf_full(cn, profile, now - 30 * DAY, now + 30 * DAY, ocsp_url)
    }

    /// A member signer valid from a month ago to a month ahead.
    pub fn member(&self, cn: &str) -> Member {
        self.leaf(cn, Profile::MemberSigning, None)
    }

    /// A leaf whose certificate names an OCSP responder (Authority Information Access), as
    /// validators that only check revocation when a certificate declares where to (pyHanko)
    /// need.
    pub fn leaf_with_ocsp(&self, cn: &str, profile: Profile, ocsp_url: &str) -> Member {
        self.leaf(cn, profile, Some(ocsp_url))
    }

    /// A member signer whose certificate was valid from ten days before `now` until a day
    /// before it, and a TSA whose clock is set to the time in between it returns with them.
    pub fn expired_signer(
        &self,
        id: &str,
        now: SystemTime,
    ) -> (Member, LocalTimestamper, SystemTime) {
        let m = self.leaf_valid(id, Profile::MemberSigning, now - 10 * DAY, now - DAY);
        let then = now - 5 * DAY;
        let tsa = self.tsa();
        tsa.set_time(Some(then));
        (m, tsa, then)
    }

    /// A time-stamping authority signing with `m`'s certificate and key under `policy`.
    pub fn authority(&self, m: Member, policy: &str) -> Authority {
        Authority::new(m.cert, m.key, m.chain, policy.parse().unwrap()).unwrap()
    }

    /// An in-process TSA "Korpu TSA" (valid two months either side) under [`TSA_POLICY`].
    pub fn tsa(&self) -> LocalTimestamper {
        let now = SystemTime::now();
        let m = self.leaf_valid("Korpu TSA", Profile::Tsa, now - 60 * DAY, now + 60 * DAY);
        LocalTimestamper::new(self.authority(m, TSA_POLICY))
    }

    /// Like [`Pki::tsa`], with an OCSP responder named in the TSA certificate.
    pub fn tsa_with_ocsp(&self, ocsp_url: &str) -> LocalTimestamper {
        let m = self.leaf_with_ocsp("Korpu TSA", Profile::Tsa, ocsp_url);
        LocalTimestamper::new(self.authority(m, TSA_POLICY))
    }

    /// An OCSP responder of the issuing CA, signing with the CA's own key, answers valid for
    /// an hour.
    pub fn responder(&self) -> Responder {
        Responder::new(
            self.issuing.clone(),
            self.issuing.clone(),
            self.issuing_key.clone(),
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    /// An in-process OCSP source answering as the issuing CA: `revoked` lists serials (hex)
    /// with their revocation times; everything else is good.
    pub fn ocsp(
        &self,
        revoked: Vec<(String, SystemTime)>,
    ) -> LocalOcsp<impl Fn(&str) -> CertStatus> {
        LocalOcsp::new(self.responder(), move |serial: &str| {
            match revoked.iter().find(|(s, _)| s == serial) {
                Some((_, at)) => CertStatus::Revoked {
                    at: *at,
                    reason: Some(RevocationReason::KeyCompromise),
                },
                None => CertStatus::Good,
            }
        })
    }

    /// The trust anchors of this PKI: its root.
    pub fn anchors(&self) -> Vec<Certificate> {
        vec![self.root.clone()]
    }

    /// Writes `dir/chain.pem` (the issuing CA, for `--chain`) and `dir/root.pem` (for
    /// `--trust`).
    pub fn write_pems(&self, dir: &Path) {
        std::fs::write(dir.join("chain.pem"), self.issuing.to_pem()).unwrap();
        std::fs::write(dir.join("root.pem"), self.root.to_pem()).unwrap();
    }
}

/// What most signing tests start from: a PKI, one member of it, the PKI's TSA and the time.
pub struct Setup {
    pub pki: Pki,
    pub m: Member,
    pub tsa: LocalTimestamper,
    pub now: SystemTime,
}

impl Setup {
    /// [`Pki::new`] `name`, its [`Pki::member`] `member` and [`Pki::tsa`], now.
    pub fn new(name: &str, member: &str) -> Self {
        let pki = Pki::new(name);
        let m = pki.member(member);
        let tsa = pki.tsa();
        Setup {
            pki,
            m,
            tsa,
            now: SystemTime::now(),
        }
    }
}

/// Serves CRLs: for a certificate, the CRL its issuer published (by issuer certificate).
pub struct Crls(pub Vec<(Certificate, Vec<u8>)>);

impl RevocationSource for Crls {
    fn ocsp(&self, cert: &Certificate, _: &Certificate) -> Result<Vec<u8>, SignError> {
        Err(SignError::InvalidInput(format!(
            "no OCSP responder for \"{}\"",
            cert.subject()
        )))
    }
    fn crl(&self, _: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        Ok(self
            .0
            .iter()
            .find(|(ca, _)| ca == issuer)
            .map(|(_, crl)| crl.clone()))
    }
}
