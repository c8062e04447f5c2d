//! Helpers shared by the end-to-end tests of the `korpu` binary: loopback ports, running the
//! binary, and (in the submodules) the set-up several test files make alike — a platform of a
//! central registry and gateways ([`platform`]), a small PKI with a TSA and OCSP responder for
//! document signing ([`doc`]). Assertions stay in the test files.
//!
//! Every file under tests/ is its own crate and uses only some of these helpers; the rest would
//! be dead code in that crate, hence the allow.
#![allow(dead_code)]

pub mod doc;
pub mod platform;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};

pub const KORPU: &str = env!("CARGO_BIN_EXE_korpu");

/// `korpu doc verify --trust ROOT OPTIONS… FILE`: validation of `file` trusting the root
/// certificate file `root`.
pub fn doc_verify(root: &str, options: &[&str], file: &str) -> Output {
    let mut args = vec!["doc", "verify", "--trust", root];
    args.extend_from_slice(options);
    args.push(file);
    korpu(&args)
}

/// Ports below Linux's ephemeral range (32768–60999 by default), so that the many outgoing
/// connections a test makes can never take a port between our choosing it and a child process
/// binding it — the race that `bind(0)`-then-close has.
const PORTS: std::ops::Range<u16> = 20000..32000;

/// A loopback port nobody listens on, distinct from every other port this process handed out.
/// Test binaries run one at a time, but their tests run on parallel threads: the shared counter
/// keeps those apart, the pid-derived start keeps concurrent binaries (if any) apart.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = PORTS.end - PORTS.start;
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % u32::from(span)) as u16 + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = PORTS.start + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {PORTS:?}");
}

/// `korpu args`, run to its end with warnings-only logging.
pub fn korpu(args: &[&str]) -> Output {
    Command::new(KORPU)
        .args(args)
        .env("KORPU_LOG", "warn")
        .output()
        .unwrap()
}

/// `korpu args`, which must succeed; its stdout.
pub fn korpu_ok(args: &[&str]) -> String {
    let out = korpu(args);
    assert!(
        out.status.success(),
        "korpu {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `korpu args`, which must fail; its stderr.
pub fn korpu_fails(args: &[&str]) -> String {
    let out = korpu(args);
    assert!(
        !out.status.success(),
        "korpu {args:?} should fail:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished process's status and both outputs, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A child process killed when dropped (unless it was terminated cleanly before).
pub struct Proc(pub Child);

impl Proc {
    /// Starts `korpu args` (log level info, stderr to `log`, `env` added) and waits for its
    /// first stdout line, which it returns.
    pub fn start(args: &[&str], env: &[(&str, String)], log: &Path) -> (Self, String) {
        let mut cmd = Command::new(KORPU);
        cmd.args(args)
            .env("KORPU_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.is_empty(),
            "korpu {args:?} printed nothing; its log {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        (Proc(child), line)
    }

    /// SIGTERM, and wait for a clean exit (a gateway closes its ledger on the way out).
    pub fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.0.wait().unwrap();
        assert!(
            status.success(),
            "korpu did not exit cleanly on SIGTERM: {status}"
        );
    }

    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}
