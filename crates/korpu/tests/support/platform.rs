//! A platform as a test builds it with the `korpu` binary: a central registry initialised and
//! served on loopback ports, members registered with a subsystem and a gateway whose keys and
//! certificates are made, gateways started. What each test configures beyond that (services,
//! grants, gateway TOML) stays in the test.

use std::path::{Path, PathBuf};

use super::{free_port, korpu_ok, Proc};

/// `korpu central init` in `dir/central` on two free ports, then `korpu central serve` with a
/// one-second configuration refresh and the `env` overrides, its log in `dir/central.log`.
/// Returns the process and the path of central.toml.
pub fn start_central(dir: &Path, env: &[(&'static str, String)]) -> (Proc, PathBuf) {
    let (mgmt, public) = (free_port(), free_port());
    korpu_ok(&[
        "central",
        "init",
        "--dir",
        dir.join("central").to_str().unwrap(),
        "--management-listen",
        &format!("127.0.0.1:{mgmt}"),
        "--public-listen",
        &format!("127.0.0.1:{public}"),
    ]);
    let config = dir.join("central/central.toml");
    let mut central_env = vec![("KORPU_CENTRAL_CONF_REFRESH_SECS", "1".to_string())];
    central_env.extend(env.iter().cloned());
    let (central, _) = Proc::start(
        &["central", "--config", config.to_str().unwrap(), "serve"],
        &central_env,
        &dir.join("central.log"),
    );
    (central, config)
}

/// `korpu central --config CONFIG args`, which must succeed; its stdout.
pub fn admin(config: &Path, args: &[&str]) -> String {
    let mut all = vec!["central", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    korpu_ok(&all)
}

/// Registers `member` (`name`) with `subsystem`, and its gateway `member/gw1` at `address`
/// serving it; makes the gateway's keys in `gw_dir` and has the registry issue its signing and
/// TLS certificates there (sign.pem, tls.pem).
pub fn register_gateway(
    config: &Path,
    member: &str,
    name: &str,
    subsystem: &str,
    address: &str,
    gw_dir: &Path,
) {
    let gateway = format!("{member}/gw1");
    admin(config, &["member", "add", member, "--name", name]);
    admin(config, &["subsystem", "add", subsystem]);
    admin(config, &["gateway", "add", &gateway, "--address", address]);
    admin(config, &["gateway", "add-client", &gateway, subsystem]);
    make_gateway_keys(gw_dir, &gateway);
    issue_cert(config, "signing", member, gw_dir, "sign");
    issue_cert(config, "gateway-tls", &gateway, gw_dir, "tls");
}

/// `korpu gateway keys`: a gateway's signing and TLS keys and their CSRs in `dir`.
pub fn make_gateway_keys(dir: &Path, gateway: &str) {
    let dir = dir.to_str().unwrap();
    korpu_ok(&["gateway", "keys", "--dir", dir, "--gateway", gateway]);
}

/// Has the registry issue a `kind` certificate to `owner` for `dir/NAME.csr.pem`, written to
/// `dir/NAME.pem`.
pub fn issue_cert(config: &Path, kind: &str, owner: &str, dir: &Path, name: &str) {
    let csr = dir.join(format!("{name}.csr.pem"));
    let out = dir.join(format!("{name}.pem"));
    let (csr, out) = (csr.to_str().unwrap(), out.to_str().unwrap());
    let args = ["--kind", kind, "--owner", owner, "--csr", csr, "--out", out];
    admin(config, &[&["cert", "issue"][..], &args].concat());
}

/// Writes `gw_dir/gateway.toml` (`toml_text`), makes its evidence ledger's key and sets it
/// for `member/gw1` in the global configuration, which vouches for it in archives and to the
/// data tracker. Returns the path of gateway.toml.
pub fn configure_gateway(config: &Path, member: &str, gw_dir: &Path, toml_text: &str) -> PathBuf {
    let gateway_toml = gw_dir.join("gateway.toml");
    std::fs::write(&gateway_toml, toml_text).unwrap();
    let key = korpu_ok(&["ledger", "key", "--config", gateway_toml.to_str().unwrap()]);
    admin(
        config,
        &[
            "gateway",
            "set-ledger-key",
            &format!("{member}/gw1"),
            key.trim(),
        ],
    );
    gateway_toml
}

/// `korpu gateway serve --config dir/sub/gateway.toml` with the `env` overrides, logging to
/// `dir/sub-NANOS.log` (a restarted gateway gets a new file). Returns the process and the client
/// URL it printed.
pub fn start_gateway(dir: &Path, sub: &str, env: &[(&str, String)]) -> (Proc, String) {
    let config = dir.join(sub).join("gateway.toml");
    let log = dir.join(format!(
        "{sub}-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let (p, line) = Proc::start(
        &["gateway", "serve", "--config", config.to_str().unwrap()],
        env,
        &log,
    );
    let client = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (p, client)
}

/// The records in the evidence ledger of the gateway in `dir/sub` (`korpu ledger dump`, which
/// reads beside a running writer), one JSON value each.
pub fn ledger_records(dir: &Path, sub: &str) -> Vec<serde_json::Value> {
    let config = dir.join(sub).join("gateway.toml");
    korpu_ok(&["ledger", "dump", "--config", config.to_str().unwrap()])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record per line"))
        .collect()
}

/// The gateway.toml text of `member/gw1` with its data in `dir/sub`, trusting the anchor of the
/// central registry in `dir/central`: its client side on a free port, its server side on
/// `server`, configuration, OCSP and ledger checkpoints every second, then `extra` (more
/// top-level keys, each line ending in a newline) and the `[services]` table `services`.
pub fn gateway_toml(
    dir: &Path,
    sub: &str,
    member: &str,
    server: std::net::SocketAddr,
    extra: &str,
    services: &str,
) -> String {
    format!(
        "gateway = \"{member}/gw1\"\nanchor = \"{}\"\ndata_dir = \"{}\"\nclient_listen = \"127.0.0.1:{}\"\nserver_listen = \"{server}\"\nconf_refresh_secs = 1\nocsp_refresh_secs = 1\nledger_checkpoint_secs = 1\n{extra}[services]\n{services}",
        dir.join("central/anchor.json").display(),
        dir.join(sub).display(),
        free_port()
    )
}
