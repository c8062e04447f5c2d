//! What the ledger's tests and benches set up alike: entries (exchange records, as the gateway
//! writes them, found by message id and data subject), a ledger directory a ledger accepts, a
//! configuration without automatic checkpoints, and a test PKI with a time-stamping
//! authority. Each test file (and bench, through `#[path]`) uses part of it.
#![allow(dead_code, async_fn_in_trait)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use korpu_ledger::{
    Entry, IndexKey, Indexer, KeySpace, Ledger, LedgerConfig, LedgerError, LookupPage, NoteSigner,
};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::tsa::Authority;
pub use korpu_xroad::record::{ExchangeRecord, Role};

/// A minimal client-side record: only what every record has; tests set the rest.
pub fn record(message_id: impl Into<String>, time_unix_ms: u64) -> ExchangeRecord {
    ExchangeRecord {
        message_id: message_id.into(),
        time_unix_ms,
        client: "AZ/GOV/1400003/benefits".into(),
        service: "AZ/GOV/1400001/population/familyComposition".into(),
        gateway: "AZ/GOV/1400003/gw1".into(),
        role: Role::Client,
        request_digest: "00".repeat(32),
        response_status: Some(200),
        ..ExchangeRecord::default()
    }
}

/// A record of realistic size: digests in hex, signatures as base64 DER ECDSA P-256.
pub fn realistic_record(message_id: String, time_unix_ms: u64) -> ExchangeRecord {
    ExchangeRecord {
        service: "AZ/GOV/1400001/population/familyComposition/v1".into(),
        user_id: Some("AZ1234567".into()),
        data_subject: Some("AZ7654321".into()),
        purpose: Some("benefit-eligibility".into()),
        request_digest: "3f".repeat(32),
        response_digest: Some("a7".repeat(32)),
        request_signature: "MEUCIQ".to_string() + &"x".repeat(90),
        request_signer_cert_sha256: "11".repeat(32),
        response_signature: Some("MEQCIC".to_string() + &"y".repeat(88)),
        response_signer_cert_sha256: Some("22".repeat(32)),
        ..record(message_id, time_unix_ms)
    }
}

/// The key spaces the tests index records under (the gateway's labels, so the keyed hashes
/// are those of real ledgers).
pub const MESSAGE_ID: KeySpace = KeySpace::new("message-id");
pub const DATA_SUBJECT: KeySpace = KeySpace::new("data-subject");

/// The entry of a record: its canonical bytes, found by message id and data subject.
pub fn entry(r: &ExchangeRecord) -> Entry<'_> {
    let mut keys = vec![IndexKey::new(MESSAGE_ID, r.message_id.as_str())];
    keys.extend(
        r.data_subject
            .as_deref()
            .map(|s| IndexKey::new(DATA_SUBJECT, s)),
    );
    Entry {
        bytes: r.leaf_bytes(),
        keys,
    }
}

/// The indexer of entries made by [`entry`]: it reads only the two ids, as the gateway's does,
/// so that what the open bench measures is what a gateway's restart costs.
pub fn indexer() -> Indexer {
    #[derive(serde::Deserialize)]
    struct TwoIds<'a> {
        #[serde(borrow)]
        message_id: std::borrow::Cow<'a, str>,
        #[serde(borrow, default)]
        data_subject: Option<std::borrow::Cow<'a, str>>,
    }
    Indexer::new(|bytes| match serde_json::from_slice::<TwoIds>(bytes) {
        Err(e) => Err(e.to_string()),
        Ok(ids) => Ok(std::iter::once(IndexKey::new(MESSAGE_ID, ids.message_id))
            .chain(ids.data_subject.map(|s| IndexKey::new(DATA_SUBJECT, s)))
            .collect()),
    })
}

/// Reading records back, and the two lookups the gateway makes (by message id, by data
/// subject), each dropping entries of colliding keys as the gateway does.
pub trait Records {
    /// The record at `index`.
    async fn record(&self, index: u64) -> Result<ExchangeRecord, LedgerError>;
    /// Indexes of the records with this message id.
    async fn find(&self, message_id: &str) -> Result<Vec<u64>, LedgerError>;
    /// A page of the records naming `subject`, newest first, with proofs.
    async fn subject_accesses(
        &self,
        subject: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<LookupPage<ExchangeRecord>, LedgerError>;
}

fn decode(index: u64, bytes: &[u8]) -> Result<ExchangeRecord, LedgerError> {
    ExchangeRecord::from_leaf_bytes(bytes).map_err(|e| LedgerError::BadRecord {
        index,
        detail: e.to_string(),
    })
}

impl Records for Ledger {
    async fn record(&self, index: u64) -> Result<ExchangeRecord, LedgerError> {
        decode(index, &self.entry(index).await?)
    }

    async fn find(&self, message_id: &str) -> Result<Vec<u64>, LedgerError> {
        let wanted = message_id.to_owned();
        let found = self
            .lookup(&IndexKey::new(MESSAGE_ID, message_id), move |i, b| {
                decode(i, b).ok().filter(|r| r.message_id == wanted)
            })
            .await?;
        Ok(found.into_iter().map(|(i, _)| i).collect())
    }

    async fn subject_accesses(
        &self,
        subject: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<LookupPage<ExchangeRecord>, LedgerError> {
        let wanted = subject.to_owned();
        self.lookup_page(
            &IndexKey::new(DATA_SUBJECT, subject),
            cursor,
            limit,
            move |i, b| {
                decode(i, b)
                    .ok()
                    .filter(|r| r.data_subject.as_deref() == Some(wanted.as_str()))
            },
        )
        .await
    }
}

/// Makes `dir` owner-only: a ledger refuses a directory others can enter, and tempdirs are
/// made 0755.
pub fn make_private(dir: &Path) {
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
}

/// A temporary directory a ledger accepts.
pub fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_private(dir.path());
    dir
}

/// The configuration of a ledger in `dir` (made private) that issues no checkpoint unless a
/// test asks for one, with segments of `segment_bytes`.
pub fn quiet_config(dir: &Path, origin: &str, segment_bytes: u64) -> LedgerConfig {
    make_private(dir);
    let mut c = LedgerConfig::new(dir, origin);
    c.checkpoint_interval = Duration::from_secs(3600);
    c.checkpoint_every = u64::MAX;
    c.segment_bytes = segment_bytes;
    c.indexer = Some(indexer());
    c
}

/// Appends every record, in order, each waiting for its acknowledgement.
pub async fn append_all(ledger: &Ledger, records: impl IntoIterator<Item = ExchangeRecord>) {
    for r in records {
        ledger.append(entry(&r)).await.unwrap();
    }
}

/// A fresh signing key named `origin`.
pub fn signer(origin: &str) -> NoteSigner {
    NoteSigner::generate(origin).unwrap()
}

/// A certificate request valid from five minutes ago for thirty days.
pub fn request<'a>(cn: &str, pk: &'a [u8], profile: Profile) -> IssueRequest<'a> {
    let now = SystemTime::now();
    IssueRequest {
        subject: Subject {
            common_name: cn.into(),
            organization: Some("Korpu Test".into()),
            country: Some("AZ".into()),
        },
        public_key_der: pk,
        profile,
        not_before: now - Duration::from_secs(300),
        not_after: now + Duration::from_secs(30 * 86400),
        ocsp_url: None,
    }
}

/// A root, the issuing CA between it and the TSA when there is one, and the TSA.
pub struct TestPki {
    pub root: Certificate,
    pub issuing: Option<Certificate>,
    pub tsa: Authority,
}

/// root → TSA, or with `issuing_ca` root → issuing CA → TSA.
pub fn tsa_pki(issuing_ca: bool) -> TestPki {
    let root_key = SigningKey::generate();
    let root_pk = root_key.public_key_der();
    let root = ca::self_signed(
        &root_key,
        request("Korpu Test Root", &root_pk, Profile::Root),
        &ca::random_serial(),
    )
    .unwrap();
    let issue = |parent: &Certificate, parent_key: &SigningKey, cn: &str, profile| {
        let key = SigningKey::generate();
        let pk = key.public_key_der();
        let cert = ca::issue(
            parent,
            parent_key,
            request(cn, &pk, profile),
            &ca::random_serial(),
        )
        .unwrap();
        (cert, key)
    };
    let issuing = issuing_ca.then(|| {
        issue(
            &root,
            &root_key,
            "Korpu Test Issuing CA",
            Profile::IssuingCa,
        )
    });
    let (tsa_cert, tsa_key) = match &issuing {
        Some((cert, key)) => issue(cert, key, "Korpu Ledger TSA", Profile::Tsa),
        None => issue(&root, &root_key, "Korpu Ledger TSA", Profile::Tsa),
    };
    let issuing = issuing.map(|(cert, _)| cert);
    let tsa = Authority::new(
        tsa_cert,
        tsa_key,
        issuing.iter().cloned().collect(),
        "1.3.6.1.4.1.99999.1.1".parse().unwrap(),
    )
    .unwrap();
    TestPki { root, issuing, tsa }
}

/// A crash, as far as one process can make one: the ledger is dropped without `close` (no
/// final checkpoint, no state), and its threads are given a moment to let go of the files.
pub async fn crash(ledger: Ledger) {
    drop(ledger);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A directory for a bench: under `KORPU_BENCH_DIR` when set (it must be on the disk to
/// measure, not a tmpfs), else under the system temp dir; made private.
pub fn bench_dir() -> tempfile::TempDir {
    let dir = match std::env::var_os("KORPU_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("bench directory");
    make_private(dir.path());
    dir
}

/// The multi-threaded runtime the benches run on.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The benches' record number `i`: realistic, with a message id and time of its own.
pub fn numbered_record(i: u64) -> ExchangeRecord {
    realistic_record(
        format!("{i:016x}-4b6f-7270-75a1b2c3d4e5"),
        1_700_000_000_000 + i,
    )
}

/// Appends records `0..n` ([`numbered_record`]) from `appenders` concurrent tasks, task `t`
/// taking `t`, `t + appenders`, …, so group commits fill as under a busy gateway.
pub async fn append_concurrently(ledger: &Ledger, n: u64, appenders: u64) {
    let tasks: Vec<_> = (0..appenders)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(appenders as usize) {
                    ledger
                        .append(entry(&numbered_record(i)))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("appender");
    }
}
