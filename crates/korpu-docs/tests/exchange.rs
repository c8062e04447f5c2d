//! The document exchange between two organisations' servers in one process, on SQLite and on
//! PostgreSQL (found at `KORPU_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a fresh database per test; a server that
//! does not answer fails the test, it never skips).
//!
//! Between the two servers runs a loopback relay that does only what a gateway pair does for
//! the `dx` service: route `POST /r1/{subsystem}/dx/{path}` to that subsystem's `dx` listener
//! with the `X-Road-Client` header. The real gateways are exercised by the `korpu` crate's
//! `docs_e2e` test.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_docs::exchange::Attachment;
use korpu_docs::receipt::{self, Envelope};
use korpu_docs::server::{self, Running};
use korpu_docs::{Action, DocsConfig, DocsError, Exchange, SendRequest};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_sign::asice;

use common::{ca, Ca};
use korpu_testkit::{json, pg};

const A: &str = "AZ/GOV/1400001/docs";
const B: &str = "AZ/GOV/1400002/docs";

struct Org {
    ex: Arc<Exchange>,
    running: Option<Running>,
    token: String,
    /// The PostgreSQL database made for this test, dropped at its end.
    pg_url: Option<String>,
    _dir: tempfile::TempDir,
}

impl Org {
    async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let addr = self.running.as_ref().unwrap().api_addr;
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("http://{addr}{path}"))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }
}

async fn org(
    ca: &Ca,
    sub: &str,
    gateway: SocketAddr,
    postgres: bool,
    tweak: impl FnOnce(&mut DocsConfig),
) -> Org {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ca.org_files(sub, dir.path(), gateway);
    if postgres {
        cfg.database_url = pg::create_database("korpu_docs_test").await.0;
    }
    tweak(&mut cfg);
    let pg_url = postgres.then(|| cfg.database_url.clone());
    let ex = Exchange::open(cfg).await.unwrap();
    let running = server::start(ex.clone()).await.unwrap();
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    Org {
        ex,
        running: Some(running),
        token,
        pg_url,
        _dir: dir,
    }
}

fn att(name: &str, content: &[u8]) -> Attachment {
    Attachment {
        name: name.into(),
        mime_type: Some("text/plain".into()),
        content: B64.encode(content),
    }
}

fn letter(to: &str) -> SendRequest {
    SendRequest {
        to: to.into(),
        title: "Request for information".into(),
        doc_type: "letter".into(),
        register_no: "A-2026/17".into(),
        deadline: Some("2099-12-31".into()),
        reply_to: None,
        retention: Some("5y".into()),
        attachments: vec![
            att("letter.txt", b"Dear colleagues, ..."),
            att("annex.csv", b"a,b\n1,2\n"),
        ],
    }
}

async fn world(postgres: bool) -> (Ca, Org, Org) {
    let ca = ca();
    let (gw, routes) = common::spawn_relay().await;
    let a = org(&ca, A, gw, postgres, |_| {}).await;
    let b = org(&ca, B, gw, postgres, |c| c.max_attachments = 3).await;
    routes
        .lock()
        .unwrap()
        .insert(A.into(), a.running.as_ref().unwrap().dx_addr);
    routes
        .lock()
        .unwrap()
        .insert(B.into(), b.running.as_ref().unwrap().dx_addr);
    (ca, a, b)
}

/// Validates container `c` against the test root: every signature intact and trusted; a B-B
/// container carries no revocation data, so that stays open.
fn intact(c: &[u8], ca: &Ca) -> asice::ContainerReport {
    let report = asice::validate(
        c,
        std::slice::from_ref(&ca.root),
        SystemTime::now(),
        &Default::default(),
    )
    .unwrap();
    assert!(
        report
            .signatures
            .iter()
            .all(|s| s.report.lacks_only_revocation()),
        "{report:?}"
    );
    report
}

async fn full_exchange(postgres: bool) {
    let (ca, a, b) = world(postgres).await;

    // A sends; the answer carries B's verified delivered receipt.
    let doc = a.ex.send(letter(B)).await.unwrap();
    assert_eq!(doc.status, "delivered");
    let id = doc.id.clone();

    // B's inbox shows it, through the API; without the token, 401.
    let (s, inbox) = b.api("GET", "/api/v1/inbox?status=delivered", None).await;
    assert_eq!(s, 200, "{inbox}");
    assert_eq!(inbox["documents"][0]["id"], id.as_str());
    assert_eq!(inbox["documents"][0]["register_no"], "A-2026/17");
    let addr = b.running.as_ref().unwrap().api_addr;
    let r = reqwest::get(format!("http://{addr}/api/v1/inbox"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // B's container is A's, signed by A, attachments intact.
    let c = b.ex.container(&id).await.unwrap();
    intact(&c, &ca);
    let opened = asice::open(&c, &Default::default()).unwrap();
    assert_eq!(opened.files["letter.txt"], b"Dear colleagues, ...");

    // B opens and signs.
    let (s, v) = b
        .api("POST", &format!("/api/v1/documents/{id}/open"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = b
        .api("POST", &format!("/api/v1/documents/{id}/sign"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "signed");
    // Signing twice, or rejecting a signed document, is refused.
    let (s, v) = b
        .api("POST", &format!("/api/v1/documents/{id}/reject"), None)
        .await;
    assert_eq!(s, 409, "{v}");

    // A's outbox: sent → delivered → opened → signed, every receipt verified.
    let (s, shown) = a.api("GET", &format!("/api/v1/documents/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(shown["document"]["status"], "signed");
    let statuses = json::strs(&shown, "receipts", "status");
    assert_eq!(statuses, ["sent", "delivered", "opened", "signed"]);
    assert!(shown["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["verified"] == true));
    // A now holds the container with both signatures.
    let both = a.ex.container(&id).await.unwrap();
    let report = intact(&both, &ca);
    assert_eq!(report.signatures.len(), 2);

    // B answers; the reply is threaded with the original on both sides, and the original
    // becomes answered at A.
    let mut reply = letter("");
    reply.title = "Answer".into();
    reply.retention = None;
    let (s, v) = b
        .api(
            "POST",
            &format!("/api/v1/documents/{id}/answer"),
            Some(serde_json::to_value(&reply).unwrap()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let reply_id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["thread_id"], id.as_str());
    let (_, shown) = a
        .api("GET", &format!("/api/v1/documents/{reply_id}"), None)
        .await;
    assert_eq!(shown["document"]["reply_to"], id.as_str());
    assert_eq!(shown["document"]["thread_id"], id.as_str());
    let thread = json::strs(&shown, "thread", "id");
    assert!(thread.contains(&id.as_str()) && thread.contains(&reply_id.as_str()));
    assert_eq!(
        a.ex.store().document(&id).await.unwrap().unwrap().status,
        "answered"
    );

    // A receipt's signature verifies on its own, as B's and not as A's.
    let rs = a.ex.store().receipts(&id).await.unwrap();
    let env = Envelope {
        receipt: rs[1].receipt.clone(),
        signature: rs[1].signature.clone(),
        container: None,
    };
    receipt::verify(&env, std::slice::from_ref(&ca.root), "AZ/GOV/1400002").unwrap();
    assert!(receipt::verify(&env, std::slice::from_ref(&ca.root), "AZ/GOV/1400001").is_err());

    errors(&ca, &a, &b, &id).await;
    retention(&a, &b).await;
    for o in [a, b] {
        // On SQLite the write-ahead log goes when the last connection closes: shutdown closes
        // the database.
        let wal = o.ex.config().data_dir.join("docs.db-wal");
        o.running.unwrap_or_else(|| unreachable!()).shutdown().await;
        if o.pg_url.is_none() {
            assert!(!wal.exists(), "connections were left open after shutdown");
        }
        if let Some(url) = o.pg_url {
            drop(o.ex);
            let (_, name) = url.rsplit_once('/').unwrap();
            pg::drop_database(name).await;
        }
    }
}

async fn errors(ca: &Ca, a: &Org, b: &Org, id: &str) {
    let cases: Vec<(SendRequest, &str)> = vec![
        (
            SendRequest {
                title: " ".into(),
                ..letter(B)
            },
            "title is required",
        ),
        (
            SendRequest {
                deadline: Some("2001-01-01".into()),
                ..letter(B)
            },
            "in the past",
        ),
        (
            SendRequest {
                to: "AZ/GOV".into(),
                ..letter(B)
            },
            "to \"AZ/GOV\"",
        ),
        (
            SendRequest {
                attachments: vec![],
                ..letter(B)
            },
            "at least one attachment",
        ),
        (
            SendRequest {
                retention: Some("forever".into()),
                ..letter(B)
            },
            "retention class",
        ),
        (
            SendRequest {
                reply_to: Some("00".repeat(16)),
                ..letter(B)
            },
            "no such document",
        ),
    ];
    for (req, want) in cases {
        let e = a.ex.send(req).await.unwrap_err();
        assert!(
            matches!(e, DocsError::Invalid(_)) && e.to_string().contains(want),
            "{e} / {want}"
        );
    }
    // B allows 3 attachments: A's fourth makes B refuse the delivery, and A withdraws it.
    let before = outbox_len(a).await;
    let mut many = letter(B);
    many.attachments = (0..4).map(|i| att(&format!("f{i}.txt"), b"x")).collect();
    let e = a.ex.send(many).await.unwrap_err();
    assert!(
        e.to_string().contains("more than this server's limit of 3"),
        "{e}"
    );
    assert_eq!(outbox_len(a).await, before);
    // Too large against A's own limit.
    let mut big = letter(B);
    big.attachments = vec![att("big.bin", &vec![0u8; (32 << 20) + 1])];
    assert!(a
        .ex
        .send(big)
        .await
        .unwrap_err()
        .to_string()
        .contains("max_attachment_bytes"));
    // Unknown recipient: the bridge's error comes back; nothing stays in the outbox.
    let e = a.ex.send(letter("AZ/GOV/1400009/docs")).await.unwrap_err();
    assert!(
        matches!(e, DocsError::Bridge(_)) && e.to_string().contains("UnknownService"),
        "{e}"
    );
    assert_eq!(outbox_len(a).await, before);

    // A container signed by a key outside the trust anchors: refused as a bad signature, in
    // the X-Road error form.
    let other = ca_outsider();
    let meta = serde_json::json!({"id": "ab".repeat(16), "from": A, "to": B, "title": "t", "type": "x",
        "register_no": "1", "retention": "1y", "created": "2026-01-01T00:00:00Z", "attachments": []});
    let signer = korpu_sign::cades::Signer {
        key: &other.0,
        cert: &other.1,
        chain: &[],
    };
    let bad = asice::create(
        &[asice::DataFile {
            name: "document.json".into(),
            mime_type: "application/json".into(),
            content: serde_json::to_vec(&meta).unwrap(),
        }],
        &[signer],
        SystemTime::now(),
        None,
    )
    .unwrap();
    refused_as_bad_signature(b, "documents", A, asice::MIMETYPE, bad).await;
    // A genuine container from A, claimed by another sender: refused.
    let c = a.ex.container(id).await.unwrap();
    let e =
        b.ex.receive_document("AZ/GOV/1400003/docs", &c)
            .await
            .unwrap_err();
    assert!(matches!(e, DocsError::BadSignature(_)), "{e}");
    // A receipt for an unknown document, and one whose signature does not verify.
    let (k, cert) = ca.member("AZ/GOV/1400002");
    let env = opened_by_b(
        &"cd".repeat(16),
        "2026-01-01T00:00:00Z",
        "00".repeat(32),
        &k,
        &cert,
    );
    let e = a.ex.receive_receipt(B, env.clone()).await.unwrap_err();
    assert!(matches!(e, DocsError::UnknownDocument(_)), "{e}");
    let mut forged = env;
    let mut json = B64.decode(&forged.receipt).unwrap();
    json[5] ^= 1;
    forged.receipt = B64.encode(json);
    let forged = serde_json::to_vec(&forged).unwrap();
    refused_as_bad_signature(a, "receipts", B, "application/json", forged).await;
    // A repeated status (B retrying after a lost answer) is accepted; the first receipt stays.
    let before = a.ex.store().receipts(id).await.unwrap();
    let env = opened_by_b(
        id,
        "2026-01-02T00:00:00Z",
        before[0].receipt.clone(),
        &k,
        &cert,
    );
    a.ex.receive_receipt(B, env).await.unwrap();
    assert_eq!(a.ex.store().receipts(id).await.unwrap(), before);
    // Acting on an outbox document is refused.
    assert!(matches!(
        a.ex.act(id, Action::Open, None).await.unwrap_err(),
        DocsError::Conflict(_)
    ));
}

/// How many documents `org`'s outbox holds.
async fn outbox_len(org: &Org) -> usize {
    org.ex
        .store()
        .list("out", None, None, 100)
        .await
        .unwrap()
        .len()
}

/// POSTs `body` to `org`'s `dx` endpoint `path` as `client`, bypassing any gateway: it must be
/// refused as a bad signature, in the X-Road REST error form.
async fn refused_as_bad_signature(
    org: &Org,
    path: &str,
    client: &str,
    content_type: &str,
    body: Vec<u8>,
) {
    let dx = org.running.as_ref().unwrap().dx_addr;
    let r = reqwest::Client::new()
        .post(format!("http://{dx}/dx/{path}"))
        .header("X-Road-Client", client)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["type"], "Server.ServerProxy.Docs.BadSignature", "{v}");
}

/// B's `opened` receipt for `document`, signed with `key` and `cert`.
fn opened_by_b(
    document: &str,
    time: &str,
    container_sha256: String,
    key: &SigningKey,
    cert: &Certificate,
) -> Envelope {
    let r = receipt::Receipt {
        document: document.into(),
        status: "opened".into(),
        time: time.into(),
        by: B.into(),
        note: None,
        container_sha256,
    };
    let signer = korpu_sign::cades::Signer {
        key,
        cert,
        chain: &[],
    };
    receipt::sign(&r, &signer, SystemTime::now()).unwrap()
}

fn ca_outsider() -> (SigningKey, Certificate) {
    ca().member("AZ/GOV/1400001")
}

async fn retention(a: &Org, b: &Org) {
    let now = korpu_docs::exchange::unix_now();
    let mut one = letter(B);
    one.retention = Some("1y".into());
    one.attachments = vec![att("only-here.txt", b"expires with its document")];
    let short = a.ex.send(one.clone()).await.unwrap();
    let held = a.ex.send(one).await.unwrap();
    let mut p = letter(B);
    p.retention = Some("permanent".into());
    let perm = a.ex.send(p).await.unwrap();
    let (s, _) = a
        .api(
            "POST",
            &format!("/api/v1/documents/{}/hold", held.id),
            Some(serde_json::json!({"hold": true})),
        )
        .await;
    assert_eq!(s, 200);
    // Paging through the outbox two at a time sees every document exactly once.
    let all = a.ex.store().list("out", None, None, 1000).await.unwrap();
    assert!(all.len() >= 4);
    let mut seen = Vec::new();
    let mut path = "/api/v1/outbox?limit=2".to_owned();
    loop {
        let (s, page) = a.api("GET", &path, None).await;
        assert_eq!(s, 200, "{page}");
        for d in page["documents"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/outbox?limit=2&cursor={c}"),
            None => break,
        }
    }
    let want: Vec<String> = all.iter().map(|d| d.id.clone()).collect();
    assert_eq!(seen, want);
    let (s, v) = a.api("GET", "/api/v1/outbox?cursor=nonsense", None).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (400, Some("Server.ServerProxy.Docs.InvalidDocument"))
    );
    // Nothing is due yet.
    assert!(a.ex.expire(now).await.unwrap().is_empty());
    let blob = short.container_sha256.clone();
    assert!(a.ex.blobs().exists(&blob).await);
    // Two years on: the 1y and the 5y documents go (the held one stays, and so does the
    // attachment blob it shares); the permanent one stays.
    let (s, v) = a
        .api(
            "POST",
            "/api/v1/expire",
            Some(serde_json::json!({"now": now + 2 * 366 * 86_400})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let removed: Vec<&str> = v["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(removed.contains(&short.id.as_str()));
    assert!(!removed.contains(&held.id.as_str()) && !removed.contains(&perm.id.as_str()));
    assert!(a.ex.store().document(&short.id).await.unwrap().is_none());
    assert!(
        !a.ex.blobs().exists(&blob).await,
        "the expired container blob is gone"
    );
    let shared = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        b"expires with its document",
    ));
    assert!(
        a.ex.blobs().exists(&shared).await,
        "a blob still used by the held document stays"
    );
    assert!(a.ex.store().document(&held.id).await.unwrap().is_some());
    assert!(a.ex.store().document(&perm.id).await.unwrap().is_some());
    // B keeps its own copies under its own retention.
    assert!(b.ex.store().document(&short.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_sqlite() {
    full_exchange(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_postgres() {
    full_exchange(true).await;
}

#[tokio::test]
async fn refuses_a_world_readable_key() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = ca.member("AZ/GOV/1400001");
    let p = dir.path().join("sign.p8");
    std::fs::write(&p, key.to_pkcs8_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(dir.path().join("sign.pem"), cert.to_pem()).unwrap();
    std::fs::write(dir.path().join("trust.pem"), ca.root.to_pem()).unwrap();
    let cfg = DocsConfig {
        subsystem: A.into(),
        gateway_url: "http://127.0.0.1:1".into(),
        data_dir: dir.path().to_owned(),
        ..DocsConfig::default()
    };
    let e = Exchange::open(cfg.clone()).await.err().unwrap();
    assert!(e.to_string().contains("sign.p8"), "{e}");
    // The wrong member's certificate is refused too.
    std::fs::remove_file(&p).unwrap();
    korpu_pki::key::write_private_key(&p, &key).unwrap();
    let e = Exchange::open(DocsConfig {
        subsystem: "AZ/GOV/1400002/docs".into(),
        ..cfg
    })
    .await
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .contains("not a signing certificate of member AZ/GOV/1400002"),
        "{e}"
    );
}

/// Issue 13, item 8: both listeners drop a connection that sends nothing and one that stops
/// half-way through its request head, within `header_read_timeout_secs`; a request in time is
/// still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_listeners_close_half_open_and_slow_connections() {
    use korpu_net::test_util::{assert_all_closed, get_and_close, idle_and_partial};
    let ca = ca();
    let org = org(&ca, A, "127.0.0.1:9".parse().unwrap(), false, |c| {
        c.header_read_timeout_secs = 1
    })
    .await;
    let running = org.running.as_ref().unwrap();
    let limit = Duration::from_secs(6);
    for addr in [running.api_addr, running.dx_addr] {
        let mut conns = idle_and_partial(addr, "/").await;
        let context = format!("to {addr} with a 1 s timeout");
        assert_all_closed(&mut conns, limit, &context).await;
        let out = get_and_close(addr, "/").await;
        assert!(out.starts_with("HTTP/1.1 "), "{addr}: {out}");
    }
}
