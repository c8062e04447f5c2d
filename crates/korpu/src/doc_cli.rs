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
//! Not here: `doc send` / `doc inbox` (document exchange), visible signatures, archive
//! time-stamps for containers.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use korpu_pki::cert::Certificate;
use korpu_pki::{ocsp, tsa};
use korpu_sign::cades::Signer;
use korpu_sign::validate::{Indication, SignatureReport};
use korpu_sign::{asice, pdf, RevocationSource, SignError, Timestamper};

/// How long one TSA or OCSP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest TSA or OCSP answer accepted.
const MAX_RESPONSE: usize = 1 << 20;

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
            let client = reqwest::Client::builder()
                .timeout(HTTP_TIMEOUT)
                .build()
                .context("cannot build the HTTP client")?;
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
    let client = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
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

/// A [`RevocationSource`] asking, for each certificate, the OCSP responder its Authority
/// Information Access names, else the CRL distribution point (plain HTTP, bounded by the
/// fetcher's limits).
struct CertUrls(korpu_sign::fetch::HttpFetcher);

impl RevocationSource for CertUrls {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        use korpu_sign::RevocationFetcher;
        let mut last = format!("\"{}\" names no OCSP responder", cert.subject());
        for url in korpu_pki::crl::ocsp_urls(cert) {
            let (req, nonce) = ocsp::build_request(cert, issuer)?;
            match self.0.post(&url, "application/ocsp-request", &req) {
                Ok(resp) => {
                    match ocsp::verify_response(
                        &resp,
                        cert,
                        issuer,
                        Some(&nonce),
                        SystemTime::now(),
                    ) {
                        Ok(_) => return Ok(resp),
                        Err(e) => last = format!("{url}: {e}"),
                    }
                }
                Err(e) => last = format!("{url}: {e}"),
            }
        }
        Err(SignError::InvalidInput(format!("OCSP: {last}")))
    }

    fn crl(&self, cert: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        use korpu_sign::RevocationFetcher;
        for url in korpu_pki::crl::crl_urls(cert) {
            let Ok(body) = self.0.get(&url) else { continue };
            // Only a CRL its issuer signed is worth embedding.
            if let Ok(crl) = korpu_pki::crl::Crl::from_der_or_pem(&body) {
                if crl.verify_issued_by(issuer).is_ok() {
                    return Ok(Some(crl.der().to_vec()));
                }
            }
        }
        Ok(None)
    }
}

/// One signature in the printed report.
struct Line {
    label: String,
    report: SignatureReport,
    modified_after: Option<String>,
}

/// What `doc verify` prints.
struct Verdict {
    format: &'static str,
    signatures: Vec<Line>,
    /// The file could not be read as a signed document at all.
    error: Option<String>,
    /// The signed content of an enveloping signature.
    content: Option<Vec<u8>>,
}

impl Verdict {
    fn failed(format: &'static str, error: String) -> Self {
        Verdict {
            format,
            signatures: Vec::new(),
            error: Some(error),
            content: None,
        }
    }

    fn container(
        format: &'static str,
        r: Result<asice::ContainerReport, asice::AsicError>,
    ) -> Self {
        match r {
            Ok(r) => Verdict {
                format,
                signatures: r
                    .signatures
                    .into_iter()
                    .map(|s| Line {
                        label: format!("{} over {}", s.signature_file, s.covers.join(", ")),
                        report: s.report,
                        modified_after: None,
                    })
                    .collect(),
                error: None,
                content: None,
            },
            Err(e) => Verdict::failed(format, format!("FORMAT_FAILURE: {e}")),
        }
    }
}

fn verify(
    data: &[u8],
    detached: Option<&Detached>,
    anchors: &[Certificate],
    at: SystemTime,
    options: &korpu_sign::ValidationOptions,
) -> Verdict {
    use korpu_sign::detect::{self, Format};
    let format = detect::detect(data);
    if detached.is_some() && !matches!(format, Format::Cms | Format::CmsPem | Format::Xml) {
        return Verdict::failed(
            format.name(),
            "--detached-content is for a detached signature (CAdES .p7s or XAdES .xml); this \
             file is not one"
                .into(),
        );
    }
    match format {
        Format::Pdf => verify_pdf(data, anchors, at, options),
        Format::AsicE => {
            // What others send may lack the mimetype entry; detection already placed it.
            let r = asice::validate_opts_mimetype_optional(
                data,
                anchors,
                at,
                &asice::Limits::default(),
                options,
            );
            let xades = r.as_ref().is_ok_and(|r| {
                r.signatures
                    .iter()
                    .any(|s| s.signature_file.contains("signatures"))
            });
            Verdict::container(
                if xades {
                    "ASiC-E (XAdES)"
                } else {
                    "ASiC-E (CAdES)"
                },
                r,
            )
        }
        Format::AsicS => {
            let r = korpu_sign::asics::validate_opts(
                data,
                anchors,
                at,
                &asice::Limits::default(),
                options,
            );
            Verdict::container("ASiC-S", r)
        }
        Format::Cms | Format::CmsPem => {
            let Some(der) = detect::cms_der(data) else {
                return Verdict::failed("CAdES", "FORMAT_FAILURE: malformed PEM".into());
            };
            let (label, report, content) = match detached.map(|d| d.content.as_slice()) {
                Some(content) => (
                    "detached signature".to_string(),
                    korpu_sign::validate::validate_cades_opts(&der, content, anchors, at, options),
                    None,
                ),
                None => {
                    let (r, content) =
                        korpu_sign::validate::validate_cades_enveloping(&der, anchors, at, options);
                    let label = match &content {
                        Some(c) => format!(
                            "enveloping signature over {} bytes of {}",
                            c.len(),
                            content_kind(c)
                        ),
                        None => "detached signature, content not given".to_string(),
                    };
                    (label, r, content)
                }
            };
            Verdict {
                format: "CAdES",
                signatures: vec![Line {
                    label,
                    report,
                    modified_after: None,
                }],
                error: None,
                content,
            }
        }
        Format::Xml => {
            // A signed XML document (enveloped XAdES), or a detached XAdES signature whose
            // data file --detached-content gives under its own name.
            let files = detached
                .map(|d| std::collections::BTreeMap::from([(d.name.clone(), d.content.clone())]))
                .unwrap_or_default();
            match korpu_sign::xades::validate_file(
                data,
                &files,
                anchors,
                at,
                &korpu_sign::xml::Limits::default(),
                options,
            ) {
                Ok(sigs) => Verdict {
                    format: "XAdES (XML)",
                    signatures: sigs
                        .into_iter()
                        .map(|s| Line {
                            label: match (&s.id, s.covers.is_empty()) {
                                (Some(id), true) => format!("signature {id}"),
                                (Some(id), false) => {
                                    format!("signature {id} over {}", s.covers.join(", "))
                                }
                                (None, _) => "signature".into(),
                            },
                            report: s.report,
                            modified_after: None,
                        })
                        .collect(),
                    error: None,
                    content: None,
                },
                Err(e) => Verdict::failed("XML", format!("FORMAT_FAILURE: {e}")),
            }
        }
        Format::Unknown => Verdict::failed(
            "unknown",
            "FORMAT_FAILURE: not a signed document Körpü recognises (PDF, ASiC-E, ASiC-S, \
                 CAdES .p7s/.p7m)"
                .into(),
        ),
    }
}

/// The data of a detached signature, with its file name (XAdES references name it).
struct Detached {
    name: String,
    content: Vec<u8>,
}

fn verify_pdf(
    data: &[u8],
    anchors: &[Certificate],
    at: SystemTime,
    options: &korpu_sign::ValidationOptions,
) -> Verdict {
    {
        match pdf::validate_opts(data, anchors, at, &pdf::Limits::default(), options) {
            Ok(r) => Verdict {
                format: "PAdES (PDF)",
                signatures: r
                    .signatures
                    .into_iter()
                    .map(|s| Line {
                        label: format!("field {}", s.field),
                        report: s.report,
                        modified_after: s.modified_after,
                    })
                    // Archive (document) time-stamps, each with its time and TSA.
                    .chain(r.timestamps.into_iter().map(|t| Line {
                        label: format!(
                            "archive time-stamp, field {}, by {} at {}",
                            t.field,
                            t.tsa,
                            t.time.as_deref().unwrap_or("-")
                        ),
                        report: t.report,
                        modified_after: None,
                    }))
                    .collect(),
                error: None,
                content: None,
            },
            Err(e) => Verdict::failed("PAdES (PDF)", format!("FORMAT_FAILURE: {e}")),
        }
    }
}

/// What the content of an enveloping signature looks like, for the report.
fn content_kind(c: &[u8]) -> &'static str {
    use korpu_sign::detect::{detect, Format};
    match detect(c) {
        Format::Pdf => "PDF",
        Format::Xml => "XML",
        Format::AsicE | Format::AsicS => "a zip container",
        _ if std::str::from_utf8(c).is_ok() => "text",
        _ => "binary data",
    }
}

impl Verdict {
    fn overall(&self) -> &'static str {
        if self.error.is_some() {
            return "TOTAL_FAILED";
        }
        let worst = self
            .signatures
            .iter()
            .map(|s| s.report.indication)
            .max_by_key(|i| match i {
                Indication::TotalPassed => 0,
                Indication::Indeterminate => 1,
                Indication::TotalFailed => 2,
            });
        match worst {
            Some(Indication::TotalPassed) => "TOTAL_PASSED",
            Some(Indication::Indeterminate) => "INDETERMINATE",
            _ => "TOTAL_FAILED",
        }
    }

    fn to_text(&self, file: &Path) -> String {
        let mut s = format!("{}: {}\n", file.display(), self.format);
        if let Some(e) = &self.error {
            s.push_str(&format!("  TOTAL_FAILED: {e}\n"));
        }
        for (i, l) in self.signatures.iter().enumerate() {
            let r = &l.report;
            s.push_str(&format!(
                "signature {} ({}): {}\n",
                i + 1,
                l.label,
                indication(r.indication)
            ));
            let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            s.push_str(&format!("  signer:               {}\n", r.signer));
            s.push_str(&format!(
                "  claimed signing time: {}\n",
                opt(&r.claimed_signing_time)
            ));
            s.push_str(&format!(
                "  proven signing time:  {}\n",
                opt(&r.proven_signing_time)
            ));
            s.push_str(&format!("  level:                {}\n", r.level));
            s.push_str(&format!(
                "  trust anchor:         {}\n",
                opt(&r.trust_anchor)
            ));
            s.push_str(&format!("  revocation:           {}\n", r.revocation));
            if let Some(m) = &l.modified_after {
                s.push_str(&format!("  modified after:       {m}\n"));
            }
            if r.indication != Indication::TotalPassed {
                s.push_str(&format!(
                    "  reason:               {}: {}\n",
                    opt(&r.sub_indication),
                    opt(&r.reason)
                ));
            }
        }
        s.push_str(&format!("overall: {}\n", self.overall()));
        s
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format": self.format,
            "indication": self.overall(),
            "error": self.error,
            "signatures": self.signatures.iter().map(|l| serde_json::json!({
                "label": l.label,
                "modified_after": l.modified_after,
                "report": l.report,
            })).collect::<Vec<_>>(),
        })
    }
}

fn indication(i: Indication) -> &'static str {
    match i {
        Indication::TotalPassed => "TOTAL_PASSED",
        Indication::Indeterminate => "INDETERMINATE",
        Indication::TotalFailed => "TOTAL_FAILED",
    }
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

/// A TSA or OCSP responder over HTTP, called from a blocking thread.
struct Http {
    url: String,
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

impl Http {
    fn post(&self, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.handle.block_on(async {
            let resp = self
                .client
                .post(&self.url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if !resp.status().is_success() {
                return Err(format!("{} answered {}", self.url, resp.status()));
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| format!("{}: {e}", self.url))?;
            if bytes.len() > MAX_RESPONSE {
                return Err(format!("{} sent more than {MAX_RESPONSE} bytes", self.url));
            }
            Ok(bytes.to_vec())
        })
    }
}

impl Timestamper for Http {
    fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, SignError> {
        let (req, nonce) = tsa::build_request(sha256);
        let resp = self
            .post("application/timestamp-query", req)
            .map_err(SignError::Timestamp)?;
        // The token must answer our request (imprint and nonce); its signer is judged at
        // validation time against the verifier's anchors.
        korpu_sign::token_for_request(&resp, sha256, &nonce)
    }
}

impl RevocationSource for Http {
    fn ocsp(&self, cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, SignError> {
        let (req, nonce) = ocsp::build_request(cert, issuer)?;
        let resp = self
            .post("application/ocsp-request", req)
            .map_err(|e| SignError::InvalidInput(format!("OCSP: {e}")))?;
        ocsp::verify_response(&resp, cert, issuer, Some(&nonce), SystemTime::now())?;
        Ok(resp)
    }

    /// When the CA publishes CRLs: the one at the certificate's distribution point (plain
    /// HTTP), checked to be the issuer's and to speak for the certificate, so that B-LT carries
    /// it where the OCSP responder has no answer (an intermediate CA, a CRL-only CA).
    fn crl(&self, cert: &Certificate, issuer: &Certificate) -> Result<Option<Vec<u8>>, SignError> {
        use korpu_sign::RevocationFetcher;
        let fetcher = korpu_sign::fetch::HttpFetcher::default();
        for url in korpu_pki::crl::crl_urls(cert) {
            let Ok(bytes) = fetcher.get(&url) else {
                continue;
            };
            let Ok(crl) = korpu_pki::crl::Crl::from_der_or_pem(&bytes) else {
                continue;
            };
            if crl
                .verify_issued_by(issuer)
                .and_then(|()| crl.status(cert))
                .is_ok()
            {
                return Ok(Some(crl.der().to_vec()));
            }
        }
        Ok(None)
    }
}
