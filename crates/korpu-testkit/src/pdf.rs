//! A minimal PDF writer for tests: one page with a text content stream, padded to a size,
//! with a classic xref table or a compressed xref stream (PDF 1.5) and an object stream, and an
//! incremental update that changes the page. Not a PDF library: just enough for documents to
//! sign and tamper with.
use std::io::Write;

fn content(text: &str, pad: usize) -> Vec<u8> {
    let mut c = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET\n").into_bytes();
    // Padding as a PDF comment line inside the content stream: valid, invisible.
    while c.len() < pad {
        c.extend_from_slice(b"% padding padding padding padding padding padding padding pad\n");
    }
    c
}

/// A stream object's body holding `c`, unfiltered.
fn stream(c: &[u8]) -> Vec<u8> {
    let mut s = format!("<< /Length {} >>\nstream\n", c.len()).into_bytes();
    s.extend_from_slice(c);
    s.extend_from_slice(b"\nendstream");
    s
}

/// A one-page PDF 1.4 with an xref table, about `size` bytes.
pub fn simple(text: &str, size: usize) -> Vec<u8> {
    one_page(&content(text, size.saturating_sub(700)))
}

/// A one-page PDF 1.4 with an xref table whose page shows the content stream `c` (in font F1,
/// Helvetica).
pub fn one_page(c: &[u8]) -> Vec<u8> {
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream(c),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let objs: Vec<&[u8]> = objs.iter().map(Vec::as_slice).collect();
    let offsets = write_objects(&mut out, 1, &objs);
    let xref = out.len();
    let n = objs.len() + 1;
    out.extend_from_slice(format!("xref\n0 {n}\n0000000000 65535 f\r\n{offsets}").as_bytes());
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {n} /Root 1 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

/// Appends the objects `objects` (each its body), numbered from `first` on, to `out`; returns
/// their cross-reference entries.
fn write_objects(out: &mut Vec<u8>, first: u32, objects: &[&[u8]]) -> String {
    let mut entries = String::new();
    for (n, o) in (first..).zip(objects) {
        entries.push_str(&format!("{:010} 00000 n\r\n", out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    entries
}

/// The offset the last `startxref` of `pdf` names: the `/Prev` of an update appended to it.
pub fn startxref(pdf: &[u8]) -> usize {
    let tail = &pdf[pdf.len().saturating_sub(64)..];
    let s = String::from_utf8_lossy(tail);
    let after = s.rsplit("startxref").next().unwrap();
    after
        .split_whitespace()
        .next()
        .unwrap()
        .parse::<usize>()
        .unwrap()
}

fn deflate(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A one-page PDF 1.5 whose catalog, pages and page live in a compressed object stream and
/// whose cross-reference is a compressed xref stream with a PNG (Up) predictor, as modern
/// writers produce.
pub fn with_xref_stream(text: &str) -> Vec<u8> {
    let c = content(text, 0);
    // Object stream 6 holds objects 1, 2, 3 and 5.
    let inner = [
        (1u32, "<< /Type /Catalog /Pages 2 0 R >>"),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"),
        (5, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    ];
    let mut body = String::new();
    let mut header = String::new();
    for (n, o) in inner {
        header.push_str(&format!("{n} {} ", body.len()));
        body.push_str(o);
        body.push('\n');
    }
    let first = header.len();
    let objstm = deflate(format!("{header}{body}").as_bytes());

    let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let off4 = out.len();
    out.extend_from_slice(format!("4 0 obj\n<< /Length {} >>\nstream\n", c.len()).as_bytes());
    out.extend_from_slice(&c);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let off6 = out.len();
    out.extend_from_slice(
        format!(
            "6 0 obj\n<< /Type /ObjStm /N 4 /First {first} /Filter /FlateDecode /Length {} >>\nstream\n",
            objstm.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&objstm);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let off7 = out.len();
    // Rows: type (1), field 2 (4), field 3 (2) for objects 0..=7.
    let mut rows: Vec<[u8; 7]> = Vec::new();
    let row = |t: u8, f2: u32, f3: u16| {
        let mut r = [0u8; 7];
        r[0] = t;
        r[1..5].copy_from_slice(&f2.to_be_bytes());
        r[5..7].copy_from_slice(&f3.to_be_bytes());
        r
    };
    rows.push(row(0, 0, 65535));
    rows.push(row(2, 6, 0));
    rows.push(row(2, 6, 1));
    rows.push(row(2, 6, 2));
    rows.push(row(1, off4 as u32, 0));
    rows.push(row(2, 6, 3));
    rows.push(row(1, off6 as u32, 0));
    rows.push(row(1, off7 as u32, 0));
    // PNG Up predictor (type 2) on each row.
    let mut predicted = Vec::new();
    let mut prev = [0u8; 7];
    for r in &rows {
        predicted.push(2u8);
        for i in 0..7 {
            predicted.push(r[i].wrapping_sub(prev[i]));
        }
        prev = *r;
    }
    let xs = deflate(&predicted);
    out.extend_from_slice(
        format!(
            "7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >> /Length {} >>\nstream\n",
            xs.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&xs);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{off7}\n%%EOF\n").as_bytes());
    out
}

/// Appends an incremental update replacing object 4 (the page content) with `text`: the kind
/// of change made to a signed document that validation must flag.
pub fn change_content(pdf: &[u8], text: &str) -> Vec<u8> {
    append_update(pdf, 4, &[&stream(&content(text, 0))], 100, 1)
}

/// `pdf` with an incremental update: the objects `objects` (each its body, numbered from
/// `first` on), their cross-reference section and a trailer with `/Size size`, the catalog
/// `root` and `/Prev` the previous cross-reference.
pub fn append_update(pdf: &[u8], first: u32, objects: &[&[u8]], size: u32, root: u32) -> Vec<u8> {
    let prev = startxref(pdf);
    let mut out = pdf.to_vec();
    let offsets = write_objects(&mut out, first, objects);
    let xref = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{first} {}\n{offsets}trailer\n<< /Size {size} /Root {root} 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len()
        )
        .as_bytes(),
    );
    out
}
