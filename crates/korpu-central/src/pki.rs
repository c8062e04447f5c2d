//! The central registry's own keys and certificates: the platform root CA, the issuing CA, the
//! configuration-signing key, the OCSP responder, the time-stamping authority and the TLS
//! certificate of the management API.
//!
//! On disk, under the data directory: `keys/NAME.p8` (PKCS#8, mode 0600) and
//! `certs/NAME.pem`. Loading refuses key files that others can read.
//!
//! The root key sits beside the others so that the embedded default works with no set-up; an
//! operator who outgrows it keeps the root offline and installs only the issuing CA here.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::{self, SigningKey};
use korpu_pki::{ocsp, tsa};

use crate::error::RegistryError;

const YEAR: Duration = Duration::from_secs(365 * 86_400);
/// RFC 3161 requires a policy OID; this one sits under the private-enterprise arc reserved for
/// examples in RFC 5612 (32473) until the operator configures the country's own.
pub const DEFAULT_TSA_POLICY: &str = "1.3.6.1.4.1.32473.1.3161";

/// One key with its certificate.
pub struct Identity {
    pub key: SigningKey,
    pub cert: Certificate,
}

/// All of the central registry's keys and certificates.
pub struct CentralPki {
    pub root: Certificate,
    /// The root's key when it is kept here (`keys/root.p8`): it signs the root's CRL about the
    /// issuing CA ([`CentralPki::root_crl`]). `None` when the operator keeps the root offline.
    pub root_key: Option<SigningKey>,
    pub issuing: Identity,
    pub conf_signing: Identity,
    pub ocsp: Identity,
    pub tsa: Identity,
    pub tls: Identity,
}

fn pki_err(what: &str, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Pki(format!("{what}: {e}"))
}

fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join("keys").join(format!("{name}.p8")),
        dir.join("certs").join(format!("{name}.pem")),
    )
}

fn subject(cn: &str, org: &str) -> Subject {
    Subject {
        common_name: cn.to_owned(),
        organization: Some(org.to_owned()),
        country: None,
    }
}

impl CentralPki {
    /// Creates a fresh PKI for `instance` under `dir`. `tls_names` are the DNS names and IP
    /// addresses the management API answers on; `ocsp_url` goes into leaf certificates.
    pub fn create(
        dir: &Path,
        instance: &str,
        tls_names: &[String],
        ocsp_url: &str,
    ) -> Result<Self, RegistryError> {
        for sub in ["keys", "certs"] {
            korpu_pki::private::create_missing_dir(&dir.join(sub))
                .map_err(|e| pki_err(&format!("creating {}", dir.join(sub).display()), e))?;
        }
        let now = SystemTime::now() - Duration::from_secs(300);
        let org = format!("Körpü {instance} platform");
        let root_key = SigningKey::generate();
        let root = ca::self_signed(
            &root_key,
            IssueRequest {
                subject: subject(&format!("{instance} Root CA"), &org),
                public_key_der: &root_key.public_key_der(),
                profile: Profile::Root,
                not_before: now,
                not_after: now + 20 * YEAR,
                ocsp_url: None,
            },
            &ca::random_serial(),
        )
        .map_err(|e| pki_err("creating the root CA", e))?;
        let issue = |issuer: &Identity, cn: String, profile: Profile, years: u32, ocsp: bool| {
            let key = SigningKey::generate();
            let cert = ca::issue(
                &issuer.cert,
                &issuer.key,
                IssueRequest {
                    subject: subject(&cn, &org),
                    public_key_der: &key.public_key_der(),
                    profile,
                    not_before: now,
                    not_after: now + years * YEAR,
                    ocsp_url: ocsp.then(|| ocsp_url.to_owned()),
                },
                &ca::random_serial(),
            )
            .map_err(|e| pki_err(&format!("issuing {cn}"), e))?;
            Ok::<_, RegistryError>(Identity { key, cert })
        };
        let root_id = Identity {
            key: root_key,
            cert: root,
        };
        let issuing = issue(
            &root_id,
            format!("{instance} Issuing CA"),
            Profile::IssuingCa,
            10,
            false,
        )?;
        let conf_signing = issue(
            &issuing,
            format!("{instance} Global Configuration Signing"),
            Profile::ConfSigning,
            5,
            true,
        )?;
        let ocsp = issue(
            &issuing,
            format!("{instance} OCSP Responder"),
            Profile::OcspResponder,
            2,
            false,
        )?;
        let tsa = issue(
            &issuing,
            format!("{instance} Time-Stamping Authority"),
            Profile::Tsa,
            5,
            true,
        )?;
        let (dns_names, ip_addrs) = split_names(tls_names);
        let tls = issue(
            &issuing,
            format!("{instance} Central Registry"),
            Profile::ServerTls {
                dns_names,
                ip_addrs,
            },
            2,
            true,
        )?;
        for (name, id) in [
            ("root", &root_id),
            ("issuing", &issuing),
            ("conf-signing", &conf_signing),
            ("ocsp", &ocsp),
            ("tsa", &tsa),
            ("tls", &tls),
        ] {
            let (key_path, cert_path) = paths(dir, name);
            key::write_private_key(&key_path, &id.key).map_err(|e| pki_err("writing a key", e))?;
            std::fs::write(&cert_path, id.cert.to_pem())
                .map_err(|e| pki_err(&format!("writing {}", cert_path.display()), e))?;
        }
        Ok(Self {
            root: root_id.cert,
            root_key: Some(root_id.key),
            issuing,
            conf_signing,
            ocsp,
            tsa,
            tls,
        })
    }

    /// Loads the PKI from `dir`, refusing key files that others can read.
    pub fn load(dir: &Path) -> Result<Self, RegistryError> {
        let cert = |name: &str| {
            let (_, path) = paths(dir, name);
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| pki_err(&format!("reading {}", path.display()), e))?;
            Certificate::from_pem(&pem).map_err(|e| pki_err(&path.display().to_string(), e))
        };
        let identity = |name: &str| {
            let (key_path, _) = paths(dir, name);
            let key =
                key::read_private_key(&key_path).map_err(|e| RegistryError::Pki(e.to_string()))?;
            Ok::<_, RegistryError>(Identity {
                key,
                cert: cert(name)?,
            })
        };
        Ok(Self {
            root: cert("root")?,
            root_key: {
                let (key_path, _) = paths(dir, "root");
                match key_path.exists() {
                    true => Some(
                        key::read_private_key(&key_path)
                            .map_err(|e| RegistryError::Pki(e.to_string()))?,
                    ),
                    false => None,
                }
            },
            issuing: identity("issuing")?,
            conf_signing: identity("conf-signing")?,
            ocsp: identity("ocsp")?,
            tsa: identity("tsa")?,
            tls: identity("tls")?,
        })
    }

    /// The OCSP responder answering for the issuing CA.
    pub fn ocsp_responder(&self, validity: Duration) -> ocsp::Responder {
        ocsp::Responder {
            issuer: self.issuing.cert.clone(),
            responder_cert: self.ocsp.cert.clone(),
            responder_key: self.ocsp.key.clone(),
            validity,
        }
    }

    /// The time-stamping authority.
    pub fn tsa_authority(&self, policy: &str) -> Result<tsa::Authority, RegistryError> {
        Ok(tsa::Authority {
            cert: self.tsa.cert.clone(),
            key: self.tsa.key.clone(),
            chain: vec![self.issuing.cert.clone()],
            policy: policy
                .parse()
                .map_err(|e| pki_err(&format!("TSA policy OID {policy:?}"), e))?,
        })
    }

    /// The root's CRL (RFC 5280 §5), signed now and valid for a week: it lists no certificate,
    /// since the registry never revokes its issuing CA, and it is what lets a validator
    /// establish the issuing CA's revocation status (EN 319 102-1 checks every CA below the
    /// anchor), so signers embed it at B-LT. Signed per request because a CRL vouches for the
    /// time it is issued: one older than a signature's time-stamp says nothing about it.
    /// `None` when the root key is not kept here.
    pub fn root_crl(&self, now: SystemTime) -> Option<Result<Vec<u8>, RegistryError>> {
        const VALIDITY: Duration = Duration::from_secs(7 * 86_400);
        let key = self.root_key.as_ref()?;
        // Whole seconds since the epoch: increasing, as cRLNumber must be (RFC 5280 §5.2.3).
        let number = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Some(
            korpu_pki::crl::issue(&self.root, key, &[], now, now + VALIDITY, number)
                .map(|c| c.der().to_vec())
                .map_err(|e| pki_err("signing the root CRL", e)),
        )
    }

    /// The CA chain, leaf side first: issuing CA then root.
    pub fn chain_pem(&self) -> Vec<String> {
        vec![self.issuing.cert.to_pem(), self.root.to_pem()]
    }
}

/// Splits host names from IP addresses.
pub fn split_names(names: &[String]) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in names {
        match n.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(n.clone()),
        }
    }
    (dns, ips)
}
