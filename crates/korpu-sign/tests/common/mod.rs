//! What korpu-sign's tests share beyond `korpu-testkit` (re-exported here: the test PKI,
//! the openssl runner, PDFs): the pyHanko runner, zip editing, `openssl cms -verify`, HTTP
//! time-stamping endpoints.
#![allow(dead_code)]
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use korpu_sign::LocalTimestamper;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

#[allow(unused_imports)] // each test binary uses what it needs
pub use korpu_testkit::{ossl, pdf as pdfgen, Crls, Member, Pki, Setup, DAY};

/// The verdict of an intact, trusted signature validated without revocation data (B-B and B-T
/// with nothing embedded, no fetching): every check passed but revocation, so
/// INDETERMINATE/TRY_LATER (EN 319 102-1 §5.2.6, as DSS), not TOTAL_PASSED.
pub fn assert_valid_without_revocation(r: &korpu_sign::validate::SignatureReport) {
    assert!(r.lacks_only_revocation(), "{r:#?}");
    assert!(r.revocation.starts_with("not checked"), "{r:#?}");
}

#[allow(unused_imports)] // each test binary uses what it needs
pub use ossl::{try_run as openssl, Run};

/// The python that has pyHanko: `KORPU_PYHANKO_PYTHON`, else the virtualenv `scripts/test`
/// makes (pyHanko cannot share an environment with the XAdES judges), else `PYTHON`/python3.
pub fn pyhanko_python() -> String {
    const VENV: &str = "/opt/korpu/pyhanko-venv/bin/python";
    std::env::var("KORPU_PYHANKO_PYTHON")
        .or_else(|_| {
            if Path::new(VENV).exists() {
                Ok(VENV.to_string())
            } else {
                std::env::var("PYTHON")
            }
        })
        .unwrap_or_else(|_| "python3".into())
}

/// Runs the pyHanko helper `script` (in `tests/pyhanko/`) with `args` and returns its
/// stdout; fails the test with its output when it does not succeed.
pub fn run_pyhanko<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let path = format!("{}/tests/pyhanko/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(pyhanko_python())
        .arg(&path)
        .args(args)
        .output()
        .expect("python with pyHanko is needed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyHanko {script} failed (is pyHanko installed? scripts/test installs it):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The verdicts a pyHanko helper prints, one JSON value per line (one per signature).
pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The entries of a zip in order: (name, content, stored uncompressed).
pub fn zip_entries(container: &[u8]) -> Vec<(String, Vec<u8>, bool)> {
    let mut z = zip::ZipArchive::new(Cursor::new(container)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (
                e.name().to_owned(),
                v,
                e.compression() == CompressionMethod::Stored,
            )
        })
        .collect()
}

/// A zip of `entries` in order, each stored or deflated as it says.
pub fn zip_rebuild(entries: &[(String, Vec<u8>, bool)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content, stored) in entries {
        let method = if *stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        z.start_file(
            name.as_str(),
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        z.write_all(content).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// `openssl cms -verify` of the detached DER signature in the file `sig` over the file
/// `content`, trusting `root.pem`, for any purpose (all in `dir`).
pub fn openssl_cms_verify(dir: &Path, sig: &str, content: &str) -> Run {
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            sig,
            "-content",
            content,
            "-CAfile",
            "root.pem",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
}

/// The output of an openssl run that must succeed; fails the test with it otherwise.
pub fn succeeded(r: Run) -> String {
    assert!(r.ok, "openssl failed:\n{}", r.out);
    r.out
}

/// A minimal HTTP/1.1 POST endpoint on a port the OS picks, answering each body with
/// `answer(body)`; serves until the test process ends.
pub fn http_post(
    content_type: &'static str,
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
) -> String {
    let url = korpu_testkit::http::serve(move |_, body| Some((content_type, answer(body))));
    format!("{url}/")
}

/// `tsa` over HTTP (RFC 3161 §3.4), numbering its tokens from `first_serial`.
pub fn http_tsa(tsa: std::sync::Arc<LocalTimestamper>, first_serial: u64) -> String {
    let serial = std::sync::atomic::AtomicU64::new(first_serial);
    http_post("application/timestamp-reply", move |body| {
        let n = serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tsa.authority().respond(body, SystemTime::now(), n)
    })
}
