//! `korpu docs …`: the document exchange server (`serve`), its keys (`keys`), and a client of
//! its local API (`send`, `inbox`, `outbox`, `show`, `open`, `sign`, `reject`, `hold`,
//! `expire`, `container`, `receipt`). The client finds the API address and bearer token
//! through the same configuration file the server uses.
//!
//! The rules live in `korpu-docs`; this module only parses arguments and prints.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use korpu_docs::exchange::Attachment;
use korpu_docs::receipt::Envelope;
use korpu_docs::{DocsConfig, Exchange, SendRequest};
use serde_json::{json, Value};

/// The configuration file option shared by every `korpu docs` command.
#[derive(Args, Clone)]
pub struct ConfigArg {
    /// The server's configuration (TOML); KORPU_DOCS_* variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// `korpu docs` subcommands.
/// What `korpu docs send` (and `korpu doc send`) takes.
#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    c: ConfigArg,
    /// The recipient's document subsystem, e.g. AZ/GOV/1400001/docs.
    #[arg(long)]
    to: String,
    /// Title.
    #[arg(long)]
    title: String,
    /// Document type, e.g. letter, decision, contract.
    #[arg(long = "type")]
    doc_type: String,
    /// Its number in the sender's register.
    #[arg(long)]
    register_no: String,
    /// Answer expected by: YYYY-MM-DD or an RFC 3339 time.
    #[arg(long)]
    deadline: Option<String>,
    /// The document this one answers.
    #[arg(long)]
    reply_to: Option<String>,
    /// Retention class: permanent, Ny or Nd (default from the configuration).
    #[arg(long)]
    retention: Option<String>,
    /// The attachments.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// What `korpu docs inbox` (and `korpu doc inbox`) and `korpu docs outbox` take.
#[derive(Args)]
pub struct InboxArgs {
    #[command(flatten)]
    c: ConfigArg,
    /// Only documents with this status.
    #[arg(long)]
    status: Option<String>,
    /// Continue after this cursor (printed at the end of a full page).
    #[arg(long)]
    cursor: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum DocsCommand {
    /// Run the document exchange server (local API and the `dx` service) until SIGTERM.
    Serve {
        #[command(flatten)]
        c: ConfigArg,
        /// Print the effective configuration and exit.
        #[arg(long)]
        print_config: bool,
    },
    /// Make the organisation's signing key (DIR/sign.p8, mode 0600) and its CSR
    /// (DIR/sign.csr.pem), for `korpu central cert issue --kind signing --owner MEMBER`.
    Keys {
        /// Where to write the files.
        #[arg(long)]
        dir: PathBuf,
        /// The member, INSTANCE/CLASS/CODE.
        #[arg(long)]
        member: String,
    },
    /// Send a document: FILE… become its attachments.
    Send(SendArgs),
    /// List received documents.
    Inbox(InboxArgs),
    /// List sent documents.
    Outbox(InboxArgs),
    /// Show a document: metadata, receipts (verified) and thread, as JSON.
    Show {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
    },
    /// Mark a received document opened (a signed receipt goes to the sender).
    Open {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
    },
    /// Sign a received document: the container gets this organisation's signature.
    Sign {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
        /// A note for the sender.
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a received document.
    Reject {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Put a document on hold (never expired), or release it.
    Hold {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
        /// Release the hold instead.
        #[arg(long)]
        release: bool,
    },
    /// Remove documents past their retention (not on hold), with their blobs.
    Expire {
        #[command(flatten)]
        c: ConfigArg,
        /// Act as if it were this Unix time (default now).
        #[arg(long)]
        now: Option<i64>,
    },
    /// Write a document's signed ASiC-E container to a file.
    Container {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write one receipt as DIR/receipt.json and DIR/receipt.p7s, for
    /// `openssl cms -verify -binary -inform DER -in receipt.p7s -content receipt.json
    /// -CAfile root.pem -purpose any`.
    Receipt {
        #[command(flatten)]
        c: ConfigArg,
        /// The document id.
        id: String,
        /// Which receipt: sent, delivered, opened, signed, rejected or answered.
        #[arg(long)]
        status: String,
        /// The directory to write into.
        #[arg(long)]
        out_dir: PathBuf,
    },
}

/// Runs a `korpu docs` command.
pub async fn run(command: DocsCommand) -> anyhow::Result<()> {
    match command {
        DocsCommand::Serve { c, print_config } => serve(&c, print_config).await,
        DocsCommand::Keys { dir, member } => keys(&dir, &member),
        DocsCommand::Send(args) => {
            let mut attachments = Vec::new();
            for f in &args.files {
                let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
                let name = f
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("{} has no usable file name", f.display()))?;
                attachments.push(Attachment::from_bytes(
                    name,
                    Some(mime_of(name).into()),
                    &bytes,
                ));
            }
            let req = SendRequest {
                to: args.to,
                title: args.title,
                doc_type: args.doc_type,
                register_no: args.register_no,
                deadline: args.deadline,
                reply_to: args.reply_to,
                retention: args.retention,
                attachments,
            };
            let doc = Api::new(&args.c)?
                .call("POST", "/api/v1/documents", Some(json!(req)))
                .await?;
            println!(
                "{} {} to {}",
                doc["id"].as_str().unwrap_or("?"),
                doc["status"].as_str().unwrap_or("?"),
                doc["recipient"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        DocsCommand::Inbox(args) => list(args, "inbox").await,
        DocsCommand::Outbox(args) => list(args, "outbox").await,
        DocsCommand::Show { c, id } => {
            let v = Api::new(&c)?
                .call("GET", &format!("/api/v1/documents/{id}"), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        DocsCommand::Open { c, id } => act(&c, &id, "open", None).await,
        DocsCommand::Sign { c, id, note } => act(&c, &id, "sign", note).await,
        DocsCommand::Reject { c, id, note } => act(&c, &id, "reject", note).await,
        DocsCommand::Hold { c, id, release } => {
            Api::new(&c)?
                .call(
                    "POST",
                    &format!("/api/v1/documents/{id}/hold"),
                    Some(json!({"hold": !release})),
                )
                .await?;
            println!("{id} {}", if release { "released" } else { "on hold" });
            Ok(())
        }
        DocsCommand::Expire { c, now } => {
            let body = match now {
                Some(n) => json!({"now": n}),
                None => json!({}),
            };
            let v = Api::new(&c)?
                .call("POST", "/api/v1/expire", Some(body))
                .await?;
            let removed = v["removed"].as_array().cloned().unwrap_or_default();
            for r in &removed {
                println!("removed {}", r.as_str().unwrap_or("?"));
            }
            println!("{} document(s) removed", removed.len());
            Ok(())
        }
        DocsCommand::Container { c, id, out } => {
            let bytes = Api::new(&c)?
                .raw(&format!("/api/v1/documents/{id}/container"))
                .await?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("container written to {}", out.display());
            Ok(())
        }
        DocsCommand::Receipt {
            c,
            id,
            status,
            out_dir,
        } => {
            let v = Api::new(&c)?
                .call("GET", &format!("/api/v1/documents/{id}"), None)
                .await?;
            let r = v["receipts"]
                .as_array()
                .and_then(|rs| rs.iter().find(|r| r["status"] == status.as_str()))
                .with_context(|| format!("document {id} has no {status} receipt"))?;
            let env = Envelope {
                receipt: r["receipt_base64"].as_str().unwrap_or_default().into(),
                signature: r["signature_base64"].as_str().unwrap_or_default().into(),
                container: None,
            };
            let (json_bytes, p7s) = env.decode()?;
            std::fs::create_dir_all(&out_dir)?;
            std::fs::write(out_dir.join("receipt.json"), json_bytes)?;
            std::fs::write(out_dir.join("receipt.p7s"), p7s)?;
            println!(
                "{} and {} written",
                out_dir.join("receipt.json").display(),
                out_dir.join("receipt.p7s").display()
            );
            Ok(())
        }
    }
}

fn mime_of(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("csv") => "text/csv",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        _ => "application/octet-stream",
    }
}

async fn serve(c: &ConfigArg, print_config: bool) -> anyhow::Result<()> {
    let config = DocsConfig::load(c.config.as_deref())?;
    if crate::print_only(&config, print_config) {
        return Ok(());
    }
    let ex = Exchange::open(config).await?;
    let running = korpu_docs::server::start(ex.clone()).await?;
    println!(
        "korpu docs {}: api http://{} dx http://{}",
        ex.subsystem(),
        running.api_addr,
        running.dx_addr
    );
    crate::stop_signal().await;
    running.shutdown().await;
    Ok(())
}

fn keys(dir: &Path, member: &str) -> anyhow::Result<()> {
    let m: korpu_id::MemberId = member
        .parse()
        .with_context(|| format!("member {member:?}"))?;
    korpu_pki::private::create_missing_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join("sign.p8");
    if key_path.exists() {
        bail!("{} exists; not overwriting a key", key_path.display());
    }
    let key = korpu_pki::key::SigningKey::generate();
    korpu_pki::key::write_private_key(&key_path, &key)?;
    let csr = korpu_pki::csr::create(&key, &m.to_string())?;
    let csr_path = dir.join("sign.csr.pem");
    std::fs::write(&csr_path, korpu_pki::csr::to_pem(&csr))?;
    println!("{} and {} written", key_path.display(), csr_path.display());
    Ok(())
}

async fn list(args: InboxArgs, which: &str) -> anyhow::Result<()> {
    let InboxArgs {
        c,
        status,
        cursor,
        json: as_json,
    } = args;
    let mut path = format!("/api/v1/{which}?limit=100");
    if let Some(s) = status {
        path.push_str(&format!("&status={s}"));
    }
    if let Some(cur) = cursor {
        path.push_str(&format!("&cursor={cur}"));
    }
    let v = Api::new(&c)?.call("GET", &path, None).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let other = if which == "inbox" {
        "sender"
    } else {
        "recipient"
    };
    for d in v["documents"].as_array().cloned().unwrap_or_default() {
        println!(
            "{}  {:<9}  {:<24}  {:<14}  {}",
            d["id"].as_str().unwrap_or("?"),
            d["status"].as_str().unwrap_or("?"),
            d[other].as_str().unwrap_or("?"),
            d["register_no"].as_str().unwrap_or("?"),
            d["title"].as_str().unwrap_or("?"),
        );
    }
    if let Some(n) = v["next_cursor"].as_str() {
        println!("more: --cursor {n}");
    }
    Ok(())
}

async fn act(c: &ConfigArg, id: &str, action: &str, note: Option<String>) -> anyhow::Result<()> {
    let body = json!({"note": note});
    let d = Api::new(c)?
        .call(
            "POST",
            &format!("/api/v1/documents/{id}/{action}"),
            Some(body),
        )
        .await?;
    println!("{id} {}", d["status"].as_str().unwrap_or("?"));
    Ok(())
}

/// A client of the local API, addressed and authorised through the server's configuration.
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(c: &ConfigArg) -> anyhow::Result<Self> {
        let cfg = DocsConfig::load(c.config.as_deref())?;
        let path = cfg.token_path();
        let token = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading the API token {} (is the server set up?)",
                path.display()
            )
        })?;
        Ok(Api {
            base: format!("http://{}", cfg.api_listen),
            token: token.trim().to_owned(),
            http: reqwest::Client::new(),
        })
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .http
            .request(method.parse()?, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| {
            format!(
                "{method} {}{path} (is `korpu docs serve` running?)",
                self.base
            )
        })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            bail!(
                "{status}: {}",
                v["message"].as_str().unwrap_or("no error message")
            );
        }
        Ok(resp)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        Ok(self.send(method, path, body).await?.json().await?)
    }

    async fn raw(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self.send("GET", path, None).await?.bytes().await?.to_vec())
    }
}
