//! A database of its own on the test PostgreSQL server for each test that runs a store on
//! PostgreSQL: the server is `KORPU_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), and one that does not answer fails the test
//! (the PostgreSQL half of the store tests is part of the contract; it never skips).
//!
//! Not a migration runner or a store: each crate opens its own store on the URL.
use sqlx::Connection;

/// The administrative URL of the test PostgreSQL server.
pub fn admin_url() -> String {
    std::env::var("KORPU_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin() -> sqlx::PgConnection {
    let admin = admin_url();
    sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin} does not answer ({e}); these tests need it")
        })
}

/// A new, empty database named `PREFIX_<random hex>`: its URL and its name.
pub async fn create_database(prefix: &str) -> (String, String) {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let name = format!("{prefix}_{}", hex::encode(b));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin().await)
        .await
        .expect("CREATE DATABASE");
    let admin = admin_url();
    let (base, _) = admin.rsplit_once('/').expect("a database URL has a path");
    (format!("{base}/{name}"), name)
}

/// Drops the database `name` (made by [`create_database`]), closing its connections.
pub async fn drop_database(name: &str) {
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin().await)
        .await
        .unwrap();
}
