//! The inbound side of the exchange: a document the gateway delivers (validated, checked
//! against its signed metadata, stored, answered with the signed `delivered` receipt), and a
//! receipt for a document this organisation sent (verified, checked against the status order
//! and, for `signed`, against the countersigned container). It sends nothing over the bridge.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use korpu_id::SubsystemId;
use korpu_sign::asice;
use sha2::{Digest, Sha256};

use super::rules::{
    accepted, att_rows, check_delivery, check_id, may_follow, now_secs, parse_deadline,
};
use super::{DocumentMeta, Exchange, META_FILE};
use crate::receipt::{self, Envelope, Receipt};
use crate::store::{DocRow, ReceiptRow, INBOX, OUTBOX};
use crate::DocsError;

impl Exchange {
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
        self.store
            .insert_document(&row, &att_rows(&meta.attachments), &[delivered])
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

    pub(super) async fn accept_receipt(
        &self,
        from: &SubsystemId,
        env: Envelope,
    ) -> Result<(), DocsError> {
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
}
