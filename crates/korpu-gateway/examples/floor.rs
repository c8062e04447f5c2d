//! The floor of `benches/bridge.sh`: the CPU that one exchange through two gateways cannot do
//! without, measured on this machine with the gateway's own code.
//!
//! ```text
//! cargo run --release -p korpu-gateway --example floor -- BODY_BYTES SIGN_BATCH VERIFY_SHARE COMMIT_SIZE
//! ```
//!
//! - `BODY_BYTES`: the request body's size; the echo answers with as many bytes.
//! - `SIGN_BATCH`: messages per ECDSA signature, as measured (`korpu_signed_messages_total` over
//!   `korpu_signatures_total`).
//! - `VERIFY_SHARE`: ECDSA verifications per message received (`korpu_signature_verifications_total`
//!   over it plus `korpu_signature_batch_reuses_total`).
//! - `COMMIT_SIZE`: records per group commit (`korpu_ledger_appends_total` over
//!   `korpu_ledger_commits_total`).
//!
//! An exchange needs: SHA-256 of each body twice (the request's and the response's, where each
//! is signed and where it is checked); the request hash (SHA-512 over the signed request); two
//! messages signed and two verified, through [`BatchSigner`] and [`Verifier`] and amortised by
//! the batch size and the verification share; and one durable record at each gateway, through
//! the evidence ledger: a commit of one record (write and fdatasync) divided by the group-commit
//! size. Signing and verification are measured at two batch sizes and fitted as
//! `fixed + per_item × n`, so a fractional measured size amortises the fixed part exactly. CPU time is the process's (every thread, from
//! `/proc/self/task/*/schedstat`), as the bench counts the gateways'.
//!
//! Prints one line of `name=µs` fields; `floor_us` is their sum per exchange. Deliberately not
//! counted: TLS, HTTP framing, the configuration lookups and the copying of bytes, which the
//! nginx chain's CPU (added by the bench) stands for.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use korpu_gateway::batchsign::{BatchSigner, Verifier};
use korpu_gateway::protocol::request_hash;
use korpu_gateway::record::{ExchangeRecord, Recorder};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;
use sha2::{Digest, Sha256};

/// How long each measurement runs (wall time: a disk's fdatasync waits without using the CPU).
const MEASURE: Duration = Duration::from_secs(1);
/// The larger of the two batch sizes the fits use.
const LARGE: usize = 16;

/// CPU nanoseconds this process's live threads have run.
fn cpu_ns() -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Runs `round` for [`MEASURE`], returning µs of CPU per item (`round` returns how many items
/// it handled). The CPU clock is read at the start and the end only: reading it costs a file
/// per thread, more than some rounds.
fn per_item(rt: &tokio::runtime::Runtime, mut round: impl AsyncFnMut() -> usize) -> f64 {
    rt.block_on(async {
        round().await; // warm-up
        let (start, began, mut items) = (cpu_ns(), std::time::Instant::now(), 0usize);
        while began.elapsed() < MEASURE {
            items += round().await;
        }
        (cpu_ns() - start) as f64 / 1e3 / items as f64
    })
}

/// The cost per item in batches of `n`, from costs per item `(batch size, µs)` measured at
/// two batch sizes: a batch of k costs `fixed + per_item × k`.
fn amortised((k1, at_k1): (f64, f64), (k2, at_k2): (f64, f64), n: f64) -> f64 {
    let per_item = if k2 - k1 < 0.5 {
        0.0 // One size only: all of it counts as fixed, which overstates larger batches' cost.
    } else {
        ((at_k2 * k2 - at_k1 * k1) / (k2 - k1)).max(0.0)
    };
    let fixed = (at_k1 * k1 - per_item * k1).max(0.0);
    fixed / n.max(1.0) + per_item
}

/// A signature base of the usual size and form.
fn signed_request(i: usize) -> String {
    format!(
        "korpu-request/2\nid=36:{:036}\ncreated=13:1765000000000\nclient=23:AZ/GOV/1400003/benefits\n\
         service=30:AZ/GOV/1400001/population/echo\nuser=0:\npurpose=0:\nsubject=0:\n\
         covered-sha256=64:{}\n",
        i,
        hex::encode([i as u8; 32])
    )
}

/// A certificate for `key`, valid for the hour of the measurement.
fn certificate(key: &SigningKey) -> korpu_pki::cert::Certificate {
    let now = SystemTime::now();
    let public_key_der = key.public_key_der();
    let request = IssueRequest {
        subject: Subject::cn("AZ/GOV/1400001"),
        public_key_der: &public_key_der,
        profile: Profile::Root,
        not_before: now,
        not_after: now + Duration::from_secs(3600),
        ocsp_url: None,
    };
    ca::self_signed(key, request, &ca::random_serial()).expect("a self-signed certificate")
}

/// Signs `n` messages together with the gateway's signer, as `n` exchanges in flight do.
async fn sign_together(signer: &Arc<BatchSigner>, n: usize) -> Vec<(Vec<u8>, [u8; 32], String)> {
    let in_flight: Vec<_> = (0..n).map(|_| signer.enter()).collect();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let signer = signer.clone();
            tokio::spawn(async move {
                let input = signed_request(i).into_bytes();
                let digest: [u8; 32] = Sha256::digest(&input).into();
                let sig = signer.sign(input.clone(), digest).await;
                (input, digest, sig)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("a signing task"));
    }
    drop(in_flight);
    out
}

/// µs of CPU per message signed, and per message verified, at batch size `n`.
fn signatures(rt: &tokio::runtime::Runtime, n: usize) -> (f64, f64) {
    let key = SigningKey::generate();
    let cert = certificate(&key);
    let signer = rt.block_on(async { BatchSigner::start(key, Duration::from_millis(50), n) });
    let sign = per_item(rt, async || sign_together(&signer, n).await.len());
    let batch = rt.block_on(sign_together(&signer, n));
    let verify = per_item(rt, async || {
        // A fresh verifier remembers no batch: one ECDSA verification per batch, as at the
        // provider's gateway when every message of a batch comes to it.
        let verifier = Verifier::default();
        for (input, digest, sig) in &batch {
            verifier
                .verify(&cert, input, digest, sig)
                .await
                .expect("our own signature verifies");
        }
        batch.len()
    });
    (sign, verify)
}

/// A record as a gateway writes it for an echo exchange.
fn record(i: usize) -> ExchangeRecord {
    let request_signed = signed_request(i);
    let response_signed = format!(
        "korpu-response/2\nrequest=64:{}\nstatus=3:200\nerror=0:\ncovered-sha256=64:{}\n",
        hex::encode([1u8; 32]),
        hex::encode([2u8; 32])
    );
    // A batch signature's text form: index, size, a Merkle path of four hashes, the DER.
    let signature = format!("batch;{i};16;{};{}", "A".repeat(4 * 44), "M".repeat(96));
    ExchangeRecord {
        message_id: format!("{i:036}"),
        time_unix_ms: 1_765_000_000_000,
        client: "AZ/GOV/1400003/benefits".into(),
        service: "AZ/GOV/1400001/population/echo".into(),
        gateway: "AZ/GOV/1400003/gw1".into(),
        role: korpu_gateway::record::Role::Client,
        user_id: None,
        data_subject: None,
        purpose: None,
        request_digest: hex::encode(Sha256::digest(request_signed.as_bytes())),
        response_digest: Some(hex::encode(Sha256::digest(response_signed.as_bytes()))),
        response_status: Some(200),
        request_signature: signature.clone(),
        request_signer_cert_sha256: hex::encode([3u8; 32]),
        response_signature: Some(signature),
        response_signer_cert_sha256: Some(hex::encode([4u8; 32])),
        error: None,
        request_body_sha256: None,
        response_body_sha256: None,
        request_signed: Some(request_signed),
        response_signed: Some(response_signed),
    }
}

/// µs of CPU per record made durable (written and fdatasync'ed) by the evidence ledger, one
/// record per commit.
fn record_alone(rt: &tokio::runtime::Runtime) -> f64 {
    // Beside the gateways' ledgers when the bench says where they are (FLOOR_DIR): the same
    // file system, so the same cost of an fdatasync.
    let dir = match std::env::var_os("FLOOR_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let ledger = rt.block_on(async {
        let origin = "korpu/floor".to_owned();
        let signer = korpu_tlog::NoteSigner::generate(origin.clone()).expect("a note key");
        let cfg = korpu_gateway::record::ledger_config(dir.path(), origin);
        korpu_ledger::Ledger::open(cfg, signer)
            .await
            .expect("the ledger opens")
    });
    let mut i = 0;
    per_item(rt, async || {
        i += 1;
        Recorder::record(&ledger, &record(i))
            .await
            .expect("durable");
        1
    })
}

/// µs of CPU per call of `f`.
fn per_call(rt: &tokio::runtime::Runtime, f: impl Fn()) -> f64 {
    per_item(rt, async || {
        for _ in 0..64 {
            f();
        }
        64
    })
}

fn arg(args: &[String], i: usize, name: &str) -> f64 {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        panic!("argument {i} ({name}) missing or not a number; see the header of examples/floor.rs")
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let body_bytes = arg(&args, 1, "BODY_BYTES") as usize;
    let sign_batch = arg(&args, 2, "SIGN_BATCH");
    let verify_share = arg(&args, 3, "VERIFY_SHARE");
    let commit_size = arg(&args, 4, "COMMIT_SIZE");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    let body = vec![b'a'; body_bytes];
    let sha256 = per_call(&rt, || {
        std::hint::black_box(Sha256::digest(std::hint::black_box(&body)));
    });
    let base = signed_request(7);
    let hash = per_call(&rt, || {
        std::hint::black_box(request_hash(std::hint::black_box(&base)));
    });
    let (sign_1, verify_1) = signatures(&rt, 1);
    let (sign_n, verify_n) = signatures(&rt, LARGE);
    let record_1 = record_alone(&rt);

    let large = LARGE as f64;
    let sign = amortised((1.0, sign_1), (large, sign_n), sign_batch);
    // A verification share s stands for batches of 1/s messages at the receiving gateway.
    let verify = amortised(
        (1.0, verify_1),
        (large, verify_n),
        1.0 / verify_share.max(1e-6),
    );
    // A commit's CPU (write, fdatasync, acknowledgement) is shared by the records it commits;
    // what one more record adds to a commit (encoding, a leaf hash) is a few µs, left out, so
    // the floor is a little low rather than high.
    let record = record_1 / commit_size.max(1.0);
    let parts = [
        ("sha256", 4.0 * sha256),
        ("request_hash", hash),
        ("sign", 2.0 * sign),
        ("verify", 2.0 * verify),
        ("record", 2.0 * record),
    ];
    let floor: f64 = parts.iter().map(|(_, us)| us).sum();
    print!("floor_us={floor:.1}");
    for (name, us) in parts {
        print!(" {name}={us:.1}");
    }
    println!(" ecdsa_sign_us={sign_1:.1} ecdsa_verify_us={verify_1:.1} commit_us={record_1:.1}");
}
