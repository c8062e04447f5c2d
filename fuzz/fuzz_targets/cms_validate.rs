//! CAdES (CMS SignedData) validation on arbitrary bytes, including the embedded time-stamp
//! tokens and revocation values.
#![no_main]
use std::time::SystemTime;

use korpu_sign::validate::validate_cades;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = validate_cades(data, b"signed data", &[], SystemTime::UNIX_EPOCH);
    let _ = korpu_sign::cades::signer_parts(data);
});
