//! The management API's request and response shapes: plain strings as they arrive in JSON or
//! from the CLI, parsed by the registry's rules.

use korpu_conf::{PortalListing, SubjectLocation};
use serde::{Deserialize, Serialize};

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
    pub(super) fn as_str(self) -> &'static str {
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
