//! Certificate hierarchies and CRLs made by the `openssl` command in a temporary directory, so
//! chain building and CRL handling are judged on what an independent CA produces (RSA and EC
//! keys, openssl's own name encodings and extensions), not on what our own issuer writes.
//!
//! Shared by korpu-pki's and korpu-sign's tests (`#[path]`-included). Fails, never skips, when
//! openssl is missing. Set `OPENSSL` for a binary other than `/usr/bin/openssl`.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

use korpu_pki::cert::Certificate;

/// A key openssl generates.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    Rsa2048,
    P256,
    P384,
}

/// A certificate made by openssl, with the files behind it.
#[derive(Clone, Debug)]
pub struct Made {
    pub name: String,
    pub cert: Certificate,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

pub struct Ossl {
    pub dir: tempfile::TempDir,
    serial: std::cell::Cell<u32>,
}

pub fn openssl_bin() -> PathBuf {
    std::env::var_os("OPENSSL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/openssl"))
}

/// What an openssl command printed (stdout, then stderr) and whether it succeeded.
pub struct Run {
    pub ok: bool,
    pub out: String,
}

/// Runs openssl with `args` in `dir`; fails the test only when openssl cannot be started (the
/// interop tests need it: they never skip).
pub fn try_run(dir: &Path, args: &[&str]) -> Run {
    let bin = openssl_bin();
    let output = Command::new(&bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); the interop tests require openssl",
                bin.display()
            )
        });
    let mut out = String::from_utf8_lossy(&output.stdout).into_owned();
    out.push_str(&String::from_utf8_lossy(&output.stderr));
    Run {
        ok: output.status.success(),
        out,
    }
}

/// As [`try_run`], failing the test when openssl does not succeed; returns what it printed.
pub fn run(dir: &Path, args: &[&str]) -> String {
    let r = try_run(dir, args);
    assert!(r.ok, "openssl {} failed:\n{}", args.join(" "), r.out);
    r.out
}

/// `openssl cms -sign -cades -binary` with SHA-256 in `dir`: a detached DER signature of the
/// file `input` into `output` by the certificate and key files `cert` and `key`, with the
/// further options `extra` (`-certfile`, `-nodetach`, `-stream`, ...).
pub fn cms_sign_cades(
    dir: &Path,
    input: &str,
    output: &str,
    cert: &str,
    key: &str,
    extra: &[&str],
) {
    let mut args = vec![
        "cms", "-sign", "-binary", "-cades", "-md", "sha256", "-outform", "DER", "-signer", cert,
        "-inkey", key, "-in", input, "-out", output,
    ];
    args.extend(extra);
    run(dir, &args);
}

/// An openssl TSA in `dir`: `tsa.cnf` signing with the certificate and key files `cert` and
/// `key`, adding the PEM file `certs` to each token, accepting the `digests` (comma-separated),
/// with the further `[t]` lines `extra`; serial numbers from `serial.txt`.
pub fn tsa_config(dir: &Path, cert: &str, key: &str, certs: &str, digests: &str, extra: &str) {
    std::fs::write(
        dir.join("tsa.cnf"),
        format!(
            "[tsa]\ndefault_tsa=t\n[t]\nserial=serial.txt\nsigner_cert={cert}\nsigner_key={key}\n\
             certs={certs}\ndefault_policy=1.2.3.4\ndigests={digests}\nsigner_digest=sha256\n\
             ess_cert_id_alg=sha256\n{extra}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("serial.txt"), "01\n").unwrap();
}

/// Writes the request `q.tsq` over the file `stamped.bin` with the digest option `digest`
/// (`-sha256`, `-sha512`, ...), asking for the TSA's certificate, plus the options `extra`.
pub fn ts_query(dir: &Path, digest: &str, extra: &[&str]) {
    let mut args = vec!["ts", "-query", "-data", "stamped.bin", digest, "-cert"];
    args.extend(extra);
    args.extend(["-out", "q.tsq"]);
    run(dir, &args);
}

/// The token (DER) the TSA of [`tsa_config`] issues for the request in `q.tsq`.
pub fn ts_reply(dir: &Path) -> Vec<u8> {
    run(
        dir,
        &[
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            "q.tsq",
            "-token_out",
            "-out",
            "token.der",
        ],
    );
    std::fs::read(dir.join("token.der")).unwrap()
}

/// The extensions of a CA certificate (openssl x509v3 config syntax).
pub const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";
/// A document signer's extensions.
pub const SIGNER_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";

impl Ossl {
    pub fn new() -> Self {
        Ossl {
            dir: tempfile::tempdir().unwrap(),
            serial: std::cell::Cell::new(0x1000),
        }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn run(&self, args: &[&str]) -> String {
        run(self.dir.path(), args)
    }

    pub fn key(&self, name: &str, kind: KeyKind) -> PathBuf {
        let file = format!("{name}.key");
        let (alg, opt) = match kind {
            KeyKind::Rsa2048 => ("RSA", "rsa_keygen_bits:2048"),
            KeyKind::P256 => ("EC", "ec_paramgen_curve:P-256"),
            KeyKind::P384 => ("EC", "ec_paramgen_curve:P-384"),
        };
        self.run(&["genpkey", "-algorithm", alg, "-pkeyopt", opt, "-out", &file]);
        self.path(&file)
    }

    fn ext_file(&self, name: &str, ext: &str) -> String {
        let file = format!("{name}.cnf");
        std::fs::write(
            self.path(&file),
            format!("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n{ext}"),
        )
        .unwrap();
        file
    }

    /// A self-signed root `subject` ("/CN=.../O=...") over a fresh key of `kind`.
    pub fn root(&self, name: &str, subject: &str, kind: KeyKind) -> Made {
        let key = self.key(name, kind);
        self.root_with_key(name, subject, &key, CA_EXT)
    }

    pub fn root_with_key(&self, name: &str, subject: &str, key: &Path, ext: &str) -> Made {
        let cnf = self.ext_file(name, ext);
        let pem = format!("{name}.pem");
        self.run(&[
            "req",
            "-x509",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            subject,
            "-days",
            "3650",
            "-sha256",
            "-config",
            &cnf,
            "-extensions",
            "ext",
            "-out",
            &pem,
        ]);
        self.made(name, key)
    }

    /// A certificate for `subject` over a fresh key of `kind`, issued by `issuer`.
    pub fn issue(
        &self,
        name: &str,
        subject: &str,
        kind: KeyKind,
        issuer: &Made,
        ext: &str,
    ) -> Made {
        let key = self.key(name, kind);
        self.issue_with_key(name, subject, &key, issuer, ext)
    }

    pub fn issue_with_key(
        &self,
        name: &str,
        subject: &str,
        key: &Path,
        issuer: &Made,
        ext: &str,
    ) -> Made {
        let cnf = self.ext_file(name, ext);
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        self.run(&[
            "req",
            "-new",
            "-key",
            key.to_str().unwrap(),
            "-subj",
            subject,
            "-config",
            &cnf,
            "-out",
            &csr,
        ]);
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            issuer.cert_path.to_str().unwrap(),
            "-CAkey",
            issuer.key_path.to_str().unwrap(),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "365",
            "-sha256",
            "-extfile",
            &cnf,
            "-extensions",
            "ext",
            "-out",
            &pem,
        ]);
        self.made(name, key)
    }

    fn made(&self, name: &str, key: &Path) -> Made {
        let cert_path = self.path(&format!("{name}.pem"));
        let cert = Certificate::from_pem(&std::fs::read_to_string(&cert_path).unwrap()).unwrap();
        Made {
            name: name.into(),
            cert,
            cert_path,
            key_path: key.to_path_buf(),
        }
    }

    fn ca_config(&self, ca: &Made) -> String {
        self.ca_config_with(ca, "")
    }

    fn ca_config_with(&self, ca: &Made, crl_ext: &str) -> String {
        let index = self.path(&format!("{}.index", ca.name));
        if !index.exists() {
            std::fs::write(&index, "").unwrap();
            std::fs::write(self.path(&format!("{}.crlnum", ca.name)), "01\n").unwrap();
        }
        let file = format!("{}.ca.cnf", ca.name);
        std::fs::write(
            self.path(&file),
            format!(
                "[ca]\ndefault_ca=d\n[d]\ndatabase={}\ncrlnumber={}\ndefault_md=sha256\n\
                 default_crl_days=30\ncertificate={}\nprivate_key={}\ncrl_extensions=crl_ext\n\
                 [crl_ext]\nauthorityKeyIdentifier=keyid:always\n{}",
                index.display(),
                self.path(&format!("{}.crlnum", ca.name)).display(),
                ca.cert_path.display(),
                ca.key_path.display(),
                crl_ext
            ),
        )
        .unwrap();
        file
    }

    /// Records in `ca`'s database that `cert` is revoked now for `reason` (an openssl
    /// -crl_reason word, e.g. "keyCompromise").
    pub fn revoke(&self, ca: &Made, cert: &Made, reason: &str) {
        let cnf = self.ca_config(ca);
        self.run(&[
            "ca",
            "-config",
            &cnf,
            "-revoke",
            cert.cert_path.to_str().unwrap(),
            "-crl_reason",
            reason,
        ]);
    }

    /// A CRL (DER) of `ca` with what its database holds; `last_update` ("YYMMDDHHMMSSZ")
    /// overrides thisUpdate.
    pub fn crl(&self, ca: &Made, last_update: Option<&str>) -> Vec<u8> {
        self.crl_with(ca, last_update, "")
    }

    /// [`Ossl::crl`] with more CRL extensions (openssl config lines, e.g.
    /// "2.5.29.27=critical,DER:02:01:01" for a deltaCRLIndicator).
    pub fn crl_with(&self, ca: &Made, last_update: Option<&str>, crl_ext: &str) -> Vec<u8> {
        self.crl_full(ca, last_update, None, crl_ext)
    }

    /// A CRL with thisUpdate and nextUpdate ("YYMMDDHHMMSSZ") chosen.
    pub fn crl_dated(&self, ca: &Made, last_update: &str, next_update: &str) -> Vec<u8> {
        self.crl_full(ca, Some(last_update), Some(next_update), "")
    }

    fn crl_full(
        &self,
        ca: &Made,
        last_update: Option<&str>,
        next_update: Option<&str>,
        crl_ext: &str,
    ) -> Vec<u8> {
        let cnf = self.ca_config_with(ca, crl_ext);
        let out = format!("{}.crl.pem", ca.name);
        let mut args = vec!["ca", "-config", &cnf, "-gencrl", "-out", &out];
        if let Some(t) = last_update {
            args.extend(["-crl_lastupdate", t]);
        }
        if let Some(t) = next_update {
            args.extend(["-crl_nextupdate", t]);
        }
        self.run(&args);
        let der_file = format!("{}.crl.der", ca.name);
        self.run(&["crl", "-in", &out, "-outform", "DER", "-out", &der_file]);
        std::fs::read(self.path(&der_file)).unwrap()
    }
}
