//! Reading objects of a parsed [`Document`]: an object at an offset or inside an object
//! stream, references resolved a bounded number of hops, and stream data decoded (FlateDecode
//! with PNG predictors, or no filter).
//!
//! Decoded sizes are bounded by the caller's `Limits`; other filters are refused.

use std::io::Read;
use std::rc::Rc;

use super::super::PdfError;

use super::lexer::Lexer;
use super::{bad, find, get, Dict, Document, Entry, Obj};

impl<'a> Document<'a> {
    /// Parses `num gen obj ... endobj` at `off`; returns the number and the object.
    pub fn object_at(&self, off: usize) -> Result<(u32, Obj), PdfError> {
        if off >= self.data.len() {
            return Err(bad(format!("object offset {off} is outside the file")));
        }
        let mut lx = Lexer::new(self.data, off, self.limits);
        let num = lx.uint()?;
        let _gen = lx.uint()?;
        lx.keyword(b"obj")?;
        let o = lx.object(0)?;
        let num = u32::try_from(num).map_err(|_| bad("object number out of range"))?;
        lx.skip_ws();
        if let Obj::Dict(d) = &o {
            if self.data[lx.pos..].starts_with(b"stream") {
                lx.pos += 6;
                if self.data.get(lx.pos) == Some(&b'\r') {
                    lx.pos += 1;
                }
                if self.data.get(lx.pos) == Some(&b'\n') {
                    lx.pos += 1;
                }
                let start = lx.pos;
                let declared = match get(d, "Length") {
                    Some(Obj::Int(n)) => usize::try_from(*n).ok(),
                    // An indirect /Length: one level only, it must be a plain integer.
                    Some(Obj::Ref(n, _)) => match self.xref.get(n) {
                        Some(Entry::InFile { offset, .. }) if *offset != off => {
                            let mut l2 = Lexer::new(self.data, *offset, self.limits);
                            (|| {
                                l2.uint().ok()?;
                                l2.uint().ok()?;
                                l2.keyword(b"obj").ok()?;
                                usize::try_from(l2.uint().ok()?).ok()
                            })()
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let end = declared
                    .and_then(|n| start.checked_add(n))
                    .filter(|e| {
                        *e <= self.data.len() && {
                            let mut l = Lexer::new(self.data, *e, self.limits);
                            l.skip_ws();
                            self.data[l.pos..].starts_with(b"endstream")
                        }
                    })
                    .or_else(|| {
                        // A wrong /Length: fall back to the endstream keyword, as readers do.
                        let all = self.endstreams.get_or_init(|| {
                            let mut v = Vec::new();
                            let mut from = 0;
                            while let Some(p) = find(self.data, b"endstream", from) {
                                v.push(p);
                                from = p + 1;
                            }
                            v
                        });
                        let i = all.partition_point(|p| *p < start);
                        all.get(i).copied().map(|mut e| {
                            if e > start && self.data[e - 1] == b'\n' {
                                e -= 1;
                            }
                            if e > start && self.data[e - 1] == b'\r' {
                                e -= 1;
                            }
                            e
                        })
                    })
                    .ok_or_else(|| bad(format!("stream of object {num} has no endstream")))?;
                return Ok((num, Obj::Stream(d.clone(), self.data[start..end].to_vec())));
            }
        }
        Ok((num, o))
    }

    /// Decodes a stream's data (FlateDecode with optional PNG predictors, or no filter).
    pub fn decode(&self, d: &Dict, raw: &[u8]) -> Result<Vec<u8>, PdfError> {
        let filters: Vec<&Obj> = match get(d, "Filter") {
            None => vec![],
            Some(Obj::Array(a)) => a.iter().collect(),
            Some(o) => vec![o],
        };
        let mut data = raw.to_vec();
        for f in &filters {
            if !f.is_name(b"FlateDecode") {
                return Err(PdfError::Unsupported(format!("stream filter {f:?}")));
            }
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data.as_slice())
                .take(self.limits.max_stream_size + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(format!("FlateDecode: {e}")))?;
            if out.len() as u64 > self.limits.max_stream_size {
                return Err(PdfError::TooLarge {
                    size: out.len() as u64,
                    limit: self.limits.max_stream_size,
                });
            }
            data = out;
        }
        let parms = match get(d, "DecodeParms") {
            Some(Obj::Dict(p)) => Some(p),
            Some(Obj::Array(a)) => a.first().and_then(Obj::dict),
            _ => None,
        };
        if let Some(p) = parms {
            let predictor = get(p, "Predictor").and_then(Obj::int).unwrap_or(1);
            if predictor >= 10 {
                let cols = get(p, "Columns").and_then(Obj::int).unwrap_or(1);
                let cols = usize::try_from(cols)
                    .ok()
                    .filter(|c| *c > 0 && *c < 1 << 20)
                    .ok_or_else(|| bad("bad /Columns"))?;
                data = png_unpredict(&data, cols)?;
            } else if predictor != 1 {
                return Err(PdfError::Unsupported(format!("predictor {predictor}")));
            }
        }
        Ok(data)
    }

    /// The object `num`, or `None` when it is free or absent.
    pub fn get(&self, num: u32) -> Result<Option<Obj>, PdfError> {
        match self.xref.get(&num) {
            None | Some(Entry::Free) => Ok(None),
            Some(Entry::InFile { offset, .. }) => {
                let (n, o) = self.object_at(*offset)?;
                if n != num {
                    return Err(bad(format!(
                        "the xref says object {num} is at {offset}, but object {n} is there"
                    )));
                }
                Ok(Some(o))
            }
            Some(Entry::InStream { stream, index }) => {
                let Some(Entry::InFile { offset, .. }) = self.xref.get(stream) else {
                    return Err(bad(format!("object stream {stream} is not in the file")));
                };
                let (_, s) = self.object_at(*offset)?;
                let Obj::Stream(d, raw) = s else {
                    return Err(bad(format!("object {stream} is not an object stream")));
                };
                let cached = self.object_streams.borrow().get(stream).cloned();
                let data = match cached {
                    Some(d) => d,
                    None => {
                        let decoded = Rc::new(self.decode(&d, &raw)?);
                        self.object_streams
                            .borrow_mut()
                            .insert(*stream, decoded.clone());
                        decoded
                    }
                };
                let n = get(&d, "N").and_then(Obj::int).unwrap_or(0);
                let first = get(&d, "First")
                    .and_then(Obj::int)
                    .and_then(|f| usize::try_from(f).ok())
                    .ok_or_else(|| bad("object stream without /First"))?;
                if i64::from(*index) >= n {
                    return Err(bad(format!("object stream {stream} has no index {index}")));
                }
                let mut lx = Lexer::new(&data, 0, self.limits);
                let mut rel = None;
                for i in 0..=*index {
                    let onum = lx.uint()?;
                    let o = lx.uint()?;
                    if i == *index {
                        if onum != u64::from(num) {
                            return Err(bad(format!("object stream {stream} mislabels {num}")));
                        }
                        rel = Some(o);
                    }
                }
                let at = rel
                    .and_then(|r| usize::try_from(r).ok())
                    .and_then(|r| first.checked_add(r))
                    .filter(|a| *a < data.len())
                    .ok_or_else(|| bad("object stream offset out of range"))?;
                let mut lx = Lexer::new(&data, at, self.limits);
                Ok(Some(lx.object(0)?))
            }
        }
    }

    /// Follows references (a bounded number of hops) to a direct object; `Null` for dangling.
    pub fn resolve(&self, o: &Obj) -> Result<Obj, PdfError> {
        let mut cur = o.clone();
        for _ in 0..16 {
            match cur {
                Obj::Ref(n, _) => cur = self.get(n)?.unwrap_or(Obj::Null),
                other => return Ok(other),
            }
        }
        Err(bad("a chain of references more than 16 long"))
    }

    /// The highest object number in use plus one (for numbering new objects).
    pub fn next_number(&self) -> u32 {
        let from_xref = self.xref.keys().max().map_or(1, |m| m + 1);
        let from_size = get(&self.trailer, "Size")
            .and_then(Obj::int)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        from_xref.max(from_size)
    }
}

pub(super) fn png_unpredict(data: &[u8], cols: usize) -> Result<Vec<u8>, PdfError> {
    let row = cols + 1;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; cols];
    for r in data.chunks(row) {
        if r.len() != row {
            return Err(bad("PNG-predicted data is not a whole number of rows"));
        }
        let (t, line) = (r[0], &r[1..]);
        let mut cur = vec![0u8; cols];
        for i in 0..cols {
            let left = if i > 0 { cur[i - 1] } else { 0 };
            let up = prev[i];
            let ul = if i > 0 { prev[i - 1] } else { 0 };
            cur[i] = match t {
                0 => line[i],
                1 => line[i].wrapping_add(left),
                2 => line[i].wrapping_add(up),
                3 => line[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(ul);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(ul)).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        ul
                    };
                    line[i].wrapping_add(pred)
                }
                _ => return Err(bad(format!("PNG predictor type {t}"))),
            };
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}
