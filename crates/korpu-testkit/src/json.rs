//! Reading the JSON answers of the services' APIs in tests: one text field out of each
//! object of an array, as the assertions about statuses, threads and ids need it.
//!
//! Not a schema check: a missing or mistyped field fails the test with the value shown.
use serde_json::Value;

/// The text field `field` of each object in the array `v[array]`.
pub fn strs<'a>(v: &'a Value, array: &str, field: &str) -> Vec<&'a str> {
    let items = v[array]
        .as_array()
        .unwrap_or_else(|| panic!("no array {array:?} in {v}"));
    items
        .iter()
        .map(|x| {
            x[field]
                .as_str()
                .unwrap_or_else(|| panic!("no text {field:?} in {x}"))
        })
        .collect()
}
