//! Distinguished-name matching as RFC 5280 §7.1 asks for it when chaining certificates and
//! CRLs: RDN by RDN, attribute by attribute (in any order inside a multi-valued RDN), with
//! DirectoryString values (PrintableString, UTF8String) compared after case folding and
//! whitespace folding (RFC 4518 insignificant-space handling), IA5String values (domain
//! components, e-mail addresses) compared without ASCII case, and everything else compared on
//! its encoding.
//!
//! Why not byte equality: CAs outside our own PKI re-encode names (PrintableString in the
//! issuer's certificate, UTF8String in the subject's issuer field, or a differently cased
//! organisation), and RFC 5280 says such names are the same name. Not done: the full RFC 4518
//! preparation (Unicode normalisation to NFKC, mapping of the characters its tables list);
//! TeletexString, BMPString and UniversalString values compare on their bytes, which RFC 5280
//! permits ("binary comparison" for types other than UTF8String and PrintableString).
use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use der::{Any, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// Whether `a` and `b` are the same distinguished name under RFC 5280 §7.1.
pub fn names_match(a: &Name, b: &Name) -> bool {
    // Our own CA copies names byte for byte; the common case costs one comparison.
    if a == b {
        return true;
    }
    a.0.len() == b.0.len() && a.0.iter().zip(b.0.iter()).all(|(x, y)| rdns_match(x, y))
}

fn rdns_match(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    if a.0.len() != b.0.len() {
        return false;
    }
    // A multi-valued RDN is a SET: each attribute of one must pair with a distinct attribute
    // of the other. RDNs hold a handful of values, so the quadratic pairing is cheap.
    let mut used = vec![false; b.0.len()];
    a.0.iter().all(|x| {
        let found =
            b.0.iter()
                .enumerate()
                .find(|(i, y)| !used[*i] && atvs_match(x, y));
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

fn atvs_match(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    a.oid == b.oid && values_match(&a.value, &b.value)
}

/// The text of a DirectoryString value RFC 5280 requires us to compare as text.
fn directory_text(v: &Any) -> Option<&str> {
    match v.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(v).ok().map(|s| s.as_str()),
        Tag::PrintableString => PrintableStringRef::try_from(v).ok().map(|s| s.as_str()),
        _ => None,
    }
}

fn values_match(a: &Any, b: &Any) -> bool {
    if a == b {
        return true;
    }
    if let (Some(x), Some(y)) = (directory_text(a), directory_text(b)) {
        return fold(x) == fold(y);
    }
    if a.tag() == Tag::Ia5String && b.tag() == Tag::Ia5String {
        if let (Ok(x), Ok(y)) = (Ia5StringRef::try_from(a), Ia5StringRef::try_from(b)) {
            return x.as_str().eq_ignore_ascii_case(y.as_str());
        }
    }
    false
}

/// caseIgnoreMatch preparation: case folded, leading and trailing white space dropped, inner
/// runs of white space reduced to one space (RFC 4518 §2.6.1).
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::ObjectIdentifier;
    use der::asn1::{Ia5String, PrintableString, SetOfVec, Utf8StringRef};
    use x509_cert::name::RdnSequence;

    const CN: ObjectIdentifier = const_oid::db::rfc4519::CN;
    const O: ObjectIdentifier = const_oid::db::rfc4519::O;
    const DC: ObjectIdentifier = const_oid::db::rfc4519::DC;

    fn utf8(s: &str) -> Any {
        Any::encode_from(&Utf8StringRef::new(s).unwrap()).unwrap()
    }
    fn printable(s: &str) -> Any {
        Any::encode_from(&PrintableString::new(s).unwrap()).unwrap()
    }
    fn ia5(s: &str) -> Any {
        Any::encode_from(&Ia5String::new(s).unwrap()).unwrap()
    }
    fn name(rdns: Vec<Vec<(ObjectIdentifier, Any)>>) -> Name {
        RdnSequence(
            rdns.into_iter()
                .map(|atvs| {
                    RelativeDistinguishedName(
                        SetOfVec::try_from(
                            atvs.into_iter()
                                .map(|(oid, value)| AttributeTypeAndValue { oid, value })
                                .collect::<Vec<_>>(),
                        )
                        .unwrap(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn case_whitespace_and_string_type_do_not_matter() {
        let a = name(vec![
            vec![(O, printable("Example  Trust Services"))],
            vec![(CN, utf8("Issuing CA 1"))],
        ]);
        let b = name(vec![
            vec![(O, utf8(" example trust   SERVICES "))],
            vec![(CN, printable("ISSUING CA 1"))],
        ]);
        assert!(names_match(&a, &b));
        let ü = name(vec![vec![(CN, utf8("Körpü CA"))]]);
        assert!(names_match(&ü, &name(vec![vec![(CN, utf8("KÖRPÜ ca"))]])));
    }

    #[test]
    fn different_names_do_not_match() {
        let a = name(vec![vec![(O, utf8("Example"))], vec![(CN, utf8("CA 1"))]]);
        // Another value, another attribute type, another RDN order, one RDN fewer.
        assert!(!names_match(
            &a,
            &name(vec![vec![(O, utf8("Example"))], vec![(CN, utf8("CA 2"))]])
        ));
        assert!(!names_match(
            &a,
            &name(vec![vec![(O, utf8("Example"))], vec![(O, utf8("CA 1"))]])
        ));
        assert!(!names_match(
            &a,
            &name(vec![vec![(CN, utf8("CA 1"))], vec![(O, utf8("Example"))]])
        ));
        assert!(!names_match(&a, &name(vec![vec![(CN, utf8("CA 1"))]])));
        // Space inside a word is significant.
        assert!(!names_match(
            &name(vec![vec![(CN, utf8("CA1"))]]),
            &name(vec![vec![(CN, utf8("CA 1"))]])
        ));
    }

    #[test]
    fn multi_valued_rdns_match_in_any_order() {
        let a = name(vec![vec![(O, utf8("Example")), (CN, utf8("CA"))]]);
        let b = name(vec![vec![(CN, utf8("ca")), (O, utf8("EXAMPLE"))]]);
        assert!(names_match(&a, &b));
        let c = name(vec![vec![(CN, utf8("CA")), (O, utf8("Other"))]]);
        assert!(!names_match(&a, &c));
    }

    #[test]
    fn ia5_values_ignore_ascii_case_only() {
        assert!(names_match(
            &name(vec![vec![(DC, ia5("Example"))]]),
            &name(vec![vec![(DC, ia5("EXAMPLE"))]])
        ));
        assert!(!names_match(
            &name(vec![vec![(DC, ia5("Example"))]]),
            &name(vec![vec![(DC, ia5(" Example"))]])
        ));
    }
}
