//! Content detection (PDF, ASiC-E/-S by mimetype or META-INF, CMS in DER/BER/PEM, XML) and
//! PEM un-armouring on arbitrary bytes.
#![no_main]
use korpu_sign::detect::{cms_der, detect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let format = detect(data);
    let _ = format.name();
    let _ = cms_der(data);
});
