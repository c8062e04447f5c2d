//! Persistence of the registry: SQLite (WAL) by default, PostgreSQL given a `postgres://` URL.
//!
//! One set of queries serves both through sqlx's `Any` driver; only the DDL differs (column
//! types), so the schema is numbered migrations in `migrations/common` and, for the one table
//! whose DDL differs, in `migrations/sqlite` or `migrations/postgres`, applied by
//! `korpu_service::db` when the store opens. Identifiers are stored in their canonical text form, which `korpu-id` round-trips,
//! so a row never needs re-validation when read back beyond parsing.
//!
//! This module does not validate requests (the registry does) and knows nothing of HTTP.

use korpu_conf::Timestamp;
use korpu_service::db::{
    is_unique_violation, Database, LegacyColumn, MigrationDir, Migrations, PoolLimits, Query,
};
use korpu_service::from_row;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrator;

use crate::error::RegistryError;

pub use korpu_service::db::Backend;

/// A connection pool to the registry database, with the schema in place.
#[derive(Clone)]
pub struct Store {
    db: Database,
}

static COMMON: Migrator = sqlx::migrate!("migrations/common");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The registry's schema: common files, and the certificates' table per dialect (its binary
/// column is `BLOB` in SQLite, `BYTEA` in PostgreSQL).
static MIGRATIONS: Migrations = Migrations {
    common: MigrationDir {
        dir: "crates/korpu-central/migrations/common",
        migrator: &COMMON,
    },
    sqlite: Some(MigrationDir {
        dir: "crates/korpu-central/migrations/sqlite",
        migrator: &SQLITE,
    }),
    postgres: Some(MigrationDir {
        dir: "crates/korpu-central/migrations/postgres",
        migrator: &POSTGRES,
    }),
    legacy_columns: &[
        // The gateway's evidence-ledger note verifier key (C2SP vkey text).
        LegacyColumn {
            table: "gateways",
            column: "ledger_key",
            sql_type: "TEXT",
        },
        // The service's myGov portal listing, as JSON (korpu_conf::PortalListing).
        LegacyColumn {
            table: "services",
            column: "portal",
            sql_type: "TEXT",
        },
    ],
};

/// The registry's pool: a handful of administrators and gateways fetching the configuration.
pub const POOL_LIMITS: PoolLimits = PoolLimits::DEFAULT;

/// What a key may be registered as ([`Store::is_registered`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    MemberClass,
    Member,
    Subsystem,
    Gateway,
    Service,
}

/// A stored certificate, and as the management API lists it (`GET /api/v1/certificates`): the
/// same fields in JSON, times as RFC 3339 timestamps and the DER as its hex SHA-256 (`sha256`),
/// so that the certificate is described once.
#[derive(Debug, Clone, Serialize)]
pub struct CertRow {
    pub serial: String,
    pub kind: String,
    pub owner: String,
    pub subject: String,
    /// Unix seconds.
    #[serde(serialize_with = "as_timestamp")]
    pub not_before: i64,
    /// Unix seconds.
    #[serde(serialize_with = "as_timestamp")]
    pub not_after: i64,
    #[serde(rename = "sha256", serialize_with = "as_sha256")]
    pub der: Vec<u8>,
    /// Unix seconds.
    #[serde(serialize_with = "as_optional_timestamp")]
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
}

fn timestamp(unix: i64) -> Timestamp {
    Timestamp::from_unix(unix.max(0) as u64)
}

fn as_timestamp<S: Serializer>(unix: &i64, s: S) -> Result<S::Ok, S::Error> {
    timestamp(*unix).serialize(s)
}

fn as_optional_timestamp<S: Serializer>(unix: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    unix.map(timestamp).serialize(s)
}

fn as_sha256<S: Serializer>(der: &[u8], s: S) -> Result<S::Ok, S::Error> {
    hex::encode(Sha256::digest(der)).serialize(s)
}

/// A stored service.
#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub id: String,
    pub subsystem_id: String,
    pub version: Option<String>,
    pub title: String,
    pub openapi: Option<String>,
    pub subject_in: Option<String>,
    pub subject_name: Option<String>,
    pub purpose_required: bool,
    /// The portal listing as JSON text, when the service is citizen-facing.
    pub portal: Option<String>,
}

from_row!(CertRow {
    serial,
    kind,
    owner,
    subject,
    not_before,
    not_after,
    der,
    revoked_at,
    revocation_reason
});
from_row!(ServiceRow { id, subsystem_id, version, title, openapi, subject_in, subject_name, purpose_required as flag, portal });

/// A failed query is the registry's database failing (`?` in the store's methods).
impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url`: `sqlite:PATH` or `postgres://…`, and
    /// brings its schema up to date, with the default [`POOL_LIMITS`].
    pub async fn open(url: &str) -> Result<Self, RegistryError> {
        Self::open_with(url, &POOL_LIMITS).await
    }

    /// [`Store::open`] with the pool's limits from the configuration.
    pub async fn open_with(url: &str, limits: &PoolLimits) -> Result<Self, RegistryError> {
        // Members, certificates, admin token hashes: the database and its -wal/-shm are the
        // owner's only (korpu_service::db creates them so).
        let db = korpu_service::db::open(url, limits, &MIGRATIONS)
            .await
            .map_err(|e| RegistryError::Store(e.to_string()))?;
        Ok(Self { db })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// Waits for queries in flight and closes every connection (SQLite folds its WAL back
    /// into the database file when the last one closes).
    pub async fn close(&self) {
        self.db.pool.close().await;
    }

    /// Runs an insert; a duplicate key becomes [`RegistryError::Duplicate`].
    async fn insert<'q>(
        &self,
        q: Query<'q>,
        what: &'static str,
        id: &str,
    ) -> Result<(), RegistryError> {
        self.db.run(q).await.map_err(|e| {
            if is_unique_violation(&e) {
                RegistryError::Duplicate {
                    what,
                    id: id.to_owned(),
                }
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    /// Runs a query that selects two text columns and returns its rows as pairs.
    async fn pairs(&self, sql: &str) -> Result<Vec<(String, String)>, RegistryError> {
        Ok(self.db.all(sqlx::query(sql)).await?)
    }

    /// Whether `key` (a code or an identifier in text form) is registered as `what`.
    pub async fn is_registered(&self, what: Registered, key: &str) -> Result<bool, RegistryError> {
        let sql = match what {
            Registered::MemberClass => "SELECT 1 FROM member_classes WHERE code = $1",
            Registered::Member => "SELECT 1 FROM members WHERE id = $1",
            Registered::Subsystem => "SELECT 1 FROM subsystems WHERE id = $1",
            Registered::Gateway => "SELECT 1 FROM gateways WHERE id = $1",
            Registered::Service => "SELECT 1 FROM services WHERE id = $1",
        };
        self.exists(sql, key).await
    }

    async fn exists(&self, sql: &str, id: &str) -> Result<bool, RegistryError> {
        Ok(self.db.exists(sqlx::query(sql).bind(id)).await?)
    }

    // --- member classes -----------------------------------------------------------------

    pub async fn insert_member_class(&self, code: &str, desc: &str) -> Result<(), RegistryError> {
        let q = sqlx::query("INSERT INTO member_classes (code, description) VALUES ($1, $2)")
            .bind(code)
            .bind(desc);
        self.insert(q, "member class", code).await
    }

    pub async fn member_classes(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT code, description FROM member_classes ORDER BY code")
            .await
    }

    // --- members and subsystems -----------------------------------------------------------

    pub async fn insert_member(
        &self,
        id: &str,
        class: &str,
        name: &str,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO members (id, class, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(class)
        .bind(name)
        .bind(now);
        self.insert(q, "member", id).await
    }

    /// Members as (id, name), ordered by id.
    pub async fn members(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT id, name FROM members ORDER BY id").await
    }

    pub async fn insert_subsystem(
        &self,
        id: &str,
        member_id: &str,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q =
            sqlx::query("INSERT INTO subsystems (id, member_id, created_at) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(member_id)
                .bind(now);
        self.insert(q, "subsystem", id).await
    }

    /// Subsystems as (id, member id), ordered by id.
    pub async fn subsystems(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT id, member_id FROM subsystems ORDER BY id")
            .await
    }

    // --- gateways -------------------------------------------------------------------------

    pub async fn insert_gateway(
        &self,
        id: &str,
        member_id: &str,
        address: &str,
        ledger_key: Option<&str>,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO gateways (id, member_id, address, created_at, ledger_key)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(member_id)
        .bind(address)
        .bind(now)
        .bind(ledger_key.map(str::to_owned));
        self.insert(q, "gateway", id).await
    }

    /// Sets (or clears) a gateway's ledger verifier key; returns whether the gateway exists.
    pub async fn set_gateway_ledger_key(
        &self,
        id: &str,
        ledger_key: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let q = sqlx::query("UPDATE gateways SET ledger_key = $1 WHERE id = $2")
            .bind(ledger_key.map(str::to_owned))
            .bind(id);
        Ok(self.db.run(q).await? > 0)
    }

    /// Gateways' ledger verifier keys as (id, key), for gateways that have one.
    pub async fn gateway_ledger_keys(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT id, ledger_key FROM gateways WHERE ledger_key IS NOT NULL ORDER BY id")
            .await
    }

    /// Gateways as (id, address), ordered by id.
    pub async fn gateways(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT id, address FROM gateways ORDER BY id")
            .await
    }

    pub async fn insert_gateway_client(
        &self,
        gateway_id: &str,
        client_id: &str,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query("INSERT INTO gateway_clients (gateway_id, client_id) VALUES ($1, $2)")
            .bind(gateway_id)
            .bind(client_id);
        self.insert(
            q,
            "gateway client",
            &format!("{gateway_id} serving {client_id}"),
        )
        .await
    }

    /// (gateway id, client id) pairs, ordered.
    pub async fn gateway_clients(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs(
            "SELECT gateway_id, client_id FROM gateway_clients ORDER BY gateway_id, client_id",
        )
        .await
    }

    // --- services and access rights -----------------------------------------------------

    pub async fn insert_service(&self, s: &ServiceRow, now: i64) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO services (id, subsystem_id, version, title, openapi, subject_in,
             subject_name, purpose_required, created_at, portal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&s.id)
        .bind(&s.subsystem_id)
        .bind(s.version.clone())
        .bind(&s.title)
        .bind(s.openapi.clone())
        .bind(s.subject_in.clone())
        .bind(s.subject_name.clone())
        .bind(i64::from(s.purpose_required))
        .bind(now)
        .bind(s.portal.clone());
        self.insert(q, "service", &s.id).await
    }

    pub async fn services(&self) -> Result<Vec<ServiceRow>, RegistryError> {
        let q = sqlx::query(
            "SELECT id, subsystem_id, version, title, openapi, subject_in, subject_name,
             purpose_required, portal FROM services ORDER BY id",
        );
        Ok(self.db.all(q).await?)
    }

    pub async fn insert_access_right(
        &self,
        client_id: &str,
        service_id: &str,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO access_rights (client_id, service_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(client_id)
        .bind(service_id)
        .bind(now);
        self.insert(q, "access right", &format!("{client_id} to {service_id}"))
            .await
    }

    /// Removes an access right; returns whether it existed.
    pub async fn delete_access_right(
        &self,
        client_id: &str,
        service_id: &str,
    ) -> Result<bool, RegistryError> {
        let q = sqlx::query("DELETE FROM access_rights WHERE client_id = $1 AND service_id = $2")
            .bind(client_id)
            .bind(service_id);
        Ok(self.db.run(q).await? > 0)
    }

    /// (client id, service id) pairs, ordered.
    pub async fn access_rights(&self) -> Result<Vec<(String, String)>, RegistryError> {
        self.pairs("SELECT client_id, service_id FROM access_rights ORDER BY service_id, client_id")
            .await
    }

    // --- certificates -----------------------------------------------------------------

    pub async fn insert_certificate(&self, c: &CertRow, now: i64) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO certificates (serial, kind, owner, subject, not_before, not_after, der,
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.serial)
        .bind(&c.kind)
        .bind(&c.owner)
        .bind(&c.subject)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(c.der.clone())
        .bind(now);
        self.insert(q, "certificate", &c.serial).await
    }

    pub async fn certificate(&self, serial: &str) -> Result<Option<CertRow>, RegistryError> {
        let q = sqlx::query(
            "SELECT serial, kind, owner, subject, not_before, not_after, der, revoked_at,
             revocation_reason FROM certificates WHERE serial = $1",
        );
        Ok(self.db.optional(q.bind(serial)).await?)
    }

    pub async fn certificates(&self) -> Result<Vec<CertRow>, RegistryError> {
        let q = sqlx::query(
            "SELECT serial, kind, owner, subject, not_before, not_after, der, revoked_at,
             revocation_reason FROM certificates ORDER BY created_at, serial",
        );
        Ok(self.db.all(q).await?)
    }

    /// Marks a certificate revoked unless it already is; returns whether this call revoked it.
    pub async fn revoke_certificate(
        &self,
        serial: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, RegistryError> {
        let q = sqlx::query(
            "UPDATE certificates SET revoked_at = $1, revocation_reason = $2
             WHERE serial = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(reason)
        .bind(serial);
        Ok(self.db.run(q).await? > 0)
    }

    // --- administrators -----------------------------------------------------------------

    pub async fn insert_admin_token(
        &self,
        token_sha256: &str,
        name: &str,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO admin_tokens (token_sha256, name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_sha256)
        .bind(name)
        .bind(now);
        self.insert(q, "admin token", name).await
    }

    /// The administrator's name for a token hash, if the token is known.
    pub async fn admin_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, RegistryError> {
        let q = sqlx::query("SELECT name FROM admin_tokens WHERE token_sha256 = $1");
        let name: Option<(String,)> = self.db.optional(q.bind(token_sha256)).await?;
        Ok(name.map(|(n,)| n))
    }

    // --- configuration versions -----------------------------------------------------------

    /// The newest published version as (version, content hash), if any.
    pub async fn latest_conf_version(&self) -> Result<Option<(i64, String)>, RegistryError> {
        let q = sqlx::query(
            "SELECT version, content_sha256 FROM conf_versions ORDER BY version DESC LIMIT 1",
        );
        Ok(self.db.optional(q).await?)
    }

    pub async fn insert_conf_version(
        &self,
        version: i64,
        content_sha256: &str,
        now: i64,
    ) -> Result<(), RegistryError> {
        let q = sqlx::query(
            "INSERT INTO conf_versions (version, content_sha256, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(version)
        .bind(content_sha256)
        .bind(now);
        self.insert(q, "configuration version", &version.to_string())
            .await
    }
}
