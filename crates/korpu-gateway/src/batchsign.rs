//! Signing what the gateway sends, and checking what it receives, in batches
//! (`korpu_pki::batch`): the one place where a gateway's ECDSA work per message is decided.
//!
//! Messages to sign go to one signing task. Each exchange is counted while it is handled
//! ([`BatchSigner::enter`]). The task signs at once when no other exchange is in flight.
//! Otherwise it lets every task that is ready to run go first (a `yield_now`), takes the
//! messages they brought, and repeats while each round brings some, up to the configured
//! window; then it signs everything collected with one signature over the batch's Merkle
//! root. So batches grow with load — when the CPU is busy a round takes long and brings many
//! — and no message waits while the CPU idles: a round that brings none means nothing is
//! about to come. (Sleeping out a fixed window instead, while exchanges were in flight, left
//! a fifth of the CPU idle under a closed-loop load and gave ~15% fewer exchanges/s, measured
//! with `benches/bridge.sh`.) The receiving side remembers the batch signatures it has
//! verified recently, so the other messages of a batch cost it a few hashes instead of an
//! ECDSA verification.
//!
//! Deliberately not here: what the messages' bytes are (`protocol`) and whether a certificate
//! may sign for a member (`gateway`).
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use korpu_pki::batch::{self, Signature};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_service::metrics::Histogram;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, OnceCell};

/// How many verified batch signatures a gateway remembers.
const VERIFIED_CAPACITY: usize = 4096;

/// Upper bounds of the batch size histogram's buckets.
const BATCH_SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

struct Job {
    /// The message's bytes, signed directly when it is alone.
    input: Vec<u8>,
    /// Their SHA-256: the message's leaf in a batch.
    digest: [u8; 32],
    reply: oneshot::Sender<String>,
}

/// The gateway's signer.
pub struct BatchSigner {
    jobs: mpsc::UnboundedSender<Job>,
    key: SigningKey,
    /// Exchanges being handled now.
    in_flight: Arc<AtomicUsize>,
    counts: Arc<SignCounts>,
}

/// ECDSA signatures made, and the messages they signed (their ratio is the batch size).
struct SignCounts {
    signatures: AtomicU64,
    messages: AtomicU64,
    /// Messages per signature, one observation per signature.
    batch_sizes: Histogram,
}

impl SignCounts {
    fn new() -> Self {
        Self {
            signatures: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            batch_sizes: Histogram::new(BATCH_SIZE_BUCKETS),
        }
    }

    fn signed(&self, messages: usize) {
        self.signatures.fetch_add(1, Ordering::Relaxed);
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
        self.batch_sizes.observe(messages as f64);
    }
}

/// An exchange in flight, counted until dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl BatchSigner {
    /// Starts the signing task on the current tokio runtime; while more exchanges are in
    /// flight than messages collected, it waits up to `window` for them, and signs at most
    /// `max` together.
    pub fn start(key: SigningKey, window: Duration, max: usize) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counts = Arc::new(SignCounts::new());
        tokio::spawn(run(
            key.clone(),
            rx,
            window,
            max.max(1),
            in_flight.clone(),
            counts.clone(),
        ));
        Arc::new(Self {
            jobs: tx,
            key,
            in_flight,
            counts,
        })
    }

    /// ECDSA signatures made so far, and the messages they signed.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.signatures.load(Ordering::Relaxed),
            self.counts.messages.load(Ordering::Relaxed),
        )
    }

    /// The distribution of batch sizes: messages per signature.
    pub fn batch_sizes(&self) -> &Histogram {
        &self.counts.batch_sizes
    }

    /// Counts an exchange as in flight until the guard is dropped.
    pub fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    /// Signs a message whose bytes are `input` and SHA-256 `digest`; returns the signature's
    /// text form for the message's header and record.
    pub async fn sign(&self, input: Vec<u8>, digest: [u8; 32]) -> String {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            input,
            digest,
            reply,
        };
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(job) {
            // The task is gone only while the runtime shuts down: sign here.
            self.counts.signed(1);
            return Signature::Single(self.key.sign(&job.input)).encode();
        }
        match answer.await {
            Ok(sig) => sig,
            Err(_) => unreachable!("the signing task answers every job it takes"),
        }
    }
}

async fn run(
    key: SigningKey,
    mut rx: mpsc::UnboundedReceiver<Job>,
    window: Duration,
    max: usize,
    in_flight: Arc<AtomicUsize>,
    counts: Arc<SignCounts>,
) {
    let mut jobs = Vec::with_capacity(max);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        let deadline = tokio::time::Instant::now() + window;
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => {
                    if window.is_zero()
                        || in_flight.load(Ordering::Relaxed) <= jobs.len()
                        || tokio::time::Instant::now() >= deadline
                    {
                        break;
                    }
                    // Let every task that is ready run first: those on their way here join
                    // this batch. When a round brings no one, nothing is about to come and
                    // waiting would only leave the CPU idle.
                    let before = jobs.len();
                    tokio::task::yield_now().await;
                    while let Ok(j) = rx.try_recv() {
                        jobs.push(j);
                    }
                    if jobs.len() == before {
                        break;
                    }
                }
            }
        }
        counts.signed(jobs.len());
        sign_batch(&key, &mut jobs);
    }
}

/// Signs `jobs` (emptying it) and answers each.
fn sign_batch(key: &SigningKey, jobs: &mut Vec<Job>) {
    if jobs.len() == 1 {
        let j = jobs.pop().expect("one job");
        let _ = j.reply.send(Signature::Single(key.sign(&j.input)).encode());
        return;
    }
    let leaves: Vec<[u8; 32]> = jobs.iter().map(|j| batch::leaf_hash(&j.digest)).collect();
    let (root, paths) = batch::tree(&leaves);
    let size = jobs.len() as u64;
    let der = key.sign(&batch::batch_signing_input(&root, size));
    for ((index, job), path) in jobs.drain(..).enumerate().zip(paths) {
        let sig = Signature::Batch {
            index: index as u64,
            size,
            path,
            der: der.clone(),
        };
        // A caller that gave up (its client went away) no longer needs the answer.
        let _ = job.reply.send(sig.encode());
    }
}

/// Batch signatures being verified or verified recently, by [`Verifier`]'s key, with the order
/// for forgetting the oldest. An entry is set once its ECDSA verification is done.
#[derive(Default)]
struct Seen {
    verdicts: HashMap<[u8; 32], Arc<OnceCell<bool>>>,
    order: VecDeque<[u8; 32]>,
}

/// Verifies message signatures, remembering recently verified batch signatures.
///
/// The messages of one batch arrive together and are handled on every worker thread at once:
/// the first to meet a batch signature verifies it, the others wait for its verdict instead of
/// repeating the ECDSA verification (before, by the profile, about one batch in three was
/// verified twice under load). Verdicts are deterministic in the key (signer, signed bytes, signature), so a
/// refusal is remembered too and a replayed bad signature costs no second verification.
#[derive(Default)]
pub struct Verifier {
    seen: Mutex<Seen>,
    /// ECDSA verifications done, and messages whose batch signature was already verified.
    verifications: AtomicU64,
    remembered: AtomicU64,
}

/// Why a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The signature's text form, or the batch proof in it, is malformed.
    #[error("{0}")]
    Malformed(korpu_pki::PkiError),
    /// A single signature that does not verify with the signer's key.
    #[error("{0}")]
    Single(korpu_pki::PkiError),
    #[error("the batch signature does not verify with the signer's key")]
    Batch,
}

impl Verifier {
    /// Checks that `signature` (text form) by `signer` covers the message whose bytes are
    /// `input` and SHA-256 `digest`.
    pub async fn verify(
        &self,
        signer: &Certificate,
        input: &[u8],
        digest: &[u8; 32],
        signature: &str,
    ) -> Result<(), VerifyError> {
        let sig = Signature::parse(signature).map_err(VerifyError::Malformed)?;
        let signed = sig
            .signed_bytes(input, digest)
            .map_err(VerifyError::Malformed)?;
        if matches!(sig, Signature::Single(_)) {
            self.verifications.fetch_add(1, Ordering::Relaxed);
            return signer
                .verify_signature(&signed, sig.der())
                .map_err(VerifyError::Single);
        }
        let mut h = Sha256::new();
        h.update(signer.sha256_fingerprint_hex().as_bytes());
        h.update([0]);
        h.update(&signed);
        h.update([0]);
        h.update(sig.der());
        let key: [u8; 32] = h.finalize().into();
        let verdict = {
            let mut seen = self.seen.lock().expect("lock");
            let Seen { verdicts, order } = &mut *seen;
            let verdict = verdicts
                .entry(key)
                .or_insert_with(|| {
                    order.push_back(key);
                    Arc::new(OnceCell::new())
                })
                .clone();
            while order.len() > VERIFIED_CAPACITY {
                let old = order.pop_front().expect("non-empty");
                verdicts.remove(&old);
            }
            verdict
        };
        let mut verified_here = false;
        let ok = *verdict
            .get_or_init(|| async {
                verified_here = true;
                self.verifications.fetch_add(1, Ordering::Relaxed);
                signer.verify_signature(&signed, sig.der()).is_ok()
            })
            .await;
        if !verified_here {
            self.remembered.fetch_add(1, Ordering::Relaxed);
        }
        if ok {
            Ok(())
        } else {
            Err(VerifyError::Batch)
        }
    }

    /// ECDSA verifications done so far, and messages that needed none because their batch
    /// signature had been verified (or was being verified) for another message.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.verifications.load(Ordering::Relaxed),
            self.remembered.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cert_for(key: &SigningKey) -> Certificate {
        use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
        let now = std::time::SystemTime::now();
        let pk = key.public_key_der();
        let req = IssueRequest {
            subject: Subject {
                common_name: "AZ/GOV/1".into(),
                organization: None,
                country: None,
            },
            public_key_der: &pk,
            profile: Profile::Root,
            not_before: now - Duration::from_secs(60),
            not_after: now + Duration::from_secs(3600),
            ocsp_url: None,
        };
        ca::self_signed(key, req, &ca::random_serial()).unwrap()
    }

    #[tokio::test]
    async fn concurrent_messages_share_one_signature_that_verifies_for_each() {
        let key = SigningKey::generate();
        let cert = cert_for(&key);
        let signer = BatchSigner::start(key.clone(), Duration::from_secs(5), 8);
        let inputs: Vec<Vec<u8>> = (0..8)
            .map(|i| format!("message {i}").into_bytes())
            .collect();
        let mut tasks = Vec::new();
        // Eight exchanges in flight, all ready to sign at once.
        let in_flight: Vec<InFlight> = inputs.iter().map(|_| signer.enter()).collect();
        for i in &inputs {
            let (signer, i) = (signer.clone(), i.clone());
            let d: [u8; 32] = Sha256::digest(&i).into();
            tasks.push(tokio::spawn(async move { signer.sign(i, d).await }));
        }
        let mut sigs = Vec::new();
        for t in tasks {
            sigs.push(t.await.unwrap());
        }
        let verifier = Verifier::default();
        let mut ders = HashSet::new();
        for (input, sig) in inputs.iter().zip(&sigs) {
            let parsed = Signature::parse(sig).unwrap();
            assert!(matches!(parsed, Signature::Batch { size: 8, .. }), "{sig}");
            ders.insert(parsed.der().to_vec());
            let d: [u8; 32] = Sha256::digest(input).into();
            verifier.verify(&cert, input, &d, sig).await.unwrap();
            // Another message cannot borrow the batch's signature.
            let other = b"forged".to_vec();
            let od: [u8; 32] = Sha256::digest(&other).into();
            assert!(verifier.verify(&cert, &other, &od, sig).await.is_err());
        }
        assert_eq!(ders.len(), 1, "one ECDSA signature for the batch");

        // Alone, a message is signed at once and in the plain form; so is one whose company
        // is in flight but busy elsewhere (waiting for a provider, say): nothing else is ready
        // to sign, and waiting out the window would only add latency.
        let busy_elsewhere = in_flight;
        let _alone = signer.enter();
        let d: [u8; 32] = Sha256::digest(b"alone").into();
        let started = std::time::Instant::now();
        let sig = signer.sign(b"alone".to_vec(), d).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(busy_elsewhere);
        assert!(matches!(
            Signature::parse(&sig).unwrap(),
            Signature::Single(_)
        ));
        verifier.verify(&cert, b"alone", &d, &sig).await.unwrap();
        assert!(verifier.verify(&cert, b"alonE", &d, &sig).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_batch_signature_is_verified_once_however_many_of_its_messages_arrive_together() {
        let key = SigningKey::generate();
        let cert = Arc::new(cert_for(&key));
        let size = 16;
        let messages: Vec<(Vec<u8>, [u8; 32])> = (0..size)
            .map(|i| {
                let m = format!("message {i}").into_bytes();
                let d: [u8; 32] = Sha256::digest(&m).into();
                (m, d)
            })
            .collect();
        let mut jobs = Vec::new();
        let mut answers = Vec::new();
        for (m, d) in &messages {
            let (reply, answer) = oneshot::channel();
            jobs.push(Job {
                input: m.clone(),
                digest: *d,
                reply,
            });
            answers.push(answer);
        }
        sign_batch(&key, &mut jobs);
        let verifier = Arc::new(Verifier::default());
        let start = Arc::new(tokio::sync::Barrier::new(size));
        let mut tasks = Vec::new();
        for ((m, d), answer) in messages.into_iter().zip(answers) {
            let sig = answer.await.unwrap();
            let (verifier, cert, start) = (verifier.clone(), cert.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                verifier.verify(&cert, &m, &d, &sig).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(verifier.counts(), (1, size as u64 - 1));

        // A refusal is remembered as well: the same bad signature again costs no verification.
        let (reply, answer) = oneshot::channel();
        let other: [u8; 32] = Sha256::digest(b"other").into();
        let mut two = vec![
            Job {
                input: b"other".to_vec(),
                digest: other,
                reply,
            },
            Job {
                input: b"x".to_vec(),
                digest: Sha256::digest(b"x").into(),
                reply: oneshot::channel().0,
            },
        ];
        sign_batch(&SigningKey::generate(), &mut two);
        let by_another_key = answer.await.unwrap();
        for _ in 0..2 {
            assert!(verifier
                .verify(&cert, b"other", &other, &by_another_key)
                .await
                .is_err());
        }
        assert_eq!(verifier.counts(), (2, size as u64));
    }
}
