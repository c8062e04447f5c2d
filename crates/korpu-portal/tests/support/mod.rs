//! What the portal's integration tests share: a portal configuration on a free loopback port
//! with an anchor it can load, no gateway and the development identity provider.

use std::time::{Duration, SystemTime};

use korpu_pki::ca::{IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;
use korpu_portal::config::PortalConfig;

/// A portal on a free port, with its data and anchor in `dir`, and a gateway that is never
/// there: enough for every page that needs no global configuration.
pub fn config(dir: &std::path::Path) -> PortalConfig {
    PortalConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        anchor: anchor(dir),
        gateway_url: "http://127.0.0.1:9".into(),
        client: "AZ/GOV/1400004/mygov".into(),
        dev_idp: true,
        ..PortalConfig::default()
    }
}

/// An anchor the portal can load (nothing is ever verified against it here).
pub fn anchor(dir: &std::path::Path) -> std::path::PathBuf {
    let key = SigningKey::generate();
    let spki = key.public_key_der();
    let now = SystemTime::now();
    let cert = korpu_pki::ca::self_signed(
        &key,
        IssueRequest {
            subject: Subject::cn("test root"),
            public_key_der: &spki,
            profile: Profile::Root,
            not_before: now,
            not_after: now + Duration::from_secs(3600),
            ocsp_url: None,
        },
        &korpu_pki::ca::random_serial(),
    )
    .unwrap();
    let a = korpu_conf::Anchor::new(
        "AZ".parse().unwrap(),
        "http://127.0.0.1:9/conf".into(),
        &[cert],
    )
    .unwrap();
    let path = dir.join("anchor.json");
    std::fs::write(&path, serde_json::to_vec(&a).unwrap()).unwrap();
    path
}
