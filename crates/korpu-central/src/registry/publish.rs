//! The global configuration: assembled from the registry's rows, versioned by content, and
//! signed; and the anchor gateways pin it with.

use korpu_conf::{
    AccessRight, CentralServices, GatewayInfo, GlobalConf, MemberClassInfo, MemberInfo, PkiInfo,
    PortalListing, ServiceInfo, SubjectLocation, Timestamp, CONF_FORMAT,
};
use korpu_id::{MemberClass, SubsystemId};
use sha2::{Digest, Sha256};

use super::validate::unix_now;
use super::{value_of, Registry};
use crate::error::RegistryError;

impl Registry {
    /// Assembles the global configuration's content from the registry (version and times are
    /// filled in by [`Registry::publish`]).
    pub async fn build_conf(&self) -> Result<GlobalConf, RegistryError> {
        let corrupt = |what: &str, e: korpu_id::IdError| {
            RegistryError::Store(format!("a stored {what} no longer parses: {e}"))
        };
        let member_classes = each(self.store.member_classes().await?, |(code, description)| {
            Ok(MemberClassInfo {
                code: MemberClass::new(&code).map_err(|e| corrupt("member class", e))?,
                description,
            })
        })?;
        let subsystems = self.store.subsystems().await?;
        let members = each(self.store.members().await?, |(id, name)| {
            let subsystems = subsystems
                .iter()
                .filter(|(_, m)| *m == id)
                .map(|(s, _)| {
                    s.parse::<SubsystemId>()
                        .map(|s| s.code)
                        .map_err(|e| corrupt("subsystem", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MemberInfo {
                id: id.parse().map_err(|e| corrupt("member", e))?,
                name,
                subsystems,
            })
        })?;
        let gateway_clients = self.store.gateway_clients().await?;
        let certs = self.store.certificates().await?;
        let ledger_keys = self.store.gateway_ledger_keys().await?;
        let now = unix_now();
        let gateways = each(self.store.gateways().await?, |(id, address)| {
            // Only unrevoked, unexpired TLS certificates are pinned: a revoked certificate
            // drops out of every gateway's trust at the next configuration download.
            let tls_cert_sha256 = certs
                .iter()
                .filter(|c| {
                    c.kind == "gateway_tls"
                        && c.owner == id
                        && c.revoked_at.is_none()
                        && c.not_after > now
                })
                .map(|c| hex::encode(Sha256::digest(&c.der)))
                .collect();
            let clients = gateway_clients
                .iter()
                .filter(|(g, _)| *g == id)
                .map(|(_, c)| c.parse().map_err(|e| corrupt("client", e)))
                .collect::<Result<Vec<_>, _>>()?;
            let ledger_key = value_of(&ledger_keys, &id);
            Ok(GatewayInfo {
                id: id.parse().map_err(|e| corrupt("gateway", e))?,
                address,
                tls_cert_sha256,
                clients,
                ledger_key,
            })
        })?;
        let services = each(self.store.services().await?, |s| {
            let data_subject = match (s.subject_in.as_deref(), s.subject_name) {
                (Some("header"), Some(n)) => Some(SubjectLocation::Header(n)),
                (Some("path"), Some(n)) => Some(SubjectLocation::Path(n)),
                (Some("query"), Some(n)) => Some(SubjectLocation::Query(n)),
                _ => None,
            };
            let portal = s
                .portal
                .as_deref()
                .map(serde_json::from_str::<PortalListing>)
                .transpose()
                .map_err(|e| {
                    RegistryError::Store(format!(
                        "the stored portal listing of {} no longer parses: {e}",
                        s.id
                    ))
                })?;
            Ok(ServiceInfo {
                id: s.id.parse().map_err(|e| corrupt("service", e))?,
                version: s.version,
                title: s.title,
                openapi: s.openapi,
                data_subject,
                purpose_required: s.purpose_required,
                portal,
            })
        })?;
        let access_rights = each(self.store.access_rights().await?, |(c, s)| {
            Ok(AccessRight {
                client: c.parse().map_err(|e| corrupt("client", e))?,
                service: s.parse().map_err(|e| corrupt("service", e))?,
            })
        })?;
        Ok(GlobalConf {
            format: CONF_FORMAT.to_owned(),
            instance: self.settings.instance.clone(),
            version: 0,
            issued_at: Timestamp::from_unix(0),
            expires_at: Timestamp::from_unix(0),
            central: CentralServices {
                conf_url: self.settings.conf_url(),
                ocsp_url: self.settings.ocsp_url(),
                tsa_url: self.settings.tsa_url(),
            },
            pki: PkiInfo {
                root_certs: vec![self.pki.root.to_pem()],
                issuing_certs: vec![self.pki.issuing.cert.to_pem()],
                ocsp_responder_certs: vec![self.pki.ocsp.cert.to_pem()],
                tsa_certs: vec![self.pki.tsa.cert.to_pem()],
            },
            member_classes,
            members,
            gateways,
            services,
            access_rights,
        })
    }

    /// Builds, versions and signs the global configuration. The version goes up only when the
    /// content changed; the issue and expiry times are fresh on every call.
    pub async fn publish(&self) -> Result<(GlobalConf, Vec<u8>), RegistryError> {
        let mut conf = self.build_conf().await?;
        let content_hash = hex::encode(Sha256::digest(
            serde_json::to_vec(&conf).expect("a configuration always serialises"),
        ));
        // Another publisher (the refresh loop, or a second registry replica on the same
        // database) may allocate the same next version at the same moment; the loser re-reads.
        let mut attempts = 0;
        let version = loop {
            let latest = self.store.latest_conf_version().await?;
            match latest {
                Some((v, h)) if h == content_hash => break v,
                latest => {
                    let v = latest.map_or(1, |(v, _)| v + 1);
                    match self
                        .store
                        .insert_conf_version(v, &content_hash, unix_now())
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(version = v, "global configuration content changed");
                            break v;
                        }
                        Err(RegistryError::Duplicate { .. }) if attempts < 5 => attempts += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let now = Timestamp::now();
        conf.version = version as u64;
        conf.issued_at = now;
        conf.expires_at = now.plus(self.settings.conf_validity);
        let signed = korpu_conf::sign(
            &conf,
            &self.pki.conf_signing.key,
            &self.pki.conf_signing.cert,
        );
        Ok((conf, signed))
    }

    /// The configuration anchor for this instance.
    pub fn anchor(&self) -> Result<korpu_conf::Anchor, RegistryError> {
        korpu_conf::Anchor::new(
            self.settings.instance.clone(),
            self.settings.conf_url(),
            std::slice::from_ref(&self.pki.conf_signing.cert),
        )
        .map_err(|e| RegistryError::Pki(e.to_string()))
    }
}

/// Converts each stored row; the first that fails stops the conversion.
fn each<R, T>(
    rows: Vec<R>,
    convert: impl FnMut(R) -> Result<T, RegistryError>,
) -> Result<Vec<T>, RegistryError> {
    rows.into_iter().map(convert).collect()
}
