//! ASiC-E container reading and validation on arbitrary bytes (zip structure, mimetype,
//! manifests, bounded decompression).
#![no_main]
use std::time::SystemTime;

use korpu_sign::asice::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entries: 64,
        max_entry_size: 1 << 20,
        max_total_size: 4 << 20,
    };
    if let Ok(c) = asice::open(data, &limits) {
        let _ = c.signatures();
    }
    let _ = asice::validate(data, &[], SystemTime::UNIX_EPOCH, &limits);
});
