//! Certificate hierarchies and CRLs made by the `openssl` command in a temporary directory, so
//! chain building and CRL handling are judged on what an independent CA produces (RSA and EC
//! keys, openssl's own name encodings and extensions), not on what our own issuer writes.
//!
//! Two ways to use it: [`Ossl`], a hierarchy in a temporary directory built through typed
//! calls (a CA database per CA, revocation, CRLs), and the file-named helpers ([`genkey`],
//! [`self_signed`], [`issue_by`], [`ca_database`], [`gencrl`]) for tests that name every file
//! themselves and pick extensions from sections of one config file. Fails, never skips, when
//! openssl is missing. Set `OPENSSL` for a binary other than `/usr/bin/openssl`.
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
/// A time-stamping authority's extensions.
pub const TSA_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
    extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";

impl Default for Ossl {
    fn default() -> Self {
        Self::new()
    }
}

impl Ossl {
    /// A new hierarchy in a temporary directory of its own.
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
        let key_file = key.to_str().unwrap();
        let req = [
            "req", "-x509", "-new", "-key", key_file, "-subj", subject, "-sha256",
        ];
        let ext = ("3650", "-config", cnf.as_str(), "ext");
        certify(self.dir.path(), &req, ext, name, &[]);
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

    /// A CA certificate ([`CA_EXT`]) for `subject` over a fresh key of `kind`, issued by
    /// `issuer`.
    pub fn ca(&self, name: &str, subject: &str, kind: KeyKind, issuer: &Made) -> Made {
        self.issue(name, subject, kind, issuer, CA_EXT)
    }

    /// A document signer's certificate ([`SIGNER_EXT`]) for `subject` over a fresh key of
    /// `kind`, issued by `issuer`.
    pub fn signer(&self, name: &str, subject: &str, kind: KeyKind, issuer: &Made) -> Made {
        self.issue(name, subject, kind, issuer, SIGNER_EXT)
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
        let key_file = key.to_str().unwrap();
        self.run(&[
            "req", "-new", "-key", key_file, "-subj", subject, "-config", &cnf, "-out", &csr,
        ]);
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        let serial = serial.to_string();
        let (ca_cert, ca_key) = (
            issuer.cert_path.to_str().unwrap(),
            issuer.key_path.to_str().unwrap(),
        );
        let mut x509 = x509_req(&csr, ca_cert, ca_key).to_vec();
        x509.extend(["-set_serial", &serial, "-sha256"]);
        let ext = ("365", "-extfile", cnf.as_str(), "ext");
        certify(self.dir.path(), &x509, ext, name, &[]);
        self.made(name, key)
    }

    /// openssl's detached CAdES signature (SHA-256) over `data` by `signer`, carrying the
    /// certificates `chain`; the files are `data.bin`, `chain.pem` and `sig.p7s`.
    pub fn cms_sign(&self, signer: &Made, data: &[u8], chain: &[&Made]) -> Vec<u8> {
        std::fs::write(self.path("data.bin"), data).unwrap();
        let bundle: String = chain
            .iter()
            .map(|c| std::fs::read_to_string(&c.cert_path).unwrap())
            .collect();
        std::fs::write(self.path("chain.pem"), bundle).unwrap();
        cms_sign_cades(
            self.dir.path(),
            "data.bin",
            "sig.p7s",
            signer.cert_path.to_str().unwrap(),
            signer.key_path.to_str().unwrap(),
            &["-certfile", "chain.pem"],
        );
        std::fs::read(self.path("sig.p7s")).unwrap()
    }

    /// An openssl TSA `tsa` (subject `subject`, key of `kind`) issued by `ca`, configured by
    /// [`tsa_config`] with a `certs` file holding its own certificate and then `ca`'s, so each
    /// token it issues lists its certificate twice (what `openssl ts -reply` then writes).
    pub fn duplicating_tsa(&self, ca: &Made, subject: &str, kind: KeyKind) -> Made {
        let tsa = self.issue("tsa", subject, kind, ca, TSA_EXT);
        let certs = [&tsa.cert_path, &ca.cert_path]
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<String>();
        std::fs::write(self.path("certs.pem"), certs).unwrap();
        tsa_config(
            self.dir.path(),
            &tsa.cert_path.display().to_string(),
            &tsa.key_path.display().to_string(),
            "certs.pem",
            "sha256",
            "",
        );
        tsa
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

/// An openssl hierarchy whose certificates say where its CRLs are: an RSA root and a P-256
/// CA under it naming `BASE/root.crl`; signers issued with [`CrlPublishing::signer_ext`] name
/// `BASE/ca.crl`. For tests that serve the CRLs ([`CrlPublishing::crl_files`]) on `BASE`.
pub struct CrlPublishing {
    /// `http://HOST:PORT` of the listener [`CrlPublishing::listening`] returns.
    pub base: String,
    pub o: Ossl,
    pub root: Made,
    pub ca: Made,
    /// A document signer's extensions naming the CA's CRL.
    pub signer_ext: String,
}

impl CrlPublishing {
    /// The hierarchy of the root `root_cn` and the CA `ca_cn` with CRLs under a loopback
    /// listener on a port the OS picks, which it returns for the test to serve them on.
    pub fn listening(root_cn: &str, ca_cn: &str) -> (Self, std::net::TcpListener) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let o = Ossl::new();
        let root = o.root("root", &format!("/CN={root_cn}"), KeyKind::Rsa2048);
        let ca_ext = format!("{CA_EXT}crlDistributionPoints=URI:{base}/root.crl\n");
        let ca = o.issue("ca", &format!("/CN={ca_cn}"), KeyKind::P256, &root, &ca_ext);
        let signer_ext = format!("{SIGNER_EXT}crlDistributionPoints=URI:{base}/ca.crl\n");
        let h = CrlPublishing {
            base,
            o,
            root,
            ca,
            signer_ext,
        };
        (h, listener)
    }

    /// A signer `name` (subject `subject`, P-256) naming the CA's CRL.
    pub fn signer(&self, name: &str, subject: &str) -> Made {
        let ext = &self.signer_ext;
        self.o.issue(name, subject, KeyKind::P256, &self.ca, ext)
    }

    /// The CRLs as they are now, by the paths the certificates name: `/root.crl`, `/ca.crl`.
    pub fn crl_files(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            ("/root.crl".into(), self.o.crl(&self.root, None)),
            ("/ca.crl".into(), self.o.crl(&self.ca, None)),
        ]
    }
}

/// `genpkey` arguments for the key kind `kind`: "rsa1024", "rsa2048" (or "rsa"), "rsa3072",
/// "p256" (or "ec", "ec256"), "p384" (or "ec384"), "p521" (or "ec521"), "ed25519".
pub fn genpkey_args(kind: &str) -> &'static [&'static str] {
    match kind {
        "rsa1024" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
        "rsa" | "rsa2048" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa3072" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "ec" | "ec256" | "p256" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ec384" | "p384" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "ec521" | "p521" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "ed25519" => &["-algorithm", "ED25519"],
        other => panic!("unknown key kind {other}"),
    }
}

/// `openssl genpkey` of the key kind `kind` ([`genpkey_args`]) into `dir/NAME.key`.
pub fn genkey(dir: &Path, name: &str, kind: &str) {
    let out = format!("{name}.key");
    let mut args = vec!["genpkey"];
    args.extend(genpkey_args(kind));
    args.extend(["-out", &out]);
    run(dir, &args);
}

/// `dir/NAME.pem`: a certificate over `NAME.key` for `subj` ("/CN=…/O=…"), self-signed and
/// valid 30 days, with the extensions of section `ext` of the config file `cnf`, and the
/// further options `opts` (a digest such as `-sha256`).
pub fn self_signed(dir: &Path, name: &str, subj: &str, cnf: &str, ext: &str, opts: &[&str]) {
    let key = format!("{name}.key");
    let req = ["req", "-new", "-x509", "-key", &key, "-subj", subj];
    certify(dir, &req, ("30", "-config", cnf, ext), name, opts);
}

/// `dir/NAME.pem`: a certificate over `NAME.key` for `subj`, requested as `NAME.csr` and
/// issued by `CA.pem` with `CA.key`, valid 20 days, with the extensions of section `ext` of the
/// config file `cnf`, and the further options `opts` (a digest, `-sigopt`s).
pub fn issue_by(dir: &Path, name: &str, ca: &str, subj: &str, cnf: &str, ext: &str, opts: &[&str]) {
    let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
    let req = ["req", "-new", "-key", &key, "-subj", subj, "-out", &csr];
    run(dir, &req);
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    let mut x509 = x509_req(&csr, &ca_pem, &ca_key).to_vec();
    x509.push("-CAcreateserial");
    certify(dir, &x509, ("20", "-extfile", cnf, ext), name, opts);
}

/// `openssl x509 -req` of the request file `csr` by the CA certificate and key files `ca_cert`
/// and `ca_key`.
fn x509_req<'a>(csr: &'a str, ca_cert: &'a str, ca_key: &'a str) -> [&'a str; 8] {
    ["x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key]
}

/// Runs the certifying openssl command `cmd` with `-days DAYS CNF_OPTION CNF -extensions EXT`
/// (from `(days, cnf_option, cnf, ext)`), `-out NAME.pem` and the options `opts`.
fn certify(
    dir: &Path,
    cmd: &[&str],
    (days, cnf_option, cnf, ext): (&str, &str, &str, &str),
    name: &str,
    opts: &[&str],
) {
    let pem = format!("{name}.pem");
    let mut args = cmd.to_vec();
    args.extend([
        "-days",
        days,
        cnf_option,
        cnf,
        "-extensions",
        ext,
        "-out",
        &pem,
    ]);
    args.extend(opts);
    run(dir, &args);
}

/// The `openssl ca` database of the CA `ca` (`CA.pem`, `CA.key`) for revoking and CRLs:
/// `CA-ca.cnf` (CRLs signed with the digest `md`, valid a week), `CA-index.txt`,
/// `CA-crlnumber`.
pub fn ca_database(dir: &Path, ca: &str, md: &str) {
    std::fs::write(
        dir.join(format!("{ca}-ca.cnf")),
        format!(
            "[ca]\ndefault_ca=d\n[d]\ndatabase={ca}-index.txt\ncrlnumber={ca}-crlnumber\n\
             default_md={md}\ndefault_crl_days=7\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{ca}-index.txt")), "").unwrap();
    std::fs::write(dir.join(format!("{ca}-crlnumber")), "01\n").unwrap();
}

/// Records in `ca`'s database ([`ca_database`]) that `NAME.pem` is revoked now.
pub fn revoke_in(dir: &Path, ca: &str, name: &str) {
    let (cnf, key, pem, revoked) = (
        format!("{ca}-ca.cnf"),
        format!("{ca}.key"),
        format!("{ca}.pem"),
        format!("{name}.pem"),
    );
    run(
        dir,
        &[
            "ca", "-revoke", &revoked, "-config", &cnf, "-keyfile", &key, "-cert", &pem,
        ],
    );
}

/// The CRL `ca` issues now from its database ([`ca_database`]): written as `CA.crl.pem` and
/// `CA.crl` (DER), and returned (DER).
pub fn gencrl(dir: &Path, ca: &str) -> Vec<u8> {
    let (cnf, key, pem, crl_pem, crl) = (
        format!("{ca}-ca.cnf"),
        format!("{ca}.key"),
        format!("{ca}.pem"),
        format!("{ca}.crl.pem"),
        format!("{ca}.crl"),
    );
    run(
        dir,
        &[
            "ca", "-gencrl", "-config", &cnf, "-keyfile", &key, "-cert", &pem, "-out", &crl_pem,
        ],
    );
    run(
        dir,
        &["crl", "-in", &crl_pem, "-outform", "DER", "-out", &crl],
    );
    std::fs::read(dir.join(crl)).unwrap()
}

/// The certificate `dir/NAME.pem`.
pub fn cert(dir: &Path, name: &str) -> Certificate {
    Certificate::from_pem(&std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap())
        .unwrap()
}
