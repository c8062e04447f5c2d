//! Certificates: issuing them for registered members (signing) and gateways (TLS), revoking
//! them, and answering the OCSP responder's status questions from the registry's rows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use korpu_id::{GatewayId, MemberId};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::{csr, ocsp};

use super::validate::{invalid, parse, parse_address, to_unix, unix_now};
use super::{value_of, CertKind, CertRequest, IssuedCert, Registry, RevokeRequest};
use crate::error::RegistryError;
use crate::store::CertRow;

impl Registry {
    /// Issues a certificate for a registered member (signing) or gateway (TLS). The subject is
    /// taken from the registry, never from the CSR, so a CSR cannot claim another identity.
    pub async fn issue_certificate(&self, req: &CertRequest) -> Result<IssuedCert, RegistryError> {
        let parsed = csr::parse(req.csr.as_bytes())
            .map_err(|e| invalid("csr", "pkcs10", format!("not a valid PKCS#10 request: {e}")))?;
        let (subject, profile) = match req.kind {
            CertKind::Signing => {
                let member: MemberId = parse("owner", &req.owner)?;
                self.require_member("owner", &member).await?;
                let name = value_of(&self.store.members().await?, &member.to_string());
                (
                    Subject {
                        common_name: member.to_string(),
                        organization: name,
                        country: None,
                    },
                    Profile::MemberSigning,
                )
            }
            CertKind::GatewayTls => {
                let gw: GatewayId = parse("owner", &req.owner)?;
                self.check_instance("owner", &gw.member)?;
                let address =
                    value_of(&self.store.gateways().await?, &gw.to_string()).ok_or_else(|| {
                        RegistryError::unregistered("owner", "gateway", &gw.to_string())
                    })?;
                let host = parse_address("address", &address)?;
                let (dns_names, ip_addrs) = crate::pki::split_names(&[host]);
                (
                    Subject {
                        common_name: gw.to_string(),
                        organization: None,
                        country: None,
                    },
                    Profile::GatewayTls {
                        dns_names,
                        ip_addrs,
                    },
                )
            }
        };
        let now = SystemTime::now();
        let cert = ca::issue(
            &self.pki.issuing.cert,
            &self.pki.issuing.key,
            IssueRequest {
                subject,
                public_key_der: &parsed.public_key_der,
                profile,
                not_before: now - Duration::from_secs(60),
                not_after: now + self.settings.leaf_cert_validity,
                ocsp_url: Some(self.settings.ocsp_url()),
            },
            &ca::random_serial(),
        )
        .map_err(|e| RegistryError::Pki(e.to_string()))?;
        let row = CertRow {
            serial: cert.serial_hex(),
            kind: req.kind.as_str().to_owned(),
            owner: req.owner.clone(),
            subject: cert.subject(),
            not_before: to_unix(cert.not_before()),
            not_after: to_unix(cert.not_after()),
            der: cert.der().to_vec(),
            revoked_at: None,
            revocation_reason: None,
        };
        self.store.insert_certificate(&row, unix_now()).await?;
        tracing::info!(serial = %row.serial, kind = %row.kind, owner = %row.owner, "certificate issued");
        Ok(IssuedCert {
            serial: row.serial,
            certificate: cert.to_pem(),
            chain: self.pki.chain_pem(),
        })
    }

    pub async fn revoke_certificate(&self, req: &RevokeRequest) -> Result<(), RegistryError> {
        let serial = req.serial.trim().to_ascii_lowercase();
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid(
                "serial",
                "hex",
                "a certificate serial is hexadecimal, e.g. 4f1a…",
            ));
        }
        let reason = req.reason.clone().unwrap_or_else(|| "unspecified".into());
        parse_reason(&reason)?;
        if self.store.certificate(&serial).await?.is_none() {
            return Err(RegistryError::NotFound {
                what: "certificate with serial",
                id: serial,
            });
        }
        self.store
            .revoke_certificate(&serial, unix_now(), &reason)
            .await?;
        tracing::warn!(%serial, %reason, "certificate revoked");
        Ok(())
    }

    /// The OCSP status of a certificate serial (hex) issued by the issuing CA.
    pub async fn cert_status(&self, serial: &str) -> Result<ocsp::CertStatus, RegistryError> {
        Ok(match self.store.certificate(serial).await? {
            None => ocsp::CertStatus::Unknown,
            Some(CertRow {
                revoked_at: Some(at),
                revocation_reason,
                ..
            }) => ocsp::CertStatus::Revoked {
                at: UNIX_EPOCH + Duration::from_secs(at.max(0) as u64),
                reason: revocation_reason
                    .as_deref()
                    .and_then(|r| parse_reason(r).ok()),
            },
            Some(_) => ocsp::CertStatus::Good,
        })
    }

    /// Every certificate issued, oldest first (their JSON form is the API's listing).
    pub async fn certificates(&self) -> Result<Vec<CertRow>, RegistryError> {
        self.store.certificates().await
    }
}

fn parse_reason(reason: &str) -> Result<ocsp::RevocationReason, RegistryError> {
    use ocsp::RevocationReason::*;
    Ok(match reason {
        "unspecified" => Unspecified,
        "key_compromise" => KeyCompromise,
        "ca_compromise" => CaCompromise,
        "affiliation_changed" => AffiliationChanged,
        "superseded" => Superseded,
        "cessation_of_operation" => CessationOfOperation,
        other => {
            return Err(invalid(
                "reason",
                "revocation_reason",
                format!(
                    "{other:?} is not a revocation reason; use one of unspecified, key_compromise, \
                     ca_compromise, affiliation_changed, superseded, cessation_of_operation"
                ),
            ))
        }
    })
}
