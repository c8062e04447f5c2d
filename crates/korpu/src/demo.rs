//! `korpu demo`: a whole instance on this machine with no set-up — the central registry with
//! three agencies (population registry, tax service, social ministry) registered, their
//! gateways' keys made and certified, and the global configuration published. It prints what a
//! newcomer can paste to look at it, writes `DIR/demo.json`, and runs until SIGINT/SIGTERM.
//!
//! The gateways themselves arrive with the gateway issue; until then the demo registers them and
//! issues their certificates, which is everything the central side does for them.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use crate::admin::{Api, ApiArgs};

struct Agency {
    member: &'static str,
    name: &'static str,
    subsystem: &'static str,
    gateway_port: u16,
    client_port: u16,
    system_port: u16,
    system: crate::sample::Agency,
}

const AGENCIES: &[Agency] = &[
    Agency {
        member: "AZ/GOV/1400001",
        name: "State Population Registry",
        subsystem: "population",
        gateway_port: 5501,
        client_port: 8081,
        system_port: 9001,
        system: crate::sample::Agency::Population,
    },
    Agency {
        member: "AZ/GOV/1400002",
        name: "State Tax Service",
        subsystem: "tax",
        gateway_port: 5502,
        client_port: 8082,
        system_port: 9002,
        system: crate::sample::Agency::Tax,
    },
    Agency {
        member: "AZ/GOV/1400003",
        name: "Ministry of Labour and Social Protection",
        subsystem: "benefits",
        gateway_port: 5503,
        client_port: 8083,
        system_port: 9003,
        system: crate::sample::Agency::Benefits,
    },
];

/// Where a service finds the data subject: (`header`, `path` or `query`; parameter name).
type SubjectAt = Option<(&'static str, &'static str)>;

/// (service, title, data subject location, purpose required)
const SERVICES: &[(&str, &str, SubjectAt, bool, &str)] = &[
    (
        "AZ/GOV/1400001/population/persons",
        "Person record by personal id",
        Some(("path", "pin")),
        true,
        "/persons",
    ),
    (
        "AZ/GOV/1400001/population/family",
        "Family composition",
        Some(("path", "pin")),
        true,
        "/family",
    ),
    (
        "AZ/GOV/1400001/population/echo",
        "Echo (shows what arrives)",
        None,
        false,
        "/echo",
    ),
    (
        "AZ/GOV/1400002/tax/income",
        "Declared income",
        Some(("header", "X-Subject-Id")),
        true,
        "/income",
    ),
    (
        "AZ/GOV/1400003/benefits/child-benefit",
        "Child benefit applications",
        None,
        false,
        "/child-benefit",
    ),
];

/// The OpenAPI descriptions of the demo services with a path parameter.
fn openapi_for(service: &str) -> Option<String> {
    match service {
        "AZ/GOV/1400001/population/persons" | "AZ/GOV/1400001/population/family" => Some(
            json!({"openapi": "3.1.0", "info": {"title": service, "version": "v1"},
                   "paths": {"/{pin}": {"get": {"parameters": [{"name": "pin", "in": "path", "required": true, "schema": {"type": "string"}}],
                                                "responses": {"200": {"description": "found"}}}}}})
            .to_string(),
        ),
        _ => None,
    }
}

/// (client, service): who may call what.
const ACCESS: &[(&str, &str)] = &[
    (
        "AZ/GOV/1400003/benefits",
        "AZ/GOV/1400001/population/persons",
    ),
    (
        "AZ/GOV/1400003/benefits",
        "AZ/GOV/1400001/population/family",
    ),
    ("AZ/GOV/1400003/benefits", "AZ/GOV/1400002/tax/income"),
    ("AZ/GOV/1400003/benefits", "AZ/GOV/1400001/population/echo"),
    ("AZ/GOV/1400002/tax", "AZ/GOV/1400001/population/persons"),
    ("AZ/GOV/1400002/tax", "AZ/GOV/1400001/population/echo"),
];

/// The given port if free on loopback, else one the kernel picks.
fn port_or_free(preferred: u16) -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))?;
    Ok(l.local_addr()?)
}

pub async fn run(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let (dir, _tmp) = match dir {
        Some(d) => (d, None),
        None => {
            let t = std::env::temp_dir().join(format!("korpu-demo-{}", std::process::id()));
            (t.clone(), Some(t))
        }
    };
    std::fs::create_dir_all(&dir)?;
    let central_dir = dir.join("central");
    let config_path = central_dir.join("central.toml");
    if !config_path.exists() {
        let mgmt = port_or_free(4400)?;
        let public = port_or_free(4401)?;
        crate::init_instance(
            &central_dir,
            "AZ",
            &mgmt.to_string(),
            &public.to_string(),
            None,
        )
        .await?;
    }
    let config = korpu_central::CentralConfig::load(Some(&config_path))?;
    let running = korpu_central::start(&config)
        .await
        .context("starting the central registry")?;
    let api = Api::connect(&ApiArgs {
        config: Some(config_path.clone()),
        ..ApiArgs::default()
    })?;
    // Gateways' server ports are registered once; later runs in the same directory reuse them.
    let registered = api.call(Method::GET, "/api/v1/gateways", None).await?;
    let server_ports: Vec<u16> = if registered.as_array().is_some_and(|g| !g.is_empty()) {
        AGENCIES
            .iter()
            .map(|a| {
                registered
                    .as_array()
                    .and_then(|gws| gws.iter().find(|g| g["id"] == format!("{}/gw1", a.member)))
                    .and_then(|g| g["address"].as_str())
                    .and_then(|addr| addr.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or(a.gateway_port)
            })
            .collect()
    } else {
        AGENCIES
            .iter()
            .map(|a| port_or_free(a.gateway_port).map(|s| s.port()))
            .collect::<anyhow::Result<_>>()?
    };
    populate(&api, &dir, &server_ports).await?;

    let public = format!("http://{}", running.public_addr);
    let management = format!("https://{}", running.management_addr);
    let anchor = config.anchor_path();
    let certs = central_dir.join("certs");

    // Each agency: its sample information system and its gateway.
    let mut gateways = Vec::new();
    let mut ledgers = Vec::new();
    let mut gateway_json = serde_json::Map::new();
    for (a, port) in AGENCIES.iter().zip(&server_ports) {
        let system = crate::sample::spawn(a.system, port_or_free(a.system_port)?).await?;
        let gw_dir = dir.join("gateways").join(a.subsystem);
        let mut services = std::collections::BTreeMap::new();
        for (service, _, _, _, path) in SERVICES {
            if service.starts_with(&format!("{}/{}/", a.member, a.subsystem)) {
                services.insert((*service).to_owned(), format!("http://{system}{path}"));
            }
        }
        let toml_text = toml::to_string(&json!({
            "gateway": format!("{}/gw1", a.member),
            "anchor": anchor,
            "data_dir": gw_dir,
            "client_listen": port_or_free(a.client_port)?.to_string(),
            "server_listen": format!("127.0.0.1:{port}"),
            "services": services,
        }))?;
        let gw_config = korpu_gateway::GatewayConfig::from_toml_with_env(
            &toml_text,
            "korpu demo",
            std::env::vars(),
        )?;
        std::fs::write(gw_dir.join("gateway.toml"), gw_config.to_toml())?;
        let (gw, ledger) = crate::start_gateway(gw_config)
            .await
            .with_context(|| format!("starting the gateway of {}", a.name))?;
        ledgers.push(ledger);
        gateway_json.insert(
            a.subsystem.to_owned(),
            json!({"id": format!("{}/gw1", a.member), "client": format!("http://{}", gw.client_addr),
                   "server": format!("{}", gw.server_addr), "system": format!("http://{system}"),
                   "config": gw_dir.join("gateway.toml"), "ledger": gw_dir.join("ledger")}),
        );
        gateways.push(gw);
    }
    let client_of = |sub: &str| {
        gateway_json[sub]["client"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (benefits_gw, tax_gw) = (client_of("benefits"), client_of("tax"));
    let calls = json!([
        {"method": "GET", "url": format!("{benefits_gw}/r1/AZ/GOV/1400001/population/persons/AZ1234567"),
         "headers": {"X-Road-Client": "AZ/GOV/1400003/benefits", "X-Road-UserId": "AZ9876543", "X-Korpu-Purpose": "benefit-eligibility"},
         "expect": "allowed"},
        {"method": "GET", "url": format!("{benefits_gw}/r1/AZ/GOV/1400001/population/family/AZ1234567"),
         "headers": {"X-Road-Client": "AZ/GOV/1400003/benefits", "X-Korpu-Purpose": "benefit-eligibility"},
         "expect": "allowed"},
        {"method": "GET", "url": format!("{benefits_gw}/r1/AZ/GOV/1400002/tax/income"),
         "headers": {"X-Road-Client": "AZ/GOV/1400003/benefits", "X-Subject-Id": "AZ1234567", "X-Korpu-Purpose": "benefit-eligibility"},
         "expect": "allowed"},
        {"method": "POST", "url": format!("{benefits_gw}/r1/AZ/GOV/1400001/population/echo/hello?x=1"),
         "headers": {"X-Road-Client": "AZ/GOV/1400003/benefits", "Content-Type": "application/json"},
         "body": "{\"hello\": \"bridge\"}", "expect": "allowed"},
        {"method": "GET", "url": format!("{tax_gw}/r1/AZ/GOV/1400001/population/family/AZ1234567"),
         "headers": {"X-Road-Client": "AZ/GOV/1400002/tax", "X-Korpu-Purpose": "audit"},
         "expect": "denied"},
    ]);
    let demo = json!({
        "central": {"management": management, "public": public, "config": config_path},
        "anchor": anchor,
        "admin_token_file": config.admin_token_path(),
        "root_ca": config.root_cert_path(),
        "gateways": gateway_json,
        "calls": calls,
    });
    let demo_path = dir.join("demo.json");
    std::fs::write(&demo_path, serde_json::to_string_pretty(&demo)?)?;

    let population_gw = dir.join("gateways").join("population");
    println!(
        r#"
Körpü demo instance AZ is running.

  central registry, management API  {management}   (administrator token in {token})
  central registry, public          {public}/conf  /anchor  /ocsp  /tsa  /health
  configuration anchor              {anchor}
  demo description                  {demo_path}

Three agencies are registered — State Population Registry (AZ/GOV/1400001), State Tax Service
(AZ/GOV/1400002), Ministry of Labour and Social Protection (AZ/GOV/1400003) — with their services,
access rights, and a gateway and a sample information system each, under {gateways}. Every
exchange is signed by both gateways and recorded in each one's evidence ledger
({gateways}/NAME/ledger; after stopping, `korpu ledger dump --config {gateways}/NAME/gateway.toml`).

Try, in another terminal:

  # a cross-agency call: the social ministry asks the population registry (allowed)
  curl -s {benefits_gw}/r1/AZ/GOV/1400001/population/persons/AZ1234567 \\
       -H 'X-Road-Client: AZ/GOV/1400003/benefits' -H 'X-Korpu-Purpose: benefit-eligibility'

  # the tax service asks for family composition, which it has no right to (denied)
  curl -si {tax_gw}/r1/AZ/GOV/1400001/population/family/AZ1234567 \\
       -H 'X-Road-Client: AZ/GOV/1400002/tax' -H 'X-Korpu-Purpose: audit'

  # what a gateway offers, and its metrics
  curl -s {benefits_gw}/r1/AZ/GOV/1400001/population/listMethods -H 'X-Road-Client: AZ/GOV/1400003/benefits'
  curl -s {benefits_gw}/metrics

  # download the signed global configuration and verify it offline against the anchor
  curl -s {public}/conf -o /tmp/korpu-conf.json
  korpu conf verify /tmp/korpu-conf.json --anchor {anchor}

  # the registry as the administrator sees it
  korpu central --config {config} list members
  korpu central --config {config} list access-rights

  # ask the OCSP responder about the population registry's gateway certificate
  openssl ocsp -issuer {certs}/issuing.pem -cert {pgw}/tls.pem -url {public}/ocsp -CAfile {certs}/root.pem

  # time-stamp a file with the built-in RFC 3161 authority and check it with openssl
  openssl ts -query -data {demo_path} -sha256 -cert -out /tmp/q.tsq
  curl -s -H 'Content-Type: application/timestamp-query' --data-binary @/tmp/q.tsq {public}/tsa -o /tmp/r.tsr
  openssl ts -verify -in /tmp/r.tsr -queryfile /tmp/q.tsq -CAfile {certs}/root.pem -untrusted {certs}/issuing.pem

Press Ctrl-C to stop.
"#,
        token = config.admin_token_path().display(),
        anchor = anchor.display(),
        demo_path = demo_path.display(),
        gateways = dir.join("gateways").display(),
        config = config_path.display(),
        certs = certs.display(),
        pgw = population_gw.display(),
        benefits_gw = benefits_gw,
        tax_gw = tax_gw,
    );

    crate::shutdown_signal().await;
    println!("stopping…");
    for gw in gateways {
        gw.shutdown().await;
    }
    for ledger in ledgers {
        ledger.close().await?;
    }
    running.shutdown().await;
    Ok(())
}

/// Registers the demo agencies, unless an earlier run in the same directory did.
async fn populate(api: &Api, dir: &Path, server_ports: &[u16]) -> anyhow::Result<()> {
    let members = api.call(Method::GET, "/api/v1/members", None).await?;
    if members.as_array().is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    let post = |path: &'static str, body: Value| async move {
        api.call(Method::POST, path, Some(body)).await
    };
    for (a, port) in AGENCIES.iter().zip(server_ports) {
        post(
            "/api/v1/members",
            json!({"member": a.member, "name": a.name}),
        )
        .await?;
        let subsystem = format!("{}/{}", a.member, a.subsystem);
        post("/api/v1/subsystems", json!({"subsystem": subsystem})).await?;
        let gateway = format!("{}/gw1", a.member);
        post(
            "/api/v1/gateways",
            json!({"gateway": gateway, "address": format!("127.0.0.1:{port}")}),
        )
        .await?;
        post(
            "/api/v1/gateway-clients",
            json!({"gateway": gateway, "client": subsystem}),
        )
        .await?;

        // What an agency's operator does on its gateway: make keys and CSRs, have them certified.
        let gw_dir = dir.join("gateways").join(a.subsystem);
        std::fs::create_dir_all(&gw_dir)?;
        for (name, kind, owner) in [
            ("sign", "signing", a.member.to_string()),
            ("tls", "gateway_tls", gateway.clone()),
        ] {
            let key = korpu_pki::key::SigningKey::generate();
            korpu_pki::key::write_private_key(&gw_dir.join(format!("{name}.p8")), &key)?;
            let csr = korpu_pki::csr::to_pem(&korpu_pki::csr::create(&key, &owner)?);
            let issued = post(
                "/api/v1/certificates",
                json!({"kind": kind, "owner": owner, "csr": csr}),
            )
            .await?;
            std::fs::write(
                gw_dir.join(format!("{name}.pem")),
                issued["certificate"].as_str().unwrap_or_default(),
            )?;
        }
    }
    for (service, title, subject, purpose, _) in SERVICES {
        let data_subject =
            subject.map_or(Value::Null, |(loc, name)| json!({"in": loc, "name": name}));
        post(
            "/api/v1/services",
            json!({"service": service, "title": title, "version": "v1", "openapi": openapi_for(service),
                   "data_subject": data_subject, "purpose_required": purpose}),
        )
        .await?;
    }
    for (client, service) in ACCESS {
        post(
            "/api/v1/access-rights",
            json!({"client": client, "service": service}),
        )
        .await?;
    }
    Ok(())
}
