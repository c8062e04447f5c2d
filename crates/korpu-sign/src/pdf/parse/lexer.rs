//! The PDF object syntax (ISO 32000-1 §7.3): a [`Lexer`] over the file's bytes that reads
//! numbers, strings, names, arrays, dictionaries, references and stream extents.
//!
//! Nesting is bounded by the caller's `Limits`. Where objects are and how they are found is
//! `xref`'s job.

use super::super::{Limits, PdfError};

use super::{bad, is_delim, is_ws, Dict, Obj};

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
    pub(super) fn word(&mut self) -> &'a [u8] {
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
