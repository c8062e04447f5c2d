//! `korpu ledger verify` and `korpu ledger audit`: the offline checks of the evidence ledger,
//! wired to `korpu-ledger`. Only argument handling and printing live here.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use korpu_ledger::NoteVerifier;
use korpu_pki::cert::Certificate;

/// Where the verifier's trust comes from.
pub struct Trust {
    /// `--log-key` values (C2SP vkeys).
    pub log_keys: Vec<String>,
    /// `--anchor`: the configuration anchor, to verify the archive's embedded signed global
    /// configuration and take the log key and the platform roots from it.
    pub anchor: Option<PathBuf>,
    /// `--tsa-root` PEM files.
    pub tsa_roots: Vec<PathBuf>,
    /// `--at`: when the embedded configuration must have been valid (default: now, or its
    /// last valid second if it has expired).
    pub at: Option<String>,
}

/// Verifies an archive offline; prints a summary, or fails naming the first fault.
pub fn verify(archive: &Path, trust: Trust) -> anyhow::Result<()> {
    let bytes = std::fs::read(archive).with_context(|| format!("reading {}", archive.display()))?;
    let mut keys = trust
        .log_keys
        .iter()
        .map(|k| k.parse::<NoteVerifier>().context("--log-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut roots = Vec::new();
    for path in &trust.tsa_roots {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("reading --tsa-root {}", path.display()))?;
        roots.extend(
            Certificate::all_from_pem(&pem)
                .with_context(|| format!("--tsa-root {}", path.display()))?,
        );
    }
    let mut conf_note = None;
    if let Some(anchor_path) = &trust.anchor {
        let header = korpu_ledger::archive::read_header(&bytes)
            .with_context(|| format!("{} is not an archive", archive.display()))?;
        let (conf, key) = trust_from_anchor(anchor_path, &header, trust.at.as_deref())?;
        roots.extend(conf.1);
        keys.push(key);
        conf_note = Some(conf.0);
    }
    if keys.is_empty() {
        bail!("give the log's key with --log-key VKEY, or --anchor ANCHOR to take it from the archive's signed configuration");
    }
    let report = korpu_ledger::verify_archive(&bytes, &keys, &roots)
        .with_context(|| format!("{} FAILED verification", archive.display()))?;
    let times = report
        .record_times
        .map(|(a, b)| {
            format!(
                ", recorded {} .. {}",
                korpu_conf::Timestamp::from_unix(a / 1000),
                korpu_conf::Timestamp::from_unix(b / 1000)
            )
        })
        .unwrap_or_default();
    println!(
        "OK: {} is segment {} of log {}: records {}..{} ({} bytes){times}",
        archive.display(),
        report.segment,
        report.origin,
        report.first_index,
        report.first_index + report.records,
        report.bytes,
    );
    println!(
        "    {} checkpoints checked up to tree size {}, {} time-stamped{}",
        report.checkpoints,
        report.tree_size,
        report.timestamps,
        report
            .timestamped
            .map(|(a, b)| format!(
                " between {} and {}",
                korpu_conf::Timestamp::from(a),
                korpu_conf::Timestamp::from(b)
            ))
            .unwrap_or_default()
    );
    if let Some(note) = conf_note {
        println!("    trust: {note}");
    }
    Ok(())
}

/// Verifies the archive's trust blob as a signed global configuration under the anchor and
/// returns (a description, the platform roots) and the archive's log key from it.
fn trust_from_anchor(
    anchor_path: &Path,
    header: &korpu_ledger::archive::ArchiveHeader,
    at: Option<&str>,
) -> anyhow::Result<((String, Vec<Certificate>), NoteVerifier)> {
    let anchor = korpu_conf::Anchor::from_json(
        &std::fs::read(anchor_path)
            .with_context(|| format!("reading anchor {}", anchor_path.display()))?,
    )
    .with_context(|| format!("anchor {}", anchor_path.display()))?;
    let Some(signed) = header.trust_bytes()? else {
        bail!("the archive carries no signed configuration; verify it with --log-key and --tsa-root instead");
    };
    // The configuration in force when the archive was written has normally expired by the
    // time anyone audits it: unless --at names a time, an expired one is judged at the last
    // second of its validity (signature, signer and instance are checked all the same).
    let mut expired = None;
    let conf = match at {
        Some(t) => {
            let at = korpu_conf::Timestamp::parse(t).map_err(|e| anyhow::anyhow!("--at: {e}"))?;
            korpu_conf::verify(&signed, &anchor, at)
        }
        None => match korpu_conf::verify(&signed, &anchor, korpu_conf::Timestamp::now()) {
            Err(korpu_conf::ConfError::Expired { expired_at, .. }) => {
                expired = Some(expired_at);
                korpu_conf::verify(
                    &signed,
                    &anchor,
                    korpu_conf::Timestamp::from_unix(expired_at.unix().saturating_sub(1)),
                )
            }
            other => other,
        },
    }
    .context("the archive's signed configuration does not verify under the anchor")?;
    let origin = &header.origin;
    let gateway = conf
        .gateways
        .iter()
        .find(|g| format!("korpu/{}", g.id) == *origin)
        .with_context(|| {
            format!("the signed configuration lists no gateway whose ledger is \"{origin}\"")
        })?;
    let key_text = gateway.ledger_key.as_deref().with_context(|| {
        format!(
            "the signed configuration gives no ledger key for gateway {}",
            gateway.id
        )
    })?;
    let key: NoteVerifier = key_text
        .parse()
        .with_context(|| format!("the ledger key of gateway {}", gateway.id))?;
    let mut roots = Vec::new();
    for pem in conf.pki.root_certs.iter() {
        roots.extend(Certificate::all_from_pem(pem).context("a root in the configuration")?);
    }
    Ok((
        (
            format!(
                "global configuration version {} of {} (issued {}{}), gateway {}",
                conf.version,
                conf.instance,
                conf.issued_at,
                expired
                    .map(|t| format!(", expired {t}"))
                    .unwrap_or_default(),
                gateway.id
            ),
            roots,
        ),
        key,
    ))
}

/// Checks a log's published tlog-tiles against the view saved in `state` (a JSON file,
/// created on first use): verifies the checkpoint with the log key, fetches the tiles needed
/// for the consistency proof from the saved tree to the new one, and saves the new view.
/// Fails with the fork alert (both signed checkpoints) when the log does not extend it.
pub async fn audit(state: &Path, log_keys: &[String], source: &str) -> anyhow::Result<()> {
    use korpu_ledger::audit::{AuditError, AuditState, Auditor, Observation};
    use korpu_ledger::tiles::{TileError, TileSource};
    let keys = log_keys
        .iter()
        .map(|k| k.parse::<NoteVerifier>().context("--log-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let saved: AuditState = match std::fs::read(state) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an audit state file", state.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AuditState::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", state.display())),
    };
    let mut auditor = Auditor::new(saved, keys);
    let fetcher = Fetcher::new(source)?;
    let note = String::from_utf8(fetcher.get("checkpoint").await?)
        .context("the checkpoint is not text")?;
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .context("the checkpoint has no tree size line")?;
    let tiles = TileSource::new(size);
    let mut fetched = 0usize;
    let outcome = loop {
        match auditor.observe_tiles(&note, &tiles) {
            Err(AuditError::Tile(TileError::Missing(path))) => {
                let bytes = fetcher.get(&path).await?;
                tiles
                    .insert(&path, &bytes)
                    .with_context(|| format!("{source}/{path}"))?;
                fetched += 1;
            }
            Err(AuditError::Alert(alert)) => {
                eprintln!("{alert}");
                eprintln!(
                    "earlier checkpoint:\n{}\nnew checkpoint:\n{}",
                    alert.notes[0], alert.notes[1]
                );
                bail!(
                    "log {} forked (state in {} left unchanged)",
                    alert.origin,
                    state.display()
                );
            }
            other => break other.with_context(|| format!("auditing {source}"))?,
        }
    };
    let json = serde_json::to_vec_pretty(&auditor.state)?;
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, state))
        .with_context(|| format!("saving {}", state.display()))?;
    match outcome {
        Observation::First { size } => {
            println!("OK: first view of the log at tree size {size}, saved ({fetched} tiles read)")
        }
        Observation::Unchanged { size } => println!("OK: unchanged at tree size {size}"),
        Observation::Extended { from, to } => println!(
            "OK: tree size {to} extends the saved {from} (consistency proven from {fetched} tiles)"
        ),
    }
    Ok(())
}

/// Reads tlog-tiles resources from a directory or an http(s) URL prefix.
enum Fetcher {
    Dir(PathBuf),
    Http(String, reqwest::Client),
}

/// Largest resource fetched: a full tile is 8 KiB, a checkpoint far less.
const MAX_TILE_RESOURCE: usize = 64 * 1024;

impl Fetcher {
    fn new(source: &str) -> anyhow::Result<Self> {
        if source.starts_with("http://") || source.starts_with("https://") {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?;
            Ok(Fetcher::Http(
                source.trim_end_matches('/').to_owned(),
                client,
            ))
        } else {
            Ok(Fetcher::Dir(PathBuf::from(source)))
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Fetcher::Dir(dir) => {
                let p = dir.join(path);
                std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
            }
            Fetcher::Http(base, client) => {
                let url = format!("{base}/{path}");
                let resp = client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("fetching {url}"))?;
                if !resp.status().is_success() {
                    bail!("{url} answered {}", resp.status());
                }
                let bytes = resp
                    .bytes()
                    .await
                    .with_context(|| format!("reading {url}"))?;
                if bytes.len() > MAX_TILE_RESOURCE {
                    bail!("{url} is larger than {MAX_TILE_RESOURCE} bytes");
                }
                Ok(bytes.to_vec())
            }
        }
    }
}

/// Publishes the ledger's latest checkpoint and tiles under `out`.
pub async fn tiles(ledger: korpu_ledger::Ledger, out: &Path) -> anyhow::Result<()> {
    let written = ledger
        .write_tiles(out)
        .await
        .with_context(|| format!("writing tiles to {}", out.display()))?;
    println!(
        "OK: tree size {} published in {} ({} tile files written)",
        written.size,
        out.display(),
        written.tiles
    );
    ledger.close().await?;
    Ok(())
}

/// Writes the tlog-proof of the (last) record of `message_id`.
pub async fn proof(
    ledger: korpu_ledger::Ledger,
    message_id: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let mut evidence = korpu_gateway::evidence::evidence(&ledger, message_id).await?;
    let last = evidence
        .pop()
        .context("evidence returns at least one package")?;
    let text = last.tlog_proof()?.to_text();
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    ledger.close().await?;
    Ok(())
}

/// Verifies a tlog-proof file carrying a Körpü record.
pub fn verify_proof(file: &Path, log_keys: &[String]) -> anyhow::Result<()> {
    let keys = log_keys
        .iter()
        .map(|k| k.parse::<NoteVerifier>().context("--log-key"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let proof = korpu_ledger::proof::TlogProof::parse(&text)?;
    let (record, cp) = korpu_xroad::record::verify_proof(&proof, &keys)
        .with_context(|| format!("{} FAILED verification", file.display()))?;
    println!(
        "OK: message {} is record {} of log {} (tree size {})",
        record.message_id, proof.index, cp.origin, cp.size
    );
    Ok(())
}
