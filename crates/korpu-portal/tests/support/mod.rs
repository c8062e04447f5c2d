//! What the portal's integration tests share: a portal configuration on a free loopback port
//! with an anchor it can load, no gateway and the development identity provider.

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
    let (_, cert) = korpu_net::test_util::self_signed("test root");
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
