//! The portal's state: sessions, sign-ins in progress, applications and their history,
//! consents and their history, notifications. SQLite (WAL) by default, PostgreSQL given a
//! `postgres://` URL, through one set of sqlx `Any` queries (as korpu-central does), so that
//! several portal processes behind a load balancer share one database. The schema is one
//! folder of numbered migrations (`migrations/`), applied by `korpu_service::db` on opening.
//!
//! Session ids are stored hashed: a leaked database holds no usable session. This module does
//! not decide anything (who may see what is the server's job).

use korpu_service::db::{Database, Migrations, PoolLimits};
use korpu_service::from_row;
use sqlx::migrate::Migrator;

/// A database failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("portal database: {0}")]
pub struct StoreError(pub String);

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError(e.to_string())
    }
}

pub use korpu_service::db::Backend;

#[derive(Clone)]
pub struct Store {
    db: Database,
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The portal's schema: one dialect-neutral folder, no column added before migrations.
static MIGRATIONS: Migrations = Migrations::neutral("crates/korpu-portal/migrations", &MIGRATOR);

/// The portal's pool: twice the default, as every page a citizen opens reads its session.
pub const POOL_LIMITS: PoolLimits = PoolLimits {
    sqlite_max_connections: 8,
    postgres_max_connections: 16,
    ..PoolLimits::DEFAULT
};

/// A signed-in citizen's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub citizen: String,
    pub name: String,
    pub email: String,
    pub csrf: String,
    pub expires_at: i64,
}

/// A sign-in in progress (between the redirect to the provider and the callback).
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Application {
    pub id: String,
    pub citizen: String,
    /// Where status e-mails go (from the ID token at submission; empty: none).
    pub email: String,
    pub service: String,
    pub agency_ref: String,
    pub status: String,
    pub data: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub status: String,
    pub message: String,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct Consent {
    pub id: String,
    pub client: String,
    pub purpose: String,
    /// JSON array of service ids.
    pub items: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub kind: String,
    pub subject: String,
    pub link: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

from_row!(Session {
    citizen,
    name,
    email,
    csrf,
    expires_at
});
from_row!(PendingLogin {
    nonce,
    verifier,
    next,
    created_at
});
from_row!(Application {
    id,
    citizen,
    email,
    service,
    agency_ref,
    status,
    data,
    created_at,
    updated_at
});
from_row!(Event {
    status,
    message,
    at
});
from_row!(Consent {
    id,
    client,
    purpose,
    items,
    created_at,
    expires_at,
    revoked_at
});
from_row!(Notification {
    kind,
    subject,
    link,
    created_at,
    read_at
});

/// The columns of every application query, in [`Application`]'s order.
const APPLICATION_COLS: &str =
    "id, citizen, email, service, agency_ref, status, data, created_at, updated_at";

impl Store {
    /// Opens (creating if needed) `sqlite:PATH` or `postgres://…`, and brings its schema up
    /// to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // Names, e-mails, citizens' ids: the database and its -wal/-shm are the owner's only
        // (korpu_service::db creates them so).
        let db = korpu_service::db::open(url, &POOL_LIMITS, &MIGRATIONS)
            .await
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(Self { db })
    }

    /// Waits for queries in flight and closes every connection.
    pub async fn close(&self) {
        self.db.pool.close().await;
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    // --- sessions ----------------------------------------------------------------------

    pub async fn insert_session(
        &self,
        id_sha256: &str,
        s: &Session,
        now: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO sessions (id_sha256, citizen, name, email, csrf, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        self.db
            .run(
                q.bind(id_sha256)
                    .bind(&s.citizen)
                    .bind(&s.name)
                    .bind(&s.email)
                    .bind(&s.csrf)
                    .bind(now)
                    .bind(s.expires_at),
            )
            .await?;
        Ok(())
    }

    /// The unexpired session with this id hash.
    pub async fn session(&self, id_sha256: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let q = sqlx::query(
            "SELECT citizen, name, email, csrf, expires_at FROM sessions
             WHERE id_sha256 = $1 AND expires_at > $2",
        );
        Ok(self.db.optional(q.bind(id_sha256).bind(now)).await?)
    }

    /// Slides a session's expiry forward (idle timeout).
    pub async fn touch_session(&self, id_sha256: &str, expires_at: i64) -> Result<(), StoreError> {
        let q = sqlx::query("UPDATE sessions SET expires_at = $1 WHERE id_sha256 = $2");
        self.db.run(q.bind(expires_at).bind(id_sha256)).await?;
        Ok(())
    }

    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let q = sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1");
        self.db.run(q.bind(id_sha256)).await?;
        Ok(())
    }

    /// Drops expired sessions and sign-ins older than `login_before`.
    pub async fn sweep(&self, now: i64, login_before: i64) -> Result<(), StoreError> {
        let q = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1");
        self.db.run(q.bind(now)).await?;
        let q = sqlx::query("DELETE FROM logins WHERE created_at < $1");
        self.db.run(q.bind(login_before)).await?;
        Ok(())
    }

    // --- sign-ins in progress ----------------------------------------------------------

    pub async fn insert_login(&self, state: &str, l: &PendingLogin) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO logins (state, nonce, verifier, next, created_at) VALUES ($1, $2, $3, $4, $5)",
        );
        let q = q.bind(state).bind(&l.nonce).bind(&l.verifier);
        self.db.run(q.bind(&l.next).bind(l.created_at)).await?;
        Ok(())
    }

    /// Takes (reads and deletes) a pending sign-in: each `state` is usable once.
    pub async fn take_login(&self, state: &str) -> Result<Option<PendingLogin>, StoreError> {
        let q = sqlx::query(
            "DELETE FROM logins WHERE state = $1 RETURNING nonce, verifier, next, created_at",
        );
        Ok(self.db.optional(q.bind(state)).await?)
    }

    // --- applications ------------------------------------------------------------------

    pub async fn insert_application(&self, a: &Application) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO applications ({APPLICATION_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let q = sqlx::query(&sql)
            .bind(&a.id)
            .bind(&a.citizen)
            .bind(&a.email);
        let q = q.bind(&a.service).bind(&a.agency_ref).bind(&a.status);
        self.db
            .run(q.bind(&a.data).bind(a.created_at).bind(a.updated_at))
            .await?;
        Ok(())
    }

    pub async fn applications_of(&self, citizen: &str) -> Result<Vec<Application>, StoreError> {
        let sql = format!(
            "SELECT {APPLICATION_COLS}
             FROM applications WHERE citizen = $1 ORDER BY created_at DESC, id"
        );
        Ok(self.db.all(sqlx::query(&sql).bind(citizen)).await?)
    }

    /// An application, only if it belongs to `citizen`.
    pub async fn application(
        &self,
        citizen: &str,
        id: &str,
    ) -> Result<Option<Application>, StoreError> {
        let sql =
            format!("SELECT {APPLICATION_COLS} FROM applications WHERE id = $1 AND citizen = $2");
        Ok(self
            .db
            .optional(sqlx::query(&sql).bind(id).bind(citizen))
            .await?)
    }

    /// Applications whose status may still change.
    pub async fn open_applications(&self) -> Result<Vec<Application>, StoreError> {
        let sql = format!(
            "SELECT {APPLICATION_COLS}
             FROM applications WHERE status NOT IN ('decided', 'rejected') ORDER BY updated_at LIMIT 500"
        );
        Ok(self.db.all(sqlx::query(&sql)).await?)
    }

    /// Records a status; returns whether it was new (so the caller notifies exactly once even
    /// when two portal processes poll the same application).
    pub async fn set_status(
        &self,
        id: &str,
        old: &str,
        new: &str,
        message: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE applications SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        );
        if self
            .db
            .run(q.bind(new).bind(now).bind(id).bind(old))
            .await?
            == 0
        {
            return Ok(false);
        }
        self.add_event(id, new, message, now).await?;
        Ok(true)
    }

    pub async fn add_event(
        &self,
        id: &str,
        status: &str,
        message: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO application_events (application_id, seq, status, message, at)
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM application_events WHERE application_id = $1), $2, $3, $4)",
        );
        self.db
            .run(q.bind(id).bind(status).bind(message).bind(at))
            .await?;
        Ok(())
    }

    pub async fn events(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        let q = sqlx::query(
            "SELECT status, message, at FROM application_events WHERE application_id = $1 ORDER BY seq",
        );
        Ok(self.db.all(q.bind(id)).await?)
    }

    // --- consents ----------------------------------------------------------------------

    pub async fn insert_consent(&self, citizen: &str, c: &Consent) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO consents (id, citizen, client, purpose, items, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        );
        let q = q.bind(&c.id).bind(citizen).bind(&c.client).bind(&c.purpose);
        self.db
            .run(q.bind(&c.items).bind(c.created_at).bind(c.expires_at))
            .await?;
        self.consent_event(&c.id, "granted", c.created_at).await
    }

    async fn consent_event(&self, id: &str, action: &str, at: i64) -> Result<(), StoreError> {
        let q =
            sqlx::query("INSERT INTO consent_history (consent_id, action, at) VALUES ($1, $2, $3)");
        self.db.run(q.bind(id).bind(action).bind(at)).await?;
        Ok(())
    }

    /// Revokes one of `citizen`'s consents; returns whether it was in force.
    pub async fn revoke_consent(
        &self,
        citizen: &str,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let q = sqlx::query(
            "UPDATE consents SET revoked_at = $1 WHERE id = $2 AND citizen = $3 AND revoked_at IS NULL",
        );
        if self.db.run(q.bind(now).bind(id).bind(citizen)).await? == 0 {
            return Ok(false);
        }
        self.consent_event(id, "revoked", now).await?;
        Ok(true)
    }

    pub async fn consents_of(&self, citizen: &str) -> Result<Vec<Consent>, StoreError> {
        let q = sqlx::query(
            "SELECT id, client, purpose, items, created_at, expires_at, revoked_at FROM consents
             WHERE citizen = $1 ORDER BY created_at DESC, id",
        );
        Ok(self.db.all(q.bind(citizen)).await?)
    }

    /// (action, at) for a consent, oldest first.
    pub async fn consent_history(&self, id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let q = sqlx::query(
            "SELECT action, at FROM consent_history WHERE consent_id = $1 ORDER BY at, action DESC",
        );
        Ok(self.db.all(q.bind(id)).await?)
    }

    // --- notifications -----------------------------------------------------------------

    pub async fn notify(
        &self,
        id: &str,
        citizen: &str,
        kind: &str,
        subject: &str,
        link: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO notifications (id, citizen, kind, subject, link, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        );
        let q = q.bind(id).bind(citizen).bind(kind);
        self.db.run(q.bind(subject).bind(link).bind(now)).await?;
        Ok(())
    }

    pub async fn notifications_of(&self, citizen: &str) -> Result<Vec<Notification>, StoreError> {
        let q = sqlx::query(
            "SELECT kind, subject, link, created_at, read_at FROM notifications
             WHERE citizen = $1 ORDER BY created_at DESC, id LIMIT 200",
        );
        Ok(self.db.all(q.bind(citizen)).await?)
    }

    pub async fn unread_count(&self, citizen: &str) -> Result<i64, StoreError> {
        let q = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE citizen = $1 AND read_at IS NULL",
        );
        let count: Option<(i64,)> = self.db.optional(q.bind(citizen)).await?;
        Ok(count.map_or(0, |(n,)| n))
    }

    pub async fn mark_read(&self, citizen: &str, now: i64) -> Result<(), StoreError> {
        let q = sqlx::query(
            "UPDATE notifications SET read_at = $1 WHERE citizen = $2 AND read_at IS NULL",
        );
        self.db.run(q.bind(now).bind(citizen)).await?;
        Ok(())
    }
}
