//! A one-page PDF of plain text: what the demo's agency signs as a decision, and what tests
//! sign when any PDF will do. It is deliberately the smallest valid file (Helvetica, no
//! compression, a classic cross-reference table); it is not a PDF writer.

use sha2::{Digest, Sha256};

/// A one-page PDF 1.4 with the lines of `text` (ASCII; other characters become '?').
pub fn text_page(text: &[String]) -> Vec<u8> {
    let mut c = String::from("BT /F1 12 Tf 72 740 Td 16 TL\n");
    for line in text {
        let clean: String = line
            .chars()
            .map(|ch| {
                if ch.is_ascii() && !"()\\".contains(ch) {
                    ch
                } else {
                    '?'
                }
            })
            .collect();
        c.push_str(&format!("({clean}) Tj T*\n"));
    }
    c.push_str("ET\n");
    let objs: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".into(),
        format!("<< /Length {} >>\nstream\n{c}\nendstream", c.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes());
    for o in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    let id = hex::encode(&Sha256::digest(&out)[..16]);
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}
