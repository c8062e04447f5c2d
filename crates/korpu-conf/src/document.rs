//! The content of the global configuration, as typed data.
//!
//! Everything a gateway needs to route, authenticate and authorise an exchange without asking
//! anyone: the document is self-contained so that a gateway keeps working from its last good
//! copy while the central registry is unreachable, until the copy expires.

use korpu_id::{ClientId, GatewayId, InstanceId, MemberClass, MemberId, ServiceId, SubsystemCode};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The `format` value of documents this crate writes and accepts.
pub const CONF_FORMAT: &str = "korpu-global-conf/1";

/// The global configuration of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalConf {
    /// Always [`CONF_FORMAT`]; a gateway refuses formats it does not know.
    pub format: String,
    pub instance: InstanceId,
    /// Increases with every document the central registry signs; a gateway never goes back.
    pub version: u64,
    pub issued_at: Timestamp,
    /// After this instant the document must not be used: a gateway refuses to route.
    pub expires_at: Timestamp,
    pub central: CentralServices,
    pub pki: PkiInfo,
    pub member_classes: Vec<MemberClassInfo>,
    pub members: Vec<MemberInfo>,
    pub gateways: Vec<GatewayInfo>,
    pub services: Vec<ServiceInfo>,
    pub access_rights: Vec<AccessRight>,
}

/// Where the central services answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CentralServices {
    /// Where this document is downloaded from.
    pub conf_url: String,
    /// RFC 6960 OCSP responder for certificates of the issuing CA.
    pub ocsp_url: String,
    /// RFC 3161 time-stamping authority.
    pub tsa_url: String,
}

/// The platform's trust material, as PEM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PkiInfo {
    /// Trust anchors for every certificate on the bridge.
    pub root_certs: Vec<String>,
    /// Intermediate CAs that issue member, gateway, OCSP and TSA certificates.
    pub issuing_certs: Vec<String>,
    /// The OCSP responder's certificate (delegated responder, issued by an issuing CA).
    pub ocsp_responder_certs: Vec<String>,
    /// The time-stamping authority's certificate.
    pub tsa_certs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberClassInfo {
    pub code: MemberClass,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: MemberId,
    pub name: String,
    pub subsystems: Vec<SubsystemCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub id: GatewayId,
    /// `host:port` where its server side (gateway-to-gateway mTLS) listens.
    pub address: String,
    /// SHA-256 of the DER of each TLS certificate this gateway may present (hex, lowercase).
    pub tls_cert_sha256: Vec<String>,
    /// The member's subsystems this gateway serves, as clients and as providers.
    pub clients: Vec<ClientId>,
}

/// Where in a request the data subject's identifier is found, for services that handle
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "in", content = "name", rename_all = "lowercase")]
pub enum SubjectLocation {
    /// A request header, e.g. `X-Subject-Id`.
    Header(String),
    /// A path parameter: the `{name}` in the service's path template.
    Path(String),
    /// A query parameter.
    Query(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub id: ServiceId,
    /// The service's version, e.g. `v1` (a registry attribute; REST ids carry no version).
    pub version: Option<String>,
    pub title: String,
    /// The OpenAPI 3 description, served by the getOpenAPI metaservice.
    pub openapi: Option<String>,
    /// Present when the service handles personal data: where the data subject's id is.
    pub data_subject: Option<SubjectLocation>,
    /// Whether callers must state a purpose (`X-Korpu-Purpose`).
    pub purpose_required: bool,
}

/// `client` may call `service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccessRight {
    pub client: ClientId,
    pub service: ServiceId,
}

impl GlobalConf {
    /// Whether `client` may call `service` according to this document.
    pub fn is_allowed(&self, client: &ClientId, service: &ServiceId) -> bool {
        self.access_rights
            .iter()
            .any(|r| &r.client == client && &r.service == service)
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| &s.id == id)
    }

    pub fn gateway(&self, id: &GatewayId) -> Option<&GatewayInfo> {
        self.gateways.iter().find(|g| &g.id == id)
    }

    /// The gateways that serve `client` (a subsystem or member), in document order.
    pub fn gateways_serving<'a>(
        &'a self,
        client: &'a ClientId,
    ) -> impl Iterator<Item = &'a GatewayInfo> + 'a {
        self.gateways
            .iter()
            .filter(move |g| g.clients.contains(client))
    }
}
