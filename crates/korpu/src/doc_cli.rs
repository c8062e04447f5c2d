//! `korpu doc sign` and `korpu doc verify`: document signatures from the command line.
//!
//! A PDF is signed in place as PAdES (an incremental update, so earlier signatures stay
//! valid); any other file is put into an ASiC-E container with a CAdES signature (an existing
//! ASiC-E container gets one more parallel signature). The time-stamping authority and the OCSP
//! responder are reached over HTTP (RFC 3161 §3.4, RFC 6960 appendix A). Verification is
//! offline: it uses only the file and the trust anchors given.
//!
//! `doc verify` tells the format from the bytes, never from the file name
//! ([`korpu_sign::detect`]): PAdES, ASiC-E (CAdES or XAdES), ASiC-S, XML (enveloped XAdES, or
//! detached XAdES with `--detached-content FILE`), and standalone CAdES — detached (`.p7s`,
//! with `--detached-content FILE`) or enveloping (`.p7m`, whose content `--extract` writes
//! out), in DER, BER or PEM.
//!
//! `doc extend` raises a signed PDF to B-LT or B-LTA (a document time-stamp over everything,
//! renewed by running it again), or an ASiC-E container to B-LT.
//!
//! Here the commands and their files; [`report`] what `doc verify` finds and prints, [`online`]
//! the TSA and OCSP services signing and extending call.
//!
//! Not here: `doc send` / `doc inbox` (document exchange), visible signatures, archive
//! time-stamps for containers.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use korpu_pki::cert::Certificate;
use korpu_sign::cades::Signer;
use korpu_sign::validate::{Indication, SignatureReport};
use korpu_sign::{asice, pdf, RevocationSource, Timestamper};

mod online;
mod report;

use online::{CertUrls, Http};
use report::{verify, Detached, Verdict};

/// `korpu doc` subcommands.
#[derive(Subcommand)]
pub enum DocCommand {
    /// Sign a document: a PDF becomes PAdES, anything else an ASiC-E container (CAdES, or
    /// XAdES with --format xades).
    Sign {
        /// The signer's private key: PKCS#8 PEM ("BEGIN PRIVATE KEY") of an RSA (2048–4096 bits),
        /// P-256 or P-384 key, readable by the owner only.
        #[arg(long)]
        key: PathBuf,
        /// Sign with RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
        #[arg(long)]
        pss: bool,
        /// The signer's certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// CA certificates to embed (PEM, may hold several); repeat the option for more files.
        #[arg(long)]
        chain: Vec<PathBuf>,
        /// Time-stamping authority URL (RFC 3161 over HTTP), needed for b-t and b-lt.
        #[arg(long)]
        tsa: Option<String>,
        /// OCSP responder URL, needed for b-lt.
        #[arg(long)]
        ocsp: Option<String>,
        /// Baseline level; default b-t with --tsa, otherwise b-b.
        #[arg(long, value_enum)]
        level: Option<Level>,
        /// The signature format of a container (files other than PDF): cades (ASiC-E with
        /// ASiCManifest and CAdES) or xades (ASiC-E with XAdES, the DigiDoc/BDOC form).
        #[arg(long, value_enum, default_value = "cades")]
        format: ContainerFormat,
        /// The document to sign.
        input: PathBuf,
        /// Where to write the signed PDF or the container.
        output: PathBuf,
    },
    /// Validate every signature of a signed document and print the report: a PAdES PDF, an
    /// ASiC-E (CAdES or XAdES) or ASiC-S container, or a standalone CAdES signature (.p7s
    /// detached, .p7m enveloping). The format is read from the content, not the file name.
    /// Exits non-zero unless every signature is TOTAL_PASSED.
    Verify {
        /// Trust anchors (PEM, may hold several); repeat for more files.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Print the report as JSON (the same as --report json).
        #[arg(long, conflicts_with = "report")]
        json: bool,
        /// The report to print: simple (text, the default), json, or etsi (the ETSI TS 119
        /// 102-2 XML validation report, with the certificates and revocation data used).
        #[arg(long, value_enum, value_name = "KIND")]
        report: Option<ReportKind>,
        /// Fetch revocation data a signature lacks: OCSP from the responders and CRLs from the
        /// distribution points its certificates name (plain HTTP). Without it verification is
        /// offline, and a signature carrying no revocation data (B-B, B-T) is INDETERMINATE.
        #[arg(long)]
        fetch_revocation: bool,
        /// A validation policy (JSON): which digest and signature algorithms and key sizes are
        /// acceptable until when. Default: the embedded policy (SHA-1 and RSA under 2048 bits
        /// expired; see crates/korpu-sign/src/default_policy.json for the format).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The signed data of a detached signature: CAdES (.p7s) or XAdES (.xml, whose
        /// reference must name this file).
        #[arg(long, value_name = "FILE")]
        detached_content: Option<PathBuf>,
        /// Write the content of an enveloping CAdES signature (.p7m) to this file.
        #[arg(long, value_name = "FILE")]
        extract: Option<PathBuf>,
        /// The signed document, container or signature.
        file: PathBuf,
    },
    /// Raise the signatures of a PAdES PDF to a higher baseline level, as an incremental
    /// update that leaves them intact: b-lt embeds the revocation data of every signer, CA and
    /// time-stamping authority (the DSS; ASiC-E CAdES containers too); b-lta does that and then
    /// adds a document time-stamp (archive time-stamp) and its TSA's revocation data. Run
    /// b-lta again on a B-LTA file, before its last TSA certificate expires, to renew it.
    Extend {
        /// Target level.
        #[arg(long, value_enum)]
        level: ExtendLevel,
        /// Time-stamping authority URL (RFC 3161 over HTTP), needed for b-lta.
        #[arg(long)]
        tsa: Option<String>,
        /// OCSP responder URL asked about every certificate (one PKI's responder).
        #[arg(long, conflicts_with = "fetch")]
        ocsp: Option<String>,
        /// Ask the OCSP responder or CRL distribution point each certificate names instead.
        #[arg(long)]
        fetch: bool,
        /// The signed PDF (or ASiC-E container, for b-lt).
        input: PathBuf,
        /// Where to write the extended file.
        output: PathBuf,
    },
    /// Send a document to another organisation over the bridge (as `korpu docs send`).
    Send(crate::docs_cli::SendArgs),
    /// List the documents your organisation received (as `korpu docs inbox`).
    Inbox(crate::docs_cli::InboxArgs),
}

/// What `doc verify` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    /// A text summary per signature (the EU DSS "simple report" in spirit).
    Simple,
    /// The simple report as JSON.
    Json,
    /// The ETSI TS 119 102-2 validation report (XML).
    Etsi,
}

/// The signature inside an ASiC-E container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ContainerFormat {
    /// CAdES over an ASiCManifest (EN 319 162-1 §4.4.3.2, "ASiC-E CAdES").
    Cades,
    /// XAdES in META-INF/signatures0.xml (EN 319 162-1 "ASiC-E XAdES", DigiDoc/BDOC).
    Xades,
}

/// ETSI baseline levels offered by `doc sign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// Signature only.
    #[value(name = "b-b")]
    BB,
    /// With a signature time-stamp.
    #[value(name = "b-t")]
    BT,
    /// With a time-stamp and embedded OCSP responses.
    #[value(name = "b-lt")]
    BLt,
}

/// Levels `doc extend` raises signatures to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExtendLevel {
    /// Embedded revocation data (DSS).
    #[value(name = "b-lt")]
    BLt,
    /// Revocation data and a document (archive) time-stamp over everything.
    #[value(name = "b-lta")]
    BLta,
}

/// Runs a `korpu doc` command.
pub async fn run(cmd: DocCommand) -> anyhow::Result<()> {
    match cmd {
        DocCommand::Send(args) => {
            crate::docs_cli::run(crate::docs_cli::DocsCommand::Send(args)).await
        }
        DocCommand::Inbox(args) => {
            crate::docs_cli::run(crate::docs_cli::DocsCommand::Inbox(args)).await
        }
        DocCommand::Sign {
            key,
            pss,
            cert,
            chain,
            tsa,
            ocsp,
            level,
            format,
            input,
            output,
        } => {
            let level = level.unwrap_or(if tsa.is_some() { Level::BT } else { Level::BB });
            if level != Level::BB && tsa.is_none() {
                bail!("level {level:?} needs a time-stamping authority: give --tsa URL");
            }
            if level == Level::BLt && ocsp.is_none() {
                bail!("level b-lt needs an OCSP responder: give --ocsp URL");
            }
            let padding = if pss {
                korpu_sign::keys::RsaPadding::Pss
            } else {
                korpu_sign::keys::RsaPadding::Pkcs1
            };
            let key = korpu_sign::keys::read_document_key(&key, padding)?;
            if pss && !key.describe().starts_with("RSA") {
                bail!(
                    "--pss applies to RSA keys; this is a {} key",
                    key.describe()
                );
            }
            let cert = read_certs(&cert)?
                .into_iter()
                .next()
                .context("the --cert file holds no certificate")?;
            let mut ca = Vec::new();
            for c in &chain {
                ca.extend(read_certs(c)?);
            }
            let data = std::fs::read(&input)
                .with_context(|| format!("cannot read {}", input.display()))?;
            let name = input
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("document")
                .to_string();
            let client = online::client()?;
            let handle = tokio::runtime::Handle::current();
            // The signing libraries are synchronous and call the TSA/OCSP mid-way: run them on
            // a blocking thread that may wait for the async HTTP client.
            let signed = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
                let stamper = tsa.map(|url| Http {
                    url,
                    client: client.clone(),
                    handle: handle.clone(),
                });
                let revocation = ocsp.map(|url| Http {
                    url,
                    client: client.clone(),
                    handle: handle.clone(),
                });
                let signer = Signer {
                    key: &key,
                    cert: &cert,
                    chain: &ca,
                };
                let ts = if level == Level::BB {
                    None
                } else {
                    stamper.as_ref().map(|s| s as &dyn Timestamper)
                };
                let now = SystemTime::now();
                if format == ContainerFormat::Xades {
                    if data.starts_with(b"%PDF-") {
                        bail!("a PDF is signed as PAdES; --format xades is for other files");
                    }
                    let lt = match level {
                        Level::BLt => revocation.as_ref().map(|r| r as &dyn RevocationSource),
                        _ => None,
                    };
                    let limits = asice::Limits::default();
                    if asice::open(&data, &limits).is_ok() {
                        // A parallel signature over the container's files.
                        return Ok(korpu_sign::xades_sign::add_signature(
                            &data, &signer, now, ts, lt, &limits,
                        )?);
                    }
                    let file = asice::DataFile {
                        name: name.clone(),
                        mime_type: mime_for(&name).into(),
                        content: data,
                    };
                    return Ok(korpu_sign::xades_sign::create(
                        &[file],
                        &signer,
                        now,
                        ts,
                        lt,
                    )?);
                }
                if data.starts_with(b"%PDF-") {
                    let limits = pdf::Limits::default();
                    let mut out = pdf::sign(&data, &signer, now, ts, &limits)?;
                    if let (Level::BLt, Some(r)) = (level, &revocation) {
                        out = pdf::add_validation_data(&out, r, &limits)?;
                    }
                    Ok(out)
                } else {
                    let limits = asice::Limits::default();
                    let mut out = if asice::open(&data, &limits).is_ok() {
                        asice::add_signature(&data, &signer, now, ts, &limits)?
                    } else {
                        let file = asice::DataFile {
                            name: name.clone(),
                            mime_type: mime_for(&name).into(),
                            content: data,
                        };
                        asice::create(&[file], &[signer], now, ts)?
                    };
                    if let (Level::BLt, Some(r)) = (level, &revocation) {
                        out = asice::add_validation_data(&out, r, &limits)?;
                    }
                    Ok(out)
                }
            })
            .await
            .context("the signing task failed")??;
            write_atomically(&output, &signed)?;
            println!("signed {} -> {}", input.display(), output.display());
            Ok(())
        }
        DocCommand::Extend {
            level,
            tsa,
            ocsp,
            fetch,
            input,
            output,
        } => extend(level, tsa, ocsp, fetch, &input, &output).await,
        DocCommand::Verify {
            trust,
            json,
            report: report_kind,
            fetch_revocation,
            policy,
            detached_content,
            extract,
            file,
        } => {
            let policy = match &policy {
                Some(p) => Some(std::sync::Arc::new(korpu_sign::policy::Policy::from_file(
                    p,
                )?)),
                None => None,
            };
            let mut anchors = Vec::new();
            for t in &trust {
                anchors.extend(read_certs(t)?);
            }
            // Refuse a huge file before reading it into memory; the parsers bound the rest.
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            let limit = pdf::Limits::default()
                .max_pdf_size
                .max(asice::Limits::default().max_total_size);
            let validation_time = SystemTime::now();
            let report = if size > limit {
                Verdict::failed(
                    "unknown",
                    format!(
                        "FORMAT_FAILURE: the file has {size} bytes, more than the limit of {limit}"
                    ),
                )
            } else {
                let data = std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let detached = match &detached_content {
                    Some(p) => Some(Detached {
                        name: p
                            .file_name()
                            .and_then(|n| n.to_str())
                            .unwrap_or_default()
                            .to_string(),
                        content: std::fs::read(p)
                            .with_context(|| format!("cannot read {}", p.display()))?,
                    }),
                    None => None,
                };
                let options = korpu_sign::ValidationOptions {
                    fetcher: fetch_revocation.then(|| {
                        std::sync::Arc::new(korpu_sign::fetch::HttpFetcher::default())
                            as std::sync::Arc<dyn korpu_sign::RevocationFetcher>
                    }),
                    policy,
                };
                // Fetching blocks this thread on plain sockets (bounded by the fetcher's
                // timeouts): a one-shot command has nothing else to run meanwhile.
                verify(
                    &data,
                    detached.as_ref(),
                    &anchors,
                    validation_time,
                    &options,
                )
            };
            if let (Some(out), Some(content)) = (&extract, &report.content) {
                write_atomically(out, content)?;
            } else if extract.is_some() {
                bail!(
                    "--extract: {} carries no content to extract",
                    file.display()
                );
            }
            let kind = match (json, report_kind) {
                (true, _) => ReportKind::Json,
                (false, k) => k.unwrap_or(ReportKind::Simple),
            };
            match kind {
                ReportKind::Json => {
                    println!("{}", serde_json::to_string_pretty(&report.to_json())?)
                }
                ReportKind::Simple => print!("{}", report.to_text(&file)),
                ReportKind::Etsi => {
                    // Archive (document) time-stamps are not signatures: their verdicts
                    // count for the exit status, not as SignatureValidationReports.
                    let reports: Vec<&SignatureReport> = report
                        .signatures
                        .iter()
                        .map(|l| &l.report)
                        .filter(|r| r.level != pdf::doc_ts::LEVEL)
                        .collect();
                    print!(
                        "{}",
                        korpu_sign::report_etsi::to_xml(
                            &reports,
                            report.error.as_deref(),
                            validation_time
                        )
                    );
                }
            }
            let failing = report
                .signatures
                .iter()
                .filter(|s| s.report.indication != Indication::TotalPassed)
                .count();
            if let Some(e) = &report.error {
                bail!("{}: TOTAL_FAILED: {e}", file.display());
            }
            if failing > 0 {
                bail!(
                    "{failing} of {} signatures {} not TOTAL_PASSED",
                    report.signatures.len(),
                    if failing == 1 { "is" } else { "are" }
                );
            }
            Ok(())
        }
    }
}

/// `korpu doc extend`.
async fn extend(
    level: ExtendLevel,
    tsa: Option<String>,
    ocsp: Option<String>,
    fetch: bool,
    input: &Path,
    output: &Path,
) -> anyhow::Result<()> {
    use korpu_sign::detect::{self, Format};
    if level == ExtendLevel::BLta && tsa.is_none() {
        bail!("level b-lta needs a time-stamping authority: give --tsa URL");
    }
    if ocsp.is_none() && !fetch {
        bail!(
            "the revocation data must come from somewhere: give --ocsp URL, or --fetch to ask \
             the responders and distribution points the certificates name"
        );
    }
    let data = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let format = detect::detect(&data);
    match (level, format) {
        (_, Format::Pdf) | (ExtendLevel::BLt, Format::AsicE) => {}
        (ExtendLevel::BLta, Format::AsicE) => bail!(
            "{}: B-LTA (archive time-stamps) is done for PAdES PDFs only; an ASiC-E container \
             can be extended to b-lt",
            input.display()
        ),
        (_, f) => bail!(
            "{}: {} is not a file doc extend handles (a signed PDF, or an ASiC-E container for \
             b-lt)",
            input.display(),
            f.name()
        ),
    }
    let client = online::client()?;
    let handle = tokio::runtime::Handle::current();
    let extended = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let source: Box<dyn RevocationSource> = match ocsp {
            Some(url) => Box::new(Http {
                url,
                client: client.clone(),
                handle: handle.clone(),
            }),
            None => Box::new(CertUrls(korpu_sign::fetch::HttpFetcher::default())),
        };
        let stamper = tsa.map(|url| Http {
            url,
            client,
            handle,
        });
        Ok(match (level, format, stamper) {
            (ExtendLevel::BLta, _, Some(t)) => {
                pdf::doc_ts::extend_lta(&data, &t, Some(source.as_ref()), &pdf::Limits::default())?
            }
            (_, Format::AsicE, _) => {
                asice::add_validation_data(&data, source.as_ref(), &asice::Limits::default())?
            }
            _ => pdf::add_validation_data(&data, source.as_ref(), &pdf::Limits::default())?,
        })
    })
    .await
    .context("the extension task failed")??;
    write_atomically(output, &extended)?;
    println!(
        "extended {} -> {} ({})",
        input.display(),
        output.display(),
        match level {
            ExtendLevel::BLt => "B-LT",
            ExtendLevel::BLta => "B-LTA",
        }
    );
    Ok(())
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<Certificate>> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    let certs = Certificate::all_from_pem(&pem)
        .with_context(|| format!("{} is not PEM certificates", path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certs)
}

fn write_atomically(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp-korpu");
    std::fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn mime_for(name: &str) -> &'static str {
    match name.rsplit('.').next().map(|e| e.to_ascii_lowercase()) {
        Some(e) if e == "pdf" => "application/pdf",
        Some(e) if e == "txt" => "text/plain",
        Some(e) if e == "xml" => "application/xml",
        Some(e) if e == "json" => "application/json",
        _ => "application/octet-stream",
    }
}
