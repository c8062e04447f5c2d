//! `korpu`: the one binary. It only parses the command line and wires the library crates
//! together; every rule lives in a library crate.
#![forbid(unsafe_code)]

mod admin;
mod api_cli;
mod demo;
mod doc_cli;
mod docs_cli;
mod ledger_cli;
mod portal_cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use korpu_central::CentralConfig;
use korpu_service::config::ServiceConfig;

#[derive(Parser)]
#[command(
    name = "korpu",
    version,
    about = "Körpü: a digital-government backbone"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a complete demo instance on this machine, with no set-up.
    Demo {
        /// Keep the instance's files here (default: a fresh temporary directory); also writes
        /// DIR/demo.json once everything answers.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The central registry: set-up, serving and administration.
    Central {
        #[command(flatten)]
        api: admin::ApiArgs,
        #[command(subcommand)]
        command: CentralCommand,
    },
    /// Global configuration tools.
    Conf {
        #[command(subcommand)]
        command: ConfCommand,
    },
    /// Gateway tools.
    Gateway {
        #[command(subcommand)]
        command: GatewayCommand,
    },
    /// Evidence ledger tools.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Document signatures: sign and verify PAdES PDFs and ASiC-E containers.
    Doc {
        #[command(subcommand)]
        command: doc_cli::DocCommand,
    },
    /// Document exchange between organisations over the bridge (send, inbox, receipts).
    Docs {
        #[command(subcommand)]
        command: docs_cli::DocsCommand,
    },
    /// The Open API hub for businesses (its OAuth 2.0 authorisation server, FAPI 2.0).
    Api {
        #[command(subcommand)]
        command: api_cli::ApiCommand,
    },
    /// The myGov citizen portal.
    Portal {
        #[command(subcommand)]
        command: portal_cli::PortalCommand,
    },
    /// Serve a sample information system (for demos and tests).
    #[command(hide = true)]
    SampleIs {
        #[arg(long, value_enum)]
        agency: korpu_demo::sample::Agency,
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum CentralCommand {
    /// Create a new instance: PKI, database, first administrator token, anchor, and
    /// DIR/central.toml.
    Init {
        /// Directory for the instance's keys, certificates, database and configuration.
        #[arg(long)]
        dir: PathBuf,
        /// The instance identifier, e.g. AZ.
        #[arg(long, default_value = "AZ")]
        instance: String,
        /// Management API address (HTTPS).
        #[arg(long, default_value = "127.0.0.1:4400")]
        management_listen: String,
        /// Public endpoints address (HTTP: /conf, /anchor, /ocsp, /tsa).
        #[arg(long, default_value = "127.0.0.1:4401")]
        public_listen: String,
        /// PostgreSQL URL; default SQLite in DIR.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Run the central registry (with --config FILE, or built-in defaults and
    /// KORPU_CENTRAL_* variables) until SIGINT or SIGTERM.
    Serve {
        /// Print the effective configuration and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Create another administrator token (works on the database named by --config directly,
    /// on the registry's own machine).
    AdminToken {
        /// Who the token is for.
        #[arg(long)]
        name: String,
    },
    /// Administration through the management API.
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

#[derive(Subcommand)]
enum ConfCommand {
    /// Verify a downloaded global configuration offline against an anchor.
    Verify {
        /// The signed configuration (as served at /conf).
        file: PathBuf,
        /// The configuration anchor.
        #[arg(long)]
        anchor: PathBuf,
        /// Verify as of this RFC 3339 time instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Download the global configuration named by an anchor, verify it, and save it.
    Fetch {
        #[arg(long)]
        anchor: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Print every record of a gateway's ledger as JSON lines (read-only: safe while it runs).
    Dump {
        /// The gateway's configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the ledger's public key (C2SP vkey), which verifiers need.
    Key {
        #[arg(long)]
        config: PathBuf,
    },
    /// Write the evidence for one exchange of a gateway (read-only): record, inclusion proof,
    /// signed checkpoint and time-stamp.
    Evidence {
        /// The X-Road-Id of the exchange.
        message_id: String,
        #[arg(long)]
        config: PathBuf,
        /// Where to write the package (JSON); default standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an evidence package offline; exits non-zero naming what failed.
    VerifyEvidence {
        file: PathBuf,
        /// The log's public key (from `korpu ledger key`), obtained from a source you trust.
        #[arg(long)]
        log_key: String,
        /// PEM roots the time-stamping authority must chain to (the platform root CA).
        #[arg(long)]
        roots: PathBuf,
    },
    /// Verify a sealed-segment archive offline (no database, no network); exits non-zero
    /// naming the first bad record, checkpoint or time-stamp.
    Verify {
        /// The archive file (`segment-NNNNNN.korpu-archive`).
        archive: PathBuf,
        /// The log's public key (C2SP vkey), obtained from a source you trust.
        #[arg(long, required_unless_present = "anchor")]
        log_key: Vec<String>,
        /// The configuration anchor: verifies the signed global configuration inside the
        /// archive and takes the log key and the platform roots from it.
        #[arg(long)]
        anchor: Option<PathBuf>,
        /// PEM certificates time-stamps must chain to (repeatable).
        #[arg(long)]
        tsa_root: Vec<PathBuf>,
        /// With --anchor: the time at which the configuration must have been valid
        /// (RFC 3339); default now, or its last valid second if it has expired.
        #[arg(long)]
        at: Option<String>,
    },
    /// Check a log's published tlog-tiles for consistency with the view saved in --state;
    /// exits non-zero with a fork alert when the log does not extend it.
    Audit {
        /// A directory or http(s) URL prefix holding `checkpoint` and `tile/...`.
        tiles: String,
        /// JSON file keeping the last verified checkpoint per log (created if missing).
        #[arg(long)]
        state: PathBuf,
        /// The log's public key (C2SP vkey); repeat for several logs.
        #[arg(long, required = true)]
        log_key: Vec<String>,
    },
    /// Write the proof for one exchange of a gateway (read-only) as a C2SP tlog-proof file
    /// (index, inclusion proof, signed checkpoint; the record in its `extra` line).
    Proof {
        /// The X-Road-Id of the exchange.
        message_id: String,
        #[arg(long)]
        config: PathBuf,
        /// Where to write it; default standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a C2SP tlog-proof file offline; exits non-zero naming what failed.
    VerifyProof {
        file: PathBuf,
        /// The log's public key (C2SP vkey).
        #[arg(long, required = true)]
        log_key: Vec<String>,
    },
    /// Publish a gateway's ledger (read-only) as C2SP tlog-tiles (checkpoint + tiles) into a
    /// directory that a plain file server can serve.
    Tiles {
        #[arg(long)]
        config: PathBuf,
        /// The directory to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Run a gateway until SIGINT or SIGTERM.
    Serve {
        /// The gateway's configuration file (KORPU_GATEWAY_* variables override it).
        #[arg(long, env = "KORPU_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
        /// Print the effective configuration and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Make a gateway's keys (signing and TLS, PKCS#8, mode 0600) and their CSRs, to be sent
    /// to the central registry (`korpu central cert issue`).
    Keys {
        /// Where to write sign.p8, sign.csr.pem, tls.p8 and tls.csr.pem.
        #[arg(long)]
        dir: PathBuf,
        /// The gateway, INSTANCE/CLASS/MEMBER/GATEWAY.
        #[arg(long)]
        gateway: String,
    },
}

/// `serve --print-config`: prints the effective configuration and answers that there is nothing
/// to serve; otherwise answers that the server should start.
fn print_only<C: ServiceConfig>(config: &C, print_config: bool) -> bool {
    if print_config {
        print!("{}", config.to_toml());
    }
    print_config
}

/// What every `serve` waits for: SIGINT or SIGTERM, logged before the server stops.
async fn stop_signal() {
    let signal = korpu_service::shutdown::signal().await;
    tracing::info!(%signal, "shutting down");
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KORPU_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("korpu: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { dir } => demo::run(dir).await,
        Command::Central { api, command } => central(api, command).await,
        Command::Conf { command } => conf(command).await,
        Command::Gateway {
            command: GatewayCommand::Keys { dir, gateway },
        } => gateway_keys(&dir, &gateway),
        Command::Gateway {
            command:
                GatewayCommand::Serve {
                    config,
                    print_config,
                },
        } => {
            let config = korpu_gateway::GatewayConfig::load(config.as_deref())?;
            if print_only(&config, print_config) {
                return Ok(());
            }
            let running = start_gateway(config).await?;
            println!(
                "korpu gateway {}: client http://{} server https://{}",
                running.gateway.id, running.client_addr, running.server_addr
            );
            stop_signal().await;
            Ok(running.shutdown().await?)
        }
        Command::Ledger {
            command: LedgerCommand::Dump { config },
        } => {
            use std::io::Write;
            let ledger = open_stopped_ledger(&config).await?;
            let mut out = std::io::stdout().lock();
            for i in 0..ledger.size() {
                let rec = korpu_gateway::ledger::record(&ledger, i).await?;
                writeln!(out, "{}", serde_json::to_string(&rec)?)?;
            }
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Key { config },
        } => {
            println!("{}", ledger_key(&config).await?);
            Ok(())
        }
        Command::Ledger {
            command:
                LedgerCommand::Evidence {
                    message_id,
                    config,
                    out,
                },
        } => {
            let ledger = open_stopped_ledger(&config).await?;
            let mut evidence = korpu_gateway::evidence::evidence(&ledger, &message_id).await?;
            let mut last = evidence
                .pop()
                .expect("evidence returns at least one package");
            // The signers' certificates (and their CAs), which the gateway kept for this.
            let data_dir = korpu_gateway::GatewayConfig::load(Some(&config))?.data_dir;
            let rec = &last.record;
            let fps: Vec<&str> = std::iter::once(rec.request_signer_cert_sha256.as_str())
                .chain(rec.response_signer_cert_sha256.as_deref())
                .filter(|f| !f.is_empty())
                .collect();
            last.certificates = korpu_gateway::certstore::chains_from(&data_dir, &fps)
                .iter()
                .map(|c| c.to_pem())
                .collect();
            let json = serde_json::to_string_pretty(&last)?;
            match out {
                Some(path) => std::fs::write(&path, json)?,
                None => println!("{json}"),
            }
            Ok(())
        }
        Command::Ledger {
            command:
                LedgerCommand::Audit {
                    tiles,
                    state,
                    log_key,
                },
        } => ledger_cli::audit(&state, &log_key, &tiles).await,
        Command::Ledger {
            command:
                LedgerCommand::Proof {
                    message_id,
                    config,
                    out,
                },
        } => {
            let ledger = open_stopped_ledger(&config).await?;
            ledger_cli::proof(ledger, &message_id, out.as_deref()).await
        }
        Command::Ledger {
            command: LedgerCommand::VerifyProof { file, log_key },
        } => ledger_cli::verify_proof(&file, &log_key),
        Command::Ledger {
            command: LedgerCommand::Tiles { config, out },
        } => {
            let ledger = open_stopped_ledger(&config).await?;
            ledger_cli::tiles(ledger, &out).await
        }
        Command::Ledger {
            command:
                LedgerCommand::Verify {
                    archive,
                    log_key,
                    anchor,
                    tsa_root,
                    at,
                },
        } => ledger_cli::verify(
            &archive,
            ledger_cli::Trust {
                log_keys: log_key,
                anchor,
                tsa_roots: tsa_root,
                at,
            },
        ),
        Command::Ledger {
            command:
                LedgerCommand::VerifyEvidence {
                    file,
                    log_key,
                    roots,
                },
        } => {
            let evidence: korpu_gateway::evidence::Evidence =
                serde_json::from_slice(&std::fs::read(&file)?)
                    .with_context(|| format!("{} is not an evidence package", file.display()))?;
            let key: korpu_ledger::NoteVerifier = log_key.parse().context("--log-key")?;
            let roots =
                korpu_pki::cert::Certificate::all_from_pem(&std::fs::read_to_string(&roots)?)?;
            let report = korpu_gateway::evidence::verify_evidence(&evidence, &[key], &roots)
                .with_context(|| format!("{} does not prove its record", file.display()))?;
            println!(
                "OK: message {} is record {} of log {} (tree size {}){}",
                report.message_id,
                report.leaf_index,
                report.origin,
                report.tree_size,
                report
                    .timestamped_at
                    .map(|t| format!(", time-stamped {}", korpu_conf::Timestamp::from(t)))
                    .unwrap_or_else(|| ", not time-stamped".into())
            );
            if report.signed_by.is_empty() {
                println!("   the package carries no certificates: its signatures were not checked");
            } else {
                println!("   signatures verified: {}", report.signed_by.join(", "));
            }
            Ok(())
        }
        Command::Doc { command } => doc_cli::run(command).await,
        Command::Docs { command } => docs_cli::run(command).await,
        Command::Api { command } => api_cli::run(command).await,
        Command::Portal { command } => portal_cli::run(command).await,
        Command::SampleIs { agency, listen } => demo::sample(agency, listen).await,
    }
}

async fn central(api: admin::ApiArgs, command: CentralCommand) -> anyhow::Result<()> {
    match command {
        CentralCommand::Init {
            dir,
            instance,
            management_listen,
            public_listen,
            database_url,
        } => {
            let report = init_instance(
                &dir,
                &instance,
                &management_listen,
                &public_listen,
                database_url,
            )
            .await?;
            println!("created instance {instance} in {}", dir.display());
            println!(
                "configuration:        {}",
                dir.join("central.toml").display()
            );
            println!("anchor for gateways:  {}", report.anchor_path.display());
            println!("root CA certificate:  {}", report.root_cert_path.display());
            println!(
                "administrator token:  {}",
                report.admin_token_path.display()
            );
            println!(
                "start it with:        korpu central serve --config {}",
                dir.join("central.toml").display()
            );
            Ok(())
        }
        CentralCommand::Serve { print_config } => {
            let config = CentralConfig::load(api.config.as_deref())?;
            if print_only(&config, print_config) {
                return Ok(());
            }
            let running = korpu_central::start(&config).await?;
            println!(
                "korpu central: management https://{} public http://{}",
                running.management_addr, running.public_addr
            );
            stop_signal().await;
            running.shutdown().await;
            Ok(())
        }
        CentralCommand::AdminToken { name } => {
            let Some(path) = api.config.as_deref() else {
                bail!("admin-token needs --config FILE (the registry's central.toml)");
            };
            let config = CentralConfig::load(Some(path))?;
            let store = korpu_central::store::Store::open(&config.effective_database_url()).await?;
            let registry = korpu_central::Registry {
                store,
                pki: korpu_central::pki::CentralPki::load(&config.data_dir)?,
                settings: korpu_central::registry::RegistrySettings {
                    instance: config.instance.parse()?,
                    leaf_cert_validity: std::time::Duration::from_secs(86_400),
                    conf_validity: std::time::Duration::from_secs(config.conf_validity_secs),
                    public_url: config.effective_public_url(),
                },
            };
            println!("{}", registry.create_admin_token(&name).await?);
            Ok(())
        }
        CentralCommand::Admin(cmd) => admin::run(&api, cmd).await,
    }
}

/// `korpu central init`: writes DIR/central.toml and sets up the instance in DIR.
pub(crate) async fn init_instance(
    dir: &Path,
    instance: &str,
    management_listen: &str,
    public_listen: &str,
    database_url: Option<String>,
) -> anyhow::Result<korpu_central::InitReport> {
    korpu_pki::private::create_missing_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let mut toml_text = format!(
        "instance = {instance:?}\ndata_dir = {:?}\nmanagement_listen = {management_listen:?}\npublic_listen = {public_listen:?}\n",
        dir.display().to_string()
    );
    if let Some(url) = database_url {
        toml_text.push_str(&format!("database_url = {url:?}\n"));
    }
    let config =
        CentralConfig::from_toml_with_env(&toml_text, "korpu central init", std::iter::empty())?;
    let report = korpu_central::init(&config).await?;
    std::fs::write(dir.join("central.toml"), config.to_toml())?;
    Ok(report)
}

async fn conf(command: ConfCommand) -> anyhow::Result<()> {
    match command {
        ConfCommand::Verify { file, anchor, at } => {
            let anchor = read_anchor(&anchor)?;
            let signed =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let now = match at {
                Some(t) => korpu_conf::Timestamp::parse(&t).map_err(anyhow::Error::msg)?,
                None => korpu_conf::Timestamp::now(),
            };
            let conf = korpu_conf::verify(&signed, &anchor, now).with_context(|| {
                format!("{} is not a valid global configuration", file.display())
            })?;
            print_conf_summary(&conf);
            Ok(())
        }
        ConfCommand::Fetch { anchor, out } => {
            let anchor = read_anchor(&anchor)?;
            let bytes = reqwest::get(&anchor.conf_url)
                .await
                .and_then(|r| r.error_for_status())
                .with_context(|| format!("downloading {}", anchor.conf_url))?
                .bytes()
                .await?;
            let conf = korpu_conf::verify(&bytes, &anchor, korpu_conf::Timestamp::now())
                .with_context(|| {
                    format!("the configuration from {} was refused", anchor.conf_url)
                })?;
            std::fs::write(&out, &bytes)?;
            print_conf_summary(&conf);
            Ok(())
        }
    }
}

fn read_anchor(path: &Path) -> anyhow::Result<korpu_conf::Anchor> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading anchor {}", path.display()))?;
    korpu_conf::Anchor::from_json(&bytes).with_context(|| format!("anchor {}", path.display()))
}

fn print_conf_summary(conf: &korpu_conf::GlobalConf) {
    println!(
        "OK: global configuration of instance {} version {}, issued {}, expires {}",
        conf.instance, conf.version, conf.issued_at, conf.expires_at
    );
    println!(
        "{} members, {} gateways, {} services, {} access rights",
        conf.members.len(),
        conf.gateways.len(),
        conf.services.len(),
        conf.access_rights.len()
    );
}

fn gateway_keys(dir: &Path, gateway: &str) -> anyhow::Result<()> {
    let gw: korpu_id::GatewayId = gateway
        .parse()
        .with_context(|| format!("--gateway {gateway:?}"))?;
    korpu_pki::private::create_missing_dir(dir)?;
    for (name, cn) in [("sign", gw.member.to_string()), ("tls", gw.to_string())] {
        let key_path = dir.join(format!("{name}.p8"));
        if key_path.exists() {
            bail!(
                "{} exists already; refusing to overwrite a key",
                key_path.display()
            );
        }
        let key = korpu_pki::key::SigningKey::generate();
        korpu_pki::key::write_private_key(&key_path, &key)?;
        let csr = korpu_pki::csr::create(&key, &cn)?;
        let csr_path = dir.join(format!("{name}.csr.pem"));
        std::fs::write(&csr_path, korpu_pki::csr::to_pem(&csr))?;
        println!(
            "{}: key {} and CSR {}",
            name,
            key_path.display(),
            csr_path.display()
        );
    }
    Ok(())
}

/// Starts a gateway recording into its evidence ledger, which the gateway owns: its
/// [`korpu_gateway::RunningGateway::shutdown`] drains the exchanges, then closes the ledger.
pub(crate) async fn start_gateway(
    config: korpu_gateway::GatewayConfig,
) -> anyhow::Result<korpu_gateway::RunningGateway> {
    Ok(korpu_gateway::GatewayBuilder::new(config).start().await?)
}

/// Opens a gateway's ledger read-only: it takes no lock and writes nothing (no repair, no
/// checkpoint), so it is safe beside the running gateway, and sees what is committed.
async fn open_stopped_ledger(config: &Path) -> anyhow::Result<korpu_ledger::Ledger> {
    let verifier = ledger_key(config).await?;
    let config = korpu_gateway::GatewayConfig::load(Some(config))?;
    let origin = korpu_gateway::record::ledger_origin(&config.gateway);
    let cfg = korpu_gateway::record::ledger_config(&config.data_dir, origin);
    korpu_ledger::Ledger::open_read_only(cfg, verifier)
        .await
        .context("opening the ledger read-only")
}

/// The gateway's ledger key, made (with the ledger) when the gateway has none yet; once it
/// exists it is only read, so this works beside the running gateway.
async fn ledger_key(config: &Path) -> anyhow::Result<korpu_ledger::NoteVerifier> {
    let config = korpu_gateway::GatewayConfig::load(Some(config))?;
    let origin = korpu_gateway::record::ledger_origin(&config.gateway);
    let key_path = config.data_dir.join("ledger-note.p8");
    if !key_path.exists() {
        let ledger = korpu_gateway::record::open_ledger(&config, NoTimestamps).await?;
        let verifier = ledger.verifier();
        ledger.close().await?;
        return Ok(verifier);
    }
    korpu_pki::private::check(&key_path)?;
    let der =
        std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
    Ok(korpu_ledger::NoteSigner::from_pkcs8_der(origin, &der)
        .with_context(|| format!("the ledger key {}", key_path.display()))?
        .verifier())
}

/// For the ledger `ledger_key` creates: its checkpoint carries no time-stamp.
struct NoTimestamps;

impl korpu_ledger::Timestamper for NoTimestamps {
    async fn timestamp(&self, _: &[u8; 32]) -> Result<Vec<u8>, korpu_ledger::LedgerError> {
        Err(korpu_ledger::LedgerError::Timestamp(
            "not time-stamping a ledger made for its key".into(),
        ))
    }
}
