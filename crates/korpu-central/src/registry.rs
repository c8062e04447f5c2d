//! The registry's rules: what may be registered, by whom it is referenced, which certificates
//! may be issued, and how the global configuration is assembled from it all.
//!
//! Requests arrive as plain strings (from JSON or the CLI); every field is parsed here into
//! `korpu-id` types, and every error names the request field and the rule it broke. Nothing is
//! written unless every check passed. This module knows nothing of HTTP.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use korpu_conf::{
    AccessRight, CentralServices, GatewayInfo, GlobalConf, Localized, MemberClassInfo, MemberInfo,
    PkiInfo, PortalListing, ServiceInfo, SubjectLocation, Timestamp, CONF_FORMAT,
};
use korpu_id::{ClientId, GatewayId, InstanceId, MemberClass, MemberId, ServiceId, SubsystemId};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::{csr, ocsp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::RegistryError;
use crate::pki::CentralPki;
use crate::store::{CertRow, ServiceRow, Store};

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

// ----- request and response shapes (the management API's JSON) -------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewMemberClass {
    pub code: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewMember {
    /// `INSTANCE/CLASS/CODE`
    pub member: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewSubsystem {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM`
    pub subsystem: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewGateway {
    /// `INSTANCE/CLASS/CODE/GATEWAY`
    pub gateway: String,
    /// `host:port` of its server side.
    pub address: String,
    /// The gateway's evidence-ledger note verifier key (C2SP vkey), if already known.
    #[serde(default)]
    pub ledger_key: Option<String>,
}

/// Sets or replaces a registered gateway's ledger verifier key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayLedgerKey {
    pub gateway: String,
    /// C2SP vkey text: `<name>+<8 hex digits>+<base64(0x01 || Ed25519 public key)>`.
    pub ledger_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewGatewayClient {
    pub gateway: String,
    pub client: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewService {
    /// `INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE`
    pub service: String,
    #[serde(default)]
    pub version: Option<String>,
    pub title: String,
    #[serde(default)]
    pub openapi: Option<String>,
    /// Where the data subject's id is, for services that handle personal data.
    #[serde(default)]
    pub data_subject: Option<SubjectLocation>,
    #[serde(default)]
    pub purpose_required: bool,
    /// How the myGov portal lists the service; absent for machine-to-machine services.
    #[serde(default)]
    pub portal: Option<PortalListing>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRightRequest {
    pub client: String,
    pub service: String,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// A member's signing key (signs messages and documents).
    Signing,
    /// A gateway's TLS key (gateway-to-gateway mutual TLS).
    GatewayTls,
}

impl CertKind {
    fn as_str(self) -> &'static str {
        match self {
            CertKind::Signing => "signing",
            CertKind::GatewayTls => "gateway_tls",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertRequest {
    pub kind: CertKind,
    /// The member (`signing`) or gateway (`gateway_tls`) the certificate is for.
    pub owner: String,
    /// PKCS#10 certificate signing request, PEM.
    pub csr: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCert {
    pub serial: String,
    pub certificate: String,
    /// The CA chain, issuing CA first, then the root.
    pub chain: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub serial: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertSummary {
    pub serial: String,
    pub kind: String,
    pub owner: String,
    pub subject: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub sha256: String,
    pub revoked_at: Option<Timestamp>,
    pub revocation_reason: Option<String>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn to_unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn parse<T: std::str::FromStr<Err = korpu_id::IdError>>(
    field: &'static str,
    value: &str,
) -> Result<T, RegistryError> {
    value.parse().map_err(|e| RegistryError::bad_id(field, e))
}

fn invalid(field: &'static str, rule: &'static str, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        field: field.to_owned(),
        rule,
        message: message.into(),
    }
}

fn non_empty(field: &'static str, value: &str, max: usize) -> Result<(), RegistryError> {
    if value.trim().is_empty() {
        return Err(invalid(
            field,
            "non_empty",
            format!("{field} must not be empty"),
        ));
    }
    if value.len() > max {
        return Err(invalid(
            field,
            "max_length",
            format!(
                "{field} is {} bytes long: at most {max} are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Checks `host:port`; returns the host.
fn parse_address(field: &'static str, address: &str) -> Result<String, RegistryError> {
    let bad = || {
        invalid(
            field,
            "host_port",
            format!("{address:?} is not host:port, e.g. gw1.tax.gov.az:5500 or 127.0.0.1:5500"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ok_dns = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if host.parse::<IpAddr>().is_err() && !ok_dns {
        return Err(bad());
    }
    Ok(host.to_owned())
}

/// An `Invalid` error for a field path built at run time (e.g. `portal.names.en`).
fn invalid_at(field: String, rule: &'static str, message: String) -> RegistryError {
    RegistryError::Invalid {
        field,
        rule,
        message,
    }
}

/// Checks a C2SP signed-note verifier key with the parser every consumer of the key uses
/// ([`korpu_tlog::NoteVerifier::from_vkey`]): `name+hexid+base64(0x01 || 32-byte Ed25519
/// key)`, the id being the first four bytes of SHA-256(name, '\n', 0x01, key). The id check
/// catches keys pasted with the wrong name or truncated; using the consumers' parser means the
/// registry never publishes a key that gateways and the portal would then refuse.
fn check_ledger_key(field: &'static str, vkey: &str) -> Result<(), RegistryError> {
    let bad = |m: &str| {
        invalid(
            field,
            "note_verifier_key",
            format!(
                "{vkey:?} is not a ledger verifier key ({m}); use the line `korpu ledger key --config FILE` prints"
            ),
        )
    };
    if vkey.len() > 1000 {
        return Err(bad("longer than 1000 bytes"));
    }
    korpu_tlog::NoteVerifier::from_vkey(vkey).map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// Checks a portal listing: every field's error names its path under `portal`.
fn check_portal_listing(p: &PortalListing) -> Result<(), RegistryError> {
    let text = |field: &str, l: &Localized, required: bool, max: usize| {
        for (lang, v) in [("az", &l.az), ("en", &l.en), ("ru", &l.ru)] {
            let path = format!("portal.{field}.{lang}");
            if required && v.trim().is_empty() {
                return Err(invalid_at(
                    path.clone(),
                    "non_empty",
                    format!("{path} must not be empty: the portal shows it in Azerbaijani, English and Russian"),
                ));
            }
            if v.len() > max {
                return Err(invalid_at(
                    path.clone(),
                    "max_length",
                    format!(
                        "{path} is {} bytes long: at most {max} are allowed",
                        v.len()
                    ),
                ));
            }
        }
        Ok(())
    };
    text("names", &p.names, true, 200)?;
    text("descriptions", &p.descriptions, true, 4000)?;
    text("requirements", &p.requirements, false, 4000)?;
    let c = &p.category;
    if c.is_empty()
        || c.len() > 50
        || !c
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
    {
        return Err(invalid_at(
            "portal.category".into(),
            "category_code",
            format!("category {c:?} must be 1-50 of a-z, 0-9 and '-', e.g. family or health"),
        ));
    }
    if let Some(schema) = &p.form_schema {
        check_form_schema(schema)?;
    }
    Ok(())
}

/// The portal generates forms from a subset of JSON Schema; a schema outside it is refused
/// here, at registration, rather than rendered wrongly to citizens later.
fn check_form_schema(schema: &serde_json::Value) -> Result<(), RegistryError> {
    let err = |path: String, rule: &'static str, m: String| invalid_at(path, rule, m);
    let size = serde_json::to_vec(schema).map_or(0, |v| v.len());
    if size > 256 << 10 {
        return Err(err(
            "portal.form_schema".into(),
            "max_length",
            format!("the form schema is {size} bytes: at most 262144 are allowed"),
        ));
    }
    if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err(err(
            "portal.form_schema.type".into(),
            "object_schema",
            "a form schema describes an object: \"type\": \"object\"".into(),
        ));
    }
    let props = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            err(
                "portal.form_schema.properties".into(),
                "form_fields",
                "a form schema needs \"properties\": an object with at least one field".into(),
            )
        })?;
    for (name, prop) in props {
        let path = format!("portal.form_schema.properties.{name}");
        if name.is_empty()
            || name.len() > 100
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err(
                path,
                "field_name",
                format!("form field name {name:?} must be 1-100 of A-Z, a-z, 0-9, '_', '-'"),
            ));
        }
        let ty = prop.get("type").and_then(|t| t.as_str());
        if !matches!(ty, Some("string" | "number" | "integer" | "boolean")) {
            return Err(err(
                format!("{path}.type"),
                "field_type",
                format!(
                    "form field {name} has type {:?}; the portal renders string, number, integer and boolean fields",
                    prop.get("type")
                ),
            ));
        }
        if let Some(e) = prop.get("enum") {
            if e.as_array().is_none_or(|a| a.is_empty()) {
                return Err(err(
                    format!("{path}.enum"),
                    "enum_values",
                    format!("form field {name}: enum must be a non-empty array"),
                ));
            }
        }
    }
    if let Some(req) = schema.get("required") {
        let names = req.as_array().ok_or_else(|| {
            err(
                "portal.form_schema.required".into(),
                "required_fields",
                "required must be an array of field names".into(),
            )
        })?;
        for n in names {
            if !n.as_str().is_some_and(|n| props.contains_key(n)) {
                return Err(err(
                    "portal.form_schema.required".into(),
                    "required_fields",
                    format!("required names {n}, which is not one of the form's properties"),
                ));
            }
        }
    }
    Ok(())
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

    async fn require_member(&self, field: &'static str, m: &MemberId) -> Result<(), RegistryError> {
        self.check_instance(field, m)?;
        if !self.store.member_exists(&m.to_string()).await? {
            return Err(RegistryError::unregistered(field, "member", &m.to_string()));
        }
        Ok(())
    }

    async fn require_client(&self, field: &'static str, c: &ClientId) -> Result<(), RegistryError> {
        self.require_member(field, c.member()).await?;
        if let ClientId::Subsystem(s) = c {
            if !self.store.subsystem_exists(&s.to_string()).await? {
                return Err(RegistryError::unregistered(
                    field,
                    "subsystem",
                    &s.to_string(),
                ));
            }
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
        if !self.store.member_class_exists(id.class.as_str()).await? {
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
        if !self.store.gateway_exists(&gw.to_string()).await? {
            return Err(RegistryError::unregistered(
                "gateway",
                "gateway",
                &gw.to_string(),
            ));
        }
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
        if !self
            .store
            .subsystem_exists(&id.subsystem.to_string())
            .await?
        {
            return Err(RegistryError::unregistered(
                "service",
                "subsystem",
                &id.subsystem.to_string(),
            ));
        }
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
        if !self.store.service_exists(&service.to_string()).await? {
            return Err(RegistryError::unregistered(
                "service",
                "service",
                &service.to_string(),
            ));
        }
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

    /// Issues a certificate for a registered member (signing) or gateway (TLS). The subject is
    /// taken from the registry, never from the CSR, so a CSR cannot claim another identity.
    pub async fn issue_certificate(&self, req: &CertRequest) -> Result<IssuedCert, RegistryError> {
        let parsed = csr::parse(req.csr.as_bytes())
            .map_err(|e| invalid("csr", "pkcs10", format!("not a valid PKCS#10 request: {e}")))?;
        let (subject, profile) = match req.kind {
            CertKind::Signing => {
                let member: MemberId = parse("owner", &req.owner)?;
                self.require_member("owner", &member).await?;
                let name = self
                    .store
                    .members()
                    .await?
                    .into_iter()
                    .find(|(id, _)| *id == member.to_string())
                    .map(|(_, n)| n);
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
                let address = self
                    .store
                    .gateways()
                    .await?
                    .into_iter()
                    .find(|(id, _)| *id == gw.to_string())
                    .map(|(_, a)| a)
                    .ok_or_else(|| {
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

    pub async fn certificates(&self) -> Result<Vec<CertSummary>, RegistryError> {
        let ts = |t: i64| Timestamp::from_unix(t.max(0) as u64);
        Ok(self
            .store
            .certificates()
            .await?
            .into_iter()
            .map(|c| CertSummary {
                sha256: hex::encode(Sha256::digest(&c.der)),
                serial: c.serial,
                kind: c.kind,
                owner: c.owner,
                subject: c.subject,
                not_before: ts(c.not_before),
                not_after: ts(c.not_after),
                revoked_at: c.revoked_at.map(ts),
                revocation_reason: c.revocation_reason,
            })
            .collect())
    }

    /// Assembles the global configuration's content from the registry (version and times are
    /// filled in by [`Registry::publish`]).
    pub async fn build_conf(&self) -> Result<GlobalConf, RegistryError> {
        let corrupt = |what: &str, e: korpu_id::IdError| {
            RegistryError::Store(format!("a stored {what} no longer parses: {e}"))
        };
        let member_classes = self
            .store
            .member_classes()
            .await?
            .into_iter()
            .map(|(code, description)| {
                Ok(MemberClassInfo {
                    code: MemberClass::new(&code).map_err(|e| corrupt("member class", e))?,
                    description,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let subsystems = self.store.subsystems().await?;
        let members = self
            .store
            .members()
            .await?
            .into_iter()
            .map(|(id, name)| {
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
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let gateway_clients = self.store.gateway_clients().await?;
        let certs = self.store.certificates().await?;
        let ledger_keys = self.store.gateway_ledger_keys().await?;
        let now = unix_now();
        let gateways = self
            .store
            .gateways()
            .await?
            .into_iter()
            .map(|(id, address)| {
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
                let ledger_key = ledger_keys
                    .iter()
                    .find(|(g, _)| *g == id)
                    .map(|(_, k)| k.clone());
                Ok(GatewayInfo {
                    id: id.parse().map_err(|e| corrupt("gateway", e))?,
                    address,
                    tls_cert_sha256,
                    clients,
                    ledger_key,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let services = self
            .store
            .services()
            .await?
            .into_iter()
            .map(|s| {
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
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
        let access_rights = self
            .store
            .access_rights()
            .await?
            .into_iter()
            .map(|(c, s)| {
                Ok(AccessRight {
                    client: c.parse().map_err(|e| corrupt("client", e))?,
                    service: s.parse().map_err(|e| corrupt("service", e))?,
                })
            })
            .collect::<Result<Vec<_>, RegistryError>>()?;
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

/// Tokens are stored as SHA-256: a leaked database does not leak usable credentials, and the
/// lookup by hash does not compare secrets byte by byte.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use super::check_ledger_key;

    /// A vkey of the right shape with a key id that matches its name and material.
    fn vkey(name: &str, material: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(material);
        format!(
            "{name}+{}+{}",
            hex::encode(&h.finalize()[..4]),
            base64::engine::general_purpose::STANDARD.encode(material)
        )
    }

    #[test]
    fn ledger_key_check_refuses_what_gateways_and_portal_refuse() {
        let good = korpu_tlog::NoteSigner::generate("gw1.social.gov.az")
            .unwrap()
            .verifier();
        assert!(check_ledger_key("ledger_key", &good.to_vkey()).is_ok());
        // y = 2 is not the y-coordinate of a point on edwards25519: the id matches, the shape
        // is right, but no consumer can verify a signature with it.
        let mut not_a_point = vec![0x01, 2];
        not_a_point.resize(33, 0);
        let k = vkey("gw1.social.gov.az", &not_a_point);
        assert!(k.parse::<korpu_tlog::NoteVerifier>().is_err());
        assert!(check_ledger_key("ledger_key", &k).is_err(), "{k}");
        // A name with a control character: note verifiers refuse such names.
        let mut material = vec![0x01];
        material.extend_from_slice(good.key().as_bytes());
        let k = vkey("gw1\u{7}", &material);
        assert!(check_ledger_key("ledger_key", &k).is_err(), "{k:?}");
        // The same material under a clean name passes: the refusals above are about the point
        // and the name, not the construction.
        assert!(check_ledger_key("ledger_key", &vkey("gw1", &material)).is_ok());
    }
}
