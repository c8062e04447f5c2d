//! PAdES: signing PDFs (B-B, B-T, serial signatures, B-LT) and validating them, including the
//! bad inputs the issue lists: incremental updates after signing, altered bytes, truncated and
//! huge files, expired and revoked certificates.
mod common;

use std::time::SystemTime;

use common::{pdfgen, Pki, Setup, DAY};
use korpu_sign::pdf::{self, Limits, PdfError};
use korpu_sign::validate::Indication;

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn b_b_and_b_t_round_trip() {
    let Setup { pki, m, tsa, now } = Setup::new("Pades", "AZ/GOV/1001");
    let doc = pdfgen::simple("Decision 1", 4000);

    let bb = pdf::sign(&doc, &m.signer(), now, None, &limits()).unwrap();
    assert!(
        bb.starts_with(&doc),
        "an incremental update keeps the original bytes"
    );
    let r = pdf::validate(&bb, &pki.anchors(), now, &limits()).unwrap();
    // Intact and trusted; without revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for s in &r.signatures {
        common::assert_valid_without_revocation(&s.report);
    }
    let s = &r.signatures[0];
    assert_eq!(s.report.level, "B-B");
    assert_eq!(s.sub_filter, "ETSI.CAdES.detached");
    assert_eq!(s.revision_end, bb.len());
    assert!(s.report.claimed_signing_time.is_some(), "from /M");
    assert!(s
        .report
        .trust_anchor
        .as_deref()
        .unwrap()
        .contains("Pades Root"));
    assert!(s.report.signer.contains("AZ/GOV/1001"));

    let bt = pdf::sign(&doc, &m.signer(), now, Some(&tsa), &limits()).unwrap();
    let r = pdf::validate(&bt, &pki.anchors(), now, &limits()).unwrap();
    // Intact and trusted; without revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for s in &r.signatures {
        common::assert_valid_without_revocation(&s.report);
    }
    assert_eq!(r.signatures[0].report.level, "B-T");
    assert!(r.signatures[0].report.proven_signing_time.is_some());

    // Another trust anchor: undecided, not failed.
    let other = Pki::new("Other");
    let r = pdf::validate(&bt, &other.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
}

#[test]
fn serial_signatures_all_validate() {
    let pki = Pki::new("Serial");
    let a = pki.member("AZ/GOV/1");
    let b = pki.member("AZ/GOV/2");
    let c = pki.member("AZ/COM/3");
    let tsa = pki.tsa();
    let now = SystemTime::now();
    let mut doc = pdfgen::simple("Contract", 2000);
    for m in [&a, &b, &c] {
        doc = pdf::sign(&doc, &m.signer(), now, Some(&tsa), &limits()).unwrap();
    }
    let r = pdf::validate(&doc, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.signatures.len(), 3);
    // Intact and trusted; without revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for s in &r.signatures {
        common::assert_valid_without_revocation(&s.report);
    }
    let names: Vec<&str> = r.signatures.iter().map(|s| s.field.as_str()).collect();
    assert_eq!(names, ["Signature1", "Signature2", "Signature3"]);
    assert!(r.signatures[0].revision_end < r.signatures[1].revision_end);
    assert!(r.signatures[0].report.signer.contains("AZ/GOV/1"));
    assert!(r.signatures[2].report.signer.contains("AZ/COM/3"));
    assert!(r.signatures.iter().all(|s| s.modified_after.is_none()));
}

#[test]
fn xref_stream_and_object_stream_input() {
    let Setup { pki, m, now, .. } = Setup::new("Modern", "AZ/GOV/15");
    let doc = pdfgen::with_xref_stream("PDF 1.5");
    let once = pdf::sign(&doc, &m.signer(), now, None, &limits()).unwrap();
    let twice = pdf::sign(&once, &m.signer(), now, None, &limits()).unwrap();
    let r = pdf::validate(&twice, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.signatures.len(), 2);
    // Intact and trusted; without revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for s in &r.signatures {
        common::assert_valid_without_revocation(&s.report);
    }
}

#[test]
fn change_after_signing_is_flagged() {
    let pki = Pki::new("Changed");
    let a = pki.member("AZ/GOV/1");
    let b = pki.member("AZ/GOV/2");
    let now = SystemTime::now();
    let doc = pdfgen::simple("Pay 100", 1000);
    let signed = pdf::sign(&doc, &a.signer(), now, None, &limits()).unwrap();
    let changed = pdfgen::change_content(&signed, "Pay 999");
    let r = pdf::validate(&changed, &pki.anchors(), now, &limits()).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.report.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(
        s.report.sub_indication.as_deref(),
        Some("SIG_CONSTRAINTS_FAILURE")
    );
    assert!(
        s.modified_after.as_deref().unwrap().contains("object 4"),
        "{s:?}"
    );

    // A second signature after the change: it covers the change, the first still flags it.
    let both = pdf::sign(&changed, &b.signer(), now, None, &limits()).unwrap();
    let r = pdf::validate(&both, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.signatures[0].report.indication, Indication::Indeterminate);
    common::assert_valid_without_revocation(&r.signatures[1].report);
    assert_eq!(r.indication, Indication::Indeterminate);
}

#[test]
fn altered_bytes_fail() {
    let Setup { pki, m, now, .. } = Setup::new("Altered", "AZ/GOV/7");
    let doc = pdfgen::simple("Amount: 100", 1000);
    let mut signed = pdf::sign(&doc, &m.signer(), now, None, &limits()).unwrap();
    let at = signed.windows(3).position(|w| w == b"100").unwrap();
    signed[at] = b'9';
    let r = pdf::validate(&signed, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::TotalFailed, "{r:#?}");
    assert_eq!(
        r.signatures[0].report.sub_indication.as_deref(),
        Some("HASH_FAILURE")
    );
}

#[test]
fn bad_files_give_errors_not_panics() {
    let Setup { pki, m, now, .. } = Setup::new("Bad", "AZ/GOV/8");
    let signed = pdf::sign(&pdfgen::simple("x", 500), &m.signer(), now, None, &limits()).unwrap();
    for cut in [0, 10, signed.len() / 2, signed.len() - 10] {
        assert!(pdf::validate(&signed[..cut], &pki.anchors(), now, &limits()).is_err());
    }
    assert!(matches!(
        pdf::validate(b"not a pdf", &pki.anchors(), now, &limits()),
        Err(PdfError::Malformed(_))
    ));
    assert!(matches!(
        pdf::validate(
            &pdfgen::simple("unsigned", 100),
            &pki.anchors(),
            now,
            &limits()
        ),
        Err(PdfError::NoSignature)
    ));
    let small = Limits {
        max_pdf_size: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        pdf::validate(&signed, &pki.anchors(), now, &small),
        Err(PdfError::TooLarge { .. })
    ));
    // Flipping bytes anywhere: a verdict or an error, never a panic.
    for i in (0..signed.len()).step_by(37) {
        let mut b = signed.clone();
        b[i] ^= 0x55;
        let _ = pdf::validate(&b, &pki.anchors(), now, &limits());
    }
}

#[test]
fn expired_signer_needs_a_time_stamp() {
    let pki = Pki::new("PExpiry");
    let now = SystemTime::now();
    let (m, tsa, then) = pki.expired_signer("AZ/GOV/42", now);
    let doc = pdfgen::simple("old", 500);
    let bb = pdf::sign(&doc, &m.signer(), then, None, &limits()).unwrap();
    let r = pdf::validate(&bb, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert_eq!(
        r.signatures[0].report.sub_indication.as_deref(),
        Some("OUT_OF_BOUNDS_NO_POE")
    );
    let bt = pdf::sign(&doc, &m.signer(), then, Some(&tsa), &limits()).unwrap();
    let r = pdf::validate(&bt, &pki.anchors(), now, &limits()).unwrap();
    // Intact and trusted; without revocation data the verdict waits for it.
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    for s in &r.signatures {
        common::assert_valid_without_revocation(&s.report);
    }
}

#[test]
fn b_lt_embeds_ocsp_and_needs_no_network() {
    let Setup { pki, m, tsa, now } = Setup::new("Lt", "AZ/GOV/77");
    let doc = pdfgen::simple("LT", 800);
    let bt = pdf::sign(&doc, &m.signer(), now, Some(&tsa), &limits()).unwrap();
    let lt = pdf::add_validation_data(&bt, &pki.ocsp(vec![]), &limits()).unwrap();
    // Validation uses only the file: no source is given to it at all.
    let r = pdf::validate(&lt, &pki.anchors(), now + DAY, &limits()).unwrap();
    let s = &r.signatures[0];
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert_eq!(s.report.level, "B-LT");
    assert!(s.report.revocation.starts_with("good"), "{s:?}");
    assert!(s.modified_after.is_none(), "a DSS update is allowed: {s:?}");

    // A second signature after the DSS, then B-LT again: all still fine.
    let m2 = pki.member("AZ/GOV/78");
    let two = pdf::sign(&lt, &m2.signer(), now, Some(&tsa), &limits()).unwrap();
    let two = pdf::add_validation_data(&two, &pki.ocsp(vec![]), &limits()).unwrap();
    let r = pdf::validate(&two, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(r.signatures.iter().all(|s| s.report.level == "B-LT"));
}

#[test]
fn revoked_signer() {
    let Setup { pki, m, tsa, now } = Setup::new("Revoked", "AZ/GOV/66");
    let doc = pdfgen::simple("R", 800);
    let bt = pdf::sign(&doc, &m.signer(), now, Some(&tsa), &limits()).unwrap();
    // Revoked an hour before the time-stamped signing time: proven invalid.
    let before = pki.ocsp(vec![(
        m.cert.serial_hex(),
        now - 3600 * std::time::Duration::from_secs(1),
    )]);
    let lt = pdf::add_validation_data(&bt, &before, &limits()).unwrap();
    let r = pdf::validate(&lt, &pki.anchors(), now, &limits()).unwrap();
    let s = &r.signatures[0].report;
    assert_eq!(s.indication, Indication::TotalFailed, "{r:#?}");
    assert_eq!(s.sub_indication.as_deref(), Some("REVOKED"));
    assert!(s.revocation.starts_with("revoked"));

    // Revoked after the proven signing time: the signature keeps its value.
    let m2 = pki.member("AZ/GOV/67");
    let doc = pdfgen::simple("R2", 800);
    let bt = pdf::sign(&doc, &m2.signer(), now, Some(&tsa), &limits()).unwrap();
    let later = pki.ocsp(vec![(
        m2.cert.serial_hex(),
        now + std::time::Duration::from_secs(60),
    )]);
    let lt = pdf::add_validation_data(&bt, &later, &limits()).unwrap();
    let r = pdf::validate(&lt, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::TotalPassed, "{r:#?}");
    assert!(r.signatures[0].report.revocation.starts_with("revoked"));
}

/// A TSA (or an attacker) answering with a token over something else.
struct StampsOther<'a>(&'a dyn korpu_sign::Timestamper);

impl korpu_sign::Timestamper for StampsOther<'_> {
    fn timestamp(&self, _sha256: &[u8; 32]) -> Result<Vec<u8>, korpu_sign::SignError> {
        self.0.timestamp(&[7u8; 32])
    }
}

#[test]
fn time_stamp_over_other_data_fails() {
    let Setup { pki, m, tsa, now } = Setup::new("PTsOther", "AZ/GOV/5");
    let doc = pdfgen::simple("ts", 500);
    let signed = pdf::sign(&doc, &m.signer(), now, Some(&StampsOther(&tsa)), &limits()).unwrap();
    let r = pdf::validate(&signed, &pki.anchors(), now, &limits()).unwrap();
    let s = &r.signatures[0].report;
    assert_eq!(s.indication, Indication::TotalFailed, "{r:#?}");
    assert_eq!(s.sub_indication.as_deref(), Some("HASH_FAILURE"));
    assert!(s.reason.as_deref().unwrap().contains("time-stamp"));
}

#[test]
fn mutated_modern_pdfs_never_panic() {
    let Setup { pki, m, now, .. } = Setup::new("Mutate", "AZ/GOV/9");
    let signed = pdf::sign(
        &pdfgen::with_xref_stream("m"),
        &m.signer(),
        now,
        None,
        &limits(),
    )
    .unwrap();
    let mut x: u32 = 12345;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut b = signed.clone();
        let i = (x as usize) % b.len();
        b[i] = (x >> 8) as u8;
        let cut = b.len() - ((x >> 4) as usize % 64);
        let _ = pdf::validate(&b, &pki.anchors(), now, &limits());
        let _ = pdf::validate(&b[..cut], &pki.anchors(), now, &limits());
    }
}

#[test]
fn swapping_the_catalog_is_flagged() {
    let Setup { pki, m, now, .. } = Setup::new("Swap", "AZ/GOV/10");
    let doc = pdfgen::simple("original", 500);
    let signed = pdf::sign(&doc, &m.signer(), now, None, &limits()).unwrap();
    // A new catalog (object 90) over a new page tree, leaving every signed object as it was.
    let pages: &[u8] = b"<< /Type /Pages /Kids [] /Count 0 >>";
    let catalog: &[u8] = b"<< /Type /Catalog /Pages 91 0 R >>";
    let b = pdfgen::append_update(&signed, 90, &[catalog, pages], 92, 90);
    // The new catalog has no signature field: nothing to validate at all is an error...
    assert!(pdf::validate(&b, &pki.anchors(), now, &limits()).is_err());
    // ...and with the AcroForm carried over, the swap is flagged.
    let acro = {
        let l = limits();
        let d = korpu_sign::pdf::parse::Document::parse(&signed, &l).unwrap();
        let root = d.get(1).unwrap().unwrap();
        let mut w = Vec::new();
        korpu_sign::pdf::parse::write_obj(
            korpu_sign::pdf::parse::get(root.dict().unwrap(), "AcroForm").unwrap(),
            &mut w,
        );
        String::from_utf8(w).unwrap()
    };
    let catalog = format!("<< /Type /Catalog /Pages 91 0 R /AcroForm {acro} >>");
    let c = pdfgen::append_update(&signed, 90, &[catalog.as_bytes(), pages], 92, 90);
    let r = pdf::validate(&c, &pki.anchors(), now, &limits()).unwrap();
    assert_eq!(r.indication, Indication::Indeterminate, "{r:#?}");
    assert!(r.signatures[0]
        .modified_after
        .as_deref()
        .unwrap()
        .contains("/Root"));
}

#[test]
fn hostile_byte_ranges_are_format_failures() {
    let Setup { pki, m, now, .. } = Setup::new("Br", "AZ/GOV/11");
    let doc = pdfgen::simple("a><b", 300);
    let signed = pdf::sign(&doc, &m.signer(), now, None, &limits()).unwrap();
    let at = signed
        .windows(11)
        .position(|w| w == b"/ByteRange[")
        .unwrap()
        + 11;
    let width = signed[at..].iter().position(|c| *c == b']').unwrap();
    // A "><" pair in the file (from the page text): ranges touching it with no gap between.
    let gt = signed.windows(2).position(|w| w == b"><").unwrap() + 1;
    for br in [
        format!("0 {gt} {gt} 10"),
        "0 0 0 0".to_string(),
        "5 10 20 30".into(),
        "0 10 5 3".into(),
        format!("0 10 20 {}", signed.len()),
        "0 1 2".into(),
        "0 99999999999999999999 1 1".into(),
    ] {
        let mut b = signed.clone();
        let padded = format!("{br:<width$}");
        b[at..at + width].copy_from_slice(padded.as_bytes());
        let r = pdf::validate(&b, &pki.anchors(), now, &limits()).unwrap();
        assert_eq!(r.indication, Indication::TotalFailed, "{br}: {r:#?}");
        assert_eq!(
            r.signatures[0].report.sub_indication.as_deref(),
            Some("FORMAT_FAILURE"),
            "{br}"
        );
    }
}
