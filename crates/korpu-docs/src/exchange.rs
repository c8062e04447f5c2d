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
//!
//! Parts: [`rules`] (the signed metadata, the status order, ids, deadlines and the checks on a
//! delivery — pure, no I/O), the inbound side in `inbound` (a delivered document, a receipt
//! for one sent), and here the [`Exchange`] itself: opening, sending, local actions, listing
//! and retention.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_id::SubsystemId;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_sign::asice::{self, DataFile, Limits};
use korpu_sign::cades::Signer;
use korpu_xroad::{ClientOptions, Request};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::blobs::Blobs;
use crate::receipt::{self, Envelope, Receipt};
use crate::retention::Retention;
use crate::store::{DocRow, ReceiptRow, Store, INBOX, OUTBOX};
use crate::{DocsConfig, DocsError};

mod inbound;
pub mod rules;

use rules::{att_rows, check_id, now_secs, random_id, rfc3339};
pub use rules::{
    check_delivery, may_follow, parse_deadline, unix_now, Action, Attachment, AttachmentMeta,
    DocumentMeta, SendRequest, META_FILE,
};

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
        self.store
            .insert_document(&row, &att_rows(&atts), &[sent])
            .await?;
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
        self.stored(&id).await
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

    /// Opens, signs or rejects a received document; the signed receipt crosses the bridge to
    /// the sender before it is recorded here, so a failure can simply be retried.
    pub async fn act(
        &self,
        id: &str,
        action: Action,
        note: Option<String>,
    ) -> Result<DocRow, DocsError> {
        check_id(id)?;
        let doc = self.stored(id).await?;
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
        self.stored(id).await
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

    /// The stored document `id`, or [`DocsError::UnknownDocument`].
    async fn stored(&self, id: &str) -> Result<DocRow, DocsError> {
        self.store
            .document(id)
            .await?
            .ok_or_else(|| DocsError::UnknownDocument(id.to_owned()))
    }

    /// A document with its attachments, receipts (each re-verified) and thread.
    pub async fn show(&self, id: &str) -> Result<Value, DocsError> {
        check_id(id)?;
        let doc = self.stored(id).await?;
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
        let doc = self.stored(id).await?;
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
