//! The configuration anchor: what a gateway trusts before it has any configuration.
//!
//! It is a small JSON file that an operator copies from the central registry when installing a
//! gateway (like X-Road's configuration anchor). It names the instance, where the configuration
//! is downloaded from, and the certificates whose keys may sign it. Several certificates allow
//! the central signing key to be rotated without re-installing every gateway.

use korpu_id::InstanceId;
use korpu_pki::cert::Certificate;
use serde::{Deserialize, Serialize};

use crate::{ConfError, Timestamp};

/// The `format` value of anchors this crate writes and accepts.
pub const ANCHOR_FORMAT: &str = "korpu-anchor/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub format: String,
    pub instance: InstanceId,
    pub generated_at: Timestamp,
    /// Where the signed global configuration is downloaded from.
    pub conf_url: String,
    /// PEM certificates of the keys allowed to sign the configuration.
    pub signing_certs: Vec<String>,
}

impl Anchor {
    pub fn new(
        instance: InstanceId,
        conf_url: String,
        signing_certs: &[Certificate],
    ) -> Result<Self, ConfError> {
        Ok(Self {
            format: ANCHOR_FORMAT.to_owned(),
            instance,
            generated_at: Timestamp::now(),
            conf_url,
            signing_certs: signing_certs.iter().map(Certificate::to_pem).collect(),
        })
    }

    /// Parses an anchor file, checking its format and that every certificate parses.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfError> {
        let anchor: Anchor = serde_json::from_slice(bytes)
            .map_err(|e| ConfError::BadAnchor(format!("not a Körpü anchor file: {e}")))?;
        if anchor.format != ANCHOR_FORMAT {
            return Err(ConfError::BadAnchor(format!(
                "format is {:?}, expected {ANCHOR_FORMAT:?}",
                anchor.format
            )));
        }
        if anchor.signing_certs.is_empty() {
            return Err(ConfError::BadAnchor(
                "it lists no signing certificate, so nothing could be trusted".into(),
            ));
        }
        anchor.certificates()?;
        Ok(anchor)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("an anchor always serialises")
    }

    /// The trusted signing certificates.
    pub fn certificates(&self) -> Result<Vec<Certificate>, ConfError> {
        self.signing_certs
            .iter()
            .map(|pem| {
                Certificate::from_pem(pem)
                    .map_err(|e| ConfError::BadAnchor(format!("a signing certificate: {e}")))
            })
            .collect()
    }
}
