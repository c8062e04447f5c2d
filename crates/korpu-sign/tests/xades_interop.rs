//! ASiC-E with XAdES made by outside tools, validated by Körpü: containers pyasice (PyPI
//! `pyasice`, the DigiDoc/BDOC library) signs with RSA and EC keys that openssl made, under a
//! CA openssl made. With the root trusted they are TOTAL_PASSED, with another root
//! INDETERMINATE; a flipped byte in a data file is TOTAL_FAILED / HASH_FAILURE, in the
//! SignatureValue SIG_CRYPTO_FAILURE, in SignedProperties HASH_FAILURE; a DOCTYPE with entities
//! is refused quickly as FORMAT_FAILURE. Also ASiC-S (zip made here, signature by `openssl cms`,
//! or a time-stamp token) and enveloping CAdES made by `openssl cms -sign -nodetach`.
//! `scripts/test` installs pyasice.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use common::{ossl, zip_entries as entries, zip_rebuild as rebuild};
use korpu_pki::ca::Profile;
use korpu_pki::cert::Certificate;
use korpu_sign::asice::{self, ContainerReport, Limits};
use korpu_sign::validate::{validate_cades_enveloping, Indication};
use korpu_sign::{asics, detect, RevocationFetcher, Timestamper, ValidationOptions};
use korpu_testkit::http;
use korpu_testkit::pki::TSA_POLICY;
use std::sync::Arc;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The Python with signxml: a virtualenv of its own (scripts/test makes it and exports
/// KORPU_SIGNXML_PYTHON), since pyasice pins an lxml that current signxml does not accept.
fn signxml_python() -> String {
    std::env::var("KORPU_SIGNXML_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/korpu/signxml-venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

fn script() -> String {
    format!("{}/tests/xades/bdoc.py", env!("CARGO_MANIFEST_DIR"))
}

/// A CA made by openssl: key type `ca_alg` ("ec" P-256 or "rsa" 2048), and signer keys
/// issued by it; every file in a directory of its own (where pyasice also works).
struct OpensslPki {
    dir: tempfile::TempDir,
}

/// The extensions of the CA (`root`), its signers (`leaf`, naming [`CRL_URL`]), signers of
/// another CA (`member`, naming no CRL) and an openssl TSA under it (`tsa`).
fn ext_cnf() -> String {
    format!(
        "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
         crlDistributionPoints=URI:{CRL_URL}\n\
         [member]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
         [tsa]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=critical,timeStamping\n"
    )
}

impl OpensslPki {
    fn new(ca_alg: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ext.cnf"), ext_cnf()).unwrap();
        ossl::genkey(d, "ca", ca_alg);
        let subj = "/CN=XAdES Test Root/O=Korpu Test";
        ossl::self_signed(d, "ca", subj, "ext.cnf", "root", &["-sha256"]);
        // A minimal `openssl ca` database, so openssl can issue the CA's CRL and revoke.
        ossl::ca_database(d, "ca", "sha256");
        OpensslPki { dir }
    }

    /// Revokes the signer `name` (its certificate `name.pem`) in the CA's database.
    fn revoke(&self, name: &str) {
        ossl::revoke_in(self.dir.path(), "ca", name);
    }

    /// Validation that may fetch the CA's current CRL (issued now by `openssl ca -gencrl`)
    /// from the distribution point its certificates name.
    fn options(&self) -> ValidationOptions {
        let crl = ossl::gencrl(self.dir.path(), "ca");
        ValidationOptions {
            fetcher: Some(Arc::new(CrlServer { crl })),
            ..ValidationOptions::default()
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> Vec<Certificate> {
        vec![ossl::cert(self.dir.path(), "ca")]
    }

    /// A signer `name` with key `alg` ("ec256", "ec384", "ec521", "rsa2048", "rsa3072"):
    /// its key and certificate files.
    fn signer(&self, name: &str, alg: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        ossl::genkey(d, name, alg);
        let subj = format!("/CN={name}/O=Korpu Test");
        ossl::issue_by(d, name, "ca", &subj, "ext.cnf", "leaf", &["-sha256"]);
        (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.pem")),
        )
    }

    /// A container pyasice signs (in this PKI's directory) over `files` (name, content) with
    /// a new signer `name` of key `alg`, digest `hash` and the helper's further options
    /// `extra`.
    fn pyasice(
        &self,
        name: &str,
        alg: &str,
        hash: &str,
        files: &[(&str, &[u8])],
        extra: &[&str],
    ) -> Vec<u8> {
        let (key, cert) = self.signer(name, alg);
        pyasice_sign_with(self.dir.path(), (&key, &cert), hash, files, extra)
    }

    /// The verdict of validating `container` under this PKI's root (CRL fetching allowed).
    fn verdict(&self, container: &[u8]) -> (Indication, Option<String>) {
        verdict(&validate(container, self, &self.root()))
    }
}

/// The (first) certificate in the PEM file `path`.
fn cert_at(path: &Path) -> Certificate {
    Certificate::all_from_pem(&std::fs::read_to_string(path).unwrap()).unwrap()[0].clone()
}

/// An ASiC-E container of `data.txt` holding `data`, signed by the signatures file `xml`.
fn xmlsec_container(data: &[u8], xml: &[u8]) -> Vec<u8> {
    rebuild(&[
        ("mimetype".into(), asice::MIMETYPE.as_bytes().to_vec(), true),
        ("data.txt".into(), data.to_vec(), false),
        ("META-INF/signatures0.xml".into(), xml.to_vec(), false),
    ])
}

/// Where the test CA publishes its CRL; [`CrlServer`] answers for it.
const CRL_URL: &str = "http://crl.test.invalid/ca.crl";

/// The CA's CRL distribution point: answers GET for [`CRL_URL`] with openssl's CRL, nothing else.
struct CrlServer {
    crl: Vec<u8>,
}

impl RevocationFetcher for CrlServer {
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        if url == CRL_URL {
            Ok(self.crl.clone())
        } else {
            Err(format!("{url}: not found"))
        }
    }

    fn post(&self, url: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!("{url}: no OCSP responder here"))
    }
}

/// A container pyasice signs over `files` (name, content) with the key and certificate files
/// `(key, cert)`, digest `hash`, and
/// the helper's further options `extra`.
fn pyasice_sign_with(
    dir: &Path,
    (key, cert): (&Path, &Path),
    hash: &str,
    files: &[(&str, &[u8])],
    extra: &[&str],
) -> Vec<u8> {
    let mut paths = Vec::new();
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        paths.push(p);
    }
    let out = dir.join(format!("signed-{}.asice", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let r = Command::new(python())
        .arg(script())
        .args(["sign", "--key"])
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .args(["--hash", hash])
        .args(extra)
        .arg(&out)
        .args(&paths)
        .output()
        .expect("python3 is needed for the pyasice interop tests");
    assert!(
        r.status.success(),
        "pyasice failed (is it installed? scripts/test installs it):\n{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::read(&out).unwrap()
}

/// pyasice's verdict on the container file `path`.
fn pyasice_verify(path: &Path) -> std::process::Output {
    Command::new(python())
        .arg(script())
        .arg("verify")
        .arg(path)
        .output()
        .unwrap()
}

fn validate(container: &[u8], pki: &OpensslPki, anchors: &[Certificate]) -> ContainerReport {
    asice::validate_opts(
        container,
        anchors,
        SystemTime::now(),
        &Limits::default(),
        &pki.options(),
    )
    .unwrap()
}

fn verdict(r: &ContainerReport) -> (Indication, Option<String>) {
    assert_eq!(r.signatures.len(), 1, "{r:#?}");
    let s = &r.signatures[0].report;
    (s.indication, s.sub_indication.clone())
}

/// The content of the entry `name` of the container `c`.
fn entry(c: &[u8], name: &str) -> Vec<u8> {
    let e = entries(c).into_iter().find(|(n, _, _)| n == name);
    e.unwrap_or_else(|| panic!("no {name}")).1
}

/// `r`'s one signature has the verdict `indication` with the sub-indication `sub`.
fn expect(r: &ContainerReport, indication: Indication, sub: Option<&str>) {
    assert_eq!(verdict(r), (indication, sub.map(String::from)), "{r:#?}");
}

/// `container` with entry `name` changed by `f`.
fn edit(container: &[u8], name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = entries(container);
    let entry = e
        .iter_mut()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"));
    f(&mut entry.1);
    rebuild(&e)
}

const SIG_FILE: &str = "META-INF/signatures1.xml";

/// The matrix of issue 14 for ASiC-E XAdES: each key type and digest pyasice (with RSA-PSS and
/// Ed25519 set by the helper) signs passes with its root and is INDETERMINATE under another;
/// one flipped byte in a data file is HASH_FAILURE, in the SignatureValue SIG_CRYPTO_FAILURE.
#[test]
fn pyasice_matrix_passes_with_its_root_and_fails_only_when_altered() {
    let pki = OpensslPki::new("ec");
    let other = OpensslPki::new("ec");
    let files: &[(&str, &[u8])] = &[
        ("decision.txt", b"The decision of the ministry.\n"),
        ("annex.bin", &[0u8, 1, 2, 255]),
    ];
    let mut table = Vec::new();
    for (alg, pss) in [
        ("rsa2048", false),
        ("rsa3072", true),
        ("ec256", false),
        ("ec384", false),
        ("ec521", false),
        ("ed25519", false),
    ] {
        let name = format!("Signer {alg}{}", if pss { " PSS" } else { "" });
        let (key, cert) = pki.signer(&name, alg);
        let hashes: &[&str] = if alg == "ed25519" {
            &["sha512"]
        } else {
            &["sha256", "sha384", "sha512"]
        };
        for hash in hashes {
            let extra: &[&str] = if pss { &["--pss"] } else { &[] };
            let c = pyasice_sign_with(pki.dir.path(), (&key, &cert), hash, files, extra);
            assert_eq!(detect::detect(&c), detect::Format::AsicE);
            let r = validate(&c, &pki, &pki.root());
            let label = format!("{name}/{hash}");
            assert_eq!(
                verdict(&r),
                (Indication::TotalPassed, None),
                "{label}: {r:#?}"
            );
            let s = &r.signatures[0];
            assert!(s.report.signer.contains(&name), "{s:?}");
            assert!(s.report.claimed_signing_time.is_some());
            assert_eq!(s.covers.len(), 2);
            assert_eq!(s.signature_file, "META-INF/signatures1.xml#S1");
            let r = validate(&c, &pki, &other.root());
            assert_eq!(
                verdict(&r),
                (
                    Indication::Indeterminate,
                    Some("NO_CERTIFICATE_CHAIN_FOUND".into())
                ),
                "{label}: {r:#?}"
            );
            let flipped = edit(&c, "decision.txt", |d| d[4] ^= 0x01);
            let hash_failure = (Indication::TotalFailed, Some("HASH_FAILURE".into()));
            assert_eq!(pki.verdict(&flipped), hash_failure, "{label}");
            let sig_failure = (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE".into()));
            assert_eq!(
                pki.verdict(&flip_signature_value(&c)),
                sig_failure,
                "{label}"
            );
            table.push(format!("{label}: TOTAL_PASSED; data flipped: HASH_FAILURE; value flipped: SIG_CRYPTO_FAILURE"));
        }
    }
    println!("{}", table.join("\n"));
}

/// `c` with one bit of its XAdES SignatureValue flipped.
fn flip_signature_value(c: &[u8]) -> Vec<u8> {
    flip_signature_value_in(c, SIG_FILE)
}

#[test]
fn a_signer_revoked_in_openssl_crl_is_not_passed() {
    let pki = OpensslPki::new("ec");
    let c = pki.pyasice("Revoked", "ec256", "sha256", &[("a.txt", b"a")], &[]);
    assert_eq!(pki.verdict(&c).0, Indication::TotalPassed);
    pki.revoke("Revoked");
    // B-B: nothing proves the signature is older than the revocation.
    let no_poe = (Indication::Indeterminate, Some("REVOKED_NO_POE".into()));
    assert_eq!(pki.verdict(&c), no_poe);
}

#[test]
fn pyasice_container_under_an_rsa_ca_passes() {
    let pki = OpensslPki::new("rsa");
    let c = pki.pyasice("RSA CA Signer", "ec256", "sha256", &[("a.txt", b"a")], &[]);
    expect(
        &validate(&c, &pki, &pki.root()),
        Indication::TotalPassed,
        None,
    );
}

#[test]
fn a_flipped_data_byte_is_hash_failure_and_a_flipped_signature_byte_sig_crypto_failure() {
    let pki = OpensslPki::new("ec");
    for alg in ["ec256", "rsa2048"] {
        let files: &[(&str, &[u8])] = &[("data.txt", b"pay 100 AZN")];
        let c = pki.pyasice(&format!("Flip {alg}"), alg, "sha256", files, &[]);
        assert_eq!(pki.verdict(&c).0, Indication::TotalPassed);

        let data = edit(&c, "data.txt", |d| d[4] ^= 0x01);
        let hash_failure = (Indication::TotalFailed, Some("HASH_FAILURE".into()));
        assert_eq!(pki.verdict(&data), hash_failure, "{alg}");

        let sig = flip_signature_value(&c);
        let sig_failure = (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE".into()));
        assert_eq!(pki.verdict(&sig), sig_failure, "{alg}");

        // SignedProperties is covered by its own reference: a changed signing time is caught.
        let props = edit(&c, SIG_FILE, |x| {
            let s = String::from_utf8(x.clone()).unwrap();
            let i = s.find("<xades:SigningTime>").unwrap() + "<xades:SigningTime>".len();
            let mut b = s.into_bytes();
            b[i + 3] = if b[i + 3] == b'1' { b'2' } else { b'1' };
            *x = b;
        });
        assert_eq!(pki.verdict(&props), hash_failure, "{alg}");
    }
}

/// A pyasice signature (SHA-256 over `d.txt`) by a new signer `name` with key `alg` and the
/// helper's options `extra` is INDETERMINATE with the sub-indication `sub`.
fn assert_indeterminate(name: &str, alg: &str, extra: &[&str], sub: &str) {
    let pki = OpensslPki::new("ec");
    let c = pki.pyasice(name, alg, "sha256", &[("d.txt", b"x")], extra);
    expect(
        &validate(&c, &pki, &pki.root()),
        Indication::Indeterminate,
        Some(sub),
    );
}

#[test]
fn an_unsupported_digest_is_indeterminate_not_failed() {
    // pyasice's signature, with the data references digested with SHA3-256 (which Körpü does
    // not implement): nothing can be computed over the data, so it must not be called forged.
    let sha3 = ["--data-digest", "sha3-256"];
    assert_indeterminate("Unsupported", "ec256", &sha3, "CRYPTO_CONSTRAINTS_FAILURE");
}

#[test]
fn a_1024_bit_rsa_key_is_indeterminate_by_policy_not_failed() {
    let sub = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE";
    assert_indeterminate("Short RSA", "rsa1024", &[], sub);
}

#[test]
fn a_doctype_with_entities_is_refused_fast_as_format_failure() {
    let pki = OpensslPki::new("ec");
    let c = pki.pyasice("Doctype", "ec256", "sha256", &[("d.txt", b"x")], &[]);
    let mut lol =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        lol.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    lol.push_str("<!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n");
    let c = edit(&c, SIG_FILE, |x| {
        let s = String::from_utf8(x.clone()).unwrap();
        let body = s.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let body = body.replacen("<ds:SignedInfo>", "<ds:SignedInfo>&lol9;&xxe;", 1);
        *x = format!("{lol}{body}").into_bytes();
    });
    let t = Instant::now();
    let r = validate(&c, &pki, &pki.root());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    expect(&r, Indication::TotalFailed, Some("FORMAT_FAILURE"));
    assert!(
        r.signatures[0]
            .report
            .reason
            .as_deref()
            .unwrap()
            .contains("DOCTYPE"),
        "{r:#?}"
    );
}

/// An ASiC-S container: mimetype, one data object, and `meta` under META-INF.
fn asic_s(data_name: &str, data: &[u8], meta: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut e = vec![
        (
            "mimetype".to_string(),
            detect::ASICS_MIMETYPE.as_bytes().to_vec(),
            true,
        ),
        (data_name.to_string(), data.to_vec(), false),
    ];
    for (n, c) in meta {
        e.push((format!("META-INF/{n}"), c.clone(), false));
    }
    rebuild(&e)
}

#[test]
fn asic_s_with_an_openssl_cades_signature_or_a_time_stamp_passes() {
    let pki = OpensslPki::new("ec");
    let d = pki.dir.path();
    pki.signer("AsicS", "ec256");
    let data = b"ASiC-S data object".to_vec();
    std::fs::write(d.join("data.bin"), &data).unwrap();
    ossl::cms_sign_cades(d, "data.bin", "sig.p7s", "AsicS.pem", "AsicS.key", &[]);
    let p7s = std::fs::read(d.join("sig.p7s")).unwrap();
    let c = asic_s("data.bin", &data, &[("signature.p7s", p7s.clone())]);
    assert_eq!(detect::detect(&c), detect::Format::AsicS);
    let validate_s = |c: &[u8]| {
        let (now, limits) = (SystemTime::now(), Limits::default());
        asics::validate_opts(c, &pki.root(), now, &limits, &pki.options()).unwrap()
    };
    let r = validate_s(&c);
    expect(&r, Indication::TotalPassed, None);
    assert_eq!(r.files, vec!["data.bin".to_string()]);

    let changed = asic_s("data.bin", b"ASiC-S data objecT", &[("signature.p7s", p7s)]);
    let r = validate_s(&changed);
    expect(&r, Indication::TotalFailed, Some("HASH_FAILURE"));

    // A time-stamp token over the data object (ASiC-S with timestamp.tst).
    let kpki = common::Pki::new("AsicS TSA");
    let tsa = kpki.tsa();
    let sha: [u8; 32] =
        sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &data)).into();
    let token = tsa.timestamp(&sha).unwrap();
    let c = asic_s("data.bin", &data, &[("timestamp.tst", token.clone())]);
    let r = asics::validate(&c, &kpki.anchors(), SystemTime::now(), &Limits::default()).unwrap();
    expect(&r, Indication::TotalPassed, None);
    assert!(r.signatures[0].report.proven_signing_time.is_some());
    let c = asic_s("data.bin", b"other", &[("timestamp.tst", token)]);
    let r = asics::validate(&c, &kpki.anchors(), SystemTime::now(), &Limits::default()).unwrap();
    expect(&r, Indication::TotalFailed, Some("HASH_FAILURE"));

    // Two data objects are not ASiC-S.
    let mut e = entries(&asic_s("data.bin", &data, &[]));
    e.push(("second.bin".into(), b"2".to_vec(), false));
    assert!(asics::validate(
        &rebuild(&e),
        &pki.root(),
        SystemTime::now(),
        &Limits::default()
    )
    .is_err());
}

#[test]
fn enveloping_cades_from_openssl_passes_and_carries_its_content() {
    let pki = OpensslPki::new("ec");
    let d = pki.dir.path();
    pki.signer("Enveloping", "ec256");
    std::fs::write(d.join("letter.txt"), b"Dear citizen").unwrap();
    let sign = |out: &str, extra: &[&str]| {
        ossl::cms_sign_cades(
            d,
            "letter.txt",
            out,
            "Enveloping.pem",
            "Enveloping.key",
            extra,
        );
        std::fs::read(d.join(out)).unwrap()
    };
    let p7m = sign("letter.p7m", &["-nodetach"]);
    // The same in BER with indefinite lengths and a chunked eContent (`openssl cms -stream`,
    // what streaming signers write).
    let ber = sign("letter-ber.p7m", &["-nodetach", "-stream"]);
    assert_eq!(&ber[..2], &[0x30, 0x80], "openssl wrote BER");
    let open =
        |b: &[u8]| validate_cades_enveloping(b, &pki.root(), SystemTime::now(), &pki.options());
    for file in [&p7m, &ber] {
        assert_eq!(detect::detect(file), detect::Format::Cms);
        let (r, content) = open(file);
        assert_eq!(r.indication, Indication::TotalPassed, "{r:?}");
        assert_eq!(content.as_deref(), Some(b"Dear citizen".as_slice()));
    }

    // A detached signature given as enveloping: the data is missing, not forged.
    let p7s = sign("letter.p7s", &[]);
    let (r, content) = open(&p7s);
    assert_eq!(
        (r.indication, r.sub_indication.as_deref()),
        (Indication::Indeterminate, Some("SIGNED_DATA_NOT_FOUND"))
    );
    assert!(content.is_none());

    // The content inside changed: the message digest no longer matches.
    let mut bad = p7m.clone();
    let i = bad.windows(12).position(|w| w == b"Dear citizen").unwrap();
    bad[i] = b'B';
    let (r, _) = open(&bad);
    assert_eq!(
        (r.indication, r.sub_indication.as_deref()),
        (Indication::TotalFailed, Some("HASH_FAILURE"))
    );
}

/// A signatures file for xmlsec1 to complete: SignedInfo canonicalised with `c14n`, signed with
/// `sig_method`, one reference to the container file `data.txt` digested with `digest`, one to
/// SignedProperties transformed with `sp_transform` (its inner XML, e.g. an InclusiveNamespaces
/// element) — with an unused namespace on the root, an inherited xml:lang and a comment inside
/// SignedInfo, which the canonicalisations treat differently.
fn xmlsec_template(
    c14n: &str,
    sig_method: &str,
    digest: &str,
    sp_transform: &str,
    sp_inner: &str,
    cert_der: &[u8],
) -> String {
    use sha2::Digest as _;
    let cert_digest =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(cert_der));
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" xmlns:extra="urn:example:unused">
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="S1" xml:lang="az">
<ds:SignedInfo>
<!-- kept only by the WithComments canonicalisations -->
<ds:CanonicalizationMethod Algorithm="{c14n}"/>
<ds:SignatureMethod Algorithm="{sig_method}"/>
<ds:Reference URI="data.txt"><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference>
<ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#SP1"><ds:Transforms><ds:Transform Algorithm="{sp_transform}">{sp_inner}</ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference>
</ds:SignedInfo>
<ds:SignatureValue></ds:SignatureValue>
<ds:KeyInfo><ds:X509Data></ds:X509Data></ds:KeyInfo>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#S1"><xades:SignedProperties Id="SP1"><xades:SignedSignatureProperties><xades:SigningTime>2026-01-02T03:04:05Z</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{cert_digest}</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>
</ds:Signature>
</asic:XAdESSignatures>
"##
    )
}

fn xmlsec1(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("xmlsec1")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("xmlsec1 is needed (scripts/test installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Signs `tmpl.xml` in `dir` with xmlsec1 (the key and certificate files `keys`, the
/// SignedProperties found by its Id) into `signatures0.xml`, has xmlsec1 verify that against
/// `ca`, and returns it; `case` names the signature in failures.
fn xmlsec1_sign_and_verify(dir: &Path, keys: &str, ca: &Path, case: &str) -> Vec<u8> {
    let (ok, out) = xmlsec1(
        dir,
        &[
            "--sign",
            "--privkey-pem",
            keys,
            "--id-attr:Id",
            "SignedProperties",
            "--output",
            "signatures0.xml",
            "tmpl.xml",
        ],
    );
    assert!(ok, "xmlsec1 --sign ({case}): {out}");
    let (ok, out) = xmlsec1(
        dir,
        &[
            "--verify",
            "--trusted-pem",
            ca.to_str().unwrap(),
            "--id-attr:Id",
            "SignedProperties",
            "signatures0.xml",
        ],
    );
    assert!(ok, "xmlsec1 --verify ({case}): {out}");
    std::fs::read(dir.join("signatures0.xml")).unwrap()
}

/// Signatures made by xmlsec1 with each canonicalisation (inclusive 1.0 and 1.1, exclusive with
/// an InclusiveNamespaces PrefixList, with and without comments), ECDSA and RSA with SHA-256,
/// 384 and 512: xmlsec1 verifies them, and Körpü passes them in an ASiC-E container; a changed
/// data file is HASH_FAILURE.
#[test]
fn xmlsec1_signatures_with_every_canonicalisation_pass() {
    let pki = OpensslPki::new("ec");
    const C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    const C14N10C: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
    const C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
    const C14N11C: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";
    const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    const EXCC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
    const MORE: &str = "http://www.w3.org/2001/04/xmldsig-more#";
    let prefix_list = r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="extra ds"/>"#;
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        // (key, SignedInfo c14n, signature method, digest, SignedProperties transform, inner)
        (
            "ec256",
            C14N10,
            "ecdsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            EXC,
            prefix_list,
        ),
        (
            "ec384",
            C14N11C,
            "ecdsa-sha384",
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
            C14N10,
            "",
        ),
        (
            "ec521",
            EXCC,
            "ecdsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
            C14N11,
            "",
        ),
        (
            "rsa2048",
            C14N10C,
            "rsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            C14N10C,
            "",
        ),
        (
            "rsa3072",
            EXC,
            "rsa-sha512",
            "http://www.w3.org/2001/04/xmlenc#sha512",
            EXCC,
            prefix_list,
        ),
    ];
    for (i, (alg, c14n, method, digest, sp_t, sp_inner)) in cases.iter().enumerate() {
        let name = format!("Xmlsec {i} {alg}");
        let (key, cert) = pki.signer(&name, alg);
        let d = tempfile::tempdir().unwrap();
        let data = format!("data signed by case {i}\n");
        std::fs::write(d.path().join("data.txt"), &data).unwrap();
        let cert_der = cert_at(&cert).der().to_vec();
        let tmpl = xmlsec_template(
            c14n,
            &format!("{MORE}{method}"),
            digest,
            sp_t,
            sp_inner,
            &cert_der,
        );
        std::fs::write(d.path().join("tmpl.xml"), tmpl).unwrap();
        let keys = format!("{},{}", key.display(), cert.display());
        let xml =
            xmlsec1_sign_and_verify(d.path(), &keys, &pki.path("ca.pem"), &format!("case {i}"));
        let container = xmlsec_container(data.as_bytes(), &xml);
        let r = validate(&container, &pki, &pki.root());
        assert_eq!(
            verdict(&r),
            (Indication::TotalPassed, None),
            "case {i} ({c14n}, {method}): {r:#?}"
        );
        let changed = xmlsec_container(data.replace("case", "Case").as_bytes(), &xml);
        assert_eq!(
            pki.verdict(&changed),
            (Indication::TotalFailed, Some("HASH_FAILURE".into())),
            "case {i}"
        );
    }
}

/// pyasice's LT-TS signatures (XAdES B-LT: a SignatureTimeStamp over the canonical
/// SignatureValue and the signer's OCSP response, fetched by pyasice from Körpü's TSA and OCSP
/// responder over HTTP) pass offline as B-LT with the proven time; a SignatureValue changed
/// after stamping is caught.
#[test]
fn pyasice_lt_ts_signatures_are_b_lt() {
    let pki = common::Pki::new("XAdES LT");
    let now = SystemTime::now();
    // POST /tsa (RFC 3161) and POST /ocsp (RFC 6960, everything good), answered by Körpü's
    // in-process TSA and OCSP responder.
    let tsa = pki.authority(pki.leaf("Korpu TSA", Profile::Tsa, None), TSA_POLICY);
    let good = |_: &str| korpu_pki::ocsp::CertStatus::Good;
    let url = http::serve(http::tsa_and_ocsp(tsa, 1000, pki.responder(), good));
    let m = pki.leaf_with_ocsp(
        "AZ/GOV/7777777",
        Profile::MemberSigning,
        &format!("{url}/ocsp"),
    );
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("m.key");
    let cert = d.path().join("m.pem");
    let issuer = d.path().join("issuer.pem");
    std::fs::write(&key, m.key.to_pkcs8_pem()).unwrap();
    std::fs::write(&cert, m.cert.to_pem()).unwrap();
    std::fs::write(&issuer, pki.issuing.to_pem()).unwrap();
    let args = [
        "--tsa",
        &format!("{url}/tsa"),
        "--ocsp",
        &format!("{url}/ocsp"),
        "--issuer",
        issuer.to_str().unwrap(),
    ];
    let c = pyasice_sign_with(
        d.path(),
        (&key, &cert),
        "sha256",
        &[("permit.txt", b"permit 42")],
        &args,
    );
    // Offline: no fetcher, so only what pyasice embedded counts.
    let r = asice::validate(&c, &pki.anchors(), now, &Limits::default()).unwrap();
    expect(&r, Indication::TotalPassed, None);
    let rep = &r.signatures[0].report;
    assert_eq!(rep.level, "B-LT", "{rep:?}");
    assert!(rep.proven_signing_time.is_some(), "{rep:?}");
    assert!(rep.revocation.contains("good"), "{rep:?}");

    let r = asice::validate(
        &flip_signature_value(&c),
        &pki.anchors(),
        now,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(verdict(&r).0, Indication::TotalFailed, "{r:#?}");
}

/// The fuzz seeds (real files made by pyasice, xmlsec1 and openssl, in fuzz/seeds) and
/// mutations of them (every byte flipped in turn within the first KiB, every truncation point)
/// go through the XML reader, each canonicalisation, XAdES validation and detection without a
/// panic, each within a bound of time.
#[test]
fn fuzz_seeds_and_their_mutations_never_panic() {
    use korpu_sign::xml::{C14n, Document, Limits as XmlLimits};
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let mut seeds = Vec::new();
    for dir in ["xades_validate", "detect"] {
        for e in std::fs::read_dir(corpus.join(dir)).unwrap() {
            seeds.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    assert!(seeds.len() >= 10, "the seed corpus is missing");
    let files = std::collections::BTreeMap::from([("a.txt".to_string(), b"hello\n".to_vec())]);
    let algs: Vec<C14n> = [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    .iter()
    .map(|u| C14n::from_uri(u).unwrap())
    .collect();
    let run = |b: &[u8]| {
        let t = Instant::now();
        let _ = detect::detect(b);
        let _ = detect::cms_der(b);
        if let Ok(d) = Document::parse(b, &XmlLimits::default()) {
            for a in &algs {
                let _ = d.canonicalize_document(a);
            }
        }
        let _ = korpu_sign::xades::validate_file(
            b,
            &files,
            &[],
            SystemTime::UNIX_EPOCH,
            &XmlLimits::default(),
            &ValidationOptions::default(),
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    };
    for seed in &seeds {
        run(seed);
        for i in (0..seed.len().min(1024)).step_by(7) {
            let mut m = seed.clone();
            m[i] ^= 0x20;
            run(&m);
        }
        for cut in (0..seed.len()).step_by(97) {
            run(&seed[..cut]);
        }
    }
}

/// What Körpü signs as ASiC-E XAdES is accepted by the outside tools: signxml verifies every
/// key's signature with its XAdES properties (and refuses an altered file); pyasice opens the
/// container and verifies the signature, its SignedProperties and file digests; xmlsec1
/// verifies the XML signature with the files beside it and the root trusted. Körpü's own
/// validator gives B-LT TOTAL_PASSED offline; B-B without revocation data is TRY_LATER. Keys:
/// the platform's P-256, and RSA and P-384 keys openssl made (PKCS#1 v1.5, and PSS, which pyasice and
/// xmlsec1 1.2 cannot check, so only Körpü judges that one).
#[test]
fn xades_we_sign_is_verified_by_pyasice_signxml_and_xmlsec1() {
    use korpu_sign::asice::DataFile;
    use korpu_sign::cades::Signer;
    use korpu_sign::keys::{read_document_key, RsaPadding};
    use korpu_sign::xades_sign;
    let pki = common::Pki::new("XAdES Sign");
    let tsa = pki.tsa();
    let ocsp = pki.ocsp(Vec::new());
    let files = vec![
        DataFile {
            name: "decision 7.txt".into(),
            mime_type: "text/plain".into(),
            content: b"Decision no. 7: granted.\n".to_vec(),
        },
        DataFile {
            name: "annex/scan.bin".into(),
            mime_type: "application/octet-stream".into(),
            content: vec![0, 1, 2, 3, 254, 255],
        },
    ];
    let d = tempfile::tempdir().unwrap();
    let mut mixed = Vec::new();
    // Körpü's own P-256 member key.
    let m = pki.member("AZ/GOV/8888888");
    mixed.push((
        "p256",
        Box::new(m.key.clone()) as Box<dyn korpu_sign::keys::SignatureKey>,
        m.cert.clone(),
        true,
    ));
    // RSA and P-384 keys made by openssl, certified by the test CA.
    for (alg, padding, judged) in [
        ("rsa2048", RsaPadding::Pkcs1, true),
        ("ec384", RsaPadding::Pkcs1, true),
        ("rsa3072", RsaPadding::Pss, false),
    ] {
        ossl::genkey(d.path(), alg, alg);
        let key = read_document_key(&d.path().join(format!("{alg}.key")), padding).unwrap();
        let cert = issue_for(&pki, d.path(), &format!("AZ/GOV/{alg}"), alg);
        mixed.push((alg, Box::new(key), cert, judged));
    }
    for (alg, key, cert, judged) in &mixed {
        let signer = Signer {
            key: key.as_ref(),
            cert,
            chain: std::slice::from_ref(&pki.issuing),
        };
        let now = SystemTime::now();
        let lt = xades_sign::create(&files, &signer, now, Some(&tsa), Some(&ocsp)).unwrap();
        let bb = xades_sign::create(&files, &signer, now, None, None).unwrap();
        let bt = xades_sign::create(&files, &signer, now, Some(&tsa), None).unwrap();

        let ours = |c: &[u8]| asice::validate(c, &pki.anchors(), now, &Limits::default()).unwrap();
        let r = ours(&lt);
        assert_eq!(
            verdict(&r),
            (Indication::TotalPassed, None),
            "{alg}: {r:#?}"
        );
        assert_eq!(r.signatures[0].report.level, "B-LT", "{alg}");
        assert_eq!(r.signatures[0].covers.len(), 2);
        let r = ours(&bb);
        let try_later = (Indication::Indeterminate, Some("TRY_LATER".into()));
        assert_eq!(verdict(&r), try_later, "{alg}: {r:#?}");
        let r = ours(&flip_signature_value_in(&bb, "META-INF/signatures0.xml"));
        let sig_failure = (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE".into()));
        assert_eq!(verdict(&r), sig_failure, "{alg}");
        // signxml verifies all of them, RSA-PSS included.
        let sx = d.path().join(format!("sx-{alg}"));
        unpack(&lt, &sx);
        let ca_bundle = sx.join("ca.pem");
        std::fs::write(
            &ca_bundle,
            format!("{}{}", pki.root.to_pem(), pki.issuing.to_pem()),
        )
        .unwrap();
        let signxml_verify = || {
            Command::new(signxml_python())
                .arg(format!(
                    "{}/tests/xades/signxml_verify.py",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .arg(&sx)
                .arg(&ca_bundle)
                .output()
                .unwrap()
        };
        let o = signxml_verify();
        assert!(
            o.status.success(),
            "signxml refuses our {alg} signature: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::write(sx.join("decision 7.txt"), b"Decision no. 7: refused.\n").unwrap();
        assert!(
            !signxml_verify().status.success(),
            "signxml should refuse an altered file"
        );
        if !judged {
            continue;
        }

        // pyasice.
        for (level, c) in [("b-b", &bb), ("b-t", &bt), ("b-lt", &lt)] {
            let path = d.path().join(format!("{alg}-{level}.asice"));
            std::fs::write(&path, c).unwrap();
            let o = pyasice_verify(&path);
            assert!(
                o.status.success(),
                "pyasice refuses our {alg} {level}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }

        // xmlsec1, with the container's files beside the signature.
        let x = d.path().join(format!("x-{alg}"));
        unpack(&lt, &x);
        std::fs::write(x.join("root.pem"), pki.root.to_pem()).unwrap();
        std::fs::write(x.join("issuing.pem"), pki.issuing.to_pem()).unwrap();
        // The reference URIs are relative to the container root, where xmlsec1 runs.
        std::fs::copy(
            x.join("META-INF/signatures0.xml"),
            x.join("signatures0.xml"),
        )
        .unwrap();
        let xmlsec1_verify = || {
            xmlsec1(
                &x,
                &[
                    "--verify",
                    "--trusted-pem",
                    "root.pem",
                    "--untrusted-pem",
                    "issuing.pem",
                    "--id-attr:Id",
                    "SignedProperties",
                    "signatures0.xml",
                ],
            )
        };
        let (ok, out) = xmlsec1_verify();
        assert!(ok, "xmlsec1 refuses our {alg} signature: {out}");
        // And it notices an altered file.
        std::fs::write(x.join("decision 7.txt"), b"Decision no. 7: refused.\n").unwrap();
        let (ok, out) = xmlsec1_verify();
        assert!(!ok, "xmlsec1 should refuse an altered file: {out}");
    }
}

/// Writes the entries of the container `c` as files under `dir`.
fn unpack(c: &[u8], dir: &Path) {
    for (name, content, _) in entries(c) {
        let p = dir.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// `c` with one bit of the SignatureValue in the signatures file `name` flipped.
fn flip_signature_value_in(c: &[u8], name: &str) -> Vec<u8> {
    edit(c, name, |x| {
        let s = String::from_utf8(x.clone()).unwrap();
        let start = s.find("<ds:SignatureValue").unwrap();
        let start = start + s[start..].find('>').unwrap() + 1;
        let end = start + s[start..].find('<').unwrap();
        let mut v = base64::engine::general_purpose::STANDARD
            .decode(s[start..end].split_whitespace().collect::<String>())
            .unwrap();
        v[10] ^= 0x01;
        let flipped = base64::engine::general_purpose::STANDARD.encode(v);
        *x = format!("{}{flipped}{}", &s[..start], &s[end..]).into_bytes();
    })
}

/// A signing certificate for the key file `NAME.key` (in `dir`), issued by openssl with the
/// test PKI's issuing CA (Körpü's CA code issues for P-256 keys only).
fn issue_for(pki: &common::Pki, dir: &Path, cn: &str, name: &str) -> Certificate {
    std::fs::write(dir.join("issuing.key"), pki.issuing_key.to_pkcs8_pem()).unwrap();
    std::fs::write(dir.join("issuing.pem"), pki.issuing.to_pem()).unwrap();
    std::fs::write(dir.join("ext.cnf"), ext_cnf()).unwrap();
    let subj = format!("/CN={cn}/O=Korpu Test");
    ossl::issue_by(
        dir,
        name,
        "issuing",
        &subj,
        "ext.cnf",
        "member",
        &["-sha256"],
    );
    ossl::cert(dir, name)
}

/// ASiC-S with a time-stamp token from an openssl TSA over SHA-512 (foreign TSAs do not all use
/// SHA-256), and ASiC-S with a XAdES signature (Körpü's, repackaged as ASiC-S): both pass; a
/// changed data object fails.
#[test]
fn asic_s_with_a_sha512_openssl_time_stamp_or_xades_passes() {
    let pki = OpensslPki::new("ec");
    let d = pki.dir.path();
    ossl::genkey(d, "tsa", "ec256");
    ossl::issue_by(
        d,
        "tsa",
        "ca",
        "/CN=Openssl TSA",
        "ext.cnf",
        "tsa",
        &["-sha256"],
    );
    let (digests, extra) = (
        "sha256, sha384, sha512",
        "accuracy = secs:1\ness_cert_id_chain = no\n",
    );
    ossl::tsa_config(d, "tsa.pem", "tsa.key", "ca.pem", digests, extra);
    let data = b"archived register extract\n".to_vec();
    std::fs::write(d.join("stamped.bin"), &data).unwrap();
    ossl::ts_query(d, "-sha512", &[]);
    let token = ossl::ts_reply(d);
    let r = asic_s_judged(&data, ("timestamp.tst", token), &pki.root());
    assert!(r.signatures[0].report.signer.contains("Openssl TSA"));

    // XAdES in ASiC-S: Körpü's B-LT signature over one file, in META-INF/signatures.xml.
    let kpki = common::Pki::new("AsicS XAdES");
    let m = kpki.member("AZ/GOV/5151515");
    let file = korpu_sign::asice::DataFile {
        name: "extract.txt".into(),
        mime_type: "text/plain".into(),
        content: data.clone(),
    };
    let e = korpu_sign::xades_sign::create(
        &[file],
        &m.signer(),
        SystemTime::now(),
        Some(&kpki.tsa()),
        Some(&kpki.ocsp(Vec::new())),
    )
    .unwrap();
    let xml = entry(&e, "META-INF/signatures0.xml");
    asic_s_judged(&data, ("signatures.xml", xml), &kpki.anchors());
}

/// An ASiC-S container of `extract.txt` holding `data` with the META-INF file `meta` passes
/// under `anchors`, and with the data changed is HASH_FAILURE; the passing report.
fn asic_s_judged(data: &[u8], meta: (&str, Vec<u8>), anchors: &[Certificate]) -> ContainerReport {
    let validate = |c: &[u8]| asics::validate(c, anchors, SystemTime::now(), &Limits::default());
    let c = asic_s("extract.txt", data, std::slice::from_ref(&meta));
    assert_eq!(detect::detect(&c), detect::Format::AsicS);
    let r = validate(&c).unwrap();
    expect(&r, Indication::TotalPassed, None);
    let mut changed = data.to_vec();
    changed[0] ^= 0x20;
    let c = asic_s("extract.txt", &changed, &[meta]);
    expect(
        &validate(&c).unwrap(),
        Indication::TotalFailed,
        Some("HASH_FAILURE"),
    );
    r
}

/// A parallel XAdES signature added by Körpü to a container pyasice signed: both signatures
/// pass with Körpü, and pyasice verifies both; the first signatures file is kept byte for byte.
#[test]
fn a_parallel_signature_added_to_a_pyasice_container_keeps_both_valid() {
    let pki = OpensslPki::new("ec");
    let files: &[(&str, &[u8])] = &[
        ("application.txt", b"I apply for a permit."),
        ("id.bin", &[1, 2, 3]),
    ];
    let c = pki.pyasice("Citizen", "ec256", "sha256", files, &[]);
    let (okey, ocert) = pki.signer("Official", "rsa2048");
    let okey =
        korpu_sign::keys::read_document_key(&okey, korpu_sign::keys::RsaPadding::Pkcs1).unwrap();
    let ocert = cert_at(&ocert);
    let signer = korpu_sign::cades::Signer {
        key: &okey,
        cert: &ocert,
        chain: &[],
    };
    let both = korpu_sign::xades_sign::add_signature(
        &c,
        &signer,
        SystemTime::now(),
        None,
        None,
        &Limits::default(),
    )
    .unwrap();
    let first = |x: &[u8]| entry(x, SIG_FILE);
    assert_eq!(first(&c), first(&both));
    let r = validate(&both, &pki, &pki.root());
    assert_eq!(r.signatures.len(), 2, "{r:#?}");
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(r
        .signatures
        .iter()
        .any(|s| s.report.signer.contains("Official")));
    assert!(r.signatures.iter().all(|s| s.covers.len() == 2));
    let path = pki.path("both.asice");
    std::fs::write(&path, &both).unwrap();
    let o = pyasice_verify(&path);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("OK 2"),
        "pyasice: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A zip without the `mimetype` entry but with `META-INF/signatures*.xml` is detected as
/// ASiC-E and validated (as DSS does); a `mimetype` that is present must still come first.
/// The strict reader the document exchange uses keeps refusing it.
#[test]
fn a_container_without_mimetype_is_still_validated() {
    let pki = OpensslPki::new("ec");
    let c = pki.pyasice("No Mimetype", "ec256", "sha256", &[("a.txt", b"a")], &[]);
    let e = entries(&c);
    assert_eq!(e[0].0, "mimetype");
    let bare = rebuild(&e[1..]);
    assert_eq!(detect::detect(&bare), detect::Format::AsicE);
    let now = SystemTime::now();
    let r = asice::validate_opts_mimetype_optional(
        &bare,
        &pki.root(),
        now,
        &Limits::default(),
        &pki.options(),
    )
    .unwrap();
    expect(&r, Indication::TotalPassed, None);
    assert!(
        asice::validate_opts(&bare, &pki.root(), now, &Limits::default(), &pki.options()).is_err()
    );
    let mut moved = e.clone();
    moved.swap(0, 1);
    assert!(matches!(
        asice::validate_opts_mimetype_optional(
            &rebuild(&moved),
            &pki.root(),
            now,
            &Limits::default(),
            &pki.options()
        ),
        Err(korpu_sign::asice::AsicError::MimetypeNotFirst(_))
    ));
}

/// A signature with an enveloped reference to its whole signatures document (URI "" with the
/// enveloped-signature transform), made by xmlsec1, passes; one using an XPointer reference,
/// which Körpü does not implement, is INDETERMINATE, not failed.
#[test]
fn enveloped_whole_document_references_pass_and_xpointer_is_indeterminate() {
    let pki = OpensslPki::new("ec");
    let (key, cert) = pki.signer("Enveloped", "ec256");
    let cert_der = cert_at(&cert).der().to_vec();
    let keys = format!("{},{}", key.display(), cert.display());
    for (uri, want) in [
        ("", (Indication::TotalPassed, None)),
        (
            "#xpointer(/)",
            (
                Indication::Indeterminate,
                Some("CRYPTO_CONSTRAINTS_FAILURE".to_string()),
            ),
        ),
    ] {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("data.txt"), "enveloped case\n").unwrap();
        let tmpl = xmlsec_template(
            "http://www.w3.org/2001/10/xml-exc-c14n#",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            "http://www.w3.org/2001/04/xmlenc#sha256",
            "http://www.w3.org/2001/10/xml-exc-c14n#",
            "",
            &cert_der,
        )
        .replacen(
            "<ds:Reference URI=\"data.txt\">",
            &format!(
                "<ds:Reference URI=\"{uri}\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue></ds:DigestValue></ds:Reference><ds:Reference URI=\"data.txt\">"
            ),
            1,
        );
        std::fs::write(d.path().join("tmpl.xml"), tmpl).unwrap();
        let xml = xmlsec1_sign_and_verify(d.path(), &keys, &pki.path("ca.pem"), uri);
        let container = xmlsec_container(b"enveloped case\n", &xml);
        let r = validate(&container, &pki, &pki.root());
        assert_eq!(verdict(&r), want, "{uri}: {r:#?}");
    }
}

/// RSA-PSS under the generic `rsa-pss` identifier with explicit RSAPSSParams (RFC 6931
/// §2.3.10: SHA-512, MGF1 with SHA-512, a 32-byte salt) passes; the same value under a salt
/// length the parameters do not state fails as SIG_CRYPTO_FAILURE.
#[test]
fn rsa_pss_with_explicit_parameters_passes() {
    let pki = OpensslPki::new("ec");
    let files: &[(&str, &[u8])] = &[("d.txt", b"pss")];
    let c = pki.pyasice("PSS Params", "rsa3072", "sha512", files, &["--pss-params"]);
    let xml = String::from_utf8(entry(&c, SIG_FILE)).unwrap();
    assert!(
        xml.contains("xmldsig-more#rsa-pss") && xml.contains("SaltLength>32<"),
        "{xml}"
    );
    expect(
        &validate(&c, &pki, &pki.root()),
        Indication::TotalPassed,
        None,
    );
    let other_salt = edit(&c, SIG_FILE, |x| {
        *x = String::from_utf8(x.clone())
            .unwrap()
            .replace("SaltLength>32<", "SaltLength>64<")
            .into_bytes();
    });
    let sig_failure = (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE".into()));
    assert_eq!(pki.verdict(&other_salt), sig_failure);
}

/// XML documents signxml signs with an enveloped XAdES signature (URI "" with the
/// enveloped-signature transform, C14N 1.1 or exclusive, its SignedProperties and KeyInfo
/// references) with RSA, RSA-PSS and ECDSA: Körpü passes them; a changed text in the document
/// is HASH_FAILURE.
#[test]
fn signxml_enveloped_xades_documents_pass() {
    let pki = OpensslPki::new("ec");
    let d = pki.dir.path();
    std::fs::write(
        d.join("order.xml"),
        "<order xmlns=\"urn:example:order\" id=\"o1\"><item qty=\"2\">Road repair</item>\
         <note>Urgent &amp; important</note></order>",
    )
    .unwrap();
    const MORE: &str = "http://www.w3.org/2001/04/xmldsig-more#";
    let cases = [
        (
            "ec256",
            format!("{MORE}ecdsa-sha256"),
            "http://www.w3.org/2006/12/xml-c14n11",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
        (
            "rsa2048",
            format!("{MORE}rsa-sha512"),
            "http://www.w3.org/2006/12/xml-c14n11",
            "http://www.w3.org/2001/04/xmlenc#sha512",
        ),
        (
            "rsa3072",
            "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1".to_string(),
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
        ),
        (
            "ec384",
            format!("{MORE}ecdsa-sha384"),
            "http://www.w3.org/2006/12/xml-c14n11",
            "http://www.w3.org/2001/04/xmlenc#sha256",
        ),
    ];
    // signxml signs order.xml with a new signer `name` of key `alg` into `out`.
    let signxml_sign =
        |name: &str, alg: &str, out: &Path, method: &str, c14n: &str, digest: &str| {
            let (key, cert) = pki.signer(name, alg);
            Command::new(signxml_python())
                .arg(format!(
                    "{}/tests/xades/signxml_sign.py",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .arg(d.join("order.xml"))
                .arg(&key)
                .arg(format!(
                    "{},{}",
                    cert.display(),
                    pki.path("ca.pem").display()
                ))
                .arg(out)
                .args([method, c14n, digest])
                .output()
                .unwrap()
        };
    let run = |x: &[u8]| {
        korpu_sign::xades::validate_file(
            x,
            &Default::default(),
            &pki.root(),
            SystemTime::now(),
            &korpu_sign::xml::Limits::default(),
            &pki.options(),
        )
        .unwrap()
    };
    let hash_failure = (Indication::TotalFailed, Some("HASH_FAILURE"));
    for (alg, method, c14n, digest) in &cases {
        let name = format!("Signxml {alg}");
        let out = d.join(format!("signed-{alg}.xml"));
        let o = signxml_sign(&name, alg, &out, method, c14n, digest);
        assert!(
            o.status.success(),
            "signxml ({alg}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let xml = std::fs::read(&out).unwrap();
        assert_eq!(detect::detect(&xml), detect::Format::Xml);
        let r = run(&xml);
        assert_eq!(r.len(), 1);
        let report = &r[0].report;
        let passed = (Indication::TotalPassed, None);
        assert_eq!(
            (report.indication, report.sub_indication.clone()),
            passed,
            "{alg}: {report:#?}"
        );
        assert!(report.signer.contains(&name));
        let changed = String::from_utf8(xml)
            .unwrap()
            .replace("Road repair", "Road closure");
        let r = run(changed.as_bytes());
        let report = &r[0].report;
        assert_eq!(
            (report.indication, report.sub_indication.as_deref()),
            hash_failure,
            "{alg}"
        );
    }

    // signxml configured for exclusive C14N digests SignedProperties with it but declares no
    // Transform, so by XML-DSig the reference is inclusive C14N 1.0 and does not match: xmlsec1
    // and signxml's own verifier refuse such a file, and Körpü agrees (HASH_FAILURE).
    let out = d.join("signed-exclusive.xml");
    let o = signxml_sign(
        "Signxml exclusive",
        "ec256",
        &out,
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmlenc#sha256",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, _) = xmlsec1(
        d,
        &[
            "--verify",
            "--trusted-pem",
            "ca.pem",
            "--id-attr:Id",
            "SignedProperties",
            "--id-attr:Id",
            "KeyInfo",
            "signed-exclusive.xml",
        ],
    );
    assert!(
        !ok,
        "xmlsec1 refuses signxml's exclusive-C14N SignedProperties digest"
    );
    let r = run(&std::fs::read(&out).unwrap());
    let report = &r[0].report;
    assert_eq!(
        (report.indication, report.sub_indication.as_deref()),
        hash_failure
    );
}

/// An ECDSA SignatureValue written in DER instead of XML-DSig's raw r||s (some signers do;
/// pyasice accepts it) is still this key's signature: TOTAL_PASSED, not SIG_CRYPTO_FAILURE;
/// a flipped byte in it still fails.
#[test]
fn a_der_ecdsa_signature_value_is_not_called_forged() {
    let pki = OpensslPki::new("ec");
    let files: &[(&str, &[u8])] = &[("d.txt", b"der")];
    let c = pki.pyasice("DER ECDSA", "ec384", "sha384", files, &["--ecdsa-der"]);
    expect(
        &validate(&c, &pki, &pki.root()),
        Indication::TotalPassed,
        None,
    );
    let sig_failure = (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE".into()));
    assert_eq!(pki.verdict(&flip_signature_value(&c)), sig_failure);
}

/// The CA's CRL (openssl's) as the only revocation source for a B-LT XAdES signature Körpü
/// makes: it lands in RevocationValues/CRLValues and the signature validates offline as B-LT.
#[test]
fn xades_b_lt_embeds_the_cas_crl_when_that_is_what_it_publishes() {
    struct CrlOnly(Vec<u8>);
    impl korpu_sign::RevocationSource for CrlOnly {
        fn ocsp(&self, _: &Certificate, _: &Certificate) -> Result<Vec<u8>, korpu_sign::SignError> {
            Err(korpu_sign::SignError::InvalidInput(
                "no OCSP responder".into(),
            ))
        }
        fn crl(
            &self,
            _: &Certificate,
            _: &Certificate,
        ) -> Result<Option<Vec<u8>>, korpu_sign::SignError> {
            Ok(Some(self.0.clone()))
        }
    }
    let pki = OpensslPki::new("rsa");
    let d = pki.dir.path();
    let (key, cert) = pki.signer("CRL Signer", "ec256");
    let crl = ossl::gencrl(d, "ca");
    let key =
        korpu_sign::keys::read_document_key(&key, korpu_sign::keys::RsaPadding::Pkcs1).unwrap();
    let cert = cert_at(&cert);
    let root = pki.root();
    let signer = korpu_sign::cades::Signer {
        key: &key,
        cert: &cert,
        chain: &root,
    };
    let tsa_pki = common::Pki::new("CRL TSA");
    let file = korpu_sign::asice::DataFile {
        name: "minutes.txt".into(),
        mime_type: "text/plain".into(),
        content: b"Minutes of the board.".to_vec(),
    };
    let c = korpu_sign::xades_sign::create(
        &[file],
        &signer,
        SystemTime::now(),
        Some(&tsa_pki.tsa()),
        Some(&CrlOnly(crl)),
    )
    .unwrap();
    let xml = String::from_utf8(entry(&c, "META-INF/signatures0.xml")).unwrap();
    assert!(
        xml.contains("<xades:CRLValues><xades:EncapsulatedCRLValue>"),
        "{xml}"
    );
    let mut anchors = pki.root();
    anchors.extend(tsa_pki.anchors());
    let r = asice::validate(&c, &anchors, SystemTime::now(), &Limits::default()).unwrap();
    expect(&r, Indication::TotalPassed, None);
    assert_eq!(r.signatures[0].report.level, "B-LT");
}

/// A certificate Körpü's strict parser cannot read does not make a signature forged: among
/// the unsigned CertificateValues it is left out (the signature passes); as the signer's own
/// certificate (which SigningCertificate names), the signature is INDETERMINATE /
/// NO_SIGNING_CERTIFICATE_FOUND — never TOTAL_FAILED.
#[test]
fn an_unreadable_certificate_is_not_a_forgery() {
    let pki = OpensslPki::new("ec");
    let c = pki.pyasice("Odd Cert", "ec256", "sha256", &[("d.txt", b"x")], &[]);
    let extra = edit(&c, SIG_FILE, |x| {
        let s = String::from_utf8(x.clone()).unwrap().replacen(
            "<xades:CertificateValues>",
            "<xades:CertificateValues><xades:EncapsulatedX509Certificate>MIIBAAECAwQ=</xades:EncapsulatedX509Certificate>",
            1,
        );
        *x = s.into_bytes();
    });
    assert_eq!(pki.verdict(&extra), (Indication::TotalPassed, None));
    let signer_cert = edit(&c, SIG_FILE, |x| {
        let s = String::from_utf8(x.clone()).unwrap();
        let i = s.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
        // Keep it base64, but no longer a certificate.
        *x = format!("{}MIIBAAECAwQ={}", &s[..i], &s[i + 12..]).into_bytes();
    });
    let not_found = Some("NO_SIGNING_CERTIFICATE_FOUND".into());
    assert_eq!(
        pki.verdict(&signer_cert),
        (Indication::Indeterminate, not_found)
    );
}
