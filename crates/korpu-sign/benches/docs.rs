//! Documents per second: PAdES signing (B-B, and B-T with one RFC 3161 request per document to
//! the in-process korpu-pki TSA) and validation of 100 KiB PDFs, and the same for 1 MiB ASiC-E
//! containers. Each figure is measured on one thread and on as many threads as the machine
//! has cores (documents are independent, so a signing service uses them all).
//!
//! Run: `cargo bench -p korpu-sign --bench docs` (release build). `DOCS_N` sets the documents
//! per measurement (default 400).
use std::time::{Duration, Instant, SystemTime};

use korpu_pki::ca::{self, IssueRequest, Profile, Subject};
use korpu_pki::cert::Certificate;
use korpu_pki::key::SigningKey;
use korpu_pki::tsa::Authority;
use korpu_sign::asice::{self, DataFile};
use korpu_sign::cades::Signer;
use korpu_sign::pdf;
use korpu_sign::validate::Indication;
use korpu_sign::{LocalTimestamper, Timestamper};

const DAY: Duration = Duration::from_secs(86400);

fn req(cn: &str, pk: &[u8], profile: Profile) -> IssueRequest<'static> {
    let now = SystemTime::now();
    IssueRequest {
        subject: Subject::cn(cn),
        public_key_der: Box::leak(pk.to_vec().into_boxed_slice()),
        profile,
        not_before: now - DAY,
        not_after: now + 30 * DAY,
        ocsp_url: None,
    }
}

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
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    offs.push(out.len());
    out.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", c.len()).as_bytes());
    out.extend_from_slice(&c);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let x = out.len();
    out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f\r\n");
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n").as_bytes(),
    );
    out
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

    let root_key = SigningKey::generate();
    let root = ca::self_signed(
        &root_key,
        req("Bench Root", &root_key.public_key_der(), Profile::Root),
        &ca::random_serial(),
    )
    .unwrap();
    let ik = SigningKey::generate();
    let issuing: Certificate = ca::issue(
        &root,
        &root_key,
        req("Bench CA", &ik.public_key_der(), Profile::IssuingCa),
        &ca::random_serial(),
    )
    .unwrap();
    let leaf = |cn: &str, p: Profile| {
        let k = SigningKey::generate();
        let c = ca::issue(
            &issuing,
            &ik,
            req(cn, &k.public_key_der(), p),
            &ca::random_serial(),
        )
        .unwrap();
        (c, k)
    };
    let (cert, key) = leaf("AZ/GOV/1", Profile::MemberSigning);
    let (tc, tk) = leaf("Bench TSA", Profile::Tsa);
    let tsa = LocalTimestamper::new(
        Authority::new(
            tc,
            tk,
            vec![issuing.clone()],
            "1.3.6.1.4.1.99999.3".parse().unwrap(),
        )
        .unwrap(),
    );
    let chain = vec![issuing.clone()];
    let signer = Signer {
        key: &key,
        cert: &cert,
        chain: &chain,
    };
    let anchors = vec![root.clone()];
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
            println!("{threads} thread(s)  {name:<32} {v:>8.0} docs/s");
        }
    }
}
