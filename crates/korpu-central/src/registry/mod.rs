//! The registry's rules: what may be registered, by whom it is referenced, which certificates
//! may be issued, and how the global configuration is assembled from it all.
//!
//! Requests arrive as plain strings (from JSON or the CLI); every field is parsed here into
//! `korpu-id` types, and every error names the request field and the rule it broke. Nothing is
//! written unless every check passed. This module knows nothing of HTTP.
//!
//! Here: the registrations (member classes, members, subsystems, gateways, services, access
//! rights) and administrator tokens. Beside it: [`requests`] (the API's shapes, re-exported
//! here), `validate` (field checks), `certs` (issuing and revoking certificates) and `publish`
//! (assembling and signing the global configuration).

use std::time::Duration;

use korpu_conf::SubjectLocation;
use korpu_id::{ClientId, GatewayId, InstanceId, MemberClass, MemberId, ServiceId, SubsystemId};
use sha2::{Digest, Sha256};

use crate::error::RegistryError;
use crate::pki::CentralPki;
use crate::store::{Registered, ServiceRow, Store};

mod certs;
mod publish;
mod requests;
mod validate;

pub use requests::*;
use validate::{
    check_ledger_key, check_portal_listing, invalid, non_empty, parse, parse_address, unix_now,
};

/// Settings the registry's rules depend on.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub instance: InstanceId,
    /// How long issued member and gateway certificates are valid.
    pub leaf_cert_validity: Duration,
    /// How long a signed global configuration is valid.
    pub conf_validity: Duration,
    /// Public URLs of the central services, written into the configuration and certificates.
    pub public_url: String,
}

impl RegistrySettings {
    pub fn conf_url(&self) -> String {
        format!("{}/conf", self.public_url)
    }
    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.public_url)
    }
    pub fn tsa_url(&self) -> String {
        format!("{}/tsa", self.public_url)
    }
}

/// The central registry: a store, the PKI and the rules.
pub struct Registry {
    pub store: Store,
    pub pki: CentralPki,
    pub settings: RegistrySettings,
}

impl Registry {
    fn check_instance(&self, field: &'static str, member: &MemberId) -> Result<(), RegistryError> {
        if member.instance != self.settings.instance {
            return Err(invalid(
                field,
                "instance",
                format!(
                    "{member} belongs to instance {}, but this registry serves instance {}",
                    member.instance, self.settings.instance
                ),
            ));
        }
        Ok(())
    }

    /// Refuses `key` unless it is registered as `what`; the error names `field`.
    async fn require(
        &self,
        field: &'static str,
        what: Registered,
        key: &str,
    ) -> Result<(), RegistryError> {
        if self.store.is_registered(what, key).await? {
            return Ok(());
        }
        let kind = match what {
            Registered::MemberClass => "member class",
            Registered::Member => "member",
            Registered::Subsystem => "subsystem",
            Registered::Gateway => "gateway",
            Registered::Service => "service",
        };
        Err(RegistryError::unregistered(field, kind, key))
    }

    async fn require_member(&self, field: &'static str, m: &MemberId) -> Result<(), RegistryError> {
        self.check_instance(field, m)?;
        self.require(field, Registered::Member, &m.to_string())
            .await
    }

    async fn require_client(&self, field: &'static str, c: &ClientId) -> Result<(), RegistryError> {
        self.require_member(field, c.member()).await?;
        if let ClientId::Subsystem(s) = c {
            self.require(field, Registered::Subsystem, &s.to_string())
                .await?;
        }
        Ok(())
    }

    pub async fn add_member_class(&self, req: &NewMemberClass) -> Result<(), RegistryError> {
        let code: MemberClass =
            MemberClass::new(&req.code).map_err(|e| RegistryError::bad_id("code", e))?;
        if req.description.len() > 1000 {
            return Err(invalid(
                "description",
                "max_length",
                "description is longer than 1000 bytes",
            ));
        }
        self.store
            .insert_member_class(code.as_str(), &req.description)
            .await
    }

    pub async fn add_member(&self, req: &NewMember) -> Result<MemberId, RegistryError> {
        let id: MemberId = parse("member", &req.member)?;
        self.check_instance("member", &id)?;
        non_empty("name", &req.name, 500)?;
        if !self
            .store
            .is_registered(Registered::MemberClass, id.class.as_str())
            .await?
        {
            let known: Vec<String> = self
                .store
                .member_classes()
                .await?
                .into_iter()
                .map(|(c, _)| c)
                .collect();
            return Err(invalid(
                "member",
                "known_member_class",
                format!(
                    "member class {} is not defined in this instance; known classes: {}",
                    id.class,
                    if known.is_empty() {
                        "none yet".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        self.store
            .insert_member(
                &id.to_string(),
                id.class.as_str(),
                req.name.trim(),
                unix_now(),
            )
            .await?;
        Ok(id)
    }

    pub async fn add_subsystem(&self, req: &NewSubsystem) -> Result<SubsystemId, RegistryError> {
        let id: SubsystemId = parse("subsystem", &req.subsystem)?;
        self.require_member("subsystem", &id.member).await?;
        self.store
            .insert_subsystem(&id.to_string(), &id.member.to_string(), unix_now())
            .await?;
        Ok(id)
    }

    pub async fn add_gateway(&self, req: &NewGateway) -> Result<GatewayId, RegistryError> {
        let id: GatewayId = parse("gateway", &req.gateway)?;
        parse_address("address", &req.address)?;
        if let Some(k) = &req.ledger_key {
            check_ledger_key("ledger_key", k)?;
        }
        self.require_member("gateway", &id.member).await?;
        self.store
            .insert_gateway(
                &id.to_string(),
                &id.member.to_string(),
                &req.address,
                req.ledger_key.as_deref(),
                unix_now(),
            )
            .await?;
        Ok(id)
    }

    /// Registers (or replaces) the ledger verifier key of a registered gateway.
    pub async fn set_gateway_ledger_key(
        &self,
        req: &GatewayLedgerKey,
    ) -> Result<GatewayId, RegistryError> {
        let id: GatewayId = parse("gateway", &req.gateway)?;
        check_ledger_key("ledger_key", &req.ledger_key)?;
        if !self
            .store
            .set_gateway_ledger_key(&id.to_string(), Some(&req.ledger_key))
            .await?
        {
            return Err(RegistryError::unregistered(
                "gateway",
                "gateway",
                &id.to_string(),
            ));
        }
        Ok(id)
    }

    pub async fn add_gateway_client(&self, req: &NewGatewayClient) -> Result<(), RegistryError> {
        let gw: GatewayId = parse("gateway", &req.gateway)?;
        let client: ClientId = parse("client", &req.client)?;
        self.require("gateway", Registered::Gateway, &gw.to_string())
            .await?;
        self.require_client("client", &client).await?;
        self.store
            .insert_gateway_client(&gw.to_string(), &client.to_string())
            .await
    }

    pub async fn add_service(&self, req: &NewService) -> Result<ServiceId, RegistryError> {
        let id: ServiceId = parse("service", &req.service)?;
        non_empty("title", &req.title, 500)?;
        if let Some(v) = &req.version {
            korpu_id::ServiceVersion::new(v).map_err(|e| RegistryError::bad_id("version", e))?;
        }
        if let Some(doc) = &req.openapi {
            non_empty("openapi", doc, 4 << 20)?;
        }
        let (subject_in, subject_name) = match &req.data_subject {
            None => (None, None),
            Some(loc) => {
                let (kind, name) = match loc {
                    SubjectLocation::Header(n) => ("header", n),
                    SubjectLocation::Path(n) => ("path", n),
                    SubjectLocation::Query(n) => ("query", n),
                };
                let ok = !name.is_empty()
                    && name.len() <= 200
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                if !ok {
                    return Err(invalid(
                        "data_subject",
                        "parameter_name",
                        format!(
                            "the data subject's {kind} name {name:?} must be 1-200 of A-Z, a-z, 0-9, '-', '_', '.'"
                        ),
                    ));
                }
                (Some(kind.to_owned()), Some(name.clone()))
            }
        };
        let portal = match &req.portal {
            None => None,
            Some(p) => {
                check_portal_listing(p)?;
                Some(serde_json::to_string(p).expect("a portal listing always serialises"))
            }
        };
        self.check_instance("service", &id.subsystem.member)?;
        self.require("service", Registered::Subsystem, &id.subsystem.to_string())
            .await?;
        let row = ServiceRow {
            id: id.to_string(),
            subsystem_id: id.subsystem.to_string(),
            version: req.version.clone(),
            title: req.title.trim().to_owned(),
            openapi: req.openapi.clone(),
            subject_in,
            subject_name,
            purpose_required: req.purpose_required,
            portal,
        };
        self.store.insert_service(&row, unix_now()).await?;
        Ok(id)
    }

    pub async fn grant_access(&self, req: &AccessRightRequest) -> Result<(), RegistryError> {
        let client: ClientId = parse("client", &req.client)?;
        let service: ServiceId = parse("service", &req.service)?;
        self.require_client("client", &client).await?;
        self.require("service", Registered::Service, &service.to_string())
            .await?;
        self.store
            .insert_access_right(&client.to_string(), &service.to_string(), unix_now())
            .await
    }

    pub async fn revoke_access(&self, req: &AccessRightRequest) -> Result<(), RegistryError> {
        let client: ClientId = parse("client", &req.client)?;
        let service: ServiceId = parse("service", &req.service)?;
        if !self
            .store
            .delete_access_right(&client.to_string(), &service.to_string())
            .await?
        {
            return Err(RegistryError::NotFound {
                what: "access right",
                id: format!("{client} to {service}"),
            });
        }
        Ok(())
    }

    /// Creates an administrator token; returns the token (shown once, stored only hashed).
    pub async fn create_admin_token(&self, name: &str) -> Result<String, RegistryError> {
        non_empty("name", name, 200)?;
        let mut bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        let token = format!("korpu_{}", hex::encode(bytes));
        self.store
            .insert_admin_token(&token_hash(&token), name, unix_now())
            .await?;
        Ok(token)
    }

    /// The administrator a bearer token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<String, RegistryError> {
        self.store
            .admin_for_token(&token_hash(token))
            .await?
            .ok_or_else(|| {
                RegistryError::Unauthorized("the administrator token is not valid".into())
            })
    }
}

/// The value paired with `id` in a store's (id, value) list.
fn value_of(pairs: &[(String, String)], id: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone())
}

/// Tokens are stored as SHA-256: a leaked database does not leak usable credentials, and the
/// lookup by hash does not compare secrets byte by byte.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
