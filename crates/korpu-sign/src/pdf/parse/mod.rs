//! A small, bounded PDF reader: objects, cross-reference tables and streams, object streams,
//! trailers and the chain of incremental updates (ISO 32000-1 §7.3, §7.5).
//!
//! It reads what signing and signature validation need and nothing else: no content streams,
//! fonts, rendering or encryption (encrypted files are refused). Every loop and recursion is
//! bounded by [`Limits`], so hostile input costs bounded time and memory and yields a
//! [`PdfError`], never a panic.
//!
//! The object syntax is read by `lexer`, the cross-reference chain by `xref`, objects and
//! streams by `objects`; the object model and its writer are here.

mod lexer;
mod objects;
mod xref;

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
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
    use super::lexer::Lexer;
    use super::objects::png_unpredict;
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
