//! OCSP (RFC 6960): a pure responder for the issuing CA and the client side the gateway uses.
//!
//! The responder takes request bytes and a status callback and returns response bytes; the HTTP
//! layer (RFC 6960 Appendix A, POST `application/ocsp-request`) lives in the registry. Responses
//! are signed by the responder certificate (a delegated one with id-kp-OCSPSigning, so the CA key
//! can stay offline, or the CA itself), identified by key hash, and carry that certificate.
//! Not supported: signed requests (signatures on requests are ignored, as RFC 6960 §4.1.2
//! allows), pre-produced responses and the CRL/archive-cutoff extensions.
use std::time::{Duration, SystemTime};

use const_oid::db::rfc5280::ID_KP_OCSP_SIGNING;
use const_oid::db::rfc6960::{ID_PKIX_OCSP_BASIC, ID_PKIX_OCSP_NONCE};
use der::asn1::{BitString, Null, OctetString};
use der::{Decode, Encode};
use rand_core::{OsRng, RngCore};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus,
    Request, ResponderId, ResponseData, RevokedInfo, SingleResponse, TbsRequest, Version,
};

use crate::cert::Certificate;
use crate::key::SigningKey;
use crate::util::{self, HashAlg};
use crate::PkiError;

/// How far a response's thisUpdate may lie in the future (clock skew between responder and
/// client) before the client refuses it.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// More CertIDs than this in one request is refused as malformed: each costs the registry a
/// status lookup, and no legitimate client asks about more than a handful at once.
pub const MAX_REQUESTS_PER_MESSAGE: usize = 64;

/// The revocation status of one certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked.
    Good,
    /// Revoked at `at`, optionally for `reason`.
    Revoked {
        /// Revocation time.
        at: SystemTime,
        /// CRLReason, if given.
        reason: Option<RevocationReason>,
    },
    /// The responder does not know the certificate (not ours, or never issued).
    Unknown,
}

/// CRLReason (RFC 5280 §5.3.1), minus removeFromCRL which only delta CRLs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl From<RevocationReason> for CrlReason {
    fn from(r: RevocationReason) -> Self {
        match r {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::CertificateHold => CrlReason::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => CrlReason::AaCompromise,
        }
    }
}

impl RevocationReason {
    pub(crate) fn from_crl_reason(r: CrlReason) -> Option<Self> {
        Some(match r {
            CrlReason::Unspecified => RevocationReason::Unspecified,
            CrlReason::KeyCompromise => RevocationReason::KeyCompromise,
            CrlReason::CaCompromise => RevocationReason::CaCompromise,
            CrlReason::AffiliationChanged => RevocationReason::AffiliationChanged,
            CrlReason::Superseded => RevocationReason::Superseded,
            CrlReason::CessationOfOperation => RevocationReason::CessationOfOperation,
            CrlReason::CertificateHold => RevocationReason::CertificateHold,
            CrlReason::PrivilegeWithdrawn => RevocationReason::PrivilegeWithdrawn,
            CrlReason::AaCompromise => RevocationReason::AaCompromise,
            CrlReason::RemoveFromCRL => return None,
        })
    }
}

/// An OCSP responder answering for the certificates of one issuing CA.
#[derive(Clone, Debug)]
pub struct Responder {
    /// The issuing CA whose certificates it answers for.
    pub issuer: Certificate,
    /// The delegated responder certificate (issued by `issuer`, id-kp-OCSPSigning), or `issuer`
    /// itself.
    pub responder_cert: Certificate,
    /// The key of `responder_cert`.
    pub responder_key: SigningKey,
    /// nextUpdate = thisUpdate + validity: how long clients may cache an answer.
    pub validity: Duration,
}

/// Why a request could not be answered with status successful.
enum Failure {
    Malformed(PkiError),
    Internal(PkiError),
}

impl Responder {
    /// A responder after checking that its certificate is authorised to answer for `issuer`
    /// (RFC 6960 §4.2.2.2) and that `responder_key` belongs to it. The fields are public, so a
    /// caller can also build the struct directly; this is the checked way.
    pub fn new(
        issuer: Certificate,
        responder_cert: Certificate,
        responder_key: SigningKey,
        validity: Duration,
    ) -> Result<Self, PkiError> {
        responder_cert.check_key(&responder_key, "OCSP responder")?;
        if responder_cert != issuer {
            responder_cert.verify_issued_by(&issuer)?;
            if !responder_cert.has_extended_key_usage(ID_KP_OCSP_SIGNING) {
                return Err(PkiError::WrongCertificateUsage {
                    subject: responder_cert.subject(),
                    reason: "it lacks the id-kp-OCSPSigning extended key usage".into(),
                });
            }
        }
        Ok(Responder {
            issuer,
            responder_cert,
            responder_key,
            validity,
        })
    }

    /// Parses an OCSPRequest and returns the serials (as [`Certificate::serial_hex`]) of the
    /// CertIDs that name this responder's issuer, with SHA-1 or SHA-2 hashes.
    pub fn requested_serials(&self, request_der: &[u8]) -> Result<Vec<String>, PkiError> {
        let req = parse_request(request_der)?;
        Ok(req
            .tbs_request
            .request_list
            .iter()
            .filter(|r| self.is_ours(&r.req_cert))
            .map(|r| util::serial_hex(r.req_cert.serial_number.as_bytes()))
            .collect())
    }

    /// Builds the OCSPResponse DER for `request_der` at `now`, asking `status_of(serial_hex)`
    /// for each of our CertIDs. Foreign CertIDs are answered `unknown`; a malformed request gets
    /// a bare malformedRequest response. Never panics on any input.
    pub fn respond(
        &self,
        request_der: &[u8],
        now: SystemTime,
        status_of: impl Fn(&str) -> CertStatus,
    ) -> Vec<u8> {
        self.respond_explained(request_der, now, status_of).0
    }

    /// Like [`Responder::respond`] but tells the caller why a request got an error status, for
    /// logging.
    pub fn respond_explained(
        &self,
        request_der: &[u8],
        now: SystemTime,
        status_of: impl Fn(&str) -> CertStatus,
    ) -> (Vec<u8>, Option<PkiError>) {
        let (resp, err) = match self.try_respond(request_der, now, status_of).and_then(|r| {
            r.to_der()
                .map_err(|e| Failure::Internal(PkiError::encoding("OCSP response", e)))
        }) {
            Ok(r) => return (r, None),
            Err(Failure::Malformed(e)) => (OcspResponse::malformed_request(), e),
            Err(Failure::Internal(e)) => (OcspResponse::internal_error(), e),
        };
        (
            resp.to_der()
                .expect("a bare OCSPResponse status always encodes"),
            Some(err),
        )
    }

    fn is_ours(&self, id: &CertId) -> bool {
        cert_id_names_issuer(id, &self.issuer)
    }

    fn try_respond(
        &self,
        request_der: &[u8],
        now: SystemTime,
        status_of: impl Fn(&str) -> CertStatus,
    ) -> Result<OcspResponse, Failure> {
        let req = parse_request(request_der).map_err(Failure::Malformed)?;
        let internal = |e: PkiError| Failure::Internal(e);
        let enc = |e: der::Error| Failure::Internal(PkiError::encoding("OCSP response", e));
        if self.responder_cert.public_key_der() != self.responder_key.public_key_der() {
            return Err(internal(PkiError::InvalidIssueRequest(
                "the OCSP responder key does not match its certificate".into(),
            )));
        }
        let this_update = OcspGeneralizedTime(util::generalized_time(now).map_err(internal)?);
        let next_update = OcspGeneralizedTime(
            util::generalized_time(now.checked_add(self.validity).ok_or_else(|| {
                internal(PkiError::encoding("OCSP response", "nextUpdate overflows"))
            })?)
            .map_err(internal)?,
        );

        let mut responses = Vec::with_capacity(req.tbs_request.request_list.len());
        for r in &req.tbs_request.request_list {
            let status = if self.is_ours(&r.req_cert) {
                status_of(&util::serial_hex(r.req_cert.serial_number.as_bytes()))
            } else {
                CertStatus::Unknown
            };
            let cert_status = match status {
                CertStatus::Good => x509_ocsp::CertStatus::good(),
                CertStatus::Unknown => x509_ocsp::CertStatus::unknown(),
                CertStatus::Revoked { at, reason } => x509_ocsp::CertStatus::revoked(RevokedInfo {
                    revocation_time: OcspGeneralizedTime(
                        util::generalized_time(at).map_err(internal)?,
                    ),
                    revocation_reason: reason.map(CrlReason::from),
                }),
            };
            responses.push(SingleResponse {
                // RFC 6960 §4.2.1: the CertID echoes the request's, hash algorithm included.
                cert_id: r.req_cert.clone(),
                cert_status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }

        // RFC 8954 §2.1: echo the nonce so the client can tell this is no replay. The extension
        // is copied verbatim; clients (openssl included) compare its bytes.
        let response_extensions = req
            .tbs_request
            .request_extensions
            .as_ref()
            .and_then(|exts| {
                exts.iter()
                    .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
                    .map(|e| vec![e.clone()])
            });

        let key_hash = self.responder_cert.key_hash(HashAlg::Sha1);
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(key_hash).map_err(enc)?),
            produced_at: this_update,
            responses,
            response_extensions,
        };
        let sig = self.responder_key.sign(&tbs.to_der().map_err(enc)?);
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: util::ecdsa_sha256_alg(),
            signature: BitString::from_bytes(&sig).map_err(enc)?,
            certs: Some(vec![self.responder_cert.parsed().clone()]),
        };
        OcspResponse::successful(basic).map_err(enc)
    }
}

fn parse_request(der: &[u8]) -> Result<OcspRequest, PkiError> {
    let req = OcspRequest::from_der(der).map_err(|e| PkiError::malformed("OCSP request", e))?;
    let n = req.tbs_request.request_list.len();
    if n == 0 {
        return Err(PkiError::malformed("OCSP request", "requestList is empty"));
    }
    if n > MAX_REQUESTS_PER_MESSAGE {
        return Err(PkiError::malformed(
            "OCSP request",
            format!("{n} CertIDs, at most {MAX_REQUESTS_PER_MESSAGE} are answered per request"),
        ));
    }
    // RFC 8954 §2.1: a responder MUST reject a nonce of 0 or more than 32 octets with
    // malformedRequest; echoing arbitrary lengths would also let a client make us sign
    // attacker-chosen blobs.
    if let Some(ext) = req
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
    {
        let raw = ext.extn_value.as_bytes();
        let len = OctetString::from_der(raw).map_or(raw.len(), |o| o.as_bytes().len());
        if len == 0 || len > MAX_NONCE_LEN {
            return Err(PkiError::malformed(
                "OCSP request",
                format!("nonce of {len} octets, RFC 8954 allows 1 to {MAX_NONCE_LEN}"),
            ));
        }
    }
    Ok(req)
}

/// RFC 8954 §2.1 upper bound on nonce length.
const MAX_NONCE_LEN: usize = 32;

/// Whether a CertID's issuerNameHash and issuerKeyHash are those of `issuer`.
fn cert_id_names_issuer(id: &CertId, issuer: &Certificate) -> bool {
    match HashAlg::from_oid(&id.hash_algorithm.oid) {
        Some(alg) => {
            id.issuer_name_hash.as_bytes() == issuer.subject_hash(alg).as_slice()
                && id.issuer_key_hash.as_bytes() == issuer.key_hash(alg).as_slice()
        }
        None => false,
    }
}

fn cert_id(cert: &Certificate, issuer: &Certificate, alg: HashAlg) -> Result<CertId, PkiError> {
    let enc = |e: der::Error| PkiError::encoding("OCSP CertID", e);
    Ok(CertId {
        // RFC 6960's examples and openssl encode the SHA-1 parameters as NULL; some responders
        // compare AlgorithmIdentifiers byte for byte, so match them.
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: alg.oid(),
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(issuer.subject_hash(alg)).map_err(enc)?,
        issuer_key_hash: OctetString::new(issuer.key_hash(alg)).map_err(enc)?,
        serial_number: cert.parsed().tbs_certificate.serial_number.clone(),
    })
}

/// Builds an OCSPRequest DER for `cert` (issued by `issuer`) with a SHA-1 CertID, which every
/// responder understands (RFC 5019 §2.1.1), and a random 16-octet nonce (RFC 8954: 1..=32).
/// Returns the request and the nonce to pass to [`verify_response`].
pub fn build_request(
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    cert.verify_issued_by(issuer)?;
    let enc = |e: der::Error| PkiError::encoding("OCSP request", e);
    let mut nonce = vec![0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    let nonce_ext = Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        // RFC 8954 §2.1: Nonce ::= OCTET STRING, itself wrapped in the extnValue OCTET STRING.
        extn_value: OctetString::new(
            OctetString::new(nonce.clone())
                .map_err(enc)?
                .to_der()
                .map_err(enc)?,
        )
        .map_err(enc)?,
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer, HashAlg::Sha1)?,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![nonce_ext]),
        },
        optional_signature: None,
    };
    Ok((req.to_der().map_err(enc)?, nonce))
}

/// Parses and verifies an OCSPResponse about `cert` (issued by `issuer`) and returns its status.
///
/// Checks: status successful with a basic response; signed (any algorithm of [`crate::alg`]) by `issuer` or
/// by a responder certificate issued by `issuer` with id-kp-OCSPSigning that is valid at `now`;
/// a SingleResponse whose CertID matches `cert`; the nonce if `nonce` is given; thisUpdate no
/// more than [`MAX_CLOCK_SKEW`] ahead of `now`; nextUpdate, if present, not before `now`.
pub fn verify_response(
    response_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
    now: SystemTime,
) -> Result<CertStatus, PkiError> {
    verify_response_dated(response_der, cert, issuer, nonce, now).map(|(status, _)| status)
}

/// As [`verify_response`], and also returns the response's thisUpdate, so that a relying party
/// can refuse answers older than its own limit (a stapled response is only as fresh as that).
pub fn verify_response_dated(
    response_der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
    now: SystemTime,
) -> Result<(CertStatus, SystemTime), PkiError> {
    let resp = OcspResponse::from_der(response_der)
        .map_err(|e| PkiError::malformed("OCSP response", e))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(PkiError::OcspRejected(format!(
            "responder answered {:?} instead of a status",
            resp.response_status
        )));
    }
    let bytes = resp
        .response_bytes
        .ok_or_else(|| PkiError::malformed("OCSP response", "successful but no responseBytes"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(PkiError::OcspRejected(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der)
        .map_err(|e| PkiError::malformed("OCSP basic response", e))?;
    let tbs =
        util::signed_part(basic_der).map_err(|e| PkiError::malformed("OCSP basic response", e))?;
    // Foreign responders sign with RSA or other curves; an algorithm we cannot check makes the
    // answer unusable (undecided), which is not the same as a forged answer.
    let alg = crate::alg::SignatureAlgorithm::from_x509(&basic.signature_algorithm)
        .map_err(|e| PkiError::OcspRejected(format!("response signature: {e}")))?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError::malformed("OCSP basic response", "signature has unused bits"))?;

    // Candidates: the CA itself, then the certificates the response carries, narrowed by the
    // ResponderID. RFC 6960 §4.2.2.2: a delegated responder must be issued directly by the CA
    // that issued the certificate in question and carry id-kp-OCSPSigning; anything else could
    // be any member's certificate vouching for itself.
    let mut candidates = vec![issuer.clone()];
    for c in basic.certs.iter().flatten() {
        let der = c
            .to_der()
            .map_err(|e| PkiError::malformed("OCSP basic response", e))?;
        candidates.push(Certificate::from_der(&der)?);
    }
    let rid = &basic.tbs_response_data.responder_id;
    let mut last_err = None;
    let mut signer_ok = false;
    for c in candidates.iter().filter(|c| responder_id_matches(rid, c)) {
        let authorised = if c == issuer {
            Ok(())
        } else {
            authorise_delegate(c, issuer, now)
        };
        match authorised.and_then(|()| c.verify_with(&alg, tbs, sig).map_err(PkiError::from)) {
            Ok(_) => {
                signer_ok = true;
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    if !signer_ok {
        return Err(PkiError::OcspRejected(match last_err {
            Some(e) => format!("no authorised signer: {e}"),
            None => "the responder named in the response is neither the CA nor a certificate \
                     included in it"
                .into(),
        }));
    }

    if let Some(expected) = nonce {
        let got = basic
            .tbs_response_data
            .response_extensions
            .as_ref()
            .and_then(|exts| exts.iter().find(|e| e.extn_id == ID_PKIX_OCSP_NONCE));
        let ok = got.is_some_and(|e| {
            let raw = e.extn_value.as_bytes();
            // RFC 8954 form (OCTET STRING inside extnValue) or the bare form some responders use.
            OctetString::from_der(raw).is_ok_and(|o| o.as_bytes() == expected) || raw == expected
        });
        if !ok {
            return Err(PkiError::OcspRejected(
                "the response does not echo our nonce (possible replay)".into(),
            ));
        }
    }

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|s| cert_id_matches(&s.cert_id, cert, issuer))
        .ok_or_else(|| {
            PkiError::OcspRejected(format!(
                "the response has no status for serial {} of \"{}\"",
                cert.serial_hex(),
                issuer.subject()
            ))
        })?;

    let this_update = single.this_update.0.to_system_time();
    if this_update > now.checked_add(MAX_CLOCK_SKEW).unwrap_or(now) {
        return Err(PkiError::OcspRejected(format!(
            "thisUpdate {} is in the future (now {})",
            util::rfc3339(this_update),
            util::rfc3339(now)
        )));
    }
    if let Some(next) = single.next_update {
        let next = next.0.to_system_time();
        if next < now {
            return Err(PkiError::OcspRejected(format!(
                "stale response: nextUpdate {} has passed (now {})",
                util::rfc3339(next),
                util::rfc3339(now)
            )));
        }
    }

    let status = match single.cert_status {
        x509_ocsp::CertStatus::Good(_) => CertStatus::Good,
        x509_ocsp::CertStatus::Unknown(_) => CertStatus::Unknown,
        x509_ocsp::CertStatus::Revoked(info) => CertStatus::Revoked {
            at: info.revocation_time.0.to_system_time(),
            reason: info
                .revocation_reason
                .and_then(RevocationReason::from_crl_reason),
        },
    };
    Ok((status, this_update))
}

fn responder_id_matches(rid: &ResponderId, c: &Certificate) -> bool {
    match rid {
        ResponderId::ByKey(h) => h.as_bytes() == c.key_hash(HashAlg::Sha1).as_slice(),
        ResponderId::ByName(n) => *n == c.parsed().tbs_certificate.subject,
    }
}

fn authorise_delegate(
    c: &Certificate,
    issuer: &Certificate,
    now: SystemTime,
) -> Result<(), PkiError> {
    c.verify_issued_by(issuer)?;
    if !c.has_extended_key_usage(ID_KP_OCSP_SIGNING) {
        return Err(PkiError::WrongCertificateUsage {
            subject: c.subject(),
            reason: "it lacks id-kp-OCSPSigning".into(),
        });
    }
    c.check_validity(now)
}

fn cert_id_matches(id: &CertId, cert: &Certificate, issuer: &Certificate) -> bool {
    cert_id_names_issuer(id, issuer)
        && id.serial_number == cert.parsed().tbs_certificate.serial_number
}

/// The serial of a CertID from its hex form, for callers that keep serials as text.
pub fn serial_from_hex(serial_hex: &str) -> Result<SerialNumber, PkiError> {
    let bytes = hex::decode(serial_hex).map_err(|e| PkiError::malformed("serial number", e))?;
    SerialNumber::new(&bytes).map_err(|e| PkiError::malformed("serial number", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::tests::pki;
    use crate::ca::{issue, random_serial, IssueRequest, Profile, Subject};

    struct Setup {
        responder: Responder,
        member: Certificate,
        issuing: Certificate,
        issuing_key: SigningKey,
        root: Certificate,
    }

    fn leaf(
        issuer: &Certificate,
        key: &SigningKey,
        profile: Profile,
        cn: &str,
    ) -> (Certificate, SigningKey) {
        let k = SigningKey::generate();
        let pk = k.public_key_der();
        let now = SystemTime::now();
        let c = issue(
            issuer,
            key,
            IssueRequest {
                subject: Subject::cn(cn),
                public_key_der: &pk,
                profile,
                not_before: now - Duration::from_secs(60),
                not_after: now + Duration::from_secs(3600),
                ocsp_url: None,
            },
            &random_serial(),
        )
        .unwrap();
        (c, k)
    }

    fn setup() -> Setup {
        let p = pki();
        let (rc, rk) = leaf(&p.issuing, &p.issuing_key, Profile::OcspResponder, "OCSP");
        let (member, _) = leaf(
            &p.issuing,
            &p.issuing_key,
            Profile::MemberSigning,
            "AZ/GOV/1",
        );
        let responder =
            Responder::new(p.issuing.clone(), rc, rk, Duration::from_secs(600)).unwrap();
        Setup {
            responder,
            member,
            issuing: p.issuing,
            issuing_key: p.issuing_key,
            root: p.root,
        }
    }

    #[test]
    fn round_trip_good_revoked_unknown() {
        let s = setup();
        let now = SystemTime::now();
        let (req, nonce) = build_request(&s.member, &s.issuing).unwrap();
        assert_eq!(
            s.responder.requested_serials(&req).unwrap(),
            vec![s.member.serial_hex()]
        );

        let resp = s.responder.respond(&req, now, |_| CertStatus::Good);
        assert_eq!(
            verify_response(&resp, &s.member, &s.issuing, Some(&nonce), now).unwrap(),
            CertStatus::Good
        );
        // Wrong nonce, stale, future.
        assert!(verify_response(&resp, &s.member, &s.issuing, Some(b"other"), now).is_err());
        assert!(verify_response(
            &resp,
            &s.member,
            &s.issuing,
            None,
            now + Duration::from_secs(601)
        )
        .is_err());
        assert!(verify_response(
            &resp,
            &s.member,
            &s.issuing,
            None,
            now - Duration::from_secs(301)
        )
        .is_err());
        // A response about one certificate says nothing about another of the same CA.
        let (other, _) = leaf(&s.issuing, &s.issuing_key, Profile::MemberSigning, "x");
        let err = verify_response(&resp, &other, &s.issuing, Some(&nonce), now).unwrap_err();
        assert!(err.to_string().contains("no status for serial"), "{err}");

        let at = now - Duration::from_secs(3600);
        let resp = s.responder.respond(&req, now, |serial| {
            assert_eq!(serial, s.member.serial_hex());
            CertStatus::Revoked {
                at,
                reason: Some(RevocationReason::KeyCompromise),
            }
        });
        match verify_response(&resp, &s.member, &s.issuing, Some(&nonce), now).unwrap() {
            CertStatus::Revoked { at: got, reason } => {
                assert_eq!(
                    util::whole_seconds(got).unwrap(),
                    util::whole_seconds(at).unwrap()
                );
                assert_eq!(reason, Some(RevocationReason::KeyCompromise));
            }
            other => panic!("{other:?}"),
        }
        let resp = s.responder.respond(&req, now, |_| CertStatus::Unknown);
        assert_eq!(
            verify_response(&resp, &s.member, &s.issuing, Some(&nonce), now).unwrap(),
            CertStatus::Unknown
        );
    }

    #[test]
    fn foreign_issuer_is_unknown_and_not_asked() {
        let s = setup();
        // A CertID naming the root as issuer is not ours: the callback must not be consulted.
        let (req, _) = build_request(&s.issuing, &s.root).unwrap();
        assert!(s.responder.requested_serials(&req).unwrap().is_empty());
        let resp = s.responder.respond(&req, SystemTime::now(), |_| {
            panic!("asked about a foreign serial")
        });
        let parsed = OcspResponse::from_der(&resp).unwrap();
        assert_eq!(parsed.response_status, OcspResponseStatus::Successful);
        let basic = BasicOcspResponse::from_der(parsed.response_bytes.unwrap().response.as_bytes())
            .unwrap();
        assert!(matches!(
            basic.tbs_response_data.responses[0].cert_status,
            x509_ocsp::CertStatus::Unknown(_)
        ));
    }

    #[test]
    fn garbage_gets_malformed_request() {
        let s = setup();
        let malformed = OcspResponse::malformed_request().to_der().unwrap();
        let (good_req, _) = build_request(&s.member, &s.issuing).unwrap();
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"garbage".to_vec(),
            vec![0x30],
            vec![0x30, 0x00],
            vec![0x30, 0x80],
        ];
        inputs.push(good_req[..good_req.len() - 3].to_vec());
        // An empty requestList.
        inputs.push(
            OcspRequest {
                tbs_request: TbsRequest::default(),
                optional_signature: None,
            }
            .to_der()
            .unwrap(),
        );
        // A 33-octet nonce (RFC 8954 §2.1).
        let mut long_nonce = OcspRequest::from_der(&good_req).unwrap();
        long_nonce.tbs_request.request_extensions = Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(
                OctetString::new(vec![7u8; 33]).unwrap().to_der().unwrap(),
            )
            .unwrap(),
        }]);
        inputs.push(long_nonce.to_der().unwrap());
        for input in &inputs {
            assert_eq!(
                s.responder
                    .respond(input, SystemTime::now(), |_| CertStatus::Good),
                malformed
            );
            assert!(s.responder.requested_serials(input).is_err());
        }
        // Byte flips never panic.
        for i in 0..good_req.len() {
            let mut b = good_req.clone();
            b[i] ^= 0x21;
            let _ = s
                .responder
                .respond(&b, SystemTime::now(), |_| CertStatus::Good);
        }
        assert!(verify_response(b"junk", &s.member, &s.issuing, None, SystemTime::now()).is_err());
        assert!(
            verify_response(&malformed, &s.member, &s.issuing, None, SystemTime::now()).is_err()
        );
    }

    #[test]
    fn responder_must_be_authorised() {
        let s = setup();
        // A member certificate cannot act as OCSP responder.
        let p = pki();
        let (mc, mk) = leaf(&p.issuing, &p.issuing_key, Profile::MemberSigning, "m");
        assert!(Responder::new(
            p.issuing.clone(),
            mc.clone(),
            mk.clone(),
            Duration::from_secs(60)
        )
        .is_err());
        // Forge one anyway and check the client refuses it.
        let rogue = Responder {
            issuer: p.issuing.clone(),
            responder_cert: mc.clone(),
            responder_key: mk,
            validity: Duration::from_secs(60),
        };
        let (req, nonce) = build_request(&mc, &p.issuing).unwrap();
        let resp = rogue.respond(&req, SystemTime::now(), |_| CertStatus::Good);
        let err =
            verify_response(&resp, &mc, &p.issuing, Some(&nonce), SystemTime::now()).unwrap_err();
        assert!(err.to_string().contains("OCSPSigning"), "{err}");
        // The issuing CA may sign its own responses.
        let direct = Responder::new(
            p.issuing.clone(),
            p.issuing.clone(),
            p.issuing_key.clone(),
            Duration::from_secs(60),
        )
        .unwrap();
        let resp = direct.respond(&req, SystemTime::now(), |_| CertStatus::Good);
        assert_eq!(
            verify_response(&resp, &mc, &p.issuing, Some(&nonce), SystemTime::now()).unwrap(),
            CertStatus::Good
        );
        // But a response about a certificate of another CA does not verify against it.
        assert!(verify_response(&resp, &s.member, &s.issuing, None, SystemTime::now()).is_err());
    }
}
