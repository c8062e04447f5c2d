//! Documents per second: PAdES signing (B-B, and B-T with one RFC 3161 request per document to
//! the in-process korpu-pki TSA) and validation of 100 KiB PDFs, and the same for 1 MiB ASiC-E
//! containers. Each figure is measured on one thread and on as many threads as the machine
//! has cores (documents are independent, so a signing service uses them all).
//!
//! RSA-2048 and P-384 signers (under an openssl-made RSA hierarchy) get their own PAdES rows,
//! and the headline figure is the validation of a 100 KiB PAdES B-LT over that RSA chain on 2
//! threads, with pyHanko's rate for the same file measured in the same run
//! (`benches/pyhanko_validate.py`, 2 worker processes) and the ratio. The machine's other load
//! counts in every figure: compare figures of one run.
//!
//! Run: `cargo bench -p korpu-sign --bench docs` (release build; needs openssl, and pyHanko as
//! `scripts/test` installs it, else its figure is left out). `DOCS_N` sets the documents per
//! measurement (default 400), `DOCS_PYHANKO_N` pyHanko's validations (default 100).
use std::time::{Instant, SystemTime};

use korpu_pki::ca::Profile;
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::tsa::Authority;
use korpu_sign::asice::{self, DataFile};
use korpu_sign::cades::Signer;
use korpu_sign::keys::{DocumentKey, RsaPadding};
use korpu_sign::pdf;
use korpu_sign::validate::Indication;
use korpu_sign::{LocalTimestamper, Timestamper};
use korpu_testkit::{ossl, Crls, Pki};

/// A one-page PDF padded to about `size` bytes with a content stream of incompressible-looking
/// text, as a scanned or long document would be.
fn pdf_of(size: usize) -> Vec<u8> {
    let mut c = b"BT /F1 12 Tf 72 720 Td (Benchmark) Tj ET\n".to_vec();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while c.len() < size.saturating_sub(600) {
        c.push(b'%');
        for _ in 0..70 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.push(b'A' + (x % 26) as u8);
        }
        c.push(b'\n');
    }
    korpu_testkit::pdf::one_page(&c)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545f4914f6cdd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs `f(i)` for i in 0..n on `threads` threads; returns documents per second.
fn rate<F: Fn(usize) + Sync>(n: usize, threads: usize, f: F) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let f = &f;
            s.spawn(move || {
                let mut i = t;
                while i < n {
                    f(i);
                    i += threads;
                }
            });
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("DOCS_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());

    let pki = Pki::cn_only("Bench");
    let member = pki.member("AZ/GOV/1");
    let tsa = LocalTimestamper::new(pki.authority(
        pki.leaf("Bench TSA", Profile::Tsa, None),
        "1.3.6.1.4.1.99999.3",
    ));
    let signer = member.signer();
    let anchors = pki.anchors();
    let now = SystemTime::now();
    let limits = pdf::Limits::default();
    let alimits = asice::Limits::default();

    let doc = pdf_of(100 << 10);
    let file = DataFile {
        name: "scan.bin".into(),
        mime_type: "application/octet-stream".into(),
        content: random_bytes(1 << 20),
    };
    let signed_pdf = pdf::sign(&doc, &signer, now, Some(&tsa), &limits).unwrap();
    let container = asice::create(std::slice::from_ref(&file), &[signer], now, Some(&tsa)).unwrap();
    let xades =
        korpu_sign::xades_sign::create(std::slice::from_ref(&file), &signer, now, Some(&tsa), None)
            .unwrap();
    // B-T without revocation data: everything passes but revocation (INDETERMINATE/TRY_LATER).
    let pdf_ok = |r: &pdf::PdfReport| {
        r.indication == Indication::TotalPassed
            || r.signatures
                .iter()
                .all(|s| s.report.lacks_only_revocation())
    };
    let asice_ok = |r: &asice::ContainerReport| {
        r.indication == Indication::TotalPassed
            || r.signatures
                .iter()
                .all(|s| s.report.lacks_only_revocation())
    };
    assert!(pdf_ok(
        &pdf::validate(&signed_pdf, &anchors, now, &limits).unwrap()
    ));
    println!(
        "documents: PDF {} bytes (signed {}), ASiC-E {} bytes; {n} per measurement; {cores} cores",
        doc.len(),
        signed_pdf.len(),
        container.len()
    );
    let ts: Option<&(dyn Timestamper + Sync)> = Some(&tsa);
    for threads in [1, cores] {
        let r = [
            (
                "PAdES 100 KiB sign B-B",
                rate(n, threads, |_| {
                    pdf::sign(&doc, &signer, now, None, &limits).unwrap();
                }),
            ),
            (
                "PAdES 100 KiB sign B-T",
                rate(n, threads, |_| {
                    pdf::sign(
                        &doc,
                        &signer,
                        now,
                        ts.map(|t| t as &dyn Timestamper),
                        &limits,
                    )
                    .unwrap();
                }),
            ),
            (
                "PAdES 100 KiB validate B-T",
                rate(n, threads, |_| {
                    let r = pdf::validate(&signed_pdf, &anchors, now, &limits).unwrap();
                    assert!(pdf_ok(&r));
                }),
            ),
            (
                "ASiC-E 1 MiB sign B-B",
                rate(n / 4, threads, |_| {
                    asice::create(std::slice::from_ref(&file), &[signer], now, None).unwrap();
                }),
            ),
            (
                "ASiC-E 1 MiB sign B-T",
                rate(n / 4, threads, |_| {
                    asice::create(
                        std::slice::from_ref(&file),
                        &[signer],
                        now,
                        ts.map(|t| t as &dyn Timestamper),
                    )
                    .unwrap();
                }),
            ),
            (
                "ASiC-E 1 MiB validate B-T",
                rate(n / 4, threads, |_| {
                    let r = asice::validate(&container, &anchors, now, &alimits).unwrap();
                    assert!(asice_ok(&r));
                }),
            ),
            (
                "ASiC-E XAdES 1 MiB sign B-T",
                rate(n / 4, threads, |_| {
                    korpu_sign::xades_sign::create(
                        std::slice::from_ref(&file),
                        &signer,
                        now,
                        ts.map(|t| t as &dyn Timestamper),
                        None,
                    )
                    .unwrap();
                }),
            ),
            (
                "ASiC-E XAdES 1 MiB validate B-T",
                rate(n / 4, threads, |_| {
                    let r = asice::validate(&xades, &anchors, now, &alimits).unwrap();
                    assert!(asice_ok(&r));
                }),
            ),
        ];
        for (name, v) in r {
            println!("{threads} thread(s)  {name:<36} {v:>8.0} docs/s");
        }
    }
    rsa_rows(n, cores, &doc);
}

const CRL_ROOT: &str = "http://crl.bench.test/root.crl";
const CRL_CA: &str = "http://crl.bench.test/ca.crl";

/// An openssl-made RSA hierarchy, as a national e-ID or a qualified trust service runs one:
/// an RSA-3072 root, an RSA-2048 issuing CA, signers with RSA-2048 and P-384 keys, a TSA (with
/// a Körpü P-256 key) under the same CA, and a CRL from each CA. Files in `dir`.
struct RsaPki {
    dir: tempfile::TempDir,
    tsa_key: SigningKey,
}

impl RsaPki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            format!(
                "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
                 subjectKeyIdentifier=hash\n\
                 [ca]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n\
                 keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
                 authorityKeyIdentifier=keyid\ncrlDistributionPoints=URI:{CRL_ROOT}\n\
                 [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
                 subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
                 crlDistributionPoints=URI:{CRL_CA}\n\
                 [tsa]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
                 extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n\
                 authorityKeyIdentifier=keyid\ncrlDistributionPoints=URI:{CRL_CA}\n"
            ),
        )
        .unwrap();
        let issue = |name: &str, ca: &str, ext: &str, cn: &str| {
            let subj = format!("/CN={cn}/O=Korpu");
            ossl::issue_by(d, name, ca, &subj, "ext.cnf", ext, &["-sha256"]);
        };
        ossl::genkey(d, "root", "rsa3072");
        let root_subj = "/CN=Bench RSA Root/O=Korpu";
        ossl::self_signed(d, "root", root_subj, "ext.cnf", "root", &["-sha256"]);
        ossl::genkey(d, "ca", "rsa2048");
        issue("ca", "root", "ca", "Bench RSA Issuing CA");
        ossl::genkey(d, "rsa", "rsa2048");
        issue("rsa", "ca", "leaf", "Bench Signer RSA-2048");
        ossl::genkey(d, "p384", "p384");
        issue("p384", "ca", "leaf", "Bench Signer P-384");
        let tsa_key = SigningKey::generate();
        korpu_pki::key::write_private_key(&d.join("tsa.key"), &tsa_key).unwrap();
        issue("tsa", "ca", "tsa", "Bench RSA-chain TSA");
        for ca in ["root", "ca"] {
            ossl::ca_database(d, ca, "sha256");
            ossl::gencrl(d, ca);
        }
        RsaPki { dir, tsa_key }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cert(&self, name: &str) -> Certificate {
        ossl::cert(self.dir.path(), name)
    }

    fn key(&self, name: &str) -> DocumentKey {
        let pem = std::fs::read_to_string(self.path(&format!("{name}.key"))).unwrap();
        DocumentKey::from_pkcs8_pem(&pem, RsaPadding::Pkcs1).unwrap()
    }

    fn tsa(&self) -> LocalTimestamper {
        LocalTimestamper::new(
            Authority::new(
                self.cert("tsa"),
                self.tsa_key.clone(),
                vec![self.cert("ca")],
                "1.3.6.1.4.1.99999.3".parse().unwrap(),
            )
            .unwrap(),
        )
    }
}

/// The python that has pyHanko: `KORPU_PYHANKO_PYTHON`, else scripts/test's virtualenv, else
/// python3.
fn pyhanko_python() -> String {
    const VENV: &str = "/opt/korpu/pyhanko-venv/bin/python";
    std::env::var("KORPU_PYHANKO_PYTHON").unwrap_or_else(|_| {
        if std::path::Path::new(VENV).exists() {
            VENV.into()
        } else {
            "python3".into()
        }
    })
}

/// RSA-2048 and P-384 signing and validation of the 100 KiB PDF, and the headline figure: a
/// PAdES B-LT over an RSA chain validated on `threads` threads, with pyHanko's rate for the very
/// same file (as many worker processes as threads) beside it.
fn rsa_rows(n: usize, cores: usize, doc: &[u8]) {
    let pki = RsaPki::new();
    let anchors = vec![pki.cert("root")];
    // The root goes in too: B-LT embeds the root's CRL about the CA, found through it.
    let chain = vec![pki.cert("ca"), pki.cert("root")];
    let limits = pdf::Limits::default();
    let now = SystemTime::now();
    let (rsa_key, rsa_cert) = (pki.key("rsa"), pki.cert("rsa"));
    let (p384_key, p384_cert) = (pki.key("p384"), pki.cert("p384"));
    let rsa = Signer {
        key: &rsa_key,
        cert: &rsa_cert,
        chain: &chain,
    };
    let p384 = Signer {
        key: &p384_key,
        cert: &p384_cert,
        chain: &chain,
    };
    let rsa_bb = pdf::sign(doc, &rsa, now, None, &limits).unwrap();
    let p384_bb = pdf::sign(doc, &p384, now, None, &limits).unwrap();
    let tsa = pki.tsa();
    let crls = Crls(
        ["root", "ca"]
            .iter()
            .map(|ca| {
                (
                    pki.cert(ca),
                    std::fs::read(pki.path(&format!("{ca}.crl"))).unwrap(),
                )
            })
            .collect(),
    );
    let bt = pdf::sign(doc, &rsa, now, Some(&tsa), &limits).unwrap();
    let blt = pdf::add_validation_data(&bt, &crls, &limits).unwrap();
    // B-B offline: intact and trusted, revocation not established; B-LT: passed outright.
    let bb_ok = |r: &pdf::PdfReport| {
        r.signatures.iter().all(|s| {
            s.report.lacks_only_revocation() || s.report.indication == Indication::TotalPassed
        })
    };
    assert!(bb_ok(
        &pdf::validate(&rsa_bb, &anchors, now, &limits).unwrap()
    ));
    assert!(bb_ok(
        &pdf::validate(&p384_bb, &anchors, now, &limits).unwrap()
    ));
    let r = pdf::validate(&blt, &anchors, now, &limits).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.signatures[0].report.level, "B-LT");

    for threads in [1, cores] {
        let signing = |signer: &Signer| {
            rate(n, threads, |_| {
                pdf::sign(doc, signer, now, None, &limits).unwrap();
            })
        };
        let validating = |signed: &[u8]| {
            rate(n, threads, |_| {
                assert!(bb_ok(
                    &pdf::validate(signed, &anchors, now, &limits).unwrap()
                ));
            })
        };
        let rows = [
            ("PAdES 100 KiB sign B-B RSA-2048", signing(&rsa)),
            ("PAdES 100 KiB validate B-B RSA-2048", validating(&rsa_bb)),
            ("PAdES 100 KiB sign B-B P-384", signing(&p384)),
            ("PAdES 100 KiB validate B-B P-384", validating(&p384_bb)),
        ];
        for (name, v) in rows {
            println!("{threads} thread(s)  {name:<36} {v:>8.0} docs/s");
        }
    }

    // The headline: validation of a 100 KiB PAdES B-LT over the RSA chain (signature, time-stamp,
    // chains of signer and TSA, CRLs from the DSS), Körpü and pyHanko on the same file.
    // Five times the rows' count: at thousands per second, 400 would be over in a blink.
    let threads = 2;
    let korpu_n = 5 * n;
    let korpu = rate(korpu_n, threads, |_| {
        let r = pdf::validate(&blt, &anchors, now, &limits).unwrap();
        assert_eq!(r.indication, Indication::TotalPassed);
    });
    std::fs::write(pki.path("blt.pdf"), &blt).unwrap();
    let pyhanko_n: usize = std::env::var("DOCS_PYHANKO_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pyhanko_validate.py");
    let out = std::process::Command::new(pyhanko_python())
        .arg(script)
        .arg(pki.path("blt.pdf"))
        .arg(pki.path("root.pem"))
        .arg(pyhanko_n.to_string())
        .arg(threads.to_string())
        .output();
    let pyhanko = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .split("\"per_second\": ")
            .nth(1)
            .and_then(|s| s.trim().trim_end_matches('}').parse::<f64>().ok()),
        Ok(o) => {
            eprintln!(
                "pyHanko did not validate the file: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("cannot run pyHanko ({e}); scripts/test installs it");
            None
        }
    };
    println!(
        "PAdES 100 KiB B-LT, RSA chain ({} bytes), validate on {threads} threads:",
        blt.len()
    );
    println!("  Körpü    {korpu:>8.0} validations/s ({korpu_n} validations)");
    match pyhanko {
        Some(p) => println!(
            "  pyHanko  {p:>8.1} validations/s ({pyhanko_n} validations, {threads} processes); \
             Körpü/pyHanko = {:.0}x",
            korpu / p
        ),
        None => println!("  pyHanko  not measured (see above)"),
    }
}
