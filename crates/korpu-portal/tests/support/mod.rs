//! What the portal's integration tests share: an anchor the portal can load.

use std::time::{Duration, SystemTime};

use korpu_pki::ca::{IssueRequest, Profile, Subject};
use korpu_pki::key::SigningKey;

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
