//! The central registry of a Körpü instance (`korpu central …`).
//!
//! It owns the registry of members, subsystems, gateways, services and access rights; runs the
//! platform PKI (issuing and revoking member and gateway certificates, an RFC 6960 OCSP
//! responder and an RFC 3161 time-stamping authority); and publishes the signed, versioned,
//! expiring global configuration that every gateway verifies against its anchor.
//!
//! Layers, bottom up: [`store`] (SQL), [`registry`] (rules, validation, configuration
//! assembly), [`server`] (HTTP). It does not route exchanges or keep the evidence ledger: those
//! are the gateways' business, and they learn everything they need from the configuration.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod pki;
pub mod ratelimit;
pub mod registry;
pub mod server;
pub mod store;

use std::path::PathBuf;

pub use config::CentralConfig;
pub use error::RegistryError;
pub use registry::Registry;
pub use server::{start, RunningCentral};

/// Member classes every new instance starts with; more can be added through the API.
pub const DEFAULT_MEMBER_CLASSES: &[(&str, &str)] = &[
    ("GOV", "Government agencies"),
    ("COM", "Companies"),
    ("NGO", "Non-governmental organisations"),
];

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    pub admin_token: String,
    pub admin_token_path: PathBuf,
    pub anchor_path: PathBuf,
    pub root_cert_path: PathBuf,
}

/// Sets up a new instance in `config.data_dir`: the PKI, the database with the default member
/// classes, a first administrator token (also written to `admin-token`, mode 0600) and the
/// configuration anchor. Refuses to touch a directory that already holds a PKI.
pub async fn init(config: &CentralConfig) -> Result<InitReport, RegistryError> {
    if config.root_cert_path().exists() {
        return Err(RegistryError::Invalid {
            field: "data_dir".into(),
            rule: "empty_directory",
            message: format!(
                "{} already holds a central registry; choose another data_dir or remove it",
                config.data_dir.display()
            ),
        });
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.push(config.management_listen.ip().to_string());
    names.extend(config.tls_names.iter().cloned());
    names.sort();
    names.dedup();
    let public_url = config.effective_public_url();
    let pki = pki::CentralPki::create(
        &config.data_dir,
        &config.instance,
        &names,
        &format!("{public_url}/ocsp"),
    )?;
    let store = store::Store::open(&config.effective_database_url()).await?;
    let registry = Registry {
        store,
        pki,
        settings: registry::RegistrySettings {
            instance: config
                .instance
                .parse()
                .map_err(|e| RegistryError::bad_id("instance", e))?,
            leaf_cert_validity: std::time::Duration::from_secs(
                config.leaf_cert_validity_days * 86_400,
            ),
            conf_validity: std::time::Duration::from_secs(config.conf_validity_secs),
            public_url,
        },
    };
    for (code, description) in DEFAULT_MEMBER_CLASSES {
        match registry
            .add_member_class(&registry::NewMemberClass {
                code: (*code).into(),
                description: (*description).into(),
            })
            .await
        {
            Ok(()) | Err(RegistryError::Duplicate { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let admin_token = registry.create_admin_token("initial administrator").await?;
    let admin_token_path = config.admin_token_path();
    korpu_service::secret::write(&admin_token_path, admin_token.as_bytes())
        .map_err(|e| RegistryError::Pki(format!("writing the administrator token: {e}")))?;
    let anchor_path = config.anchor_path();
    std::fs::write(&anchor_path, registry.anchor()?.to_json())
        .map_err(|e| RegistryError::Pki(format!("writing {}: {e}", anchor_path.display())))?;
    Ok(InitReport {
        admin_token,
        admin_token_path,
        anchor_path,
        root_cert_path: config.root_cert_path(),
    })
}
