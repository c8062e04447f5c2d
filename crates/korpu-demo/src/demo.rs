//! `korpu demo`: a whole instance on this machine with no set-up — the central registry with
//! three agencies (population registry, tax service, social ministry) registered, their
//! gateways' keys made and certified, and the global configuration published. It prints what a
//! newcomer can paste to look at it, writes `DIR/demo.json`, and runs until SIGINT/SIGTERM.
//!
//! A fourth member, the Digital Development Agency, runs the myGov portal (its subsystem
//! `mygov` behind its own gateway), with a development identity provider unless
//! `KORPU_PORTAL_OIDC_ISSUER` names a real one; every `KORPU_PORTAL_*` variable overrides the
//! demo portal's configuration. A company (Kapital Bank) is registered so that the consent pages
//! have someone to name.
//!
//! myGov reads every citizen's data tracker, so its gateway does not take the network's word
//! for who is calling: the portal connects to the gateway's TLS client side with its own
//! client certificate, which the gateway pins for `AZ/GOV/1400004/mygov` (PR-REST §4.7) and
//! refuses that subsystem over plain HTTP. The sample agencies' systems keep using plain HTTP
//! on loopback, so the calls printed and written to `demo.json` work as shown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use anyhow::Context;
use korpu_gateway::config::ServiceConfig as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{Host, Registry};

struct Agency {
    member: &'static str,
    name: &'static str,
    subsystem: &'static str,
    gateway_port: u16,
    client_port: u16,
    system_port: u16,
    /// The sample information system behind the gateway; `None` for the portal's member.
    system: Option<crate::sample::Agency>,
}

const AGENCIES: &[Agency] = &[
    Agency {
        member: "AZ/GOV/1400001",
        name: "State Population Registry",
        subsystem: "population",
        gateway_port: 5501,
        client_port: 8081,
        system_port: 9001,
        system: Some(crate::sample::Agency::Population),
    },
    Agency {
        member: "AZ/GOV/1400002",
        name: "State Tax Service",
        subsystem: "tax",
        gateway_port: 5502,
        client_port: 8082,
        system_port: 9002,
        system: Some(crate::sample::Agency::Tax),
    },
    Agency {
        member: "AZ/GOV/1400003",
        name: "Ministry of Labour and Social Protection",
        subsystem: "benefits",
        gateway_port: 5503,
        client_port: 8083,
        system_port: 9003,
        system: Some(crate::sample::Agency::Benefits),
    },
    Agency {
        member: "AZ/GOV/1400004",
        name: "Digital Development Agency",
        subsystem: "mygov",
        gateway_port: 5504,
        client_port: 8084,
        system_port: 0,
        system: None,
    },
];

/// The portal's subsystem on the bridge.
const PORTAL_CLIENT: &str = "AZ/GOV/1400004/mygov";
/// A company, so that a consent request names a real registered member.
const COMPANY: (&str, &str, &str) = ("AZ/COM/1500001", "Kapital Bank", "AZ/COM/1500001/loans");
/// The demo citizen (the development identity provider offers this personal id).
const CITIZEN: &str = "AZ1234567";

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
        Some(("header", "X-Subject-Id")),
        false,
        "/child-benefit",
    ),
    // The data tracker's metaservice: each gateway answers it from its own evidence ledger.
    (
        "AZ/GOV/1400001/population/korpuSubjectAccesses",
        "Accesses to a data subject's data (data tracker)",
        Some(("query", "subject")),
        false,
        "korpu:subject-accesses",
    ),
    (
        "AZ/GOV/1400002/tax/korpuSubjectAccesses",
        "Accesses to a data subject's data (data tracker)",
        Some(("query", "subject")),
        false,
        "korpu:subject-accesses",
    ),
    (
        "AZ/GOV/1400003/benefits/korpuSubjectAccesses",
        "Accesses to a data subject's data (data tracker)",
        Some(("query", "subject")),
        false,
        "korpu:subject-accesses",
    ),
];

/// How the portal lists the demo's citizen-facing services.
fn portal_listing(service: &str) -> Value {
    let l = |az: &str, en: &str, ru: &str| json!({"az": az, "en": en, "ru": ru});
    match service {
        "AZ/GOV/1400003/benefits/child-benefit" => json!({
            "names": l("Uşaq müavinəti", "Child benefit", "Пособие на ребёнка"),
            "descriptions": l(
                "Uşağı olan ailələrə aylıq müavinət. Müraciəti onlayn göndərin; qərar imzalı sənəd kimi gəlir.",
                "A monthly benefit for families with children. Apply online; the decision arrives as a signed document.",
                "Ежемесячное пособие семьям с детьми. Подайте заявление онлайн; решение придёт подписанным документом."),
            "category": "family",
            "requirements": l(
                "Uşağın şəxsi identifikasiya nömrəsi (FİN)\nBank hesabınızın IBAN nömrəsi",
                "The child's personal id (FIN)\nThe IBAN of your bank account",
                "Личный код ребёнка (FIN)\nIBAN вашего банковского счёта"),
            "form_schema": {
                "type": "object",
                "required": ["child_pin", "child_birth_date", "iban"],
                "x-order": ["child_pin", "child_birth_date", "iban", "payment", "consent"],
                "properties": {
                    "child_pin": {"type": "string", "title": "Uşağın FİN kodu", "pattern": "^[0-9A-Z]{7}$",
                        "x-title": l("Uşağın FİN kodu", "Child's personal id (FIN)", "Личный код ребёнка (FIN)"),
                        "x-description": l("7 simvol, məsələn 5ABC12D", "7 characters, for example 5ABC12D", "7 символов, например 5ABC12D")},
                    "child_birth_date": {"type": "string", "format": "date",
                        "x-title": l("Uşağın doğum tarixi", "Child's date of birth", "Дата рождения ребёнка"),
                        "x-description": l("İİİİ-AA-GG", "YYYY-MM-DD", "ГГГГ-ММ-ДД")},
                    "iban": {"type": "string", "pattern": "^AZ[0-9]{2}[A-Z]{4}[0-9A-Z]{20}$",
                        "x-title": l("Bank hesabının IBAN nömrəsi", "IBAN of your bank account", "IBAN банковского счёта"),
                        "x-description": l("AZ ilə başlayan 28 simvol", "28 characters starting with AZ", "28 символов, начиная с AZ")},
                    "payment": {"type": "string", "enum": ["monthly", "quarterly"],
                        "x-title": l("Ödəniş qaydası", "How often to pay", "Периодичность выплаты")},
                    "consent": {"type": "boolean",
                        "x-title": l("Məlumatlarımın yoxlanılmasına razıyam", "I agree that my details are checked", "Я согласен(на) на проверку моих данных")}
                }
            }
        }),
        "AZ/GOV/1400001/population/persons" => json!({
            "names": l("Şəxsi məlumatlarım", "My personal record", "Мои личные данные"),
            "descriptions": l(
                "Dövlət Əhali Reyestrində sizin haqqınızda saxlanılan məlumatlar.",
                "What the State Population Registry holds about you.",
                "Сведения о вас в Государственном реестре населения."),
            "category": "identity",
            "requirements": l("", "", ""),
        }),
        "AZ/GOV/1400002/tax/income" => json!({
            "names": l("Gəlir haqqında arayış", "Income statement", "Справка о доходах"),
            "descriptions": l(
                "Vergi orqanına bəyan edilmiş gəliriniz haqqında arayış.",
                "A statement of the income you declared to the tax service.",
                "Справка о доходах, задекларированных в налоговой службе."),
            "category": "tax",
            "requirements": l("", "", ""),
        }),
        _ => Value::Null,
    }
}

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
    (PORTAL_CLIENT, "AZ/GOV/1400003/benefits/child-benefit"),
    (
        PORTAL_CLIENT,
        "AZ/GOV/1400001/population/korpuSubjectAccesses",
    ),
    (PORTAL_CLIENT, "AZ/GOV/1400002/tax/korpuSubjectAccesses"),
    (
        PORTAL_CLIENT,
        "AZ/GOV/1400003/benefits/korpuSubjectAccesses",
    ),
];

/// The given port if free on loopback, else one the kernel picks.
fn port_or_free(preferred: u16) -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| TcpListener::bind("127.0.0.1:0"))?;
    Ok(l.local_addr()?)
}

/// Runs the demo in `dir` (default: a fresh temporary directory) until `shutdown` resolves,
/// then stops the portal, the gateways and the registry.
pub async fn run(
    dir: Option<PathBuf>,
    host: &impl Host,
    shutdown: impl Future,
) -> anyhow::Result<()> {
    let (dir, _tmp) = match dir {
        Some(d) => (d, None),
        None => {
            let t = std::env::temp_dir().join(format!("korpu-demo-{}", std::process::id()));
            (t.clone(), Some(t))
        }
    };
    // Owner-only from the start: the demo's tree holds keys, databases and ledgers.
    korpu_pki::private::create_missing_dir(&dir)?;
    let central_dir = dir.join("central");
    let config_path = central_dir.join("central.toml");
    if !config_path.exists() {
        let mgmt = port_or_free(4400)?;
        let public = port_or_free(4401)?;
        host.init_central(&central_dir, "AZ", &mgmt.to_string(), &public.to_string())
            .await?;
    }
    let config = korpu_central::CentralConfig::load(Some(&config_path))?;
    let running = korpu_central::start(&config)
        .await
        .context("starting the central registry")?;
    let api = host.registry(&config_path)?;
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

    // myGov's information-system certificate, pinned by its gateway.
    let portal_tls = portal_client_certificate(&dir.join("portal"))?;
    let portal_tls_side = port_or_free(8484)?;

    // Each agency: its sample information system and its gateway.
    let mut gateways = Vec::new();
    let mut gateway_json = serde_json::Map::new();
    let benefits_bridge = std::sync::Arc::new(std::sync::OnceLock::new());
    for (a, port) in AGENCIES.iter().zip(&server_ports) {
        let gw_dir = dir.join("gateways").join(a.subsystem);
        let system = match a.system {
            Some(crate::sample::Agency::Benefits) => {
                let signing = crate::sample::benefits::Signing {
                    key: korpu_pki::key::read_private_key(&gw_dir.join("sign.p8"))?,
                    cert: korpu_pki::cert::Certificate::from_pem(&std::fs::read_to_string(
                        gw_dir.join("sign.pem"),
                    )?)?,
                    // The root too, so B-LT can carry the root's CRL about the issuing CA.
                    chain: ["issuing.pem", "root.pem"]
                        .iter()
                        .map(|f| {
                            let pem = std::fs::read_to_string(certs_dir(&central_dir).join(f))?;
                            Ok(korpu_pki::cert::Certificate::from_pem(&pem)?)
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?,
                    // Decisions are B-LT: the portal shows them valid only with revocation data.
                    central: Some(public.clone()),
                };
                let step_ms = std::env::var("KORPU_DEMO_STEP_MS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(3000);
                let options = crate::sample::benefits::Options {
                    step: std::time::Duration::from_millis(step_ms),
                    bridge: benefits_bridge.clone(),
                    signing: Some(std::sync::Arc::new(signing)),
                };
                Some(crate::sample::spawn_benefits(port_or_free(a.system_port)?, options).await?)
            }
            Some(agency) => Some(crate::sample::spawn(agency, port_or_free(a.system_port)?).await?),
            None => None,
        };
        let mut services = std::collections::BTreeMap::new();
        for (service, _, _, _, path) in SERVICES {
            if service.starts_with(&format!("{}/{}/", a.member, a.subsystem)) {
                let backend = match system {
                    _ if path.starts_with("korpu:") => (*path).to_owned(),
                    Some(system) => format!("http://{system}{path}"),
                    None => continue,
                };
                services.insert((*service).to_owned(), backend);
            }
        }
        let mut gw_toml = json!({
            "gateway": format!("{}/gw1", a.member),
            "anchor": anchor,
            "data_dir": gw_dir,
            "client_listen": port_or_free(a.client_port)?.to_string(),
            "server_listen": format!("127.0.0.1:{port}"),
            "services": services,
            // Checkpoints every 2 s, so the portal's data tracker shows an access (with its
            // proof) within seconds in the demo.
            "ledger_checkpoint_secs": 2,
        });
        if a.subsystem == "mygov" {
            gw_toml["client_tls_listen"] = json!(portal_tls_side.to_string());
            gw_toml["client_certificates"] =
                json!({ PORTAL_CLIENT: [portal_tls.fingerprint.clone()] });
        }
        let toml_text = toml::to_string(&gw_toml)?;
        let gw_config = korpu_gateway::GatewayConfig::from_toml_with_env(
            &toml_text,
            "korpu demo",
            std::env::vars(),
        )?;
        std::fs::write(gw_dir.join("gateway.toml"), gw_config.to_toml())?;
        let gw = korpu_gateway::GatewayBuilder::new(gw_config)
            .start()
            .await
            .with_context(|| format!("starting the gateway of {}", a.name))?;
        // The gateway's ledger key goes into the global configuration, so that the portal's
        // data tracker (and any auditor) can check this gateway's checkpoints.
        api.call(
            Method::POST,
            "/api/v1/gateway-ledger-keys",
            Some(json!({"gateway": format!("{}/gw1", a.member), "ledger_key": gw.ledger().expect("the gateway records into its ledger").verifier().to_string()})),
        )
        .await?;
        if a.system == Some(crate::sample::Agency::Benefits) {
            let _ = benefits_bridge.set(format!("http://{}", gw.client_addr));
        }
        gateway_json.insert(
            a.subsystem.to_owned(),
            json!({"id": format!("{}/gw1", a.member), "client": format!("http://{}", gw.client_addr),
                   "server": format!("{}", gw.server_addr), "system": system.map(|s| format!("http://{s}")),
                   "config": gw_dir.join("gateway.toml"), "ledger": gw_dir.join("ledger")}),
        );
        if a.subsystem == "mygov" {
            gateway_json[a.subsystem]["client_tls"] = json!(format!("https://{portal_tls_side}"));
        }
        gateways.push(gw);
    }
    let client_of = |sub: &str| {
        gateway_json[sub]["client"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (benefits_gw, tax_gw) = (client_of("benefits"), client_of("tax"));
    let portal = start_portal(
        &dir,
        &anchor,
        &format!("https://{portal_tls_side}"),
        &certs_dir(&central_dir).join("root.pem"),
        &portal_tls,
    )
    .await?;
    let portal_url = portal.public_url.clone();
    let hub =
        crate::openapi::start(&dir.join("openapi"), COMPANY.1, port_or_free(4700)?.port()).await?;
    let consent_example = format!(
        "{portal_url}/consents/new?client={}&purpose={}&item={}&item={}",
        COMPANY.2,
        "Kredit%20m%C3%BCraci%C9%99tinin%20yoxlanmas%C4%B1%20%2F%20Checking%20a%20loan%20application",
        "AZ%2FGOV%2F1400001%2Fpopulation%2Fpersons",
        "AZ%2FGOV%2F1400002%2Ftax%2Fincome"
    );
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
        "portal": portal_url,
        "portal_citizen": CITIZEN,
        "portal_consent_request": consent_example,
        "portal_client_certificate": {"cert": portal_tls.cert, "key": portal_tls.key,
                                      "sha256": portal_tls.fingerprint},
        "openapi": hub.describe(),
    });
    let demo_path = dir.join("demo.json");
    std::fs::write(&demo_path, serde_json::to_string_pretty(&demo)?)?;

    let population_gw = dir.join("gateways").join("population");
    println!(
        r#"
Körpü demo instance AZ is running.

  central registry, management API  {management}   (administrator token in {token})
  central registry, public          {public}/conf  /anchor  /ocsp  /tsa  /crl/root.crl  /health
  configuration anchor              {anchor}
  demo description                  {demo_path}
  myGov citizen portal              {portal_url}
      sign in as the demo citizen {citizen} (development identity provider), apply for the
      child benefit, watch it be decided, download the signed decision, see the data tracker;
      a company's consent request: {consent_example}
  Open API hub (OAuth 2.0, FAPI 2.0)  {hub_url}/.well-known/oauth-authorization-server
      Kapital Bank's application: client id {hub_client}, private key {hub_key}

Three agencies are registered — State Population Registry (AZ/GOV/1400001), State Tax Service
(AZ/GOV/1400002), Ministry of Labour and Social Protection (AZ/GOV/1400003) — with their services,
access rights, and a gateway and a sample information system each, under {gateways}; a fourth
member, the Digital Development Agency (AZ/GOV/1400004), runs the myGov portal behind its own
gateway. Every
exchange is signed by both gateways and recorded in each one's evidence ledger
({gateways}/NAME/ledger; `korpu ledger dump --config {gateways}/NAME/gateway.toml` reads it,
also while the demo runs). myGov reaches its gateway only over TLS with its pinned client
certificate; the sample systems below use plain HTTP on loopback.

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
        citizen = CITIZEN,
        hub_url = hub.url,
        hub_client = crate::openapi::CLIENT_ID,
        hub_key = hub.key_file.display(),
    );

    shutdown.await;
    println!("stopping…");
    hub.shutdown().await;
    portal.shutdown().await;
    for gw in gateways {
        gw.shutdown().await?;
    }
    running.shutdown().await;
    Ok(())
}

fn certs_dir(central_dir: &Path) -> PathBuf {
    central_dir.join("certs")
}

/// Starts the portal on 127.0.0.1:4600 (or a free port) with the development identity
/// provider; `KORPU_PORTAL_*` variables override any of it (the browser tests point it at a
/// real OpenID provider and an SMTP server this way).
async fn start_portal(
    dir: &Path,
    anchor: &Path,
    gateway: &str,
    gateway_ca: &Path,
    tls: &PortalTls,
) -> anyhow::Result<korpu_portal::RunningPortal> {
    let listen = port_or_free(4600)?;
    let toml_text = toml::to_string(&json!({
        "listen": listen.to_string(),
        "data_dir": dir.join("portal"),
        "anchor": anchor,
        "gateway_url": gateway,
        "gateway_ca": gateway_ca,
        "gateway_client_cert": tls.cert,
        "gateway_client_key": tls.key,
        "client": PORTAL_CLIENT,
        "dev_idp": true,
        "status_refresh_secs": 2,
        "conf_refresh_secs": 5,
    }))?;
    let config =
        korpu_portal::PortalConfig::from_toml_with_env(&toml_text, "korpu demo", std::env::vars())?;
    korpu_pki::private::create_missing_dir(&dir.join("portal"))?;
    std::fs::write(dir.join("portal").join("portal.toml"), config.to_toml())?;
    korpu_portal::start(config)
        .await
        .context("starting the myGov portal")
}

/// myGov's TLS client certificate for its gateway: where it is and what the gateway pins.
struct PortalTls {
    cert: PathBuf,
    key: PathBuf,
    fingerprint: String,
}

/// Makes (once per demo directory) the certificate myGov's information system presents to
/// its gateway, as an agency would for its system: its own small CA and a client certificate
/// under it. The gateway trusts it by its SHA-256 pin, not by the CA.
fn portal_client_certificate(dir: &Path) -> anyhow::Result<PortalTls> {
    use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
    use korpu_pki::key::SigningKey;
    let (cert_path, key_path) = (
        dir.join("gateway-client.pem"),
        dir.join("gateway-client.p8"),
    );
    if !cert_path.exists() || !key_path.exists() {
        korpu_pki::private::create_missing_dir(dir)?;
        let subject = |cn: &str| Subject {
            common_name: cn.into(),
            organization: Some("Digital Development Agency".into()),
            country: Some("AZ".into()),
        };
        let now = std::time::SystemTime::now() - std::time::Duration::from_secs(300);
        let year = std::time::Duration::from_secs(365 * 86_400);
        let ca_key = SigningKey::generate();
        let ca_cert = ca::self_signed(
            &ca_key,
            IssueRequest {
                subject: subject("myGov systems CA (demo)"),
                public_key_der: &ca_key.public_key_der(),
                profile: Profile::Root,
                not_before: now,
                not_after: now + 5 * year,
                ocsp_url: None,
            },
            &ca::random_serial(),
        )?;
        let key = SigningKey::generate();
        let cert = ca::issue(
            &ca_cert,
            &ca_key,
            IssueRequest {
                subject: subject(PORTAL_CLIENT),
                public_key_der: &key.public_key_der(),
                // A TLS certificate names its holder in subjectAltName; nothing resolves it.
                profile: Profile::GatewayTls {
                    dns_names: vec!["mygov.demo.invalid".into()],
                    ip_addrs: Vec::new(),
                },
                not_before: now,
                not_after: now + 2 * year,
                ocsp_url: None,
            },
            &ca::random_serial(),
        )?;
        korpu_pki::key::write_private_key(&key_path, &key)?;
        std::fs::write(&cert_path, cert.to_pem())?;
    }
    let cert = korpu_pki::cert::Certificate::from_pem(&std::fs::read_to_string(&cert_path)?)?;
    Ok(PortalTls {
        cert: cert_path,
        key: key_path,
        fingerprint: cert.sha256_fingerprint_hex(),
    })
}

/// Registers the demo agencies, unless an earlier run in the same directory did.
async fn populate(api: &impl Registry, dir: &Path, server_ports: &[u16]) -> anyhow::Result<()> {
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
        korpu_pki::private::create_missing_dir(&gw_dir)?;
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
    post(
        "/api/v1/members",
        json!({"member": COMPANY.0, "name": COMPANY.1}),
    )
    .await?;
    post("/api/v1/subsystems", json!({"subsystem": COMPANY.2})).await?;
    for (service, title, subject, purpose, _) in SERVICES {
        let data_subject =
            subject.map_or(Value::Null, |(loc, name)| json!({"in": loc, "name": name}));
        post(
            "/api/v1/services",
            json!({"service": service, "title": title, "version": "v1", "openapi": openapi_for(service),
                   "data_subject": data_subject, "purpose_required": purpose,
                   "portal": portal_listing(service)}),
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
