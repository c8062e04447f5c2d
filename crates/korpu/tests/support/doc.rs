//! Set-up for the `korpu doc` tests over `korpu-testkit`: the "Doc" PKI (root, issuing CA,
//! leaves; subjects bare common names, as reports show them), a time-stamping authority and an
//! OCSP responder under it served over HTTP on a loopback port, signer key and certificate
//! files, and a one-page PDF to sign. What each test signs and checks stays in the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use korpu_pki::ca::Profile;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::ocsp::{CertStatus, Responder};
use korpu_pki::tsa::Authority;
use korpu_testkit::{http, DAY};

#[allow(unused_imports)] // each test file uses what it needs
pub use korpu_testkit::{pki::root_and_leaf, Pki};

use super::korpu;

/// "Doc Root" and its "Doc Issuing CA", which issues every leaf.
pub fn doc_pki() -> Pki {
    Pki::cn_only("Doc")
}

/// A new [`doc_pki`] with its "Doc TSA" (policy 1.3.6.1.4.1.99999.2) and OCSP responder
/// served ([`serve`], nothing revoked); returns it and the servers' URL.
pub fn served() -> (Pki, String) {
    let pki = doc_pki();
    let tsa = tsa(&pki, "Doc TSA", "1.3.6.1.4.1.99999.2", None);
    let url = serve(tsa, pki.responder(), Vec::new());
    (pki, url)
}

/// A time-stamping authority of `pki` with a leaf certificate `cn` (naming `ocsp_url`, if
/// any), stamping under the policy `policy`.
pub fn tsa(pki: &Pki, cn: &str, policy: &str, ocsp_url: Option<&str>) -> Authority {
    pki.authority(pki.leaf(cn, Profile::Tsa, ocsp_url), policy)
}

/// [`serve_on`] a loopback port of its own; returns `http://ADDR`.
pub fn serve(tsa: Authority, ocsp: Responder, revoked: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, tsa, ocsp, revoked);
    format!("http://{addr}")
}

/// POST /tsa (RFC 3161) and POST /ocsp (RFC 6960) on `listener`, on a thread of its own;
/// `revoked` serials answer revoked since a day ago.
pub fn serve_on(listener: TcpListener, tsa: Authority, ocsp: Responder, revoked: Vec<String>) {
    let status = move |s: &str| {
        if revoked.iter().any(|r| r == s) {
            CertStatus::Revoked {
                at: SystemTime::now() - DAY,
                reason: None,
            }
        } else {
            CertStatus::Good
        }
    };
    http::serve_on(listener, http::tsa_and_ocsp(tsa, 1, ocsp, status));
}

/// A one-page PDF 1.4 showing `text`.
pub fn pdf(text: &str) -> Vec<u8> {
    korpu_testkit::pdf::simple(text, 0)
}

/// `korpu doc sign EXTRA… --key --cert --chain CHAIN --tsa URL/tsa --ocsp URL/ocsp --level
/// LEVEL INPUT OUT`: signed by `who`, time-stamped and with revocation data from the servers
/// at `url` (as [`serve`] returns it).
pub fn sign(
    who: &Signer,
    chain: &Path,
    url: &str,
    level: &str,
    extra: &[&str],
    input: &Path,
    out: &Path,
) -> Output {
    let s = |x: &Path| x.to_str().unwrap().to_owned();
    let (key, cert, chain) = (s(&who.key), s(&who.cert), s(chain));
    let (tsa, ocsp) = (format!("{url}/tsa"), format!("{url}/ocsp"));
    let (input, out) = (s(input), s(out));
    let mut args = vec!["doc", "sign"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--key", &key, "--cert", &cert, "--chain", &chain, "--tsa", &tsa, "--ocsp", &ocsp,
        "--level", level, &input, &out,
    ]);
    korpu(&args)
}

/// `korpu doc sign OPTIONS… --key --cert --level LEVEL INPUT OUT`, signed by `who` with only
/// the `options` given (a chain, a TSA, …).
pub fn sign_with(who: &Signer, options: &[&str], level: &str, input: &Path, out: &Path) -> Output {
    let s = |x: &Path| x.to_str().unwrap().to_owned();
    let (key, cert, input, out) = (s(&who.key), s(&who.cert), s(input), s(out));
    let mut args = vec!["doc", "sign"];
    args.extend_from_slice(options);
    args.extend_from_slice(&[
        "--key", &key, "--cert", &cert, "--level", level, &input, &out,
    ]);
    korpu(&args)
}

/// A signer's private key and certificate files.
pub struct Signer {
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// Writes `dir/NAME.key` and `dir/NAME.pem`.
pub fn write_signer(dir: &Path, name: &str, cert: &Certificate, key: &SigningKey) -> Signer {
    let s = Signer {
        key: dir.join(format!("{name}.key")),
        cert: dir.join(format!("{name}.pem")),
    };
    korpu_pki::key::write_private_key(&s.key, key).unwrap();
    std::fs::write(&s.cert, cert.to_pem()).unwrap();
    s
}
