//! Database bootstrap: one function, [`open`], that takes a service's database URL — `sqlite:PATH`
//! (the embedded default) or `postgres://…` — and returns a connection pool with the service's
//! schema in place, through sqlx's `Any` driver so that one set of queries serves both.
//!
//! What it does, in order: an SQLite file gets its directory (0700) and the file itself (0600)
//! before SQLite touches them ([`korpu_pki::private::prepare_sqlite`]); the pool connects with
//! the service's named [`PoolLimits`], each SQLite connection waiting for the write lock
//! (`busy_timeout`) and enforcing foreign keys; the database is put in WAL mode; then the
//! crate's `sqlx::migrate!` migrations run: the common folder's, with the dialect's own files
//! (where its SQL differs) chosen at run time.
//!
//! Databases made before migrations existed (tables present, no `_sqlx_migrations`) keep
//! working: every crate's first migration only creates what is missing (`IF NOT EXISTS`), and
//! the columns added to the hand-rolled schema after its first release are added first when
//! such a database lacks them ([`Migrations::legacy_columns`]). After that, the database is like
//! any other and later migrations apply to it in turn.
//!
//! Running queries on the open [`Database`] and reading their rows ([`FromRow`],
//! [`from_row!`](crate::from_row), [`is_unique_violation`]) is the `rows` part below.
//!
//! Not here: the queries themselves (each store owns its tables), and sharing one PostgreSQL
//! database between services — each has its own `_sqlx_migrations` bookkeeping, so each needs
//! a database (or server) of its own.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migration, MigrationSource, Migrator};
use sqlx::AnyPool;

mod rows;

pub use rows::{flag, is_unique_violation, FromRow, Query};
// For `from_row!`, which expands in the stores' crates.
#[doc(hidden)]
pub use sqlx::{any::AnyRow, Error as SqlxError, Row};

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (`sqlite:PATH`), in WAL mode.
    Sqlite,
    /// A PostgreSQL server (`postgres://…` or `postgresql://…`).
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(DbError::Url(url.to_owned()))
        }
    }
}

/// A pool's limits, named by each service rather than buried in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Connections at most on SQLite: writers queue for one lock, so a few suffice.
    pub sqlite_max_connections: u32,
    /// Connections at most on PostgreSQL.
    pub postgres_max_connections: u32,
    /// How long a query waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// How long an SQLite writer waits for another's lock instead of failing with SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// SQLite `synchronous = FULL`: a commit survives a power cut, not only a crash of the
    /// process (WAL's default, NORMAL, may lose the last commits to a power cut).
    pub full_sync: bool,
}

impl PoolLimits {
    /// 4 SQLite / 10 PostgreSQL connections, 30 s to get one, 5 s for SQLite's lock, WAL's
    /// default durability.
    pub const DEFAULT: PoolLimits = PoolLimits {
        sqlite_max_connections: 4,
        postgres_max_connections: 10,
        acquire_timeout: Duration::from_secs(30),
        busy_timeout: Duration::from_secs(5),
        full_sync: false,
    };

    fn max_connections(&self, backend: Backend) -> u32 {
        match backend {
            Backend::Sqlite => self.sqlite_max_connections,
            Backend::Postgres => self.postgres_max_connections,
        }
    }
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The database URL a service uses: the configured one, or (empty) the SQLite file `default`,
/// usually a file in the service's data directory.
pub fn url_or_sqlite(configured: &str, default: &std::path::Path) -> String {
    if configured.is_empty() {
        format!("sqlite:{}", default.display())
    } else {
        configured.to_owned()
    }
}

/// One dialect's migrations: the `sqlx::migrate!` migrator and the folder it was built from.
#[derive(Debug)]
pub struct MigrationDir {
    /// The folder, as it stands in the repository (`crates/korpu-central/migrations/sqlite`):
    /// a failed migration is reported by its file in it.
    pub dir: &'static str,
    /// `sqlx::migrate!("migrations/…")` of that folder.
    pub migrator: &'static Migrator,
}

/// A column the hand-rolled schema added after its first release.
#[derive(Debug, Clone, Copy)]
pub struct LegacyColumn {
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// Its SQL type, as `ALTER TABLE … ADD COLUMN` takes it.
    pub sql_type: &'static str,
}

/// A crate's schema: migrations for both dialects, and for each dialect the files whose SQL
/// differs (numbered among the common ones: versions are unique across the folders), and what
/// a database made before migrations may lack.
#[derive(Debug)]
pub struct Migrations {
    /// Files for both dialects; all of them when the crate's SQL is dialect-neutral.
    pub common: MigrationDir,
    /// Files for SQLite only.
    pub sqlite: Option<MigrationDir>,
    /// Files for PostgreSQL only.
    pub postgres: Option<MigrationDir>,
    /// Columns that a database made by the hand-rolled schema before them lacks; they are added
    /// (when their table exists) before the first migration runs on such a database.
    pub legacy_columns: &'static [LegacyColumn],
}

impl Migrations {
    /// Dialect-neutral migrations: one folder for SQLite and PostgreSQL, and no column added to
    /// a hand-rolled schema before them.
    pub const fn neutral(dir: &'static str, migrator: &'static Migrator) -> Self {
        Migrations {
            common: MigrationDir { dir, migrator },
            sqlite: None,
            postgres: None,
            legacy_columns: &[],
        }
    }

    /// The folders that apply to `backend`.
    fn dirs(&self, backend: Backend) -> Vec<&MigrationDir> {
        let dialect = match backend {
            Backend::Sqlite => self.sqlite.as_ref(),
            Backend::Postgres => self.postgres.as_ref(),
        };
        std::iter::once(&self.common).chain(dialect).collect()
    }
}

/// Migrations already embedded by `sqlx::migrate!`, gathered from several folders.
#[derive(Debug)]
struct Gathered(Vec<Migration>);

impl<'s> MigrationSource<'s> for Gathered {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// A database that could not be opened or brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("database URL {0:?} is neither sqlite:PATH nor postgres://…")]
    Url(String),
    /// The SQLite file or its directory could not be created, or is open to others.
    #[error(transparent)]
    Private(#[from] korpu_pki::private::PrivateError),
    /// Connecting failed.
    #[error("cannot open database {url:?}: {source}")]
    Connect {
        /// The URL as connected to.
        url: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// One migration file failed; nothing of it was applied (each runs in a transaction).
    #[error("database migration {file} failed: {source}")]
    Migration {
        /// The file, e.g. `crates/korpu-central/migrations/sqlite/0001_registry.sql`.
        file: String,
        /// What the database said.
        source: sqlx::Error,
    },
    /// The migrations could not run, or the database's record of them does not match these
    /// files (one was changed after it was applied, or the database is newer than this program).
    #[error("database migrations in {dirs}: {source}")]
    Migrate {
        /// The folders of the migrations.
        dirs: String,
        /// What sqlx's migrator said.
        source: MigrateError,
    },
    /// Preparing the database (WAL mode, legacy columns) failed.
    #[error("preparing the database: {0}")]
    Prepare(#[from] sqlx::Error),
}

/// An open database with the schema in place.
#[derive(Debug, Clone)]
pub struct Database {
    /// The pool; cloning it is cheap.
    pub pool: AnyPool,
    /// Which database it is.
    pub backend: Backend,
}

/// Opens (creating if needed) the database at `url` — `sqlite:PATH` or `postgres://…` — with
/// `limits`, and brings it up to date with `migrations`.
pub async fn open(
    url: &str,
    limits: &PoolLimits,
    migrations: &Migrations,
) -> Result<Database, DbError> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url)?;
    korpu_pki::private::prepare_sqlite(url)?;
    let url = if backend == Backend::Sqlite && !url.contains('?') && url != "sqlite::memory:" {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    let busy_timeout = format!("PRAGMA busy_timeout = {}", limits.busy_timeout.as_millis());
    let full_sync = limits.full_sync;
    let pool = AnyPoolOptions::new()
        .max_connections(limits.max_connections(backend))
        .acquire_timeout(limits.acquire_timeout)
        .after_connect(move |conn, _| {
            let busy_timeout = busy_timeout.clone();
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // Foreign keys hold (SQLite leaves them off per connection by default).
                    sqlx::query(&busy_timeout).execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    if full_sync {
                        sqlx::query("PRAGMA synchronous = FULL")
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|source| DbError::Connect {
            url: url.clone(),
            source,
        })?;
    if backend == Backend::Sqlite {
        // Persistent in the file: readers no longer wait for writers.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    let db = Database { pool, backend };
    migrate(&db, migrations).await?;
    Ok(db)
}

/// Adopts a database made before migrations, then runs the dialect's migrations.
async fn migrate(db: &Database, migrations: &Migrations) -> Result<(), DbError> {
    if !table_exists(db, "_sqlx_migrations").await? {
        for c in migrations.legacy_columns {
            if table_exists(db, c.table).await? && !column_exists(db, c.table, c.column).await? {
                sqlx::query(&format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    c.table, c.column, c.sql_type
                ))
                .execute(&db.pool)
                .await?;
            }
        }
    }
    let dirs = migrations.dirs(db.backend);
    let mut all: Vec<Migration> = dirs
        .iter()
        .flat_map(|d| d.migrator.iter().cloned())
        .collect();
    all.sort_by_key(|m| m.version);
    let migrator = Migrator::new(Gathered(all))
        .await
        .map_err(|e| migration_error(&dirs, e))?;
    migrator
        .run(&db.pool)
        .await
        .map_err(|e| migration_error(&dirs, e))
}

/// Names the file of a failed migration: `migrate!` keeps its version and its description (the
/// file name after the version, `_` read as a space), and the files are numbered `NNNN_`.
fn migration_error(dirs: &[&MigrationDir], e: MigrateError) -> DbError {
    match e {
        MigrateError::ExecuteMigration(source, version) => {
            let file = dirs
                .iter()
                .find_map(|d| {
                    let m = d.migrator.iter().find(|m| m.version == version)?;
                    let name = m.description.replace(' ', "_");
                    Some(format!("{}/{version:04}_{name}.sql", d.dir))
                })
                .unwrap_or_else(|| format!("migration {version}"));
            DbError::Migration { file, source }
        }
        source => DbError::Migrate {
            dirs: dirs.iter().map(|d| d.dir).collect::<Vec<_>>().join(", "),
            source,
        },
    }
}

async fn table_exists(db: &Database, table: &str) -> Result<bool, sqlx::Error> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
        Backend::Postgres => {
            "SELECT 1 FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    Ok(sqlx::query(sql)
        .bind(table)
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

async fn column_exists(db: &Database, table: &str, column: &str) -> Result<bool, sqlx::Error> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT 1 FROM pragma_table_info($1) WHERE name = $2",
        Backend::Postgres => {
            "SELECT 1 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
        }
    };
    Ok(sqlx::query(sql)
        .bind(table)
        .bind(column)
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;
    use std::os::unix::fs::PermissionsExt;

    static GOOD: Migrator = sqlx::migrate!("tests/migrations/good");
    static BAD: Migrator = sqlx::migrate!("tests/migrations/bad");

    const LEGACY: &[LegacyColumn] = &[LegacyColumn {
        table: "things",
        column: "colour",
        sql_type: "TEXT",
    }];

    fn set(dir: &'static str, migrator: &'static Migrator) -> Migrations {
        Migrations {
            legacy_columns: LEGACY,
            ..Migrations::neutral(dir, migrator)
        }
    }

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_new_sqlite_database_is_private_in_wal_mode_and_migrated() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("data/x.db");
        let url = format!("sqlite:{}", path.display());
        let db = open(&url, &PoolLimits::DEFAULT, &set("good", &GOOD))
            .await
            .unwrap();
        assert_eq!(db.backend, Backend::Sqlite);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let wal: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(wal, "wal");
        sqlx::query("INSERT INTO things (id, colour) VALUES ('a', 'red')")
            .execute(&db.pool)
            .await
            .unwrap();
        db.pool.close().await;
        // Opening again applies nothing twice and keeps the row.
        let db = open(&url, &PoolLimits::DEFAULT, &set("good", &GOOD))
            .await
            .unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM things")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_database_made_before_migrations_gets_its_missing_columns_and_keeps_its_rows() {
        let t = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}?mode=rwc", t.path().join("old.db").display());
        {
            // As the hand-rolled schema made it: a private file, tables, no `_sqlx_migrations`.
            korpu_pki::private::prepare_sqlite(&url).unwrap();
            sqlx::any::install_default_drivers();
            let pool = AnyPool::connect(&url).await.unwrap();
            sqlx::query("CREATE TABLE things (id TEXT PRIMARY KEY)")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO things (id) VALUES ('old')")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let db = open(&url, &PoolLimits::DEFAULT, &set("good", &GOOD))
            .await
            .unwrap();
        let row = sqlx::query("SELECT id, colour FROM things")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("id"), "old");
        assert_eq!(row.get::<Option<String>, _>("colour"), None);
    }

    #[tokio::test]
    async fn a_failed_migration_names_its_file() {
        let t = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", t.path().join("x.db").display());
        let e = open(
            &url,
            &PoolLimits::DEFAULT,
            &set("crates/korpu-service/tests/migrations/bad", &BAD),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("crates/korpu-service/tests/migrations/bad/0002_broken_table.sql"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn other_urls_are_refused_with_both_forms_named() {
        let e = open("mysql://x/y", &PoolLimits::DEFAULT, &set("good", &GOOD))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("sqlite:PATH nor postgres://"), "{e}");
    }
}
