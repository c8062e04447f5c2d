//! Running the stores' queries: a bound [`Query`] executed on a [`Database`], its rows read
//! into types that implement [`FromRow`] (written with [`from_row!`](crate::from_row), one line
//! a type, columns by name), and [`is_unique_violation`], the duplicate-key test of both
//! dialects. The stores of central, docs and portal share these, so a row is mapped and a
//! query run the same way everywhere.
//!
//! Not here: the SQL (each store writes its own, for both dialects) and the stores' error
//! types (each maps `sqlx::Error` into its own at its boundary).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Decode, Row, Type};

use super::Database;

/// A query with its parameters bound, ready for [`Database::run`], [`Database::all`] or
/// [`Database::optional`].
pub type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// A value read from one result row.
pub trait FromRow: Sized {
    /// Reads the row's columns (by name, or by position for tuples).
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error>;
}

/// A row of two columns, read by position (`SELECT a, b …`).
impl<A, B> FromRow for (A, B)
where
    A: for<'r> Decode<'r, Any> + Type<Any>,
    B: for<'r> Decode<'r, Any> + Type<Any>,
{
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}

/// A row of one column, read by position (`SELECT a …`).
impl<A> FromRow for (A,)
where
    A: for<'r> Decode<'r, Any> + Type<Any>,
{
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok((row.try_get(0)?,))
    }
}

/// A boolean column: stored as an integer, 0 or 1, so that one DDL serves both dialects.
pub fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Implements [`FromRow`] for a struct whose fields are read from the columns of the same
/// name: `from_row!(Session { citizen, name, expires_at })`. A field read from another column
/// names it (`by: "by_subsystem"`); a `bool` stored as an integer is marked `hold as flag`.
#[macro_export]
macro_rules! from_row {
    ($ty:ident { $($field:ident $(: $column:literal)? $(as $flag:ident)?),* $(,)? }) => {
        impl $crate::db::FromRow for $ty {
            fn from_row(row: &$crate::db::AnyRow) -> ::std::result::Result<Self, $crate::db::SqlxError> {
                Ok($ty { $($field: $crate::from_row!(@get row, $field $(: $column)? $(as $flag)?)),* })
            }
        }
    };
    (@get $row:ident, $field:ident) => {
        $crate::db::Row::try_get($row, stringify!($field))?
    };
    (@get $row:ident, $field:ident : $column:literal) => {
        $crate::db::Row::try_get($row, $column)?
    };
    (@get $row:ident, $field:ident as flag) => {
        $crate::db::flag($row, stringify!($field))?
    };
}

impl Database {
    /// Executes a statement; returns how many rows it changed.
    pub async fn run(&self, q: Query<'_>) -> Result<u64, sqlx::Error> {
        Ok(q.execute(&self.pool).await?.rows_affected())
    }

    /// Every row of a query, read.
    pub async fn all<T: FromRow>(&self, q: Query<'_>) -> Result<Vec<T>, sqlx::Error> {
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(T::from_row).collect()
    }

    /// The row of a query, if any, read.
    pub async fn optional<T: FromRow>(&self, q: Query<'_>) -> Result<Option<T>, sqlx::Error> {
        let row = q.fetch_optional(&self.pool).await?;
        row.as_ref().map(T::from_row).transpose()
    }

    /// Whether a query finds any row.
    pub async fn exists(&self, q: Query<'_>) -> Result<bool, sqlx::Error> {
        Ok(q.fetch_optional(&self.pool).await?.is_some())
    }
}

/// Whether an error is a unique or primary key violation (a duplicate): PostgreSQL's SQLSTATE
/// 23505, SQLite's extended codes 1555 (primary key) and 2067 (unique), or, where the driver
/// gives no code, SQLite's message.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code()
                .is_some_and(|c| c == "23505" || c == "1555" || c == "2067")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{open, Migrations, PoolLimits};
    use super::*;

    static GOOD: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/good");

    #[derive(Debug, PartialEq)]
    struct Thing {
        id: String,
        shade: Option<String>,
        big: bool,
    }

    crate::from_row!(Thing { id, shade: "colour", big as flag });

    #[tokio::test]
    async fn rows_are_read_by_name_by_position_and_duplicates_are_recognised() {
        let t = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", t.path().join("x.db").display());
        let good = Migrations::neutral("good", &GOOD);
        let db = open(&url, &PoolLimits::DEFAULT, &good).await.unwrap();
        let insert = "INSERT INTO things (id, colour) VALUES ($1, $2)";
        let n = db
            .run(sqlx::query(insert).bind("a").bind("red"))
            .await
            .unwrap();
        assert_eq!(n, 1);
        let e = db
            .run(sqlx::query(insert).bind("a").bind("blue"))
            .await
            .unwrap_err();
        assert!(is_unique_violation(&e), "{e}");
        let things: Vec<Thing> = db
            .all(sqlx::query(
                "SELECT id, colour, 1 AS big FROM things ORDER BY id",
            ))
            .await
            .unwrap();
        let red = Thing {
            id: "a".into(),
            shade: Some("red".into()),
            big: true,
        };
        assert_eq!(things, vec![red]);
        let pair: Option<(String, String)> = db
            .optional(sqlx::query("SELECT id, colour FROM things WHERE id = $1").bind("a"))
            .await
            .unwrap();
        assert_eq!(pair, Some(("a".into(), "red".into())));
        let none: Option<(String,)> = db
            .optional(sqlx::query("SELECT id FROM things WHERE id = $1").bind("z"))
            .await
            .unwrap();
        assert_eq!(none, None);
        assert!(db
            .exists(sqlx::query("SELECT 1 FROM things WHERE id = $1").bind("a"))
            .await
            .unwrap());
    }
}
