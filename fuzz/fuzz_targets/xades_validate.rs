//! The bounded XML reader, every canonicalisation and XAdES validation on arbitrary bytes,
//! taken as the `signatures*.xml` of a container whose one data file is `d.txt`.
#![no_main]
use std::collections::BTreeMap;
use std::time::SystemTime;

use korpu_sign::xml::{C14n, Document, Limits};
use korpu_sign::{xades, ValidationOptions};
use libfuzzer_sys::fuzz_target;

const C14NS: [&str; 6] = [
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
];

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_size: 1 << 20,
        max_nodes: 20_000,
        ..Limits::default()
    };
    if let Ok(doc) = Document::parse(data, &limits) {
        for uri in C14NS {
            let alg = C14n::from_uri(uri).expect("a known canonicalisation");
            let _ = doc.canonicalize_document(&alg);
            for n in doc.descendants(doc.root()).into_iter().take(8) {
                let _ = doc.canonicalize(n, &alg, None);
            }
        }
    }
    let files = BTreeMap::from([("d.txt".to_string(), b"data".to_vec())]);
    let _ = xades::validate_file(
        data,
        &files,
        &[],
        SystemTime::UNIX_EPOCH,
        &limits,
        &ValidationOptions::default(),
    );
});
