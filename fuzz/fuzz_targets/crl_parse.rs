//! The CRL parser (korpu-pki `crl`) on arbitrary bytes: parsing within its bounds, the
//! accessors, the status lookup and the issuer check against a fixed certificate, none of which
//! may panic or run long. Seeds: openssl-made CRLs in `seeds/crl_parse` (empty, with entries
//! and reasons, RSA-signed, scoped by an issuingDistributionPoint).
#![no_main]
use korpu_pki::cert::Certificate;
use korpu_pki::crl::Crl;
use libfuzzer_sys::fuzz_target;

/// A P-256 CA certificate (openssl-made) to check issuers and look statuses up against.
const CA_PEM: &str = include_str!("../seeds/crl_ca.pem");

fuzz_target!(|data: &[u8]| {
    let ca = Certificate::from_pem(CA_PEM).expect("the fixed CA certificate parses");
    for parsed in [Crl::from_der(data), Crl::from_der_or_pem(data)] {
        if let Ok(crl) = parsed {
            let _ = crl.issuer();
            let _ = (crl.this_update(), crl.next_update(), crl.revoked().len());
            let _ = crl.verify_issued_by(&ca);
            let _ = crl.status(&ca);
        }
    }
});
