//! Reading the cross-reference chain (ISO 32000-1 §7.5): from `startxref` back through every
//! incremental update's table or stream, merged newest first into [`Document::xref`].
//!
//! Loops over `/Prev` links and sections are bounded by the caller's `Limits`.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use super::super::{Limits, PdfError};

use super::lexer::Lexer;
use super::{bad, get, rfind, Dict, Document, Entry, Obj};

/// The offset given by the last `startxref` of `data` (searched in its last 4 KiB, where
/// ISO 32000-1 §7.5.5 puts it; trailing garbage after `%%EOF` is tolerated).
pub(crate) fn last_startxref(data: &[u8], limits: &Limits) -> Result<usize, PdfError> {
    let tail = data.len().saturating_sub(4096);
    let p = rfind(&data[tail..], b"startxref")
        .map(|p| p + tail)
        .ok_or_else(|| bad("no startxref: not a PDF file, or truncated"))?;
    let mut lx = Lexer::new(data, p + 9, limits);
    let off = lx.uint()?;
    usize::try_from(off)
        .ok()
        .filter(|o| *o < data.len())
        .ok_or_else(|| bad(format!("startxref {off} points outside the file")))
}

impl<'a> Document<'a> {
    /// Parses the cross-reference chain of `data`.
    pub fn parse(data: &'a [u8], limits: &'a Limits) -> Result<Self, PdfError> {
        if data.len() as u64 > limits.max_pdf_size {
            return Err(PdfError::TooLarge {
                size: data.len() as u64,
                limit: limits.max_pdf_size,
            });
        }
        if !data.starts_with(b"%PDF-") {
            return Err(bad("the file does not start with %PDF-"));
        }
        let startxref = last_startxref(data, limits)?;
        let mut doc = Document {
            data,
            limits,
            xref: HashMap::new(),
            trailer: Dict::new(),
            startxref,
            xref_is_stream: false,
            endstreams: OnceCell::new(),
            object_streams: RefCell::new(HashMap::new()),
        };
        let mut seen = HashSet::new();
        let mut next = Some(startxref);
        let mut first = true;
        while let Some(off) = next.take() {
            if !seen.insert(off) {
                return Err(bad(format!("the cross-reference chain loops at {off}")));
            }
            if seen.len() > limits.max_revisions {
                return Err(bad(format!(
                    "more than {} cross-reference sections",
                    limits.max_revisions
                )));
            }
            let (trailer, is_stream) = doc.read_section(off)?;
            // A hybrid file's trailer points to an xref stream with the objects older readers
            // do not see (§7.5.8.4); it ranks just below this section.
            if let Some(Obj::Int(x)) = get(&trailer, "XRefStm") {
                if let Ok(x) = usize::try_from(*x) {
                    if seen.insert(x) {
                        let _ = doc.read_section(x);
                    }
                }
            }
            if first {
                doc.trailer = trailer.clone();
                doc.xref_is_stream = is_stream;
                first = false;
            }
            next = match get(&trailer, "Prev") {
                Some(Obj::Int(p)) => {
                    Some(usize::try_from(*p).map_err(|_| bad(format!("negative /Prev {p}")))?)
                }
                _ => None,
            };
        }
        if get(&doc.trailer, "Encrypt").is_some() {
            return Err(PdfError::Unsupported("encrypted PDF files".into()));
        }
        Ok(doc)
    }

    /// The bytes of the file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    fn add_entry(&mut self, num: u32, e: Entry) -> Result<(), PdfError> {
        if self.xref.len() >= self.limits.max_objects && !self.xref.contains_key(&num) {
            return Err(bad(format!(
                "more than {} objects",
                self.limits.max_objects
            )));
        }
        // Sections are read newest first: the first entry seen for a number is the live one.
        self.xref.entry(num).or_insert(e);
        Ok(())
    }

    /// Reads one cross-reference section (table or stream); returns its trailer dictionary.
    fn read_section(&mut self, off: usize) -> Result<(Dict, bool), PdfError> {
        if off >= self.data.len() {
            return Err(bad(format!(
                "a cross-reference offset ({off}) points outside the file"
            )));
        }
        let mut lx = Lexer::new(self.data, off, self.limits);
        lx.skip_ws();
        if self.data[lx.pos..].starts_with(b"xref") {
            lx.pos += 4;
            loop {
                lx.skip_ws();
                if self.data[lx.pos..].starts_with(b"trailer") {
                    lx.pos += 7;
                    let t = lx.object(0)?;
                    let Obj::Dict(t) = t else {
                        return Err(bad("the trailer is not a dictionary"));
                    };
                    return Ok((t, false));
                }
                let start = lx.uint()?;
                let count = lx.uint()?;
                if count > self.limits.max_objects as u64 {
                    return Err(bad(format!("xref subsection of {count} entries")));
                }
                for i in 0..count {
                    let o = lx.uint()?;
                    let g = lx.uint()?;
                    lx.skip_ws();
                    let kind = lx.word();
                    let num =
                        u32::try_from(start + i).map_err(|_| bad("object number out of range"))?;
                    let e = match kind {
                        b"n" => Entry::InFile {
                            offset: usize::try_from(o).map_err(|_| bad("offset out of range"))?,
                            gen: u16::try_from(g).map_err(|_| bad("generation out of range"))?,
                        },
                        b"f" => Entry::Free,
                        _ => return Err(bad(format!("bad xref entry for object {num}"))),
                    };
                    // Object 0 is the head of the free list, never a live object.
                    if num != 0 {
                        self.add_entry(num, e)?;
                    }
                }
            }
        }
        // An xref stream (§7.5.8).
        let (_, obj) = self.object_at(off)?;
        let Obj::Stream(d, raw) = obj else {
            return Err(bad(format!(
                "startxref/Prev {off} points to neither \"xref\" nor an xref stream"
            )));
        };
        if !get(&d, "Type").is_some_and(|t| t.is_name(b"XRef")) {
            return Err(bad(format!("the stream at {off} is not /Type /XRef")));
        }
        let data = self.decode(&d, &raw)?;
        let w: Vec<usize> = match get(&d, "W") {
            Some(Obj::Array(a)) if a.len() == 3 => a
                .iter()
                .map(|x| {
                    x.int()
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|i| *i <= 8)
                })
                .collect::<Option<_>>()
                .ok_or_else(|| bad("bad /W in xref stream"))?,
            _ => return Err(bad("missing /W in xref stream")),
        };
        let size = get(&d, "Size")
            .and_then(Obj::int)
            .ok_or_else(|| bad("missing /Size in xref stream"))?;
        let index: Vec<i64> = match get(&d, "Index") {
            Some(Obj::Array(a)) => a
                .iter()
                .map(Obj::int)
                .collect::<Option<_>>()
                .ok_or_else(|| bad("bad /Index in xref stream"))?,
            _ => vec![0, size],
        };
        let row = w[0] + w[1] + w[2];
        if row == 0 {
            return Err(bad("xref stream /W is all zero"));
        }
        let field = |b: &[u8]| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        let mut rows = data.chunks_exact(row);
        for pair in index.chunks(2) {
            let [start, count] = pair else {
                return Err(bad("odd /Index in xref stream"));
            };
            for i in 0..*count.max(&0) {
                let Some(r) = rows.next() else {
                    return Err(bad("xref stream shorter than its /Index"));
                };
                let kind = if w[0] == 0 { 1 } else { field(&r[..w[0]]) };
                let f2 = field(&r[w[0]..w[0] + w[1]]);
                let f3 = field(&r[w[0] + w[1]..]);
                let num =
                    u32::try_from(start + i).map_err(|_| bad("object number out of range"))?;
                let e = match kind {
                    0 => Entry::Free,
                    1 => Entry::InFile {
                        offset: usize::try_from(f2).map_err(|_| bad("offset out of range"))?,
                        gen: u16::try_from(f3).unwrap_or(0),
                    },
                    2 => Entry::InStream {
                        stream: u32::try_from(f2).map_err(|_| bad("bad object stream"))?,
                        index: u32::try_from(f3).map_err(|_| bad("bad object stream index"))?,
                    },
                    // §7.5.8.3: unknown types are references to the null object.
                    _ => Entry::Free,
                };
                if num != 0 {
                    self.add_entry(num, e)?;
                }
            }
        }
        Ok((d, true))
    }
}
