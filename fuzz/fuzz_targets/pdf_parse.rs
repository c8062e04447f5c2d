//! The PDF reader and PAdES validation on arbitrary bytes: must return a report or an error,
//! never panic, hang or allocate without bound.
#![no_main]
use std::time::SystemTime;

use korpu_sign::pdf::{self, parse::Document, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_pdf_size: 1 << 20,
        max_stream_size: 1 << 20,
        ..Limits::default()
    };
    if let Ok(doc) = Document::parse(data, &limits) {
        for n in doc.xref.keys().take(64) {
            let _ = doc.get(*n);
        }
    }
    let _ = pdf::validate(data, &[], SystemTime::UNIX_EPOCH, &limits);
});
