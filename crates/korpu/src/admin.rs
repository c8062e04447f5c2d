//! `korpu central <resource> <action>`: administration through the management API, so that an
//! operator sets up an instance without touching tables. Each command is one HTTPS request;
//! the API's JSON answer is printed, and an API error exits non-zero with its message.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use korpu_central::CentralConfig;
use serde_json::{json, Value};

/// How to reach the management API: `--config` of the registry (on its own machine), or
/// `--url`, `--token` and `--ca-cert` (anywhere).
#[derive(Args, Clone, Default)]
pub struct ApiArgs {
    /// The registry's central.toml: gives the URL, the administrator token and the CA.
    #[arg(long, global = true, env = "KORPU_CENTRAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Management API base URL, e.g. https://127.0.0.1:4400.
    #[arg(long, global = true, env = "KORPU_CENTRAL_URL")]
    pub url: Option<String>,
    /// Administrator token.
    #[arg(long, global = true, env = "KORPU_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The platform root CA certificate (PEM) that the management API's certificate chains to.
    #[arg(long, global = true, env = "KORPU_CENTRAL_CA")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Member classes (GOV, COM, …).
    MemberClass {
        #[command(subcommand)]
        action: MemberClassAction,
    },
    /// Members: organisations.
    Member {
        #[command(subcommand)]
        action: MemberAction,
    },
    /// Subsystems of members.
    Subsystem {
        #[command(subcommand)]
        action: SubsystemAction,
    },
    /// Gateways (security servers).
    Gateway {
        #[command(subcommand)]
        action: GatewayAction,
    },
    /// Services offered by subsystems.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Which clients may call which services.
    Access {
        #[command(subcommand)]
        action: AccessAction,
    },
    /// Member signing and gateway TLS certificates.
    Cert {
        #[command(subcommand)]
        action: CertAction,
    },
    /// The global configuration.
    Publish,
    /// Show a registry collection as JSON.
    List {
        #[arg(value_parser = ["member-classes", "members", "gateways", "services", "access-rights", "certificates", "conf"])]
        what: String,
    },
}

#[derive(Subcommand)]
pub enum MemberClassAction {
    Add {
        code: String,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Subcommand)]
pub enum MemberAction {
    /// Register a member, e.g. `korpu central member add AZ/GOV/1400002 --name "Tax Service"`.
    Add {
        member: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum SubsystemAction {
    Add { subsystem: String },
}

#[derive(Subcommand)]
pub enum GatewayAction {
    /// Register a gateway with the host:port of its server side.
    Add {
        gateway: String,
        #[arg(long)]
        address: String,
        /// The gateway's evidence-ledger verifier key (`korpu ledger key --config` prints it).
        #[arg(long)]
        ledger_key: Option<String>,
    },
    /// Let a gateway serve a client (member or subsystem).
    AddClient { gateway: String, client: String },
    /// Register or replace a gateway's evidence-ledger verifier key (C2SP vkey), which the
    /// portal's data tracker and auditors check ledger checkpoints against.
    SetLedgerKey { gateway: String, ledger_key: String },
}

#[derive(Subcommand)]
pub enum ServiceAction {
    Add {
        service: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        version: Option<String>,
        /// OpenAPI 3 description file.
        #[arg(long)]
        openapi: Option<PathBuf>,
        /// The data subject's id is in this request header.
        #[arg(long, conflicts_with_all = ["subject_path", "subject_query"])]
        subject_header: Option<String>,
        /// The data subject's id is this path parameter.
        #[arg(long, conflicts_with = "subject_query")]
        subject_path: Option<String>,
        /// The data subject's id is this query parameter.
        #[arg(long)]
        subject_query: Option<String>,
        /// Callers must state a purpose (X-Korpu-Purpose).
        #[arg(long)]
        purpose_required: bool,
        /// List the service in the myGov portal: a JSON file with names, descriptions and
        /// requirements in az/en/ru, a category and an optional form_schema (JSON Schema).
        #[arg(long)]
        portal: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AccessAction {
    Grant { client: String, service: String },
    Revoke { client: String, service: String },
}

#[derive(Subcommand)]
pub enum CertAction {
    /// Issue a certificate for a CSR made by `korpu gateway keys`.
    Issue {
        #[arg(long, value_parser = ["signing", "gateway-tls"])]
        kind: String,
        /// The member (signing) or gateway (gateway-tls).
        #[arg(long)]
        owner: String,
        #[arg(long)]
        csr: PathBuf,
        /// Write the certificate here (PEM); the chain goes to OUT with `.chain.pem` appended.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Revoke {
        serial: String,
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

/// A management API client.
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn connect(args: &ApiArgs) -> anyhow::Result<Self> {
        let config = match &args.config {
            Some(p) => Some(CentralConfig::load(Some(p))?),
            None => None,
        };
        let base = match (&args.url, &config) {
            (Some(u), _) => u.trim_end_matches('/').to_owned(),
            (None, Some(c)) => format!("https://{}", c.management_listen),
            (None, None) => bail!(
                "say where the registry is: --config FILE, or --url URL with --token and --ca-cert"
            ),
        };
        let token = match (&args.token, &config) {
            (Some(t), _) => t.clone(),
            (None, Some(c)) => std::fs::read_to_string(c.admin_token_path())
                .with_context(|| format!("reading {}", c.admin_token_path().display()))?
                .trim()
                .to_owned(),
            (None, None) => bail!("an administrator token is needed: --token or KORPU_ADMIN_TOKEN"),
        };
        let ca_path = match (&args.ca_cert, &config) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => c.root_cert_path(),
            (None, None) => bail!("the platform root CA is needed: --ca-cert FILE"),
        };
        let ca_pem =
            std::fs::read(&ca_path).with_context(|| format!("reading {}", ca_path.display()))?;
        let ca = reqwest::Certificate::from_pem(&ca_pem)
            .with_context(|| format!("{} is not a PEM certificate", ca_path.display()))?;
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .use_rustls_tls()
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self { base, token, http })
    }

    /// Sends one request; returns the JSON answer, or the API's error message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {}{path}", self.base))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = value["error"]["message"]
                .as_str()
                .unwrap_or("no error message");
            let field = value["error"]["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            bail!("the registry refused: {status}{field}: {msg}");
        }
        Ok(value)
    }
}

pub async fn run(args: &ApiArgs, cmd: AdminCommand) -> anyhow::Result<()> {
    use reqwest::Method;
    let api = Api::connect(args)?;
    let post = |path: &'static str, body: Value| (Method::POST, path, Some(body));
    let (method, path, body) = match cmd {
        AdminCommand::MemberClass {
            action: MemberClassAction::Add { code, description },
        } => post(
            "/api/v1/member-classes",
            json!({"code": code, "description": description}),
        ),
        AdminCommand::Member {
            action: MemberAction::Add { member, name },
        } => post("/api/v1/members", json!({"member": member, "name": name})),
        AdminCommand::Subsystem {
            action: SubsystemAction::Add { subsystem },
        } => post("/api/v1/subsystems", json!({"subsystem": subsystem})),
        AdminCommand::Gateway {
            action:
                GatewayAction::Add {
                    gateway,
                    address,
                    ledger_key,
                },
        } => post(
            "/api/v1/gateways",
            json!({"gateway": gateway, "address": address, "ledger_key": ledger_key}),
        ),
        AdminCommand::Gateway {
            action:
                GatewayAction::SetLedgerKey {
                    gateway,
                    ledger_key,
                },
        } => post(
            "/api/v1/gateway-ledger-keys",
            json!({"gateway": gateway, "ledger_key": ledger_key}),
        ),
        AdminCommand::Gateway {
            action: GatewayAction::AddClient { gateway, client },
        } => post(
            "/api/v1/gateway-clients",
            json!({"gateway": gateway, "client": client}),
        ),
        AdminCommand::Service {
            action:
                ServiceAction::Add {
                    service,
                    title,
                    version,
                    openapi,
                    subject_header,
                    subject_path,
                    subject_query,
                    purpose_required,
                    portal,
                },
        } => {
            let portal: Value = match portal {
                Some(p) => serde_json::from_str(
                    &std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?,
                )
                .with_context(|| format!("{} is not JSON", p.display()))?,
                None => Value::Null,
            };
            let openapi = match openapi {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let data_subject = match (subject_header, subject_path, subject_query) {
                (Some(n), _, _) => json!({"in": "header", "name": n}),
                (_, Some(n), _) => json!({"in": "path", "name": n}),
                (_, _, Some(n)) => json!({"in": "query", "name": n}),
                _ => Value::Null,
            };
            post(
                "/api/v1/services",
                json!({"service": service, "title": title, "version": version, "openapi": openapi,
                       "data_subject": data_subject, "purpose_required": purpose_required,
                       "portal": portal}),
            )
        }
        AdminCommand::Access {
            action: AccessAction::Grant { client, service },
        } => post(
            "/api/v1/access-rights",
            json!({"client": client, "service": service}),
        ),
        AdminCommand::Access {
            action: AccessAction::Revoke { client, service },
        } => (
            Method::DELETE,
            "/api/v1/access-rights",
            Some(json!({"client": client, "service": service})),
        ),
        AdminCommand::Cert {
            action:
                CertAction::Issue {
                    kind,
                    owner,
                    csr,
                    out,
                },
        } => {
            let csr_pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            let kind = kind.replace('-', "_");
            let issued = api
                .call(
                    Method::POST,
                    "/api/v1/certificates",
                    Some(json!({"kind": kind, "owner": owner, "csr": csr_pem})),
                )
                .await?;
            if let Some(out) = out {
                let cert = issued["certificate"].as_str().unwrap_or_default();
                std::fs::write(&out, cert).with_context(|| format!("writing {}", out.display()))?;
                let chain: String = issued["chain"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut chain_path = out.clone().into_os_string();
                chain_path.push(".chain.pem");
                std::fs::write(&chain_path, chain)?;
                println!(
                    "certificate {} written to {}",
                    issued["serial"].as_str().unwrap_or("?"),
                    out.display()
                );
            } else {
                println!("{}", serde_json::to_string_pretty(&issued)?);
            }
            return Ok(());
        }
        AdminCommand::Cert {
            action: CertAction::Revoke { serial, reason },
        } => post(
            "/api/v1/certificates/revoke",
            json!({"serial": serial, "reason": reason}),
        ),
        AdminCommand::Publish => post("/api/v1/conf/publish", json!({})),
        AdminCommand::List { what } => {
            let path = match what.as_str() {
                "member-classes" => "/api/v1/member-classes",
                "members" => "/api/v1/members",
                "gateways" => "/api/v1/gateways",
                "services" => "/api/v1/services",
                "access-rights" => "/api/v1/access-rights",
                "certificates" => "/api/v1/certificates",
                _ => "/api/v1/conf",
            };
            (Method::GET, path, None)
        }
    };
    let answer = api.call(method, path, body).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
