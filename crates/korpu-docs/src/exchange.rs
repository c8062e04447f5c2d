//! The document exchange itself: sending a document through the own gateway, accepting one
//! delivered by it, the receipts each way, the mailboxes, threads and retention.
//!
//! Wire format between organisations (the `dx` service, reached as
//! `POST {gateway}/r1/{recipient subsystem}/dx/documents` with `X-Road-Client: {sender}`): the
//! body is the ASiC-E container itself (`application/vnd.etsi.asic-e+zip`), holding the
//! attachments and `document.json` (the metadata: id, from, to, title, type, register number,
//! deadline, reply-to, retention, each attachment's name, type and SHA-256), all covered by
//! the sender's CAdES signature — so the metadata is signed evidence too. The answer is a
//! receipt [`Envelope`] (status `delivered`). Receipts go back the other way, to
//! `POST {gateway}/r1/{sender subsystem}/dx/receipts`, as an envelope in JSON.
//!
//! Statuses: `sent` → `delivered` → `opened` → `signed` | `rejected`, and `answered` (a reply
//! whose reply-to is the document) at any point after delivery. Every status has a signed
//! receipt; `sent` is signed by the sender, every other by the recipient.
//!
//! A receipt is sent before the recipient records it, so a local action whose receipt could
//! not cross the bridge fails and can simply be repeated; the sender accepts a repeated status
//! and keeps the first receipt for it.
//!
//! Not here: background retries, multiple recipients per document (send one per recipient), encryption of
//! blobs at rest.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_id::SubsystemId;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_sign::asice::{self, DataFile, Limits};
use korpu_sign::cades::Signer;
use korpu_sign::validate::Indication;
use korpu_xroad::{ClientOptions, Request};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::blobs::Blobs;
use crate::receipt::{self, Envelope, Receipt};
use crate::retention::Retention;
use crate::store::{AttRow, DocRow, ReceiptRow, Store, INBOX, OUTBOX};
use crate::{DocsConfig, DocsError};

/// The metadata file inside every container.
pub const META_FILE: &str = "document.json";

/// The metadata a sender signs, as `document.json` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentMeta {
    /// 32 hex digits, chosen by the sender.
    pub id: String,
    /// Sending subsystem.
    pub from: String,
    /// Receiving subsystem.
    pub to: String,
    /// Title.
    pub title: String,
    /// Document type.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The number in the sender's register.
    pub register_no: String,
    /// Answer expected by, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// The document this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Retention class.
    pub retention: String,
    /// RFC 3339.
    pub created: String,
    /// The attachments, in order.
    pub attachments: Vec<AttachmentMeta>,
}

/// One attachment in [`DocumentMeta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentMeta {
    /// File name in the container.
    pub name: String,
    /// Media type.
    pub mime_type: String,
    /// Hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// A document to send, as the local API takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Recipient subsystem, e.g. `AZ/GOV/1400001/docs`.
    pub to: String,
    /// Title (required).
    pub title: String,
    /// Document type (required), e.g. `letter`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The number in the sender's register (required).
    pub register_no: String,
    /// `YYYY-MM-DD` (end of that day, UTC) or RFC 3339; must be in the future.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The document this one answers.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Retention class; default from the configuration.
    #[serde(default)]
    pub retention: Option<String>,
    /// At least one.
    pub attachments: Vec<Attachment>,
}

/// An attachment in a [`SendRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// Media type; default `application/octet-stream`.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The bytes, base64.
    pub content: String,
}

impl Attachment {
    /// An attachment of `content`, named `name`.
    pub fn from_bytes(name: &str, mime_type: Option<String>, content: &[u8]) -> Self {
        Attachment {
            name: name.to_owned(),
            mime_type,
            content: B64.encode(content),
        }
    }
}

/// A local action on a received document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read it.
    Open,
    /// Sign it: the container gets this organisation's signature too.
    Sign,
    /// Refuse it.
    Reject,
}

impl Action {
    fn status(self) -> &'static str {
        match self {
            Action::Open => "opened",
            Action::Sign => "signed",
            Action::Reject => "rejected",
        }
    }
}

/// Whether status `new` may follow `current`.
pub fn may_follow(current: &str, new: &str) -> bool {
    match new {
        "delivered" => current == "sent",
        "opened" => current == "delivered",
        "signed" | "rejected" => matches!(current, "delivered" | "opened"),
        "answered" => matches!(current, "delivered" | "opened" | "signed" | "rejected"),
        _ => false,
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64)).to_string()
}

/// Parses `YYYY-MM-DD` (end of that day, UTC) or RFC 3339 into Unix seconds.
pub fn parse_deadline(s: &str) -> Result<i64, DocsError> {
    let full = if s.len() == 10 {
        format!("{s}T23:59:59Z")
    } else {
        s.to_owned()
    };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|e| {
        DocsError::Invalid(format!(
            "deadline {s:?}: {e}; give YYYY-MM-DD or an RFC 3339 time"
        ))
    })?;
    Ok(t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0))
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    hex::encode(b)
}

fn check_id(id: &str) -> Result<(), DocsError> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(DocsError::Invalid(format!(
            "document id {id:?} is not 32 lowercase hex digits"
        )))
    }
}

/// Checks a delivered document's signed metadata against who sent it, who receives it and the
/// files the container holds (`files` includes `document.json`; pure: the signature itself is
/// checked before), and returns its
/// retention class.
pub fn check_delivery(
    meta: &DocumentMeta,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    client: &SubsystemId,
    me: &SubsystemId,
    max_attachments: usize,
) -> Result<Retention, DocsError> {
    check_id(&meta.id)?;
    if meta.from != client.to_string() {
        return Err(DocsError::Invalid(format!(
            "{META_FILE} says it is from {}, but {client} sent it",
            meta.from
        )));
    }
    if meta.to != me.to_string() {
        return Err(DocsError::Invalid(format!(
            "the document is addressed to {}, this is {}",
            meta.to, me
        )));
    }
    if meta.title.trim().is_empty() {
        return Err(DocsError::Invalid("the document has no title".into()));
    }
    if meta.attachments.len() + 1 != files.len() {
        return Err(DocsError::Invalid(format!(
            "{META_FILE} lists {} attachments, the container holds {} files besides it",
            meta.attachments.len(),
            files.len().saturating_sub(1)
        )));
    }
    if meta.attachments.len() > max_attachments {
        return Err(DocsError::Invalid(format!(
            "{} attachments, more than this server's limit of {}",
            meta.attachments.len(),
            max_attachments
        )));
    }
    for a in &meta.attachments {
        let content = files.get(&a.name).ok_or_else(|| {
            DocsError::Invalid(format!("attachment {:?} is not in the container", a.name))
        })?;
        if hex::encode(Sha256::digest(content)) != a.sha256 {
            return Err(DocsError::Invalid(format!(
                "attachment {:?} does not match the digest in {META_FILE}",
                a.name
            )));
        }
    }
    Retention::parse(&meta.retention).map_err(DocsError::Invalid)
}

/// The document exchange of one organisation.
pub struct Exchange {
    cfg: DocsConfig,
    me: SubsystemId,
    store: Store,
    blobs: Blobs,
    key: SigningKey,
    cert: Certificate,
    chain: Vec<Certificate>,
    anchors: Vec<Certificate>,
    http: reqwest::Client,
    limits: Limits,
}

fn read_certs(path: &std::path::Path, what: &str) -> Result<Vec<Certificate>, DocsError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| DocsError::Config(format!("reading {what} {}: {e}", path.display())))?;
    Certificate::all_from_pem(&pem)
        .map_err(|e| DocsError::Config(format!("{what} {}: {e}", path.display())))
}

impl Exchange {
    /// Opens the database and object store and loads keys and certificates.
    pub async fn open(cfg: DocsConfig) -> Result<Arc<Self>, DocsError> {
        let me: SubsystemId = cfg
            .subsystem
            .parse()
            .map_err(|e| DocsError::Config(format!("subsystem: {e}")))?;
        korpu_pki::private::create_missing_dir(&cfg.data_dir)
            .map_err(|e| DocsError::Config(e.to_string()))?;
        // read_private_key refuses a key file readable by group or others.
        let key = korpu_pki::key::read_private_key(&cfg.key_path())
            .map_err(|e| DocsError::Config(e.to_string()))?;
        let cert = read_certs(&cfg.cert_path(), "signing certificate")?
            .into_iter()
            .next()
            .ok_or_else(|| DocsError::Config("the signing certificate file is empty".into()))?;
        if cert.public_key_der() != key.public_key_der() {
            return Err(DocsError::Config(format!(
                "{} is not the certificate of the key {}",
                cfg.cert_path().display(),
                cfg.key_path().display()
            )));
        }
        if cert.common_name().as_deref() != Some(&me.member.to_string()) {
            return Err(DocsError::Config(format!(
                "{} is not a signing certificate of member {} (issue one with \
                 `korpu central cert issue --kind signing --owner {}`)",
                cfg.cert_path().display(),
                me.member,
                me.member
            )));
        }
        let chain_path = cfg.chain_path();
        let chain = if chain_path.exists() {
            read_certs(&chain_path, "certificate chain")?
        } else {
            Vec::new()
        };
        let anchors = read_certs(&cfg.trust_path(), "trust anchors")?;
        if anchors.is_empty() {
            return Err(DocsError::Config(format!(
                "no certificate in the trust anchors file {}",
                cfg.trust_path().display()
            )));
        }
        let store = Store::open(&cfg.effective_database_url()).await?;
        let blobs = Blobs::open(&cfg.object_store, &cfg.data_dir.join("blobs"))?;
        let http = ClientOptions::new(Duration::from_secs(cfg.bridge_timeout_secs))
            .build()
            .map_err(|e| DocsError::Config(format!("HTTP client: {e}")))?;
        let limits = Limits {
            max_entries: cfg.max_attachments + 8,
            max_entry_size: cfg.max_attachment_bytes.max(1 << 20),
            max_total_size: cfg.max_container_bytes,
        };
        Ok(Arc::new(Exchange {
            cfg,
            me,
            store,
            blobs,
            key,
            cert,
            chain,
            anchors,
            http,
            limits,
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> &DocsConfig {
        &self.cfg
    }

    /// This organisation's subsystem.
    pub fn subsystem(&self) -> &SubsystemId {
        &self.me
    }

    /// The metadata store (for inspection and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    fn signer(&self) -> Signer<'_> {
        Signer {
            key: &self.key,
            cert: &self.cert,
            chain: &self.chain,
        }
    }

    fn make_receipt(
        &self,
        doc: &str,
        status: &str,
        note: Option<String>,
        container_sha256: &str,
    ) -> Result<(Envelope, ReceiptRow), DocsError> {
        let at = now_secs();
        let r = Receipt {
            document: doc.to_owned(),
            status: status.to_owned(),
            time: rfc3339(at),
            by: self.me.to_string(),
            note,
            container_sha256: container_sha256.to_owned(),
        };
        let env = receipt::sign(&r, &self.signer(), SystemTime::now())?;
        let row = ReceiptRow {
            doc_id: doc.to_owned(),
            status: status.to_owned(),
            by: r.by,
            at,
            receipt: env.receipt.clone(),
            signature: env.signature.clone(),
        };
        Ok((env, row))
    }

    /// POSTs `body` to `path` of `to`'s `dx` service through the own gateway.
    async fn bridge(
        &self,
        to: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, DocsError> {
        let req = Request::new(
            Method::POST,
            &self.cfg.gateway_url,
            to,
            &format!("/dx/{path}"),
        )
        .client(&self.me.to_string())
        .body(content_type, body);
        let url = req.url().to_owned();
        let answer = req
            .send(&self.http)
            .await
            .map_err(|e| DocsError::Bridge(format!("POST {url}: {e}")))?;
        // The X-Road REST error form, from the gateway or from the other side's server.
        let answer = answer.error_for_status().map_err(|e| {
            DocsError::Bridge(format!("{to} answered {}: {}", e.status, e.summary()))
        })?;
        Ok(answer.body.to_vec())
    }

    /// Sends a document and returns its metadata once the recipient's signed `delivered`
    /// receipt has been verified and everything is stored.
    pub async fn send(&self, req: SendRequest) -> Result<DocRow, DocsError> {
        let invalid = |m: String| DocsError::Invalid(m);
        for (field, v) in [
            ("title", &req.title),
            ("type", &req.doc_type),
            ("register_no", &req.register_no),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(format!("{field} is required")));
            }
            if v.len() > 1000 {
                return Err(invalid(format!("{field} is longer than 1000 bytes")));
            }
        }
        let to: SubsystemId = req.to.parse().map_err(|e| {
            invalid(format!(
                "to {:?}: {e} (the recipient's document subsystem, e.g. AZ/GOV/1400001/docs)",
                req.to
            ))
        })?;
        if to == self.me {
            return Err(invalid(
                "a document cannot be sent to its own sender".into(),
            ));
        }
        let now = now_secs();
        let deadline = match &req.deadline {
            Some(d) => {
                let t = parse_deadline(d)?;
                if t <= now {
                    return Err(invalid(format!("deadline {d} is in the past")));
                }
                Some(t)
            }
            None => None,
        };
        let retention = req
            .retention
            .clone()
            .unwrap_or_else(|| self.cfg.default_retention.clone());
        let class = Retention::parse(&retention).map_err(invalid)?;
        let mut thread_id = None;
        let mut answers = None;
        if let Some(r) = &req.reply_to {
            check_id(r)?;
            let orig = self
                .store
                .document(r)
                .await?
                .ok_or_else(|| invalid(format!("reply_to {r}: no such document here")))?;
            thread_id = Some(orig.thread_id.clone());
            if orig.mailbox == INBOX && orig.sender == to.to_string() {
                answers = Some(orig);
            }
        }
        if req.attachments.is_empty() {
            return Err(invalid("a document needs at least one attachment".into()));
        }
        if req.attachments.len() > self.cfg.max_attachments {
            return Err(invalid(format!(
                "{} attachments, more than the limit of {} (max_attachments)",
                req.attachments.len(),
                self.cfg.max_attachments
            )));
        }
        let mut files = Vec::new();
        let mut atts = Vec::new();
        for a in &req.attachments {
            if a.name == META_FILE || a.name.starts_with("META-INF") {
                return Err(invalid(format!("attachment name {:?} is reserved", a.name)));
            }
            let content = B64.decode(&a.content).map_err(|e| {
                invalid(format!(
                    "attachment {:?}: content is not base64: {e}",
                    a.name
                ))
            })?;
            if content.len() as u64 > self.cfg.max_attachment_bytes {
                return Err(invalid(format!(
                    "attachment {:?} has {} bytes, more than the limit of {} (max_attachment_bytes)",
                    a.name,
                    content.len(),
                    self.cfg.max_attachment_bytes
                )));
            }
            let mime = a
                .mime_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into());
            atts.push(AttachmentMeta {
                name: a.name.clone(),
                mime_type: mime.clone(),
                sha256: hex::encode(Sha256::digest(&content)),
                size: content.len() as u64,
            });
            files.push(DataFile {
                name: a.name.clone(),
                mime_type: mime,
                content,
            });
        }
        let id = random_id();
        let meta = DocumentMeta {
            id: id.clone(),
            from: self.me.to_string(),
            to: to.to_string(),
            title: req.title.clone(),
            doc_type: req.doc_type.clone(),
            register_no: req.register_no.clone(),
            deadline: deadline.map(rfc3339),
            reply_to: req.reply_to.clone(),
            retention: retention.clone(),
            created: rfc3339(now),
            attachments: atts.clone(),
        };
        let meta_json = serde_json::to_vec_pretty(&meta).map_err(|e| invalid(e.to_string()))?;
        files.insert(
            0,
            DataFile {
                name: META_FILE.into(),
                mime_type: "application/json".into(),
                content: meta_json,
            },
        );
        let container = asice::create(&files, &[self.signer()], SystemTime::now(), None)
            .map_err(|e| invalid(format!("building the container: {e}")))?;
        // Durable before anything crosses the bridge: blobs, then the row (status `sent`
        // with the sender's own signed receipt).
        for f in &files[1..] {
            self.blobs.put(&f.content).await?;
        }
        let container_sha = self.blobs.put(&container).await?;
        let (_, sent) = self.make_receipt(&id, "sent", None, &container_sha)?;
        let row = DocRow {
            id: id.clone(),
            mailbox: OUTBOX.into(),
            sender: self.me.to_string(),
            recipient: to.to_string(),
            title: req.title,
            doc_type: req.doc_type,
            register_no: req.register_no,
            deadline,
            reply_to: req.reply_to,
            thread_id: thread_id.unwrap_or_else(|| id.clone()),
            retention,
            expires_at: class.expires_at(now),
            hold: false,
            status: "sent".into(),
            container_sha256: container_sha.clone(),
            signed_container_sha256: None,
            created_at: now,
            updated_at: now,
        };
        let att_rows: Vec<AttRow> = atts
            .iter()
            .map(|a| AttRow {
                name: a.name.clone(),
                mime_type: a.mime_type.clone(),
                sha256: a.sha256.clone(),
                size: a.size as i64,
            })
            .collect();
        self.store.insert_document(&row, &att_rows, &[sent]).await?;
        let answer = match self
            .bridge(&to.to_string(), "documents", asice::MIMETYPE, container)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                // Not delivered: the document is withdrawn, so a retry starts clean.
                self.remove(&id).await?;
                return Err(e);
            }
        };
        let env: Envelope = serde_json::from_slice(&answer).map_err(|e| {
            DocsError::Bridge(format!("{to} answered without a delivery receipt: {e}"))
        })?;
        self.accept_receipt(&to, env).await?;
        if let Some(orig) = answers {
            // The reply made it: tell the original's sender that it was answered.
            self.act_inner(&orig, "answered", Some(id.clone()), None)
                .await?;
        }
        self.store
            .document(&id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.clone()))
    }

    /// Removes a document and the blobs no other document uses.
    async fn remove(&self, id: &str) -> Result<(), DocsError> {
        let blobs = self.store.delete_document(id).await?;
        for b in blobs {
            if !self.store.blob_referenced(&b).await? {
                self.blobs.delete(&b).await?;
            }
        }
        Ok(())
    }

    /// Accepts a document delivered by the gateway from `client` (the authenticated
    /// `X-Road-Client`), and returns the signed `delivered` receipt.
    pub async fn receive_document(&self, client: &str, body: &[u8]) -> Result<Envelope, DocsError> {
        let client: SubsystemId = client.parse().map_err(|e| {
            DocsError::Invalid(format!("X-Road-Client {client:?} is not a subsystem: {e}"))
        })?;
        if body.len() as u64 > self.cfg.max_container_bytes {
            return Err(DocsError::Invalid(format!(
                "the container has {} bytes, more than this server's limit of {}",
                body.len(),
                self.cfg.max_container_bytes
            )));
        }
        let report = asice::validate(body, &self.anchors, SystemTime::now(), &self.limits)
            .map_err(|e| DocsError::Invalid(format!("the container: {e}")))?;
        if !accepted(&report) {
            let why: Vec<String> = report
                .signatures
                .iter()
                .filter_map(|s| s.report.reason.clone())
                .collect();
            return Err(DocsError::BadSignature(format!(
                "the container's signature is {:?}: {}",
                report.indication,
                why.join("; ")
            )));
        }
        let member = client.member.to_string();
        if !report
            .signatures
            .iter()
            .any(|s| receipt::common_name(&s.report.signer) == Some(member.as_str()))
        {
            return Err(DocsError::BadSignature(format!(
                "the container is not signed by the sending member {member}"
            )));
        }
        let c = asice::open(body, &self.limits)
            .map_err(|e| DocsError::Invalid(format!("the container: {e}")))?;
        let meta_bytes = c
            .files
            .get(META_FILE)
            .ok_or_else(|| DocsError::Invalid(format!("the container has no {META_FILE}")))?;
        let meta: DocumentMeta = serde_json::from_slice(meta_bytes)
            .map_err(|e| DocsError::Invalid(format!("{META_FILE}: {e}")))?;
        let class = check_delivery(&meta, &c.files, &client, &self.me, self.cfg.max_attachments)?;
        let container_sha = hex::encode(Sha256::digest(body));
        if let Some(existing) = self.store.document(&meta.id).await? {
            // A retry of a delivery whose answer was lost: answer with the same receipt.
            if existing.mailbox == INBOX && existing.container_sha256 == container_sha {
                if let Some(r) = self
                    .store
                    .receipts(&meta.id)
                    .await?
                    .into_iter()
                    .find(|r| r.status == "delivered")
                {
                    return Ok(Envelope {
                        receipt: r.receipt,
                        signature: r.signature,
                        container: None,
                    });
                }
            }
            return Err(DocsError::Conflict(format!(
                "document {} already exists here with other content",
                meta.id
            )));
        }
        let deadline = meta.deadline.as_deref().map(parse_deadline).transpose()?;
        for a in &meta.attachments {
            if let Some(content) = c.files.get(&a.name) {
                self.blobs.put(content).await?;
            }
        }
        self.blobs.put(body).await?;
        let thread_id = match &meta.reply_to {
            Some(r) => {
                check_id(r)?;
                match self.store.document(r).await? {
                    Some(orig) => orig.thread_id,
                    None => r.clone(),
                }
            }
            None => meta.id.clone(),
        };
        let now = now_secs();
        let (env, delivered) = self.make_receipt(&meta.id, "delivered", None, &container_sha)?;
        let row = DocRow {
            id: meta.id.clone(),
            mailbox: INBOX.into(),
            sender: meta.from.clone(),
            recipient: meta.to.clone(),
            title: meta.title.clone(),
            doc_type: meta.doc_type.clone(),
            register_no: meta.register_no.clone(),
            deadline,
            reply_to: meta.reply_to.clone(),
            thread_id,
            retention: meta.retention.clone(),
            expires_at: class.expires_at(now),
            hold: false,
            status: "delivered".into(),
            container_sha256: container_sha,
            signed_container_sha256: None,
            created_at: now,
            updated_at: now,
        };
        let atts: Vec<AttRow> = meta
            .attachments
            .iter()
            .map(|a| AttRow {
                name: a.name.clone(),
                mime_type: a.mime_type.clone(),
                sha256: a.sha256.clone(),
                size: a.size as i64,
            })
            .collect();
        self.store
            .insert_document(&row, &atts, &[delivered])
            .await?;
        tracing::info!(document = %meta.id, from = %meta.from, "document delivered");
        Ok(env)
    }

    /// Accepts a receipt from `client` (the authenticated `X-Road-Client`) for a document this
    /// organisation sent to it.
    pub async fn receive_receipt(&self, client: &str, env: Envelope) -> Result<(), DocsError> {
        let client: SubsystemId = client.parse().map_err(|e| {
            DocsError::Invalid(format!("X-Road-Client {client:?} is not a subsystem: {e}"))
        })?;
        self.accept_receipt(&client, env).await
    }

    async fn accept_receipt(&self, from: &SubsystemId, env: Envelope) -> Result<(), DocsError> {
        let r = receipt::verify(&env, &self.anchors, &from.member.to_string())?;
        if r.by != from.to_string() {
            return Err(DocsError::BadSignature(format!(
                "the receipt says it is by {}, but {from} sent it",
                r.by
            )));
        }
        let doc = self
            .store
            .document(&r.document)
            .await?
            .filter(|d| d.mailbox == OUTBOX && d.recipient == from.to_string())
            .ok_or_else(|| DocsError::UnknownDocument(r.document.clone()))?;
        let existing = self.store.receipts(&doc.id).await?;
        if existing.iter().any(|x| x.status == r.status) {
            // A retry (the answer to the first attempt was lost, and the recipient signed the
            // status anew): the verified first receipt stands, and the retry succeeds so the
            // recipient can record its action.
            return Ok(());
        }
        if !may_follow(&doc.status, &r.status) {
            return Err(DocsError::Conflict(format!(
                "document {} is {}; it cannot become {}",
                doc.id, doc.status, r.status
            )));
        }
        let mut signed_container = None;
        if r.status == "signed" {
            signed_container = Some(self.check_countersigned(&doc, &r, &env, from).await?);
        } else if r.container_sha256 != doc.container_sha256 {
            return Err(DocsError::Invalid(format!(
                "the receipt is about container {}, document {} was sent as {}",
                r.container_sha256, doc.id, doc.container_sha256
            )));
        }
        let at = humantime::parse_rfc3339_weak(&r.time)
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or_else(now_secs);
        let row = ReceiptRow {
            doc_id: doc.id.clone(),
            status: r.status.clone(),
            by: r.by.clone(),
            at,
            receipt: env.receipt,
            signature: env.signature,
        };
        self.store
            .add_receipt(&row, true, signed_container.as_deref())
            .await?;
        tracing::info!(document = %doc.id, status = %r.status, by = %r.by, "receipt recorded");
        Ok(())
    }

    /// Checks the container a `signed` receipt carries: every signature valid, one by the
    /// recipient, the same files as sent; stores it and returns its digest.
    async fn check_countersigned(
        &self,
        doc: &DocRow,
        r: &Receipt,
        env: &Envelope,
        from: &SubsystemId,
    ) -> Result<String, DocsError> {
        let bytes = B64
            .decode(env.container.as_deref().unwrap_or_default())
            .map_err(|e| DocsError::Invalid(format!("signed container: not base64: {e}")))?;
        if hex::encode(Sha256::digest(&bytes)) != r.container_sha256 {
            return Err(DocsError::Invalid(
                "the signed container does not match the digest in its receipt".into(),
            ));
        }
        let report = asice::validate(&bytes, &self.anchors, SystemTime::now(), &self.limits)
            .map_err(|e| DocsError::Invalid(format!("the signed container: {e}")))?;
        let member = from.member.to_string();
        if !accepted(&report)
            || !report
                .signatures
                .iter()
                .any(|s| receipt::common_name(&s.report.signer) == Some(member.as_str()))
        {
            return Err(DocsError::BadSignature(format!(
                "the signed container does not carry a valid signature of {member}"
            )));
        }
        let original = self.blobs.get(&doc.container_sha256).await?;
        let a =
            asice::open(&original, &self.limits).map_err(|e| DocsError::Invalid(e.to_string()))?;
        let b = asice::open(&bytes, &self.limits).map_err(|e| DocsError::Invalid(e.to_string()))?;
        if a.files != b.files {
            return Err(DocsError::Invalid(
                "the signed container holds other files than the document sent".into(),
            ));
        }
        self.blobs.put(&bytes).await
    }

    /// Opens, signs or rejects a received document; the signed receipt crosses the bridge to
    /// the sender before it is recorded here, so a failure can simply be retried.
    pub async fn act(
        &self,
        id: &str,
        action: Action,
        note: Option<String>,
    ) -> Result<DocRow, DocsError> {
        check_id(id)?;
        let doc = self
            .store
            .document(id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.to_owned()))?;
        if doc.mailbox != INBOX {
            return Err(DocsError::Conflict(format!(
                "document {id} is in the outbox; only received documents can be {}",
                action.status()
            )));
        }
        let mut countersigned = None;
        if action == Action::Sign {
            let original = self.blobs.get(&doc.container_sha256).await?;
            let signed = asice::add_signature(
                &original,
                &self.signer(),
                SystemTime::now(),
                None,
                &self.limits,
            )
            .map_err(|e| DocsError::Invalid(format!("signing the container: {e}")))?;
            countersigned = Some(signed);
        }
        self.act_inner(&doc, action.status(), note, countersigned)
            .await?;
        self.store
            .document(id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.to_owned()))
    }

    async fn act_inner(
        &self,
        doc: &DocRow,
        status: &str,
        note: Option<String>,
        countersigned: Option<Vec<u8>>,
    ) -> Result<(), DocsError> {
        if !may_follow(&doc.status, status) {
            return Err(DocsError::Conflict(format!(
                "document {} is {}; it cannot become {status}",
                doc.id, doc.status
            )));
        }
        let (sha, signed_sha) = match &countersigned {
            Some(c) => {
                let s = self.blobs.put(c).await?;
                (s.clone(), Some(s))
            }
            None => (doc.container_sha256.clone(), None),
        };
        let (mut env, row) = self.make_receipt(&doc.id, status, note, &sha)?;
        env.container = countersigned.as_ref().map(|c| B64.encode(c));
        let body = serde_json::to_vec(&env).map_err(|e| DocsError::Invalid(e.to_string()))?;
        self.bridge(&doc.sender, "receipts", "application/json", body)
            .await?;
        self.store
            .add_receipt(&row, true, signed_sha.as_deref())
            .await
    }

    /// A document with its attachments, receipts (each re-verified) and thread.
    pub async fn show(&self, id: &str) -> Result<Value, DocsError> {
        check_id(id)?;
        let doc = self
            .store
            .document(id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.to_owned()))?;
        let atts = self.store.attachments(id).await?;
        let mut receipts = Vec::new();
        for r in self.store.receipts(id).await? {
            let signer_member =
                r.by.parse::<SubsystemId>()
                    .map(|s| s.member.to_string())
                    .unwrap_or_default();
            let env = Envelope {
                receipt: r.receipt.clone(),
                signature: r.signature.clone(),
                container: None,
            };
            let (verified, content) = match receipt::verify(&env, &self.anchors, &signer_member) {
                Ok(rc) => (true, serde_json::to_value(rc).unwrap_or(Value::Null)),
                Err(e) => (false, json!({"error": e.to_string()})),
            };
            receipts.push(json!({
                "status": r.status, "by": r.by, "time": rfc3339(r.at), "verified": verified,
                "receipt": content, "receipt_base64": r.receipt, "signature_base64": r.signature,
            }));
        }
        let thread: Vec<Value> = self
            .store
            .thread(&doc.thread_id)
            .await?
            .into_iter()
            .map(|d| {
                json!({"id": d.id, "box": d.mailbox, "sender": d.sender, "recipient": d.recipient,
                       "title": d.title, "status": d.status, "reply_to": d.reply_to})
            })
            .collect();
        Ok(json!({
            "document": doc, "attachments": atts, "receipts": receipts, "thread": thread,
        }))
    }

    /// The container of a document: with the recipient's signature once signed, else as sent.
    pub async fn container(&self, id: &str) -> Result<Vec<u8>, DocsError> {
        check_id(id)?;
        let doc = self
            .store
            .document(id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.to_owned()))?;
        self.blobs
            .get(
                doc.signed_container_sha256
                    .as_deref()
                    .unwrap_or(&doc.container_sha256),
            )
            .await
    }

    /// A page of a mailbox (`in` or `out`): the documents and the cursor for the next page.
    pub async fn list(
        &self,
        mailbox: &str,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Value, DocsError> {
        if let Some(s) = status {
            if !receipt::STATUSES.contains(&s) {
                return Err(DocsError::Invalid(format!(
                    "status {s:?} is not one of {:?}",
                    receipt::STATUSES
                )));
            }
        }
        let cursor = match cursor {
            Some(c) => {
                let (t, id) = c.split_once(':').ok_or_else(|| {
                    DocsError::Invalid(format!("cursor {c:?} is not one this server gave"))
                })?;
                let t: i64 = t.parse().map_err(|_| {
                    DocsError::Invalid(format!("cursor {c:?} is not one this server gave"))
                })?;
                Some((t, id.to_owned()))
            }
            None => None,
        };
        let limit = limit.clamp(1, 500);
        let docs = self
            .store
            .list(
                mailbox,
                status,
                cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
                limit,
            )
            .await?;
        let next = if docs.len() as i64 == limit {
            docs.last().map(|d| format!("{}:{}", d.created_at, d.id))
        } else {
            None
        };
        Ok(json!({"documents": docs, "next_cursor": next}))
    }

    /// Puts a document on hold (never expired) or releases it.
    pub async fn hold(&self, id: &str, hold: bool) -> Result<(), DocsError> {
        check_id(id)?;
        if self.store.set_hold(id, hold).await? {
            Ok(())
        } else {
            Err(DocsError::UnknownDocument(id.to_owned()))
        }
    }

    /// Removes every document past its retention at `now` (Unix seconds) and not on hold,
    /// with the blobs no remaining document uses; returns the removed ids.
    pub async fn expire(&self, now: i64) -> Result<Vec<String>, DocsError> {
        let mut removed = Vec::new();
        for d in self.store.expired(now).await? {
            self.remove(&d.id).await?;
            tracing::info!(document = %d.id, retention = %d.retention, "expired");
            removed.push(d.id);
        }
        Ok(removed)
    }
}

/// The current time in Unix seconds (for `expire` without a given time).
pub fn unix_now() -> i64 {
    now_secs()
}

/// Whether a container's signatures are good enough to accept a delivery: every signature
/// intact and trusted, where "revocation not established" (INDETERMINATE/TRY_LATER, the verdict
/// of a B-B/B-T signature with no revocation data) is accepted. The exchange validates offline
/// and at once, as it did when such signatures were reported "revocation not checked"; a
/// revoked signer (TOTAL_FAILED/REVOKED, or REVOKED_NO_POE) is still refused, and the receiving
/// organisation can establish revocation later with `korpu doc verify --fetch-revocation`.
fn accepted(report: &asice::ContainerReport) -> bool {
    !report.signatures.is_empty()
        && report.signatures.iter().all(|s| {
            s.report.indication == Indication::TotalPassed || s.report.lacks_only_revocation()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_order() {
        assert!(may_follow("sent", "delivered"));
        assert!(may_follow("delivered", "opened"));
        assert!(may_follow("opened", "signed"));
        assert!(may_follow("delivered", "rejected"));
        assert!(may_follow("signed", "answered"));
        assert!(!may_follow("sent", "opened"));
        assert!(!may_follow("signed", "rejected"));
        assert!(!may_follow("rejected", "signed"));
        assert!(!may_follow("opened", "opened"));
        assert!(!may_follow("sent", "answered"));
    }

    #[test]
    fn delivery_checks() {
        let a: SubsystemId = "AZ/GOV/1400001/docs".parse().unwrap();
        let b: SubsystemId = "AZ/GOV/1400002/docs".parse().unwrap();
        let mut files = std::collections::BTreeMap::new();
        files.insert(META_FILE.to_owned(), b"{}".to_vec());
        files.insert("x.txt".to_owned(), b"x".to_vec());
        let meta = DocumentMeta {
            id: "ab".repeat(16),
            from: a.to_string(),
            to: b.to_string(),
            title: "t".into(),
            doc_type: "letter".into(),
            register_no: "1".into(),
            deadline: None,
            reply_to: None,
            retention: "1y".into(),
            created: "2026-01-01T00:00:00Z".into(),
            attachments: vec![AttachmentMeta {
                name: "x.txt".into(),
                mime_type: "text/plain".into(),
                sha256: hex::encode(Sha256::digest(b"x")),
                size: 1,
            }],
        };
        assert!(check_delivery(&meta, &files, &a, &b, 5).is_ok());
        let err = |m: &DocumentMeta, f: &std::collections::BTreeMap<String, Vec<u8>>, lim| {
            check_delivery(m, f, &a, &b, lim).unwrap_err().to_string()
        };
        assert!(err(&meta, &files, 0).contains("limit of 0"));
        assert!(err(
            &DocumentMeta {
                from: b.to_string(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("says it is from"));
        assert!(err(
            &DocumentMeta {
                to: a.to_string(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("addressed to"));
        assert!(err(
            &DocumentMeta {
                title: " ".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("no title"));
        assert!(err(
            &DocumentMeta {
                id: "X".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("32 lowercase hex"));
        assert!(err(
            &DocumentMeta {
                retention: "never".into(),
                ..meta.clone()
            },
            &files,
            5
        )
        .contains("retention"));
        let mut altered = files.clone();
        altered.insert("x.txt".into(), b"y".to_vec());
        assert!(err(&meta, &altered, 5).contains("does not match the digest"));
        let mut extra = files.clone();
        extra.insert("unlisted.txt".into(), b"z".to_vec());
        assert!(err(&meta, &extra, 5).contains("lists 1 attachments"));
        let mut renamed = files.clone();
        renamed.remove("x.txt");
        renamed.insert("y.txt".into(), b"x".to_vec());
        assert!(err(&meta, &renamed, 5).contains("not in the container"));
    }

    #[test]
    fn deadlines() {
        assert_eq!(parse_deadline("1970-01-02").unwrap(), 86_400 + 86_399);
        assert_eq!(parse_deadline("1970-01-01T00:01:00Z").unwrap(), 60);
        assert!(parse_deadline("tomorrow").is_err());
    }
}
