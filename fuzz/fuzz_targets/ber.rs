//! The BER reader (korpu-pki `ber`) on arbitrary bytes: normalisation to DER and the location
//! of each SignerInfo's signed attributes, none of which may panic, recurse without bound or
//! run long; DER input must come back unchanged, and normalising twice must change nothing.
//! Seeds: `seeds/ber` (CMS from `openssl cms -sign -stream`, indefinite lengths throughout).
#![no_main]
use korpu_pki::ber;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = ber::to_der(data) {
        assert_eq!(ber::to_der(&der).as_deref(), Ok(&der[..]), "normalising is idempotent");
        assert!(!ber::needs_normalising(&der));
    }
    let _ = ber::cms_signer_infos(data);
    let _ = ber::signer_info_raw(data);
});
