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
    /// The C2SP signed-note verifier key (`<name>+<hex id>+<base64>`) of this gateway's
    /// evidence ledger: whoever holds an inclusion proof from this gateway (the portal's data
    /// tracker, an auditor) checks the checkpoint signature against it. Absent until the
    /// operator registers it (`korpu ledger key --config` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_key: Option<String>,
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
    /// Present when citizens may use the service through the myGov portal: how the catalogue
    /// shows it and the form it asks for. Services without it stay machine-to-machine only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalListing>,
}

/// A text in each of the portal's languages: Azerbaijani (the default), English and Russian.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Localized {
    pub az: String,
    pub en: String,
    pub ru: String,
}

impl Localized {
    /// The text for a language code (`az`, `en`, `ru`); Azerbaijani for any other code, and
    /// Azerbaijani when the requested translation is empty.
    pub fn get(&self, lang: &str) -> &str {
        let t = match lang {
            "en" => &self.en,
            "ru" => &self.ru,
            _ => &self.az,
        };
        if t.is_empty() {
            &self.az
        } else {
            t
        }
    }
}

/// How a citizen-facing service appears in the myGov portal's catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalListing {
    /// The service's name as a citizen knows it (not the technical `title`).
    pub names: Localized,
    /// One or two plain sentences on what the service does and who it is for.
    pub descriptions: Localized,
    /// A catalogue category code, e.g. `family`, `health`, `tax` (lowercase, `a-z0-9-`).
    pub category: String,
    /// What the citizen needs before applying (documents, details).
    pub requirements: Localized,
    /// The JSON Schema (draft 2020-12 subset) of the application form; absent when the
    /// service is informational only (nothing to submit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_schema: Option<serde_json::Value>,
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

#[cfg(any(test, feature = "test-util"))]
impl GlobalConf {
    /// An empty document of instance `AZ`, version 7, issued at `now` and valid for ten
    /// minutes, with central services on an unroutable loopback port: for tests elsewhere to
    /// fill in what they need with struct-update syntax.
    pub fn example(now: Timestamp) -> Self {
        let central = "http://127.0.0.1:1";
        GlobalConf {
            format: CONF_FORMAT.into(),
            instance: "AZ".parse().expect("a valid instance id"),
            version: 7,
            issued_at: now,
            expires_at: now.plus(std::time::Duration::from_secs(600)),
            central: CentralServices {
                conf_url: format!("{central}/conf"),
                ocsp_url: format!("{central}/ocsp"),
                tsa_url: format!("{central}/tsa"),
            },
            pki: PkiInfo {
                root_certs: vec![],
                issuing_certs: vec![],
                ocsp_responder_certs: vec![],
                tsa_certs: vec![],
            },
            member_classes: vec![],
            members: vec![],
            gateways: vec![],
            services: vec![],
            access_rights: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents written before the portal listing and the ledger key existed still parse, and
    /// documents without them serialise exactly as before (so their signatures and content
    /// hashes do not change).
    #[test]
    fn old_shapes_still_parse_and_serialise_unchanged() {
        let gw = serde_json::json!({
            "id": "AZ/GOV/1/gw1", "address": "127.0.0.1:5500",
            "tls_cert_sha256": [], "clients": ["AZ/GOV/1/sub"]
        });
        let parsed: GatewayInfo = serde_json::from_value(gw.clone()).expect("old gateway");
        assert_eq!(parsed.ledger_key, None);
        assert_eq!(serde_json::to_value(&parsed).expect("serialises"), gw);

        let svc = serde_json::json!({
            "id": "AZ/GOV/1/sub/code", "version": null, "title": "T", "openapi": null,
            "data_subject": null, "purpose_required": false
        });
        let parsed: ServiceInfo = serde_json::from_value(svc.clone()).expect("old service");
        assert_eq!(parsed.portal, None);
        assert_eq!(serde_json::to_value(&parsed).expect("serialises"), svc);
    }

    #[test]
    fn portal_listing_round_trips_and_falls_back_to_azerbaijani() {
        let listing = PortalListing {
            names: Localized {
                az: "Uşaq müavinəti".into(),
                en: "Child benefit".into(),
                ru: String::new(),
            },
            descriptions: Localized::default(),
            category: "family".into(),
            requirements: Localized::default(),
            form_schema: Some(serde_json::json!({"type": "object"})),
        };
        let text = serde_json::to_string(&listing).expect("serialises");
        let back: PortalListing = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, listing);
        assert_eq!(back.names.get("en"), "Child benefit");
        assert_eq!(back.names.get("ru"), "Uşaq müavinəti");
        assert_eq!(back.names.get("xx"), "Uşaq müavinəti");
    }
}
