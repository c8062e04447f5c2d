//! A small, bounded PDF reader: objects, cross-reference tables and streams, object streams,
//! trailers and the chain of incremental updates (ISO 32000-1 §7.3, §7.5).
//!
//! It reads what signing and signature validation need and nothing else: no content streams,
//! fonts, rendering or encryption (encrypted files are refused). Every loop and recursion is
//! bounded by [`Limits`], so hostile input costs bounded time and memory and yields a
//! [`PdfError`], never a panic.
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;

use super::{Limits, PdfError};

/// A dictionary: keys are names without the slash, decoded (`#xx` escapes resolved).
pub type Dict = BTreeMap<Vec<u8>, Obj>;

/// A PDF object (ISO 32000-1 §7.3).
#[derive(Clone, Debug, PartialEq)]
pub enum Obj {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number, kept as written so that rewriting an object does not change it.
    Real(String),
    /// A string (literal or hexadecimal), decoded.
    Str(Vec<u8>),
    /// A name without its slash, decoded.
    Name(Vec<u8>),
    /// An array.
    Array(Vec<Obj>),
    /// A dictionary.
    Dict(Dict),
    /// An indirect reference `num gen R`.
    Ref(u32, u16),
    /// A stream: its dictionary and its raw (still encoded) data.
    Stream(Dict, Vec<u8>),
}

impl Obj {
    /// The dictionary of a dictionary or stream.
    pub fn dict(&self) -> Option<&Dict> {
        match self {
            Obj::Dict(d) | Obj::Stream(d, _) => Some(d),
            _ => None,
        }
    }

    /// The integer value.
    pub fn int(&self) -> Option<i64> {
        match self {
            Obj::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether this is the name `n`.
    pub fn is_name(&self, n: &[u8]) -> bool {
        matches!(self, Obj::Name(x) if x == n)
    }
}

/// Looks up `key` in a dictionary.
pub fn get<'d>(d: &'d Dict, key: &str) -> Option<&'d Obj> {
    d.get(key.as_bytes())
}

/// Where an object lives, from the cross-reference data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// At a byte offset of the file, with a generation number.
    InFile {
        /// Offset of `num gen obj`.
        offset: usize,
        /// Generation.
        gen: u16,
    },
    /// The `index`-th object of object stream `stream`.
    InStream {
        /// The object stream's number.
        stream: u32,
        /// The index inside it.
        index: u32,
    },
    /// Free.
    Free,
}

/// A parsed document: the merged cross-reference of every revision (newest entry wins) and the
/// newest trailer. Objects are parsed on demand.
pub struct Document<'a> {
    data: &'a [u8],
    limits: &'a Limits,
    /// Object number → location.
    pub xref: HashMap<u32, Entry>,
    /// The newest trailer (for an xref stream, its dictionary).
    pub trailer: Dict,
    /// Offset of the newest cross-reference section.
    pub startxref: usize,
    /// Whether the newest cross-reference section is a stream (PDF 1.5).
    pub xref_is_stream: bool,
    /// Offsets of every `endstream`, found once when a stream's /Length is wrong, so that
    /// many such streams cost a binary search each rather than a scan of the file each.
    endstreams: OnceCell<Vec<usize>>,
    /// Decoded object streams, so that reading many objects of one stream inflates it once.
    object_streams: RefCell<HashMap<u32, Rc<Vec<u8>>>>,
}

fn bad(what: impl Into<String>) -> PdfError {
    PdfError::Malformed(what.into())
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

/// A cursor over the file's bytes.
pub(crate) struct Lexer<'a> {
    pub b: &'a [u8],
    pub pos: usize,
    max_depth: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(b: &'a [u8], pos: usize, limits: &Limits) -> Self {
        Lexer {
            b,
            pos,
            max_depth: limits.max_depth,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if is_ws(c) {
                self.pos += 1;
            } else if c == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// A bare keyword or number token.
    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ws(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
        }
        &self.b[start..self.pos]
    }

    pub(crate) fn keyword(&mut self, kw: &[u8]) -> Result<(), PdfError> {
        self.skip_ws();
        let at = self.pos;
        let w = self.word();
        if w == kw {
            Ok(())
        } else {
            Err(bad(format!(
                "expected \"{}\" at offset {at}, found \"{}\"",
                String::from_utf8_lossy(kw),
                String::from_utf8_lossy(&w[..w.len().min(20)])
            )))
        }
    }

    pub(crate) fn uint(&mut self) -> Result<u64, PdfError> {
        self.skip_ws();
        let at = self.pos;
        let w = self.word();
        std::str::from_utf8(w)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad(format!("expected a number at offset {at}")))
    }

    /// Tries `int int R` at the current position; restores the position if it is not one.
    fn try_ref(&mut self, first: i64) -> Option<Obj> {
        let save = self.pos;
        let r = (|| {
            self.skip_ws();
            let w = self.word();
            let gen: u16 = std::str::from_utf8(w).ok()?.parse().ok()?;
            self.skip_ws();
            if self.word() != b"R" {
                return None;
            }
            let num = u32::try_from(first).ok()?;
            Some(Obj::Ref(num, gen))
        })();
        if r.is_none() {
            self.pos = save;
        }
        r
    }

    pub(crate) fn object(&mut self, depth: usize) -> Result<Obj, PdfError> {
        if depth > self.max_depth {
            return Err(bad(format!(
                "objects nested more than {} deep",
                self.max_depth
            )));
        }
        self.skip_ws();
        let at = self.pos;
        let Some(c) = self.peek() else {
            return Err(bad("unexpected end of file inside an object"));
        };
        match c {
            b'/' => {
                self.pos += 1;
                Ok(Obj::Name(self.name_body()))
            }
            b'(' => self.literal_string(),
            b'<' if self.b.get(self.pos + 1) == Some(&b'<') => {
                self.pos += 2;
                let mut d = Dict::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b'>') if self.b.get(self.pos + 1) == Some(&b'>') => {
                            self.pos += 2;
                            return Ok(Obj::Dict(d));
                        }
                        Some(b'/') => {
                            self.pos += 1;
                            let k = self.name_body();
                            let v = self.object(depth + 1)?;
                            d.insert(k, v);
                        }
                        _ => {
                            return Err(bad(format!(
                                "dictionary at offset {at}: expected a name key at offset {}",
                                self.pos
                            )))
                        }
                    }
                }
            }
            b'<' => self.hex_string(),
            b'[' => {
                self.pos += 1;
                let mut a = Vec::new();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Obj::Array(a));
                        }
                        None => return Err(bad(format!("unterminated array at offset {at}"))),
                        _ => a.push(self.object(depth + 1)?),
                    }
                }
            }
            _ => {
                let w = self.word();
                if w.is_empty() {
                    self.pos += 1;
                    return Err(bad(format!("unexpected byte 0x{c:02x} at offset {at}")));
                }
                match w {
                    b"null" => Ok(Obj::Null),
                    b"true" => Ok(Obj::Bool(true)),
                    b"false" => Ok(Obj::Bool(false)),
                    _ => {
                        let s = std::str::from_utf8(w).map_err(|_| bad("non-ASCII token"))?;
                        if let Ok(i) = s.parse::<i64>() {
                            if i >= 0 {
                                if let Some(r) = self.try_ref(i) {
                                    return Ok(r);
                                }
                            }
                            Ok(Obj::Int(i))
                        } else if s.parse::<f64>().is_ok()
                            || s.bytes()
                                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+'))
                        {
                            Ok(Obj::Real(s.to_string()))
                        } else {
                            Err(bad(format!(
                                "unknown token \"{}\" at offset {at}",
                                &s[..s.len().min(20)]
                            )))
                        }
                    }
                }
            }
        }
    }

    fn name_body(&mut self) -> Vec<u8> {
        let raw = self.word();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'#' && i + 2 < raw.len() {
                if let Ok(v) =
                    u8::from_str_radix(std::str::from_utf8(&raw[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        out
    }

    fn literal_string(&mut self) -> Result<Obj, PdfError> {
        let at = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        let mut nest = 1usize;
        loop {
            let Some(c) = self.peek() else {
                return Err(bad(format!("unterminated string at offset {at}")));
            };
            self.pos += 1;
            match c {
                b'(' => {
                    nest += 1;
                    out.push(c);
                }
                b')' => {
                    nest -= 1;
                    if nest == 0 {
                        return Ok(Obj::Str(out));
                    }
                    out.push(c);
                }
                b'\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn hex_string(&mut self) -> Result<Obj, PdfError> {
        let at = self.pos;
        self.pos += 1;
        let mut nibbles = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(bad(format!("unterminated hex string at offset {at}")));
            };
            self.pos += 1;
            match c {
                b'>' => break,
                c if is_ws(c) => {}
                c => {
                    let v = (c as char)
                        .to_digit(16)
                        .ok_or_else(|| bad(format!("bad hex digit in string at offset {at}")))?;
                    nibbles.push(v as u8);
                }
            }
        }
        if nibbles.len() % 2 == 1 {
            nibbles.push(0);
        }
        Ok(Obj::Str(
            nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect(),
        ))
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

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

fn png_unpredict(data: &[u8], cols: usize) -> Result<Vec<u8>, PdfError> {
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

/// Serialises an object (strings as hex, names escaped); streams are not written this way.
pub fn write_obj(o: &Obj, out: &mut Vec<u8>) {
    match o {
        Obj::Null => out.extend_from_slice(b"null"),
        Obj::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Obj::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Obj::Real(s) => out.extend_from_slice(s.as_bytes()),
        Obj::Str(s) => {
            out.push(b'<');
            out.extend_from_slice(hex::encode(s).as_bytes());
            out.push(b'>');
        }
        Obj::Name(n) => write_name(n, out),
        Obj::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_obj(x, out);
            }
            out.push(b']');
        }
        Obj::Dict(d) | Obj::Stream(d, _) => {
            out.extend_from_slice(b"<<");
            for (k, v) in d {
                write_name(k, out);
                out.push(b' ');
                write_obj(v, out);
            }
            out.extend_from_slice(b">>");
        }
        Obj::Ref(n, g) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
    }
}

fn write_name(n: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &c in n {
        if c.is_ascii_graphic() && !is_delim(c) && c != b'#' {
            out.push(c);
        } else {
            out.extend_from_slice(format!("#{c:02X}").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &[u8]) -> Result<Obj, PdfError> {
        Lexer::new(s, 0, &Limits::default()).object(0)
    }

    #[test]
    fn lexes_the_object_syntax() {
        let o = obj(b"<< /A 1 /B -2.5 /C (a\\(b\\)\\n\\101) /D <4142 4> /E [1 0 R 2 true null] /F#20G /x >>")
            .unwrap();
        let d = o.dict().unwrap();
        assert_eq!(get(d, "A"), Some(&Obj::Int(1)));
        assert_eq!(get(d, "B"), Some(&Obj::Real("-2.5".into())));
        assert_eq!(get(d, "C"), Some(&Obj::Str(b"a(b)\nA".to_vec())));
        assert_eq!(get(d, "D"), Some(&Obj::Str(b"AB@".to_vec())));
        assert_eq!(
            get(d, "E"),
            Some(&Obj::Array(vec![
                Obj::Ref(1, 0),
                Obj::Int(2),
                Obj::Bool(true),
                Obj::Null
            ]))
        );
        assert_eq!(get(d, "F G"), Some(&Obj::Name(b"x".to_vec())));
        // Round trip through the writer.
        let mut w = Vec::new();
        write_obj(&o, &mut w);
        assert_eq!(obj(&w).unwrap(), o);
    }

    #[test]
    fn bad_syntax_is_an_error() {
        for bad in [
            &b"<< /A"[..],
            b"(unterminated",
            b"<zz>",
            b"[1 2",
            b"<< 1 2 >>",
            b")",
        ] {
            assert!(obj(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = [b'['; 200];
        assert!(matches!(obj(&deep), Err(PdfError::Malformed(m)) if m.contains("nested")));
    }

    #[test]
    fn png_up_predictor() {
        // Two rows of three columns, Up filter: second row adds the first.
        let data = [2, 1, 2, 3, 2, 1, 1, 1];
        assert_eq!(png_unpredict(&data, 3).unwrap(), vec![1, 2, 3, 2, 3, 4]);
        assert!(png_unpredict(&[9, 0, 0, 0], 3).is_err());
        assert!(png_unpredict(&[2, 0], 3).is_err());
    }

    #[test]
    fn xref_loops_and_bad_offsets_are_errors() {
        let limits = Limits::default();
        let looped = b"%PDF-1.4\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 /Prev 9 >>\nstartxref\n9\n%%EOF\n";
        assert!(matches!(
            Document::parse(looped, &limits),
            Err(PdfError::Malformed(m)) if m.contains("loops")
        ));
        let outside = b"%PDF-1.4\nstartxref\n99999\n%%EOF\n";
        assert!(Document::parse(outside, &limits).is_err());
        let prev_outside = b"%PDF-1.4\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 /Prev 99999 /XRefStm 88888 >>\nstartxref\n9\n%%EOF\n";
        assert!(matches!(
            Document::parse(prev_outside, &limits),
            Err(PdfError::Malformed(m)) if m.contains("outside")
        ));
        let encrypted = b"%PDF-1.4\nxref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 1 /Encrypt << >> >>\nstartxref\n9\n%%EOF\n";
        assert!(matches!(
            Document::parse(encrypted, &limits),
            Err(PdfError::Unsupported(_))
        ));
    }
}
