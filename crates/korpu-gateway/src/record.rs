//! The durable record of exchanges, behind the [`Recorder`] interface that the evidence ledger
//! implements. An exchange's response is released to the caller only after its record is
//! durable, so every exchange whose response reached a client survives a crash (kill -9).
//!
//! The evidence ledger ([`korpu_ledger::Ledger`]) is the recorder a gateway runs with: a
//! Merkle-tree log with group-committed appends and signed, time-stamped checkpoints, opened by
//! [`open_ledger`]. [`JournalRecorder`] is a plain local store (JSON lines, one writer thread,
//! group commit) for tools and tests that want a readable file and no proofs.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use crate::gateway::CurrentConf;

pub use korpu_xroad::record::{ExchangeRecord, Role};

/// Why a record was not made durable, or a question about the record not answered.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the exchange journal has stopped")]
    JournalStopped,
    #[error("the exchange record could not be written: {0}")]
    JournalWrite(String),
    #[error("{0}")]
    Ledger(#[from] korpu_ledger::LedgerError),
    #[error("{0}")]
    Read(#[from] crate::ledger::ReadError),
    #[error("this gateway's record keeps no subject index")]
    NoSubjectIndex,
}

/// What recording resolves to: the record's position once it is durable.
pub type Durable<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, RecordError>> + Send + 'a>>;

/// What a question to the subject index resolves to: a page in the data tracker's JSON shape.
pub type TrackerPage<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<serde_json::Value, RecordError>> + Send + 'a>,
>;

/// Somewhere exchanges are recorded durably.
pub trait Recorder: Send + Sync + 'static {
    /// Resolves once `record` is durable, with its position in the record.
    fn record<'a>(&'a self, record: &'a ExchangeRecord) -> Durable<'a>;

    /// Told each signed global configuration the gateway accepts, so a recorder that archives
    /// can put the current one into its archives (what an offline verifier checks them with).
    fn configuration(&self, _signed: &[u8]) {}

    /// Says that a record will follow within microseconds (an exchange's answer is in and
    /// being checked), so a recorder that commits in groups can include it in the next one.
    /// Drop the result to withdraw.
    fn announce(&self) -> Announced {
        Announced(None)
    }

    /// [`Self::record`] for an announced record.
    fn record_announced<'a>(
        &'a self,
        _announced: Announced,
        record: &'a ExchangeRecord,
    ) -> Durable<'a> {
        self.record(record)
    }

    /// Adds the recorder's counters to a `/metrics` scrape; recorders that keep none add none.
    fn metrics(&self, _scrape: &mut crate::metrics::Scrape) {}

    /// A page of the accesses to `subject`'s data, newest first, before `cursor` (a record
    /// index; `None` = from the newest), in the data tracker's JSON shape:
    /// `{"entries":[{"index","leaf","time","client","service","purpose","message_id",
    /// "leaf_hash","proof":{"tree_size","hashes","checkpoint"}}],"next"}`, where `leaf` is the
    /// record's exact leaf bytes (base64), the only part a verifier may show (see
    /// [`crate::ledger::SubjectPage::to_tracker_json`]). Recorders without a subject index say
    /// so.
    fn subject_accesses(
        &self,
        _subject: &str,
        _cursor: Option<u64>,
        _limit: usize,
    ) -> TrackerPage<'_> {
        Box::pin(async { Err(RecordError::NoSubjectIndex) })
    }
}

/// Why a journal could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file exists but could not be read: check its permissions.
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A torn last line (left by a crash) could not be cut off: the file must be writable.
    #[error("{0}")]
    Repair(std::io::Error),
    /// The file could not be opened for appending: its directory must exist and be writable.
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The writer thread could not be started (the process is out of threads or memory).
    #[error("{0}")]
    Writer(std::io::Error),
    /// Reading every record: the file could not be read.
    #[error("{0}")]
    ReadAll(std::io::Error),
    /// A line is not a record: the file is not a journal, or was edited.
    #[error("a journal line does not parse: {0}")]
    Line(serde_json::Error),
}

/// A record a [`Recorder`] was told to expect ([`Recorder::announce`]).
pub struct Announced(Option<korpu_ledger::Announcement>);

type Pending = (ExchangeRecord, oneshot::Sender<Result<u64, RecordError>>);

/// A local append-only journal with group commit.
pub struct JournalRecorder {
    tx: mpsc::Sender<Pending>,
    path: PathBuf,
}

impl JournalRecorder {
    /// Opens (creating) `path`; counts the records already there.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let existing = match std::fs::read(path) {
            Ok(bytes) => {
                // A crash can leave a torn last line; it was never acknowledged, so drop it.
                let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                if complete < bytes.len() {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(complete as u64))
                        .map_err(JournalError::Repair)?;
                }
                bytes[..complete].iter().filter(|b| **b == b'\n').count() as u64
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(JournalError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Open {
                path: path.to_owned(),
                source,
            })?;
        let (tx, mut rx) = mpsc::channel::<Pending>(65_536);
        std::thread::Builder::new()
            .name("korpu-journal".into())
            .spawn(move || {
                let mut next = existing;
                let mut batch: Vec<Pending> = Vec::new();
                let mut buf = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                        if batch.len() >= 4096 {
                            break;
                        }
                    }
                    buf.clear();
                    for (rec, _) in &batch {
                        serde_json::to_writer(&mut buf, rec).expect("a record serialises");
                        buf.push(b'\n');
                    }
                    let result = file.write_all(&buf).and_then(|_| file.sync_data());
                    for (_, ack) in batch.drain(..) {
                        let r = match &result {
                            Ok(()) => {
                                next += 1;
                                Ok(next - 1)
                            }
                            Err(e) => Err(RecordError::JournalWrite(e.to_string())),
                        };
                        let _ = ack.send(r);
                    }
                }
            })
            .map_err(JournalError::Writer)?;
        Ok(Self {
            tx,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every record in a journal file (for tests and audits).
    pub fn read_all(path: &Path) -> Result<Vec<ExchangeRecord>, JournalError> {
        let text = std::fs::read_to_string(path).map_err(JournalError::ReadAll)?;
        text.lines()
            .map(|l| serde_json::from_str(l).map_err(JournalError::Line))
            .collect()
    }
}

impl Recorder for JournalRecorder {
    fn record<'a>(&'a self, record: &'a ExchangeRecord) -> Durable<'a> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.tx
                .send((record.clone(), ack))
                .await
                .map_err(|_| RecordError::JournalStopped)?;
            done.await.map_err(|_| RecordError::JournalStopped)?
        })
    }
}

impl Recorder for korpu_ledger::Ledger {
    fn record<'a>(&'a self, record: &'a ExchangeRecord) -> Durable<'a> {
        Box::pin(async move { Ok(self.append(crate::ledger::entry(record)).await?) })
    }

    fn configuration(&self, signed: &[u8]) {
        self.set_archive_trust(Some(signed.to_vec()));
    }

    fn announce(&self) -> Announced {
        Announced(Some(korpu_ledger::Ledger::announce(self)))
    }

    fn record_announced<'a>(
        &'a self,
        announced: Announced,
        record: &'a ExchangeRecord,
    ) -> Durable<'a> {
        Box::pin(async move {
            let appended = match announced.0 {
                Some(a) => self.append_announced(a, crate::ledger::entry(record)).await,
                None => self.append(crate::ledger::entry(record)).await,
            };
            Ok(appended?)
        })
    }

    fn metrics(&self, scrape: &mut crate::metrics::Scrape) {
        let s = self.stats();
        for (name, help, value) in [
            (
                "korpu_ledger_appends_total",
                "Exchange records made durable in the evidence ledger since start.",
                s.appends,
            ),
            (
                "korpu_ledger_commits_total",
                "Group commits (one write and fdatasync each) since start; appends per commit is the batch size.",
                s.commits,
            ),
            (
                "korpu_ledger_segments_total",
                "Ledger segments begun since start.",
                s.segments,
            ),
        ] {
            scrape.counter(name, help, value);
        }
        for (name, help, micros) in [
            (
                "korpu_ledger_commit_seconds_total",
                "Time the ledger's writer spent writing, syncing and acknowledging group commits.",
                s.commit_micros,
            ),
            (
                "korpu_ledger_batch_wait_seconds_total",
                "Time the ledger's writer waited for appends under way to join a group commit.",
                s.wait_micros,
            ),
        ] {
            scrape.counter_f64(name, help, micros as f64 / 1e6);
        }
        scrape.gauge(
            "korpu_ledger_group_commit_size",
            "Records made durable per group commit since start (appends over commits).",
            s.appends as f64 / s.commits.max(1) as f64,
        );
    }

    fn subject_accesses(
        &self,
        subject: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> TrackerPage<'_> {
        let subject = subject.to_owned();
        Box::pin(async move {
            crate::ledger::subject_accesses(self, &subject, cursor, limit)
                .await
                .map(|page| page.to_tracker_json())
                .map_err(RecordError::from)
        })
    }
}

/// Time-stamps the ledger's checkpoints at the TSA that the gateway's current global
/// configuration names, checking the token against the configuration's roots. It shares the
/// configuration with the gateway ([`CurrentConf`]) rather than holding the gateway, so the
/// ledger can outlive the gateway and still time-stamp its final checkpoint.
pub struct ConfTimestamper {
    conf: CurrentConf,
}

impl ConfTimestamper {
    /// A time-stamper reading the configuration the gateway given the same `conf` keeps.
    pub fn new(conf: CurrentConf) -> Self {
        Self { conf }
    }
}

impl korpu_ledger::Timestamper for ConfTimestamper {
    async fn timestamp(&self, digest: &[u8; 32]) -> Result<Vec<u8>, korpu_ledger::LedgerError> {
        let not_ready = || {
            korpu_ledger::LedgerError::Timestamp(
                "the gateway has no global configuration yet".into(),
            )
        };
        let loaded = self.conf.get().ok_or_else(not_ready)?;
        let client = korpu_ledger::TsaClient::new(
            loaded.conf.central.tsa_url.clone(),
            loaded.roots.clone(),
            std::time::Duration::from_secs(10),
        )?;
        client.timestamp(digest).await
    }
}

/// The ledger's origin for a gateway: the first line of every checkpoint it signs.
pub fn ledger_origin(gateway: &str) -> String {
    format!("korpu/{gateway}")
}

/// The configuration of the gateway's ledger under `DATA_DIR/ledger` (defaults otherwise),
/// with the [`crate::ledger::indexer`] of exchange records: for [`open_ledger`], and for
/// tools opening it read-only.
pub fn ledger_config(data_dir: &Path, origin: String) -> korpu_ledger::LedgerConfig {
    let mut cfg = korpu_ledger::LedgerConfig::new(data_dir.join("ledger"), origin);
    cfg.indexer = Some(crate::ledger::indexer());
    cfg
}

/// Why the gateway's evidence ledger could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LedgerOpenError {
    /// `DATA_DIR/ledger-note.p8` is not a private key file as it must be (mode 0600, owned by
    /// this user): fix its permissions, or restore it from the backup.
    #[error("the ledger key: {0}")]
    KeyFile(korpu_pki::private::PrivateError),
    /// The checkpoint key is not an Ed25519 PKCS#8 key (or one could not be made).
    #[error("{0}")]
    Key(korpu_tlog::NoteError),
    /// The data directory could not be made (mode 0700): check its parent's permissions.
    #[error("{0}")]
    DataDir(korpu_pki::private::PrivateError),
    /// The new checkpoint key could not be written: the data directory must be writable.
    #[error("writing {}: {source}", path.display())]
    WriteKey {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The checkpoint key exists but could not be read: check its permissions.
    #[error("reading {}: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The ledger itself refused to open (its message says why: a lock held by another
    /// gateway, a damaged segment…).
    #[error("opening the ledger: {0}")]
    Open(korpu_ledger::LedgerError),
}

/// Opens (creating on first use) the gateway's ledger under `DATA_DIR/ledger`, with its
/// Ed25519 checkpoint key in `DATA_DIR/ledger-note.p8` (mode 0600), checkpoint cadence and
/// archive as the gateway's configuration says.
pub async fn open_ledger<T: korpu_ledger::Timestamper>(
    config: &crate::GatewayConfig,
    timestamper: T,
) -> Result<korpu_ledger::Ledger, LedgerOpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let (data_dir, gateway) = (config.data_dir.as_path(), config.gateway.as_str());
    let origin = ledger_origin(gateway);
    let key_path = data_dir.join("ledger-note.p8");
    let signer = match std::fs::read(&key_path) {
        Ok(der) => {
            korpu_pki::private::check(&key_path).map_err(LedgerOpenError::KeyFile)?;
            korpu_tlog::NoteSigner::from_pkcs8_der(origin.clone(), &der)
                .map_err(LedgerOpenError::Key)?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer =
                korpu_tlog::NoteSigner::generate(origin.clone()).map_err(LedgerOpenError::Key)?;
            let der = signer.to_pkcs8_der().map_err(LedgerOpenError::Key)?;
            korpu_pki::private::create_missing_dir(data_dir).map_err(LedgerOpenError::DataDir)?;
            let write_key = |source| LedgerOpenError::WriteKey {
                path: key_path.clone(),
                source,
            };
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_path)
                .map_err(write_key)?;
            f.write_all(&der)
                .and_then(|_| f.sync_all())
                .map_err(write_key)?;
            signer
        }
        Err(source) => {
            return Err(LedgerOpenError::ReadKey {
                path: key_path,
                source,
            })
        }
    };
    let mut cfg = ledger_config(data_dir, origin);
    cfg.checkpoint_interval = std::time::Duration::from_secs(config.ledger_checkpoint_secs.max(1));
    cfg.segment_bytes = config.ledger_segment_bytes;
    cfg.archive = match config.ledger_archive.as_str() {
        "" => Some(data_dir.join("ledger-archive").display().to_string()),
        "none" => None,
        other => Some(other.to_owned()),
    };
    korpu_ledger::Ledger::open_with_timestamper(cfg, signer, timestamper)
        .await
        .map_err(LedgerOpenError::Open)
}
