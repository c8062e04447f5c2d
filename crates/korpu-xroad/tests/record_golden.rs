//! The canonical encoding pinned: two records written by the record code as it was before it
//! moved to this crate (as `korpu_tlog::record`, `role` a string), checked in byte for byte
//! with their leaf hashes. One is of the first format (no signature bases, no bodies: the
//! four last members omitted); the other has every member, and strings that need escaping
//! (quotes, a backslash, a control character, tab, CR/LF, newlines in the signature bases)
//! and non-ASCII text, which is written as it is. Records on disk must decode, re-encode to
//! the same bytes and hash to the same leaf, whatever the record's Rust types become.
use korpu_xroad::record::{ExchangeRecord, Role};

const SHORT: &[u8] = include_bytes!("data/record-short.json");
const FULL: &[u8] = include_bytes!("data/record-full.json");
const SHORT_LEAF: &str = include_str!("data/record-short.leafhash");
const FULL_LEAF: &str = include_str!("data/record-full.leafhash");

fn check(bytes: &[u8], leaf_hex: &str) -> ExchangeRecord {
    let rec = ExchangeRecord::from_leaf_bytes(bytes).expect("a record written before decodes");
    assert_eq!(rec.leaf_bytes(), bytes, "re-encodes to the same bytes");
    assert_eq!(hex::encode(rec.leaf_hash()), leaf_hex.trim());
    // The leaf hash is RFC 9162's: SHA-256(0x00 || bytes), recomputed here independently.
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    assert_eq!(hex::encode(h.finalize()), leaf_hex.trim());
    rec
}

#[test]
fn records_written_before_the_move_decode_to_the_same_bytes_and_leaf() {
    let short = check(SHORT, SHORT_LEAF);
    assert_eq!(short.role, Role::Client);
    assert!(short.request_signed.is_none() && short.request_body_sha256.is_none());
    let text = std::str::from_utf8(SHORT).unwrap();
    assert!(text.ends_with(r#","error":null}"#), "{text}");
    assert!(!text.contains("request_signed"));

    let full = check(FULL, FULL_LEAF);
    assert_eq!(full.role, Role::Provider);
    assert_eq!(
        full.purpose.as_deref(),
        Some("müavinət \"yoxlama\"\\<\u{1f}>")
    );
    let text = std::str::from_utf8(FULL).unwrap();
    // What ARCHITECTURE.md says of strings: non-ASCII as is, these escapes, lowercase \u00XX.
    assert!(
        text.contains(r#""purpose":"müavinət \"yoxlama\"\\<\u001f>""#),
        "{text}"
    );
    assert!(text.contains(r#"ServiceFailed\t/x\r\n""#), "{text}");
    assert!(
        text.contains(r#""request_signed":"korpu-request/2\nid=13:"#),
        "{text}"
    );
    assert!(text.ends_with(r#"status=3:502\nerror=0:\n"}"#), "{text}");
}

#[test]
fn another_spelling_of_the_same_record_is_refused() {
    let text = std::str::from_utf8(FULL).unwrap();
    for other in [
        text.replacen(":", ": ", 1),
        text.replace("\\u001f", "\\u001F"),
        text.replace("/x", "\\/x"),
        text.replace("müavinət", "m\\u00fcavinət"),
        format!("{text}\n"),
        text.replace(r#""role":"provider""#, r#""role":"server""#),
    ] {
        assert!(
            ExchangeRecord::from_leaf_bytes(other.as_bytes()).is_err(),
            "{other}"
        );
    }
    // An omitted member written as null is another spelling too.
    let short = std::str::from_utf8(SHORT).unwrap();
    let nulled = short.replace(r#""error":null}"#, r#""error":null,"request_signed":null}"#);
    assert!(ExchangeRecord::from_leaf_bytes(nulled.as_bytes()).is_err());
}
