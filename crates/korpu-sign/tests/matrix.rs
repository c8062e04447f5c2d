//! The algorithm matrix of issue 14: signatures made by OUTSIDE tools with every key type and
//! digest, validated by Körpü. Keys {RSA-2048 PKCS#1 v1.5, RSA-3072 PSS, P-256, P-384, P-521,
//! Ed25519} × digests {SHA-256, SHA-384, SHA-512} × formats {CAdES detached and ASiC-E CAdES
//! made by `openssl cms -sign -cades`, PAdES made by pyHanko}. Each must be TOTAL_PASSED with the
//! root trusted (revocation from openssl-made CRLs at the certificates' distribution points),
//! INDETERMINATE with an unknown root, TOTAL_FAILED/HASH_FAILURE with one byte of the data
//! flipped and TOTAL_FAILED/SIG_CRYPTO_FAILURE with one byte of the signature value flipped.
//!
//! Skipped because the outside tool cannot make them: Ed25519 in CAdES/ASiC-E (OpenSSL 3.0's
//! CMS refuses Ed25519 with signed attributes: "eddsa_digest_signverify_init: invalid digest"),
//! and Ed25519 with SHA-256/384 anywhere (RFC 8419 fixes SHA-512 for Ed25519 in CMS).
//!
//! The chain crosses algorithms: an RSA-3072 root issues a P-384 CA, which issues every signer.
//! Also: BER CMS (`openssl cms -sign -stream`, indefinite lengths) passes; legacy SHA-1, RSA-1024
//! and no-signed-attribute signatures are INDETERMINATE; and the reverse direction, `openssl cms
//! -verify` and pyHanko accept what Körpü signs with RSA (PKCS#1, PSS) and P-384 keys.
//!
//! The verdict table is printed (`cargo test -p korpu-sign --test matrix -- --nocapture`).
//! Fails (does not skip) when openssl or pyHanko is missing; `scripts/test` installs them.
mod common;

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use common::ossl::{self, run as must};
use korpu_pki::cert::Certificate;
use korpu_sign::keys::{DocumentKey, RsaPadding};
use korpu_sign::validate::{
    validate_cades_enveloping, validate_cades_opts, Indication, SignatureReport,
};
use korpu_sign::{asice, cades, pdf, RevocationFetcher, ValidationOptions};

const CRL_ROOT: &str = "http://crl.matrix.test/root.crl";
const CRL_SUB: &str = "http://crl.matrix.test/sub.crl";

/// The key kinds of the matrix: (name, `korpu_testkit::ossl::genpkey_args` kind, PSS).
const KEYS: &[(&str, &str, bool)] = &[
    ("RSA-2048", "rsa2048", false),
    ("RSA-3072-PSS", "rsa3072", true),
    ("P-256", "p256", false),
    ("P-384", "p384", false),
    ("P-521", "p521", false),
    ("Ed25519", "ed25519", false),
];
const DIGESTS: &[&str] = &["sha256", "sha384", "sha512"];

/// An openssl-made PKI: RSA-3072 root → P-384 CA → one signer per key kind, CRLs for both CAs,
/// and an unrelated root for the "unknown root" case.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ext = format!(
            "[root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\n\
             [sub]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\ncrlDistributionPoints=URI:{CRL_ROOT}\n\
             [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\ncrlDistributionPoints=URI:{CRL_SUB}\n"
        );
        std::fs::write(d.join("ext.cnf"), ext).unwrap();
        ossl::ca_database(d, "root", "sha256");
        ossl::ca_database(d, "sub", "sha384");
        let pki = Pki { dir };
        pki.genkey("root", "rsa3072");
        pki.self_signed("root", "Matrix RSA Root");
        pki.genkey("other", "p256");
        pki.self_signed("other", "Someone Else's Root");
        pki.genkey("sub", "p384");
        pki.issue("sub", "root", "sub", "Matrix EC Issuing CA");
        for (name, kind, _) in KEYS {
            pki.genkey(name, kind);
            pki.issue(name, "sub", "leaf", &format!("Matrix Signer {name}"));
        }
        pki.genkey("RSA-1024", "rsa1024");
        pki.issue("RSA-1024", "sub", "leaf", "Matrix Signer RSA-1024");
        for ca in ["root", "sub"] {
            ossl::gencrl(pki.dir.path(), ca);
        }
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn genkey(&self, name: &str, kind: &str) {
        ossl::genkey(self.dir.path(), name, kind);
    }

    fn self_signed(&self, name: &str, cn: &str) {
        let subj = format!("/CN={cn}/O=Korpu Matrix");
        ossl::self_signed(
            self.dir.path(),
            name,
            &subj,
            "ext.cnf",
            "root",
            &["-sha256"],
        );
    }

    fn issue(&self, name: &str, ca: &str, ext: &str, cn: &str) {
        let subj = format!("/CN={cn}/O=Korpu Matrix");
        ossl::issue_by(
            self.dir.path(),
            name,
            ca,
            &subj,
            "ext.cnf",
            ext,
            &["-sha384"],
        );
    }

    fn cert(&self, name: &str) -> Certificate {
        ossl::cert(self.dir.path(), name)
    }

    fn trusted(&self) -> Vec<Certificate> {
        vec![self.cert("root")]
    }

    fn unknown(&self) -> Vec<Certificate> {
        vec![self.cert("other")]
    }

    /// Validation that may fetch the two CRLs from the distribution points.
    fn options(&self) -> ValidationOptions {
        ValidationOptions {
            fetcher: Some(Arc::new(CrlServer {
                crls: [
                    (CRL_ROOT, std::fs::read(self.path("root.crl")).unwrap()),
                    (CRL_SUB, std::fs::read(self.path("sub.crl")).unwrap()),
                ]
                .into_iter()
                .map(|(u, b)| (u.to_string(), b))
                .collect(),
            })),
            ..ValidationOptions::default()
        }
    }

    /// `openssl cms -sign -cades` over `data_file`, detached, DER (or BER with `stream`).
    fn cms_sign(&self, key: &str, md: &str, pss: bool, data_file: &str, extra: &[&str]) -> Vec<u8> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = format!("sig-{n}-{key}-{md}.p7s");
        let mut args = vec![
            "cms",
            "-sign",
            "-binary",
            "-in",
            data_file,
            "-signer",
            &format!("{key}.pem"),
            "-inkey",
            &format!("{key}.key"),
            "-certfile",
            "sub.pem",
            "-outform",
            "DER",
            "-out",
            &out,
            "-md",
            md,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if pss {
            args.extend(["-keyopt".into(), "rsa_padding_mode:pss".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        must(self.dir.path(), &refs);
        std::fs::read(self.path(&out)).unwrap()
    }
}

struct CrlServer {
    crls: BTreeMap<String, Vec<u8>>,
}

impl RevocationFetcher for CrlServer {
    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        self.crls
            .get(url)
            .cloned()
            .ok_or_else(|| format!("{url}: not found"))
    }

    fn post(&self, url: &str, _: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        Err(format!("{url}: no OCSP responder here"))
    }
}

/// A short verdict for the table and the assertions.
fn short(ind: Indication, sub: Option<&str>) -> String {
    match (ind, sub) {
        (Indication::TotalPassed, _) => "PASSED".into(),
        (Indication::Indeterminate, Some(s)) => format!("INDET/{s}"),
        (Indication::Indeterminate, None) => "INDET".into(),
        (Indication::TotalFailed, Some(s)) => format!("FAILED/{s}"),
        (Indication::TotalFailed, None) => "FAILED".into(),
    }
}

fn of(r: &SignatureReport) -> String {
    short(r.indication, r.sub_indication.as_deref())
}

/// Flips one byte in the middle of `needle`'s first occurrence in `hay`.
fn flip_inside(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let at = hay
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the signature value is in the file");
    let mut out = hay.to_vec();
    out[at + needle.len() / 2] ^= 0x01;
    out
}

fn signature_value(p7s: &[u8]) -> Vec<u8> {
    cades::signer_parts(p7s).unwrap()[0].signature_value.clone()
}

/// An ASiC-E container: mimetype, `doc.txt`, a manifest over it with `md`, and `p7s`.
fn asice_zip(doc: &[u8], manifest: &[u8], p7s: &[u8]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("mimetype", stored).unwrap();
    w.write_all(b"application/vnd.etsi.asic-e+zip").unwrap();
    for (name, body) in [
        ("doc.txt", doc),
        ("META-INF/ASiCManifest001.xml", manifest),
        ("META-INF/signature001.p7s", p7s),
    ] {
        w.start_file(name, stored).unwrap();
        w.write_all(body).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn manifest(doc: &[u8], md: &str) -> Vec<u8> {
    use base64::Engine as _;
    let (uri, digest) = match md {
        "sha256" => (
            "http://www.w3.org/2001/04/xmlenc#sha256",
            korpu_pki::alg::HashAlg::Sha256.digest(doc),
        ),
        "sha384" => (
            "http://www.w3.org/2001/04/xmldsig-more#sha384",
            korpu_pki::alg::HashAlg::Sha384.digest(doc),
        ),
        _ => (
            "http://www.w3.org/2001/04/xmlenc#sha512",
            korpu_pki::alg::HashAlg::Sha512.digest(doc),
        ),
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n\
         <asic:ASiCManifest xmlns:asic=\"http://uri.etsi.org/02918/v1.2.1#\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\n\
         <asic:SigReference URI=\"META-INF/signature001.p7s\" MimeType=\"application/x-pkcs7-signature\"/>\n\
         <asic:DataObjectReference URI=\"doc.txt\" MimeType=\"text/plain\">\n\
         <ds:DigestMethod Algorithm=\"{uri}\"/>\n<ds:DigestValue>{b64}</ds:DigestValue>\n\
         </asic:DataObjectReference>\n</asic:ASiCManifest>\n"
    )
    .into_bytes()
}

/// The four verdicts of one signature: trusted, unknown root, data flipped, signature flipped.
type Row = [String; 4];

fn expect_row(what: &str, row: &Row) {
    let want = [
        "PASSED",
        "INDET/",
        "FAILED/HASH_FAILURE",
        "FAILED/SIG_CRYPTO_FAILURE",
    ];
    assert_eq!(row[0], want[0], "{what}: with the root trusted");
    assert!(
        row[1].starts_with(want[1]),
        "{what}: unknown root gave {}",
        row[1]
    );
    assert_eq!(row[2], want[2], "{what}: flipped data byte");
    assert_eq!(row[3], want[3], "{what}: flipped signature byte");
}

fn combos() -> Vec<(&'static str, bool, &'static str)> {
    let mut out = Vec::new();
    for (key, _, pss) in KEYS {
        for md in DIGESTS {
            if *key == "Ed25519" && *md != "sha512" {
                continue;
            }
            out.push((*key, *pss, *md));
        }
    }
    out
}

#[test]
fn outside_signatures_of_every_algorithm_get_the_right_verdict() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let now = SystemTime::now();
    let opts = pki.options();
    let doc = b"Matrix document: the same bytes signed by every key and digest.\n".to_vec();
    std::fs::write(d.join("doc.txt"), &doc).unwrap();
    let mut flipped_doc = doc.clone();
    flipped_doc[7] ^= 0x01;

    let mut table: Vec<(String, &str, Row)> = Vec::new();

    // CAdES detached and ASiC-E CAdES, by openssl.
    for (key, pss, md) in combos() {
        if key == "Ed25519" {
            continue; // OpenSSL 3.0 CMS cannot sign with Ed25519 and signed attributes.
        }
        let name = format!("{key} {md}");
        let p7s = pki.cms_sign(key, md, pss, "doc.txt", &["-cades"]);
        let bad_sig = flip_inside(&p7s, &signature_value(&p7s));
        let row: Row = [
            of(&validate_cades_opts(&p7s, &doc, &pki.trusted(), now, &opts)),
            of(&validate_cades_opts(&p7s, &doc, &pki.unknown(), now, &opts)),
            of(&validate_cades_opts(
                &p7s,
                &flipped_doc,
                &pki.trusted(),
                now,
                &opts,
            )),
            of(&validate_cades_opts(
                &bad_sig,
                &doc,
                &pki.trusted(),
                now,
                &opts,
            )),
        ];
        expect_row(&format!("CAdES {name}"), &row);
        table.push((name.clone(), "CAdES", row));

        let m = manifest(&doc, md);
        let mf = format!("manifest-{key}-{md}.xml");
        std::fs::write(d.join(&mf), &m).unwrap();
        let msig = pki.cms_sign(key, md, pss, &mf, &["-cades"]);
        let bad_msig = flip_inside(&msig, &signature_value(&msig));
        let limits = asice::Limits::default();
        let v = |zip: &[u8], anchors: &[Certificate]| {
            let r = asice::validate_opts(zip, anchors, now, &limits, &opts).unwrap();
            let worst = r
                .signatures
                .iter()
                .max_by_key(|s| match s.report.indication {
                    Indication::TotalFailed => 2,
                    Indication::Indeterminate => 1,
                    Indication::TotalPassed => 0,
                })
                .unwrap();
            assert_eq!(r.indication, worst.report.indication);
            of(&worst.report)
        };
        let row: Row = [
            v(&asice_zip(&doc, &m, &msig), &pki.trusted()),
            v(&asice_zip(&doc, &m, &msig), &pki.unknown()),
            v(&asice_zip(&flipped_doc, &m, &msig), &pki.trusted()),
            v(&asice_zip(&doc, &m, &bad_msig), &pki.trusted()),
        ];
        expect_row(&format!("ASiC-E {name}"), &row);
        table.push((name, "ASiC-E", row));
    }

    // PAdES, by pyHanko (one process signs them all).
    let input = common::pdfgen::simple("Matrix PDF, signed by pyHanko", 4000);
    std::fs::write(d.join("in.pdf"), &input).unwrap();
    let jobs: Vec<serde_json::Value> = combos()
        .iter()
        .map(|(key, pss, md)| {
            serde_json::json!({
                "in": pki.p("in.pdf"), "out": pki.p(&format!("{key}-{md}.pdf")),
                "key": pki.p(&format!("{key}.key")), "cert": pki.p(&format!("{key}.pem")),
                "chain": pki.p("sub.pem"), "md": md, "pss": pss,
            })
        })
        .collect();
    std::fs::write(d.join("jobs.json"), serde_json::to_vec(&jobs).unwrap()).unwrap();
    common::run_pyhanko("sign_matrix.py", &[&pki.p("jobs.json")]);
    let limits = pdf::Limits::default();
    for (key, _, md) in combos() {
        let name = format!("{key} {md}");
        let signed = std::fs::read(d.join(format!("{key}-{md}.pdf"))).unwrap();
        let v = |bytes: &[u8], anchors: &[Certificate]| {
            let r = pdf::validate_opts(bytes, anchors, now, &limits, &opts).unwrap();
            assert_eq!(r.signatures.len(), 1);
            of(&r.signatures[0].report)
        };
        // Data: a byte of the page text, inside the signed range.
        let text = b"Matrix PDF, signed by pyHanko";
        let bad_data = flip_inside(&signed, &text[..]);
        // Signature value: one hex digit of it inside /Contents.
        let cms = pades_cms(&signed);
        let sig_hex = hex::encode_upper(signature_value(&cms));
        let bad_sig = flip_hex_inside(&signed, sig_hex.as_bytes());
        let row: Row = [
            v(&signed, &pki.trusted()),
            v(&signed, &pki.unknown()),
            v(&bad_data, &pki.trusted()),
            v(&bad_sig, &pki.trusted()),
        ];
        expect_row(&format!("PAdES {name}"), &row);
        table.push((name, "PAdES", row));
    }

    println!("\nIssue 14 matrix: signatures made by openssl cms (CAdES, ASiC-E) and pyHanko (PAdES), validated by Körpü");
    println!(
        "{:<22} {:<7} {:<8} {:<38} {:<22} signature byte flipped",
        "key / digest", "format", "trusted", "unknown root", "data byte flipped",
    );
    for (name, format, row) in &table {
        println!(
            "{:<22} {:<7} {:<8} {:<38} {:<22} {}",
            name, format, row[0], row[1], row[2], row[3]
        );
    }
    println!(
        "(skipped: Ed25519 in CAdES/ASiC-E — OpenSSL 3.0 CMS cannot make it; Ed25519 with \
         SHA-256/384 — RFC 8419 fixes SHA-512)\n"
    );
    assert_eq!(table.len(), 15 * 2 + 16);
}

/// The CMS in a PDF's (last) /Contents, without the zero padding.
fn pades_cms(pdf: &[u8]) -> Vec<u8> {
    let at = pdf
        .windows(9)
        .rposition(|w| w == b"/Contents")
        .expect("a signature dictionary");
    let start = at
        + 9
        + pdf[at + 9..]
            .iter()
            .position(|b| *b == b'<')
            .expect("a hex string")
        + 1;
    let end = start + pdf[start..].iter().position(|b| *b == b'>').unwrap();
    let raw = hex::decode(&pdf[start..end]).unwrap();
    // Cut at the end of the outer DER element (the rest is padding).
    let len = match raw[1] {
        l if l < 0x80 => 2 + l as usize,
        0x82 => 4 + ((raw[2] as usize) << 8 | raw[3] as usize),
        0x83 => 5 + ((raw[2] as usize) << 16 | (raw[3] as usize) << 8 | raw[4] as usize),
        other => panic!("unexpected length form {other:#x}"),
    };
    raw[..len].to_vec()
}

/// Changes one hex digit in the middle of `needle` (upper- or lower-case) inside `hay`.
fn flip_hex_inside(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let lower = needle.to_ascii_lowercase();
    let at = hay
        .windows(needle.len())
        .position(|w| w == needle || w == &lower[..])
        .expect("the signature value's hex is in /Contents");
    let mut out = hay.to_vec();
    let i = at + needle.len() / 2;
    out[i] = if out[i] == b'0' { b'1' } else { b'0' };
    out
}

#[test]
fn ber_and_legacy_cms_from_openssl() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let now = SystemTime::now();
    let opts = pki.options();
    let doc = b"legacy and streamed".to_vec();
    std::fs::write(d.join("doc.txt"), &doc).unwrap();
    let v =
        |p7s: &[u8], data: &[u8]| of(&validate_cades_opts(p7s, data, &pki.trusted(), now, &opts));

    // `-stream`: indefinite lengths throughout (BER), as Java signers write too; openssl then
    // embeds the content (constructed OCTET STRING), so this is an enveloping signature.
    let ber = pki.cms_sign(
        "RSA-2048",
        "sha256",
        false,
        "doc.txt",
        &["-cades", "-stream"],
    );
    assert_eq!(&ber[..2], &[0x30, 0x80], "openssl wrote definite lengths");
    assert!(korpu_pki::ber::needs_normalising(&ber));
    let (r, content) = validate_cades_enveloping(&ber, &pki.trusted(), now, &opts);
    assert_eq!(of(&r), "PASSED", "{r:#?}");
    assert_eq!(content.as_deref(), Some(&doc[..]));
    let (r, _) = validate_cades_enveloping(&flip_inside(&ber, &doc), &pki.trusted(), now, &opts);
    assert_eq!(of(&r), "FAILED/HASH_FAILURE", "{r:#?}");
    let (r, _) = validate_cades_enveloping(
        &flip_inside(&ber, &signature_value(&ber)),
        &pki.trusted(),
        now,
        &opts,
    );
    assert_eq!(of(&r), "FAILED/SIG_CRYPTO_FAILURE", "{r:#?}");
    let mut altered = doc.clone();
    altered[0] ^= 1;

    // SHA-1 (with the ESS signing-certificate v1 openssl writes for it): verifiable, expired.
    let sha1 = pki.cms_sign("RSA-2048", "sha1", false, "doc.txt", &["-cades"]);
    assert_eq!(v(&sha1, &doc), "INDET/CRYPTO_CONSTRAINTS_FAILURE_NO_POE");
    assert_eq!(v(&sha1, &altered), "FAILED/HASH_FAILURE");

    // RSA-1024: verifiable, expired.
    let short_key = pki.cms_sign("RSA-1024", "sha256", false, "doc.txt", &["-cades"]);
    assert_eq!(
        v(&short_key, &doc),
        "INDET/CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    );

    // No signed attributes: the signature is over the data; it verifies, but binds nothing else.
    let bare = pki.cms_sign("P-384", "sha384", false, "doc.txt", &["-noattr"]);
    assert_eq!(v(&bare, &doc), "INDET/SIG_CONSTRAINTS_FAILURE");
    assert_eq!(v(&bare, &altered), "FAILED/SIG_CRYPTO_FAILURE");

    // A policy that still accepts SHA-1 makes the SHA-1 signature pass: the verdict above is the
    // policy's, not a verification failure.
    let lenient = korpu_sign::policy::Policy::from_json(
        r#"{"name":"lenient","digests":[{"algorithm":"SHA-1"},{"algorithm":"SHA-256"},
            {"algorithm":"SHA-384"}],
            "keys":[{"key":"RSA","min_bits":1024},{"key":"EC","min_bits":256}]}"#,
    )
    .unwrap();
    let lenient_opts = ValidationOptions {
        policy: Some(Arc::new(lenient)),
        ..opts.clone()
    };
    let r = validate_cades_opts(&sha1, &doc, &pki.trusted(), now, &lenient_opts);
    assert_eq!(of(&r), "PASSED", "{r:#?}");
    let r = validate_cades_opts(&short_key, &doc, &pki.trusted(), now, &lenient_opts);
    assert_eq!(of(&r), "PASSED", "{r:#?}");

    // The certification path is judged too: under a policy without SHA-384, the CA
    // certificates (signed with SHA-384) make a SHA-256 P-256 signature INDETERMINATE.
    let no384 = korpu_sign::policy::Policy::from_json(
        r#"{"name":"no SHA-384","digests":[{"algorithm":"SHA-256"},{"algorithm":"SHA-512"}],
            "keys":[{"key":"RSA","min_bits":2048},{"key":"EC","min_bits":256}]}"#,
    )
    .unwrap();
    let p256 = pki.cms_sign("P-256", "sha256", false, "doc.txt", &["-cades"]);
    let r = validate_cades_opts(&p256, &doc, &pki.trusted(), now, &opts);
    assert_eq!(of(&r), "PASSED", "{r:#?}");
    let no384_opts = ValidationOptions {
        policy: Some(Arc::new(no384)),
        ..opts.clone()
    };
    let r = validate_cades_opts(&p256, &doc, &pki.trusted(), now, &no384_opts);
    assert_eq!(of(&r), "INDET/CRYPTO_CONSTRAINTS_FAILURE_NO_POE", "{r:#?}");
    assert!(
        r.reason
            .as_deref()
            .unwrap_or("")
            .contains("SHA-384 (certificate"),
        "{r:#?}"
    );

    // Two signers in one SignedData (`openssl cms -resign` adds one, with the same digest):
    // both checked, one report each, and the file's verdict is the worst.
    let one = pki.cms_sign("P-384", "sha256", false, "doc.txt", &["-cades"]);
    std::fs::write(d.join("one.p7s"), &one).unwrap();
    must(
        d,
        &[
            "cms",
            "-resign",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "one.p7s",
            "-content",
            "doc.txt",
            "-signer",
            "P-521.pem",
            "-inkey",
            "P-521.key",
            "-md",
            "sha256",
            "-cades",
            "-outform",
            "DER",
            "-out",
            "two.p7s",
        ],
    );
    let two = std::fs::read(d.join("two.p7s")).unwrap();
    let reports =
        korpu_sign::validate::validate_cades_signers(&two, &doc, &pki.trusted(), now, &opts);
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| of(r) == "PASSED"), "{reports:#?}");
    let mut signers: Vec<&str> = reports.iter().map(|r| r.signer.as_str()).collect();
    signers.sort();
    assert!(
        signers[0].contains("P-384") && signers[1].contains("P-521"),
        "{signers:?}"
    );
    // One signer's signature value flipped: the file fails, naming that signer.
    let p521_sig = cades::signer_parts(&two)
        .unwrap()
        .into_iter()
        .map(|p| p.signature_value)
        .find(|s| !one.windows(s.len()).any(|w| w == &s[..]))
        .unwrap();
    let broken = flip_inside(&two, &p521_sig);
    let r = validate_cades_opts(&broken, &doc, &pki.trusted(), now, &opts);
    assert_eq!(of(&r), "FAILED/SIG_CRYPTO_FAILURE", "{r:#?}");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("P-521"),
        "{r:#?}"
    );
}

#[test]
fn outside_tools_accept_what_korpu_signs_with_rsa_and_p384_keys() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let now = SystemTime::now();
    let doc = b"signed by Korpu with a foreign key type".to_vec();
    std::fs::write(d.join("doc.txt"), &doc).unwrap();
    let sub = pki.cert("sub");
    let input = common::pdfgen::simple("Korpu RSA PAdES", 3000);
    for (key, padding) in [
        ("RSA-2048", RsaPadding::Pkcs1),
        ("RSA-3072-PSS", RsaPadding::Pss),
        ("P-384", RsaPadding::Pkcs1),
    ] {
        let key_file = pki.path(&format!("{key}.key"));
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let dk = korpu_sign::keys::read_document_key(&key_file, padding).unwrap();
        let cert = pki.cert(key);
        let signer = cades::Signer {
            key: &dk,
            cert: &cert,
            chain: std::slice::from_ref(&sub),
        };
        let p7s = cades::sign(&doc, &signer, now, None).unwrap();
        std::fs::write(d.join("ours.p7s"), &p7s).unwrap();
        let out = common::succeeded(common::openssl_cms_verify(d, "ours.p7s", "doc.txt"));
        assert!(out.contains("Verification successful"), "{key}: {out}");
        // And Körpü itself.
        let r = validate_cades_opts(&p7s, &doc, &pki.trusted(), now, &pki.options());
        assert_eq!(of(&r), "PASSED", "{key}: {r:#?}");

        // PAdES signed by Körpü with the same key, judged by pyHanko.
        let signed = pdf::sign(&input, &signer, now, None, &pdf::Limits::default()).unwrap();
        let f = format!("ours-{key}.pdf");
        std::fs::write(d.join(&f), &signed).unwrap();
        let v = common::run_pyhanko("validate.py", &[&pki.p(&f), &pki.p("root.pem")]);
        let first: serde_json::Value =
            serde_json::from_str(v.lines().next().expect("one line per signature")).unwrap();
        assert_eq!(first["intact"], true, "{key}: {v}");
        assert_eq!(first["valid"], true, "{key}: {v}");
        assert_eq!(first["trusted"], true, "{key}: {v}");
    }
    // A key that is not a PKCS#8 RSA/EC key is refused with the reason.
    let e = DocumentKey::from_pkcs8_pem(
        "-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n",
        RsaPadding::Pkcs1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("PKCS#8"), "{e}");
}

/// Signed attributes a signer wrote out of DER's SET OF order (as some Java signers do) are
/// verified over the bytes as written: a re-encoding would sort them and the signature would
/// not verify.
#[test]
fn signed_attributes_out_of_der_order_verify_over_their_own_bytes() {
    use korpu_sign::keys::SignatureKey;
    let pki = Pki::new();
    let now = SystemTime::now();
    let doc = b"attributes in the signer's order".to_vec();
    let key_file = pki.path("RSA-2048.key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let dk = korpu_sign::keys::read_document_key(&key_file, RsaPadding::Pkcs1).unwrap();
    let (cert, sub) = (pki.cert("RSA-2048"), pki.cert("sub"));
    let signer = cades::Signer {
        key: &dk,
        cert: &cert,
        chain: std::slice::from_ref(&sub),
    };
    let p7s = cades::sign(&doc, &signer, now, None).unwrap();

    // The [0] IMPLICIT signedAttrs in the file, and its attributes in reverse order.
    let as_set = korpu_pki::ber::cms_signer_infos(&p7s).unwrap()[0]
        .signed_attrs
        .clone()
        .unwrap();
    let at = p7s
        .windows(as_set.len() - 1)
        .position(|w| w == &as_set[1..])
        .unwrap()
        - 1;
    assert_eq!(p7s[at], 0xa0);
    let header = if as_set[1] < 0x80 {
        2
    } else {
        2 + usize::from(as_set[1] & 0x7f)
    };
    let mut attrs = Vec::new();
    let mut rest = &as_set[header..];
    while !rest.is_empty() {
        let len_hdr = if rest[1] < 0x80 {
            2
        } else {
            2 + usize::from(rest[1] & 0x7f)
        };
        let len = if rest[1] < 0x80 {
            usize::from(rest[1])
        } else {
            rest[2..len_hdr]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b))
        };
        attrs.push(&rest[..len_hdr + len]);
        rest = &rest[len_hdr + len..];
    }
    assert!(attrs.len() >= 3, "{}", attrs.len());
    let reversed: Vec<u8> = attrs.iter().rev().flat_map(|a| a.iter().copied()).collect();
    assert_ne!(&reversed[..], &as_set[header..]);
    let mut new_set = as_set[..header].to_vec();
    new_set.extend_from_slice(&reversed);
    let new_sig = dk.sign_message(&new_set).unwrap();

    let old_sig = signature_value(&p7s);
    assert_eq!(new_sig.len(), old_sig.len());
    let mut out = p7s.clone();
    out[at + header..at + as_set.len()].copy_from_slice(&reversed);
    let sig_at = out
        .windows(old_sig.len())
        .position(|w| w == &old_sig[..])
        .unwrap();
    out[sig_at..sig_at + old_sig.len()].copy_from_slice(&new_sig);

    let r = validate_cades_opts(&out, &doc, &pki.trusted(), now, &pki.options());
    assert_eq!(of(&r), "PASSED", "{r:#?}");
    // The original, DER-ordered signature does not verify over the reordered bytes: the
    // check really is over what is in the file.
    let mut mixed = out.clone();
    mixed[sig_at..sig_at + old_sig.len()].copy_from_slice(&old_sig);
    let r = validate_cades_opts(&mixed, &doc, &pki.trusted(), now, &pki.options());
    assert_eq!(of(&r), "FAILED/SIG_CRYPTO_FAILURE", "{r:#?}");
}

/// Revocation data for B-LT: CRLs of the openssl CAs, OCSP from Körpü's in-process responder
/// for its TSA's certificate.
struct MixedSource<O> {
    pki: BTreeMap<String, Vec<u8>>,
    korpu: O,
    korpu_ca: Certificate,
}

impl<O: korpu_sign::RevocationSource> korpu_sign::RevocationSource for MixedSource<O> {
    fn ocsp(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<u8>, korpu_sign::SignError> {
        if *issuer != self.korpu_ca {
            return Err(korpu_sign::SignError::InvalidInput(
                "no OCSP responder for the openssl CAs".into(),
            ));
        }
        self.korpu.ocsp(cert, issuer)
    }

    fn crl(
        &self,
        _cert: &Certificate,
        issuer: &Certificate,
    ) -> Result<Option<Vec<u8>>, korpu_sign::SignError> {
        Ok(self.pki.get(&issuer.subject()).cloned())
    }
}

/// Körpü signs with an RSA-PSS key at B-B, B-T and B-LT in CAdES, PAdES and ASiC-E; each level
/// validates offline as it should (B-LT TOTAL_PASSED from the embedded CRLs), and openssl
/// accepts the CAdES ones.
#[test]
fn rsa_signers_at_every_level_and_format() {
    let pki = Pki::new();
    let d = pki.dir.path();
    let now = SystemTime::now();
    let korpu = common::Pki::new("Matrix TSA");
    let tsa = korpu.tsa();
    let key_file = pki.path("RSA-3072-PSS.key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let dk = korpu_sign::keys::read_document_key(&key_file, RsaPadding::Pss).unwrap();
    // The chain up to the root, so B-LT can gather the CA's CRL from the root too.
    let (cert, chain) = (
        pki.cert("RSA-3072-PSS"),
        vec![pki.cert("sub"), pki.cert("root")],
    );
    let signer = cades::Signer {
        key: &dk,
        cert: &cert,
        chain: &chain,
    };
    let source = MixedSource {
        pki: [
            (
                pki.cert("sub").subject(),
                std::fs::read(pki.path("sub.crl")).unwrap(),
            ),
            (
                pki.cert("root").subject(),
                std::fs::read(pki.path("root.crl")).unwrap(),
            ),
        ]
        .into_iter()
        .collect(),
        korpu: korpu.ocsp(Vec::new()),
        korpu_ca: korpu.issuing.clone(),
    };
    let mut anchors = pki.trusted();
    anchors.extend(korpu.anchors());
    let offline = ValidationOptions::default();
    let doc = b"RSA-PSS at every level".to_vec();
    std::fs::write(d.join("doc.txt"), &doc).unwrap();

    // CAdES.
    let bb = cades::sign(&doc, &signer, now, None).unwrap();
    let bt = cades::sign(&doc, &signer, now, Some(&tsa)).unwrap();
    let blt = korpu_sign::lt::add_revocation_values(&bt, &source).unwrap();
    for (level, p7s) in [("B-B", &bb), ("B-T", &bt), ("B-LT", &blt)] {
        let r = validate_cades_opts(p7s, &doc, &anchors, now, &offline);
        assert_eq!(r.level, level, "{r:#?}");
        if level == "B-LT" {
            assert_eq!(of(&r), "PASSED", "{r:#?}");
        } else {
            common::assert_valid_without_revocation(&r);
        }
        std::fs::write(d.join("lvl.p7s"), p7s).unwrap();
        let out = common::succeeded(common::openssl_cms_verify(d, "lvl.p7s", "doc.txt"));
        assert!(out.contains("Verification successful"), "{level}: {out}");
    }

    // PAdES.
    let limits = pdf::Limits::default();
    let input = common::pdfgen::simple("RSA-PSS PAdES", 3000);
    let bt = pdf::sign(&input, &signer, now, Some(&tsa), &limits).unwrap();
    let blt = pdf::add_validation_data(&bt, &source, &limits).unwrap();
    let r = pdf::validate_opts(&bt, &anchors, now, &limits, &offline).unwrap();
    common::assert_valid_without_revocation(&r.signatures[0].report);
    let r = pdf::validate_opts(&blt, &anchors, now, &limits, &offline).unwrap();
    assert_eq!(r.signatures[0].report.level, "B-LT", "{r:#?}");
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");

    // ASiC-E.
    let files = [asice::DataFile {
        name: "doc.txt".into(),
        mime_type: "text/plain".into(),
        content: doc.clone(),
    }];
    let alimits = asice::Limits::default();
    let bt = asice::create(&files, &[signer], now, Some(&tsa)).unwrap();
    let blt = asice::add_validation_data(&bt, &source, &alimits).unwrap();
    let r = asice::validate_opts(&blt, &anchors, now, &alimits, &offline).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(r.signatures[0].report.level, "B-LT", "{r:#?}");
}
