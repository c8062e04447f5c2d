//! End to end: `korpu ledger verify` judges archives written by a real ledger (with the log
//! key and TSA root given on the command line, and with only the configuration anchor, taking
//! both from the signed global configuration inside the archive) and names tampering;
//! `korpu ledger audit` follows a log's tlog-tiles from a directory and over HTTP, and exits
//! non-zero with a fork alert when another history is published under the same key.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use korpu_conf::{Anchor, GatewayInfo, GlobalConf, PkiInfo, Timestamp};
use korpu_gateway::evidence::evidence;
use korpu_gateway::ledger::entry;
use korpu_gateway::record::{ledger_config, ExchangeRecord};
use korpu_ledger::timestamp::LocalTsa;
use korpu_ledger::{Ledger, LedgerConfig, NoteSigner};
use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::tsa::Authority;

const GATEWAY: &str = "AZ/GOV/1400003/gw1";

mod support;
use support::{korpu_fails as fails, korpu_ok as ok};

fn cert(
    name: &str,
    key: &SigningKey,
    profile: Profile,
    issuer: Option<(&Certificate, &SigningKey)>,
) -> Certificate {
    let now = SystemTime::now();
    let pk = key.public_key_der();
    let req = IssueRequest {
        subject: Subject {
            common_name: name.into(),
            organization: Some("Korpu Test".into()),
            country: Some("AZ".into()),
        },
        public_key_der: &pk,
        profile,
        not_before: now - Duration::from_secs(300),
        not_after: now + Duration::from_secs(30 * 86400),
        ocsp_url: None,
    };
    match issuer {
        None => ca::self_signed(key, req, &ca::random_serial()).unwrap(),
        Some((c, k)) => ca::issue(c, k, req, &ca::random_serial()).unwrap(),
    }
}

fn rec(tag: &str, i: u64) -> ExchangeRecord {
    ExchangeRecord {
        message_id: format!("{tag}-{i:05}"),
        time_unix_ms: 1_700_000_000_000 + i * 1000,
        gateway: GATEWAY.into(),
        request_signature: String::new(),
        request_signer_cert_sha256: String::new(),
        ..ExchangeRecord::example()
    }
}

struct World {
    dir: tempfile::TempDir,
    vkey: String,
    archives: Vec<PathBuf>,
    tiles: PathBuf,
    fork_tiles: PathBuf,
    proof: String,
}

fn origin() -> String {
    format!("korpu/{GATEWAY}")
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Platform root, TSA under it, and the central signing identity with its anchor.
    let root_key = SigningKey::generate();
    let root = cert("Korpu Test Root", &root_key, Profile::Root, None);
    let tsa_key = SigningKey::generate();
    let tsa_cert = cert(
        "Korpu TSA",
        &tsa_key,
        Profile::Tsa,
        Some((&root, &root_key)),
    );
    let policy = "1.3.6.1.4.1.99999.1.1".parse().unwrap();
    let tsa = Authority::new(tsa_cert, tsa_key, Vec::new(), policy).unwrap();
    std::fs::write(d.join("root.pem"), root.to_pem()).unwrap();
    let conf_key = SigningKey::generate();
    let conf_cert = cert("Korpu Central", &conf_key, Profile::Root, None);
    let anchor = Anchor::new(
        "AZ".parse().unwrap(),
        "http://127.0.0.1:1/conf".into(),
        std::slice::from_ref(&conf_cert),
    )
    .unwrap();
    std::fs::write(d.join("anchor.json"), anchor.to_json()).unwrap();

    let signer = NoteSigner::generate(origin()).unwrap();
    let vkey = signer.verifier().to_string();
    let now = Timestamp::now();
    let example = GlobalConf::example(now);
    let conf = GlobalConf {
        version: 3,
        pki: PkiInfo {
            root_certs: vec![root.to_pem()],
            ..example.pki.clone()
        },
        gateways: vec![GatewayInfo {
            id: GATEWAY.parse().unwrap(),
            address: "127.0.0.1:1".into(),
            tls_cert_sha256: vec![],
            clients: vec![],
            ledger_key: Some(vkey.clone()),
        }],
        ..example
    };
    let signed_conf = korpu_conf::sign(&conf, &conf_key, &conf_cert);

    let archive_dir = d.join("archive");
    let mut cfg = ledger_config(d, origin());
    cfg.checkpoint_interval = Duration::from_secs(3600);
    cfg.checkpoint_every = u64::MAX;
    cfg.segment_bytes = 8192;
    cfg.archive = Some(archive_dir.to_str().unwrap().to_string());
    let ledger =
        Ledger::open_with_timestamper(cfg, signer.clone(), LocalTsa::new(tsa, vec![root.clone()]))
            .await
            .unwrap();
    ledger.set_archive_trust(Some(signed_conf));
    for i in 0..60 {
        ledger.append(entry(&rec("a", i))).await.unwrap();
        if i % 7 == 6 {
            ledger.checkpoint().await.unwrap();
        }
    }
    ledger.checkpoint().await.unwrap();
    let tiles = d.join("tiles");
    ledger.write_tiles(&tiles).await.unwrap();
    let evidence = evidence(&ledger, "a-00007").await.unwrap().remove(0);
    let proof = evidence.tlog_proof().unwrap().to_text();
    ledger.close().await.unwrap();
    let mut archives: Vec<PathBuf> = std::fs::read_dir(&archive_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    archives.sort();

    // Another history under the same key: a fork.
    let mut cfg = LedgerConfig::new(d.join("fork"), origin());
    cfg.indexer = Some(korpu_gateway::ledger::indexer());
    cfg.checkpoint_interval = Duration::from_secs(3600);
    let fork = Ledger::open(cfg, signer).await.unwrap();
    for i in 0..80 {
        fork.append(entry(&rec("b", i))).await.unwrap();
    }
    fork.checkpoint().await.unwrap();
    let fork_tiles = d.join("fork-tiles");
    fork.write_tiles(&fork_tiles).await.unwrap();
    fork.close().await.unwrap();
    World {
        dir,
        vkey,
        archives,
        tiles,
        fork_tiles,
        proof,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `korpu ledger verify ARCHIVE --log-key KEY --tsa-root ROOT`.
fn verify_with_key<'a>(archive: &'a Path, key: &'a str, root: &'a Path) -> [&'a str; 7] {
    [
        "ledger",
        "verify",
        s(archive),
        "--log-key",
        key,
        "--tsa-root",
        s(root),
    ]
}

/// `korpu ledger verify-proof PROOF --log-key KEY`.
fn verify_proof<'a>(proof: &'a Path, key: &'a str) -> [&'a str; 5] {
    ["ledger", "verify-proof", s(proof), "--log-key", key]
}

/// `korpu ledger audit FROM --state STATE --log-key KEY`.
fn audit<'a>(from: &'a str, state: &'a Path, key: &'a str) -> [&'a str; 7] {
    [
        "ledger",
        "audit",
        from,
        "--state",
        s(state),
        "--log-key",
        key,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_archives_and_audit_tiles_from_the_command_line() {
    let w = world().await;
    let d = w.dir.path();
    assert!(w.archives.len() >= 3, "{:?}", w.archives);
    let root = d.join("root.pem");
    let anchor = d.join("anchor.json");
    let a = &w.archives[1];

    let out = ok(&verify_with_key(a, &w.vkey, &root));
    assert!(
        out.starts_with(&format!(
            "OK: {} is segment 1 of log {}",
            a.display(),
            origin()
        )),
        "{out}"
    );
    assert!(out.contains("time-stamped between"), "{out}");
    let out = ok(&["ledger", "verify", s(a), "--anchor", s(&anchor)]);
    assert!(
        out.contains("trust: global configuration version 3 of AZ"),
        "{out}"
    );

    // Tampering: a flipped byte in a record is named; so is a cut archive.
    let bytes = std::fs::read(a).unwrap();
    let header = korpu_ledger::archive::read_header(&bytes).unwrap();
    let records_at =
        bytes.len() - header.records_bytes as usize - korpu_ledger::archive::ARCHIVE_END.len();
    let mut bad = bytes.clone();
    bad[records_at + 40] ^= 1;
    let bad_path = d.join("bad.korpu-archive");
    std::fs::write(&bad_path, &bad).unwrap();
    let err = fails(&["ledger", "verify", s(&bad_path), "--anchor", s(&anchor)]);
    assert!(
        err.contains(&format!(
            "record {}: its bytes do not match its leaf hash",
            header.first_index
        )),
        "{err}"
    );
    std::fs::write(&bad_path, &bytes[..bytes.len() - 100]).unwrap();
    let err = fails(&verify_with_key(&bad_path, &w.vkey, &root));
    assert!(err.contains("the archive is truncated: record"), "{err}");
    // The wrong key or no TSA root: refused.
    let other = NoteSigner::generate(origin())
        .unwrap()
        .verifier()
        .to_string();
    let err = fails(&verify_with_key(a, &other, &root));
    assert!(err.contains("checkpoint 0 of the archive"), "{err}");
    let err = fails(&["ledger", "verify", s(a), "--log-key", &w.vkey]);
    assert!(err.contains("the time-stamp of checkpoint 0"), "{err}");

    // A tlog-proof for one record, verified by the CLI; a changed index is refused.
    let proof_path = d.join("a-00007.tlog-proof");
    std::fs::write(&proof_path, &w.proof).unwrap();
    let out = ok(&verify_proof(&proof_path, &w.vkey));
    assert!(
        out.starts_with(&format!(
            "OK: message a-00007 is record 7 of log {}",
            origin()
        )),
        "{out}"
    );
    std::fs::write(&proof_path, w.proof.replace("index 7\n", "index 8\n")).unwrap();
    let err = fails(&verify_proof(&proof_path, &w.vkey));
    assert!(
        err.contains("record 8 is not in the checkpointed tree"),
        "{err}"
    );

    // Audit from a directory: first view, unchanged, then a fork.
    let state = d.join("audit.json");
    let out = ok(&audit(s(&w.tiles), &state, &w.vkey));
    assert!(
        out.starts_with("OK: first view of the log at tree size 60"),
        "{out}"
    );
    let out = ok(&audit(s(&w.tiles), &state, &w.vkey));
    assert!(out.starts_with("OK: unchanged at tree size 60"), "{out}");
    let saved = std::fs::read(&state).unwrap();
    let err = fails(&audit(s(&w.fork_tiles), &state, &w.vkey));
    assert!(
        err.contains(&format!(
            "FORK ALERT for log {}: checkpoint of size 80",
            origin()
        )),
        "{err}"
    );
    assert!(
        err.contains("does not extend the earlier checkpoint of size 60"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "an alert leaves the state alone"
    );

    // Over HTTP: a fresh auditor follows the fork's tiles from a plain file server.
    let base = serve(w.fork_tiles.clone()).await;
    let state2 = d.join("audit2.json");
    let url = format!("{base}/");
    let out = ok(&audit(&url, &state2, &w.vkey));
    assert!(
        out.starts_with("OK: first view of the log at tree size 80"),
        "{out}"
    );
    let err = fails(&audit(s(&w.tiles), &state2, &w.vkey));
    assert!(err.contains("the tree shrank"), "{err}");
}

/// A minimal static file server on a loopback port chosen by the OS (the client connects
/// to it; nothing else must bind it first).
async fn serve(root: PathBuf) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let root = root.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let req = String::from_utf8_lossy(&buf[..got]).into_owned();
                let path = req
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let resp = match (!path.contains("..")).then(|| std::fs::read(root.join(path))) {
                    Some(Ok(body)) => {
                        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    _ => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = sock.write_all(&resp).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    all.sort();
    all
}

/// `korpu ledger dump|evidence|proof|tiles|key` opened the ledger writable, ran recovery and
/// wrote a checkpoint on close: against a live gateway they could cut acknowledged records
/// (issue 13, item 16). Now they open it read-only beside its running writer (here this test
/// process, which holds the writer's lock, so a writable open would be refused), see what is
/// committed, and leave every file byte for byte as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_ledger_commands_work_beside_the_running_writer_and_write_nothing() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let signer = NoteSigner::generate(origin()).unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(data.join("ledger-note.p8"))
            .unwrap();
        f.write_all(&signer.to_pkcs8_der().unwrap()).unwrap();
    }
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "gateway = \"{GATEWAY}\"\nanchor = \"{}\"\ndata_dir = \"{}\"\n",
            dir.path().join("anchor.json").display(),
            data.display()
        ),
    )
    .unwrap();
    let mut cfg = ledger_config(&data, origin());
    cfg.segment_bytes = 1 << 16;
    let writer = Ledger::open(cfg, signer.clone()).await.unwrap();
    for i in 0..5 {
        writer.append(entry(&rec("live", i))).await.unwrap();
    }
    writer.checkpoint().await.unwrap();
    for i in 5..7 {
        writer.append(entry(&rec("live", i))).await.unwrap();
    }
    // The writer prepares its next segment in the background: let it finish, so that only
    // the read-only commands could change anything below.
    let next = data.join("ledger").join("entries.000001.log");
    for _ in 0..200 {
        if next.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(next.exists(), "the writer never prepared its next segment");
    let before = snapshot(&data.join("ledger"));

    let dump = ok(&["ledger", "dump", "--config", s(&config)]);
    let ids: Vec<String> = dump
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["message_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        (0..7).map(|i| format!("live-{i:05}")).collect::<Vec<_>>()
    );
    let key = ok(&["ledger", "key", "--config", s(&config)]);
    assert_eq!(key.trim(), signer.verifier().to_string());
    let evidence: serde_json::Value = serde_json::from_str(&ok(&[
        "ledger",
        "evidence",
        "live-00002",
        "--config",
        s(&config),
    ]))
    .unwrap();
    assert_eq!(evidence["leaf_index"], 2);
    let proof = dir.path().join("p.txt");
    ok(&[
        "ledger",
        "proof",
        "live-00003",
        "--config",
        s(&config),
        "--out",
        s(&proof),
    ]);
    let verified = ok(&verify_proof(&proof, key.trim()));
    assert!(
        verified.starts_with("OK: message live-00003 is record 3"),
        "{verified}"
    );
    let tiles = dir.path().join("tiles");
    let out = ok(&[
        "ledger",
        "tiles",
        "--config",
        s(&config),
        "--out",
        s(&tiles),
    ]);
    assert!(out.starts_with("OK: tree size 5"), "{out}");
    // Not checkpointed yet: no evidence, and no checkpoint made to give some.
    let err = fails(&["ledger", "evidence", "live-00006", "--config", s(&config)]);
    assert!(err.contains("newer than the latest checkpoint"), "{err}");

    let after = snapshot(&data.join("ledger"));
    let changed: Vec<_> = after
        .iter()
        .filter(|f| !before.contains(f))
        .map(|(p, _)| p.display().to_string())
        .chain(
            before
                .iter()
                .filter(|f| !after.iter().any(|a| a.0 == f.0))
                .map(|(p, _)| format!("{} (removed)", p.display())),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "read-only commands changed the ledger's files: {changed:?}"
    );
    // The writer never noticed.
    assert_eq!(writer.append(entry(&rec("live", 7))).await.unwrap(), 7);
    writer.close().await.unwrap();
}
