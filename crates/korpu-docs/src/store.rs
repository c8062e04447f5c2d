//! Document metadata and receipts in SQLite (WAL) by default, or PostgreSQL given a
//! `postgres://` URL — one set of queries through sqlx's `Any` driver with `$N` parameters, as
//! in the central registry's store. Binary values (receipts and their signatures) are kept as
//! base64 text so that the DDL is the same on both: one folder of numbered migrations
//! (`migrations/`), applied by `korpu_service::db` when the store opens.
//!
//! Blobs are not here (see [`crate::blobs`]); neither are the rules on which status may follow
//! which (see [`crate::exchange`]). Every multi-row change is one transaction.

use korpu_service::db::{is_unique_violation, Database, DbError, Migrations, PoolLimits};
use korpu_service::from_row;
use serde::Serialize;
use sqlx::migrate::Migrator;

use crate::DocsError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The metadata schema: one dialect-neutral folder, no column added before migrations.
static MIGRATIONS: Migrations = Migrations::neutral("crates/korpu-docs/migrations", &MIGRATOR);

/// The metadata pool: the defaults, with every SQLite commit durable through a power cut (a
/// receipt once sent must not be forgotten).
pub const POOL_LIMITS: PoolLimits = PoolLimits {
    full_sync: true,
    ..PoolLimits::DEFAULT
};

/// Which mailbox a document is in, seen from this organisation.
pub const INBOX: &str = "in";
/// Documents this organisation sent.
pub const OUTBOX: &str = "out";

/// A document's metadata row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocRow {
    /// The sender-chosen identifier (32 hex digits), the same on both sides.
    pub id: String,
    /// `in` or `out`.
    #[serde(rename = "box")]
    pub mailbox: String,
    /// Sending subsystem.
    pub sender: String,
    /// Receiving subsystem.
    pub recipient: String,
    /// Title.
    pub title: String,
    /// Document type, e.g. `letter`, `decision`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The number in the sender's register.
    pub register_no: String,
    /// Answer expected by (Unix seconds).
    pub deadline: Option<i64>,
    /// The document this one answers.
    pub reply_to: Option<String>,
    /// The first document of the thread.
    pub thread_id: String,
    /// Retention class.
    pub retention: String,
    /// When `expire` may remove it (Unix seconds); none for `permanent`.
    pub expires_at: Option<i64>,
    /// On hold: never expired.
    pub hold: bool,
    /// The latest status.
    pub status: String,
    /// SHA-256 of the container as sent.
    pub container_sha256: String,
    /// SHA-256 of the container with the recipient's signature added, once signed.
    pub signed_container_sha256: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// An attachment row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttRow {
    /// File name inside the container.
    pub name: String,
    /// Media type.
    pub mime_type: String,
    /// Hex SHA-256 (the blob name).
    pub sha256: String,
    /// Bytes.
    pub size: i64,
}

/// A stored signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptRow {
    /// The document.
    pub doc_id: String,
    /// The status it attests.
    pub status: String,
    /// The subsystem that issued it.
    pub by: String,
    /// Unix seconds.
    pub at: i64,
    /// The receipt JSON, base64.
    pub receipt: String,
    /// Its detached CAdES signature (DER), base64.
    pub signature: String,
}

/// The metadata database.
#[derive(Clone)]
pub struct Store {
    db: Database,
}

from_row!(AttRow {
    name,
    mime_type,
    sha256,
    size
});
from_row!(ReceiptRow {
    doc_id,
    status,
    by: "by_subsystem",
    at,
    receipt,
    signature
});
from_row!(DocRow {
    id,
    mailbox: "box",
    sender,
    recipient,
    title,
    doc_type,
    register_no,
    deadline,
    reply_to,
    thread_id,
    retention,
    expires_at,
    hold as flag,
    status,
    container_sha256,
    signed_container_sha256,
    created_at,
    updated_at,
});

const DOC_COLS: &str = "id, box, sender, recipient, title, doc_type, register_no, deadline, \
    reply_to, thread_id, retention, expires_at, hold, status, container_sha256, \
    signed_container_sha256, created_at, updated_at";

/// A failed query is the metadata database failing (`?` in the store's methods).
impl From<sqlx::Error> for DocsError {
    fn from(e: sqlx::Error) -> Self {
        DocsError::Store(e.to_string())
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url`: `sqlite:PATH` or `postgres://…`, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, DocsError> {
        // Documents' metadata (senders, recipients, titles): the database and its -wal/-shm
        // are the owner's only (korpu_service::db creates them so).
        let db = korpu_service::db::open(url, &POOL_LIMITS, &MIGRATIONS)
            .await
            .map_err(|e| match e {
                DbError::Url(_) => DocsError::Config(e.to_string()),
                e => DocsError::Store(e.to_string()),
            })?;
        Ok(Store { db })
    }

    /// Waits for queries in flight and closes every connection.
    pub async fn close(&self) {
        self.db.pool.close().await;
    }

    /// Inserts a document with its attachments and first receipts, in one transaction.
    pub async fn insert_document(
        &self,
        d: &DocRow,
        atts: &[AttRow],
        receipts: &[ReceiptRow],
    ) -> Result<(), DocsError> {
        let mut tx = self.db.pool.begin().await?;
        let q = format!(
            "INSERT INTO documents ({DOC_COLS}) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        sqlx::query(&q)
            .bind(&d.id)
            .bind(&d.mailbox)
            .bind(&d.sender)
            .bind(&d.recipient)
            .bind(&d.title)
            .bind(&d.doc_type)
            .bind(&d.register_no)
            .bind(d.deadline)
            .bind(&d.reply_to)
            .bind(&d.thread_id)
            .bind(&d.retention)
            .bind(d.expires_at)
            .bind(i64::from(d.hold))
            .bind(&d.status)
            .bind(&d.container_sha256)
            .bind(&d.signed_container_sha256)
            .bind(d.created_at)
            .bind(d.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    DocsError::Conflict(format!("document {} already exists", d.id))
                } else {
                    e.into()
                }
            })?;
        for (i, a) in atts.iter().enumerate() {
            sqlx::query(
                "INSERT INTO attachments (doc_id, idx, name, mime_type, sha256, size)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&d.id)
            .bind(i as i64)
            .bind(&a.name)
            .bind(&a.mime_type)
            .bind(&a.sha256)
            .bind(a.size)
            .execute(&mut *tx)
            .await?;
        }
        for r in receipts {
            insert_receipt(&mut tx, r).await?;
        }
        Ok(tx.commit().await?)
    }

    /// Records a receipt and makes its status the document's status (and, for `signed`, the
    /// countersigned container), in one transaction.
    pub async fn add_receipt(
        &self,
        r: &ReceiptRow,
        set_status: bool,
        signed_container: Option<&str>,
    ) -> Result<(), DocsError> {
        let mut tx = self.db.pool.begin().await?;
        insert_receipt(&mut tx, r).await?;
        if set_status {
            sqlx::query("UPDATE documents SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(&r.status)
                .bind(r.at)
                .bind(&r.doc_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(sha) = signed_container {
            sqlx::query("UPDATE documents SET signed_container_sha256 = $1 WHERE id = $2")
                .bind(sha)
                .bind(&r.doc_id)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx.commit().await?)
    }

    /// The document `id`.
    pub async fn document(&self, id: &str) -> Result<Option<DocRow>, DocsError> {
        let q = format!("SELECT {DOC_COLS} FROM documents WHERE id = $1");
        Ok(self.db.optional(sqlx::query(&q).bind(id)).await?)
    }

    /// The attachments of `id`, in container order.
    pub async fn attachments(&self, id: &str) -> Result<Vec<AttRow>, DocsError> {
        let q = sqlx::query(
            "SELECT name, mime_type, sha256, size FROM attachments WHERE doc_id = $1 ORDER BY idx",
        );
        Ok(self.db.all(q.bind(id)).await?)
    }

    /// The receipts of `id`, in the order of the statuses (sent, delivered, opened, …); times
    /// have whole seconds, so several receipts can share one.
    pub async fn receipts(&self, id: &str) -> Result<Vec<ReceiptRow>, DocsError> {
        let q = sqlx::query(
            "SELECT doc_id, status, by_subsystem, at, receipt, signature FROM receipts
             WHERE doc_id = $1 ORDER BY at, status",
        );
        let mut v: Vec<ReceiptRow> = self.db.all(q.bind(id)).await?;
        let rank = |s: &str| crate::receipt::STATUSES.iter().position(|x| *x == s);
        v.sort_by_key(|r| rank(&r.status));
        Ok(v)
    }

    /// Up to `limit` documents of a mailbox, oldest first, after `cursor` (`created_at:id` of
    /// the last one seen), optionally only those with `status`.
    pub async fn list(
        &self,
        mailbox: &str,
        status: Option<&str>,
        cursor: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<DocRow>, DocsError> {
        let (after_t, after_id) = cursor.unwrap_or((i64::MIN, ""));
        let q = format!(
            "SELECT {DOC_COLS} FROM documents WHERE box = $1 AND ($2 = '' OR status = $2)
             AND (created_at > $3 OR (created_at = $3 AND id > $4))
             ORDER BY created_at, id LIMIT $5"
        );
        let q = sqlx::query(&q).bind(mailbox).bind(status.unwrap_or(""));
        Ok(self
            .db
            .all(q.bind(after_t).bind(after_id).bind(limit))
            .await?)
    }

    /// The documents of a thread, oldest first.
    pub async fn thread(&self, thread_id: &str) -> Result<Vec<DocRow>, DocsError> {
        let q = format!(
            "SELECT {DOC_COLS} FROM documents WHERE thread_id = $1 ORDER BY created_at, id"
        );
        Ok(self.db.all(sqlx::query(&q).bind(thread_id)).await?)
    }

    /// Puts a document on hold, or releases it. False if there is no such document.
    pub async fn set_hold(&self, id: &str, hold: bool) -> Result<bool, DocsError> {
        let q = sqlx::query("UPDATE documents SET hold = $1 WHERE id = $2");
        Ok(self.db.run(q.bind(i64::from(hold)).bind(id)).await? > 0)
    }

    /// Documents past retention at `now` and not on hold.
    pub async fn expired(&self, now: i64) -> Result<Vec<DocRow>, DocsError> {
        let q = format!(
            "SELECT {DOC_COLS} FROM documents
             WHERE hold = 0 AND expires_at IS NOT NULL AND expires_at <= $1 ORDER BY id"
        );
        Ok(self.db.all(sqlx::query(&q).bind(now)).await?)
    }

    /// Removes a document, its attachments and receipts (one transaction); returns the blob
    /// names it referenced.
    pub async fn delete_document(&self, id: &str) -> Result<Vec<String>, DocsError> {
        let mut blobs: Vec<String> = self
            .attachments(id)
            .await?
            .into_iter()
            .map(|a| a.sha256)
            .collect();
        if let Some(d) = self.document(id).await? {
            blobs.push(d.container_sha256);
            blobs.extend(d.signed_container_sha256);
        }
        let mut tx = self.db.pool.begin().await?;
        for sql in [
            "DELETE FROM receipts WHERE doc_id = $1",
            "DELETE FROM attachments WHERE doc_id = $1",
            "DELETE FROM documents WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(blobs)
    }

    /// Whether any remaining document names the blob.
    pub async fn blob_referenced(&self, sha: &str) -> Result<bool, DocsError> {
        let q = sqlx::query(
            "SELECT 1 AS x FROM attachments WHERE sha256 = $1
             UNION ALL SELECT 1 AS x FROM documents
             WHERE container_sha256 = $1 OR signed_container_sha256 = $1",
        );
        Ok(self.db.exists(q.bind(sha)).await?)
    }
}

async fn insert_receipt(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &ReceiptRow,
) -> Result<(), DocsError> {
    sqlx::query(
        "INSERT INTO receipts (doc_id, status, by_subsystem, at, receipt, signature)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.doc_id)
    .bind(&r.status)
    .bind(&r.by)
    .bind(r.at)
    .bind(&r.receipt)
    .bind(&r.signature)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DocsError::Conflict(format!(
                "document {} already has a {} receipt",
                r.doc_id, r.status
            ))
        } else {
            e.into()
        }
    })?;
    Ok(())
}
