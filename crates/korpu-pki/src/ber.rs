//! A small, bounded BER reader: BER → DER normalisation for CMS as Java signers and
//! `openssl cms -stream` write it (indefinite lengths, constructed OCTET STRINGs, non-minimal
//! lengths), and the exact bytes of each SignerInfo's signedAttrs as they appear in the input.
//!
//! Why both: the `der` crate parses DER only, so BER input is normalised before parsing; but a
//! signature over signed attributes is over the bytes the signer produced (RFC 5652 §5.4), so
//! [`cms_signed_attrs`] takes them from the original input, never from a re-encoding (which
//! would sort attributes a signer left unsorted and make a valid signature fail).
//!
//! Not a general BER codec: no schema, so implicitly tagged constructed strings stay
//! constructed, and SET elements are not re-sorted (the `der` crate sorts SET OF on decode).
//! The one schema-aware step, [`cms_for_parsing`], drops byte-identical duplicates from a
//! SignedData's certificate and CRL sets, which the `der` crate refuses and other tools accept.
//! Depth, element count and length are bounded: input comes from outside.

/// Why a BER input was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed BER at byte {offset}: {what}")]
pub struct BerError {
    /// Offset in the input.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

/// Nesting deeper than this is refused (CMS with certificates nests about 15 deep).
pub const MAX_DEPTH: usize = 64;

/// One element: its identifier octets, and where its contents are.
#[derive(Clone, Copy, Debug)]
struct Element<'a> {
    tag: &'a [u8],
    constructed: bool,
    /// Contents (for indefinite length: up to, not including, the end-of-contents octets).
    content: &'a [u8],
    /// Offset of the contents in the whole input, for error messages.
    content_at: usize,
    /// The whole element as in the input, identifier through end-of-contents.
    raw: &'a [u8],
    indefinite: bool,
}

fn err(offset: usize, what: &'static str) -> BerError {
    BerError { offset, what }
}

/// Reads one element at the start of `input` (which sits at `base` in the whole input).
fn read<'a>(input: &'a [u8], base: usize, depth: usize) -> Result<Element<'a>, BerError> {
    if depth > MAX_DEPTH {
        return Err(err(base, "nested too deeply"));
    }
    let first = *input
        .first()
        .ok_or_else(|| err(base, "truncated identifier"))?;
    let mut i = 1;
    if first & 0x1f == 0x1f {
        // High tag number form: base-128 digits, the last without the top bit.
        loop {
            let b = *input
                .get(i)
                .ok_or_else(|| err(base + i, "truncated tag number"))?;
            i += 1;
            if i > 6 {
                return Err(err(base, "tag number too large"));
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let tag = &input[..i];
    let constructed = first & 0x20 != 0;
    let len_byte = *input
        .get(i)
        .ok_or_else(|| err(base + i, "truncated length"))?;
    i += 1;
    if len_byte == 0x80 {
        if !constructed {
            return Err(err(base, "indefinite length on a primitive element"));
        }
        // Children until the end-of-contents octets 00 00.
        let start = i;
        loop {
            let rest = &input[i..];
            if rest.len() >= 2 && rest[0] == 0 && rest[1] == 0 {
                let content = &input[start..i];
                return Ok(Element {
                    tag,
                    constructed,
                    content,
                    content_at: base + start,
                    raw: &input[..i + 2],
                    indefinite: true,
                });
            }
            if rest.is_empty() {
                return Err(err(base + i, "no end-of-contents for an indefinite length"));
            }
            let child = read(rest, base + i, depth + 1)?;
            i += child.raw.len();
        }
    }
    let len = if len_byte < 0x80 {
        usize::from(len_byte)
    } else {
        let n = usize::from(len_byte & 0x7f);
        if n > 4 {
            return Err(err(base + i - 1, "length of more than four octets"));
        }
        let bytes = input
            .get(i..i + n)
            .ok_or_else(|| err(base + i, "truncated length"))?;
        i += n;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let end = i
        .checked_add(len)
        .filter(|e| *e <= input.len())
        .ok_or_else(|| err(base + i, "length runs past the end of the input"))?;
    Ok(Element {
        tag,
        constructed,
        content: &input[i..end],
        content_at: base + i,
        raw: &input[..end],
        indefinite: false,
    })
}

/// The children of a constructed element.
fn children<'a>(e: &Element<'a>, depth: usize) -> Result<Vec<Element<'a>>, BerError> {
    let mut out = Vec::new();
    let mut rest = e.content;
    let mut at = e.content_at;
    while !rest.is_empty() {
        let c = read(rest, at, depth + 1)?;
        at += c.raw.len();
        rest = &rest[c.raw.len()..];
        out.push(c);
    }
    Ok(out)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Universal string types that BER allows in constructed form and DER does not.
fn is_universal_string(tag: &[u8]) -> bool {
    // The tag number, for single-octet universal constructed tags (0x20 set).
    matches!(
        tag,
        [0x23] // BIT STRING
            | [0x24] // OCTET STRING
            | [0x2c] // UTF8String
            | [0x33] // PrintableString
            | [0x34] // T61String
            | [0x36] // IA5String
            | [0x37] // UTCTime
            | [0x38] // GeneralizedTime
            | [0x3c] // UniversalString
            | [0x3e] // BMPString
    )
}

fn write_der(e: &Element<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), BerError> {
    if !e.constructed {
        out.extend_from_slice(e.tag);
        push_len(out, e.content.len());
        out.extend_from_slice(e.content);
        return Ok(());
    }
    if is_universal_string(e.tag) {
        // DER: primitive, the segments' contents concatenated (X.690 §8.7.3, §8.6.4).
        let mut content = Vec::new();
        flatten_string(e, e.tag[0] == 0x23, &mut content, depth)?;
        out.push(e.tag[0] & !0x20);
        push_len(out, content.len());
        out.extend_from_slice(&content);
        return Ok(());
    }
    let mut content = Vec::with_capacity(e.content.len());
    for c in children(e, depth)? {
        write_der(&c, &mut content, depth + 1)?;
    }
    out.extend_from_slice(e.tag);
    push_len(out, content.len());
    out.extend_from_slice(&content);
    Ok(())
}

fn flatten_string(
    e: &Element<'_>,
    bit_string: bool,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), BerError> {
    for c in children(e, depth)? {
        if c.constructed {
            flatten_string(&c, bit_string, out, depth + 1)?;
        } else if bit_string {
            // Each segment starts with its unused-bits count; only the last may be non-zero.
            let (unused, bits) = c
                .content
                .split_first()
                .ok_or_else(|| err(c.content_at, "empty BIT STRING segment"))?;
            if out.is_empty() {
                out.push(*unused);
            } else {
                if out[0] != 0 {
                    return Err(err(c.content_at, "unused bits before the last segment"));
                }
                out[0] = *unused;
            }
            out.extend_from_slice(bits);
        } else {
            out.extend_from_slice(c.content);
        }
    }
    Ok(())
}

/// Re-encodes one BER element (the whole input; trailing bytes are refused) in DER's length
/// and string forms. DER input comes back unchanged.
pub fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let e = read(input, 0, 0)?;
    if e.raw.len() != input.len() {
        return Err(err(e.raw.len(), "trailing bytes after the element"));
    }
    let mut out = Vec::with_capacity(input.len());
    write_der(&e, &mut out, 0)?;
    Ok(out)
}

/// A CMS ContentInfo(SignedData), BER or DER, in the DER form the `der` crate parses: [`to_der`],
/// then exact duplicates removed from SignedData's `certificates` and `crls` SETs (the first
/// copy of each is kept). `openssl ts -reply` lists the signer certificate twice when its
/// `certs` file includes it too, and other tools accept that; the `der` crate refuses a SET OF
/// with duplicates, which made a valid token unreadable. Dropping a byte-identical copy of an
/// unsigned element changes nothing a verifier decides, and signed parts are not touched
/// (signatures are still checked over the input's own bytes, [`cms_signer_infos`]).
///
/// For parsing only: never write the result out as if it were the signer's encoding. Input
/// that is not a ContentInfo with a SignedData inside comes back as [`to_der`] gives it.
pub fn cms_for_parsing(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let der = to_der(input)?;
    match dedupe_certificate_sets(&der)? {
        Some(deduped) => Ok(deduped),
        None => Ok(der),
    }
}

/// `der` (DER) with duplicates dropped from SignedData's `certificates [0]` and `crls [1]`,
/// or `None` when there were none (or `der` is not a ContentInfo(SignedData)).
fn dedupe_certificate_sets(der: &[u8]) -> Result<Option<Vec<u8>>, BerError> {
    let ci = read(der, 0, 0)?;
    let ci_children = children(&ci, 0)?;
    let Some(explicit) = ci_children.get(1).filter(|c| c.tag == [0xa0]) else {
        return Ok(None);
    };
    // Anything but exactly one SEQUENCE in [0] is left for the parser to refuse.
    let [sd] = children(explicit, 1)?[..] else {
        return Ok(None);
    };
    if sd.tag != [0x30] {
        return Ok(None);
    }
    let mut changed = false;
    let mut sd_content = Vec::with_capacity(sd.content.len());
    // version, digestAlgorithms and encapContentInfo come first (RFC 5652 §5.1); only the
    // [0]/[1] fields after them are the certificate and CRL sets.
    for (i, field) in children(&sd, 2)?.iter().enumerate() {
        if i < 3 || !(field.tag == [0xa0] || field.tag == [0xa1]) {
            sd_content.extend_from_slice(field.raw);
            continue;
        }
        let elements = children(field, 3)?;
        // A hash set, not pairwise comparison: the element count is the input's to choose.
        let mut seen = std::collections::HashSet::with_capacity(elements.len());
        let mut kept = Vec::with_capacity(field.content.len());
        for e in &elements {
            if seen.insert(e.raw) {
                kept.extend_from_slice(e.raw);
            } else {
                changed = true;
            }
        }
        sd_content.extend_from_slice(field.tag);
        push_len(&mut sd_content, kept.len());
        sd_content.extend_from_slice(&kept);
    }
    if !changed {
        return Ok(None);
    }
    let wrap = |tag: &[u8], content: &[u8]| {
        let mut out = Vec::with_capacity(content.len() + 6);
        out.extend_from_slice(tag);
        push_len(&mut out, content.len());
        out.extend_from_slice(content);
        out
    };
    let explicit_der = wrap(explicit.tag, &wrap(sd.tag, &sd_content));
    let mut ci_content = Vec::with_capacity(explicit_der.len() + 16);
    for (i, c) in ci_children.iter().enumerate() {
        if i == 1 {
            ci_content.extend_from_slice(&explicit_der);
        } else {
            ci_content.extend_from_slice(c.raw);
        }
    }
    Ok(Some(wrap(ci.tag, &ci_content)))
}

/// Whether `input` uses any BER-only form [`to_der`] would change (a cheap pre-check: DER
/// input is then parsed without a copy).
pub fn needs_normalising(input: &[u8]) -> bool {
    to_der(input).map(|d| d != input).unwrap_or(false)
}

/// For each SignerInfo of a CMS ContentInfo(SignedData), in input order, the bytes its
/// signature covers when it has signed attributes: the signedAttrs element exactly as in
/// `input` with its `[0] IMPLICIT` tag replaced by the SET OF tag 0x31 (RFC 5652 §5.4). `None`
/// for a SignerInfo without signed attributes. Works on BER and DER input alike; signed
/// attributes that were themselves written with indefinite lengths are put in definite form
/// (their contents are not reordered).
pub fn cms_signed_attrs(input: &[u8]) -> Result<Vec<Option<Vec<u8>>>, BerError> {
    Ok(cms_signer_infos(input)?
        .into_iter()
        .map(|r| r.signed_attrs)
        .collect())
}

/// What [`cms_signer_infos`] finds for one SignerInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSignerInfo {
    /// The signed attributes as signed (see [`cms_signed_attrs`]).
    pub signed_attrs: Option<Vec<u8>>,
    /// The signature value's content octets: a parsed SignerInfo is matched to its raw bytes by
    /// it, since a parser may reorder the SET OF SignerInfos.
    pub signature: Vec<u8>,
}

/// The SignerInfos of a ContentInfo(SignedData) as they are in `input` (BER or DER).
pub fn cms_signer_infos(input: &[u8]) -> Result<Vec<RawSignerInfo>, BerError> {
    let ci = read(input, 0, 0)?;
    let ci_children = children(&ci, 0)?;
    let explicit = ci_children
        .get(1)
        .filter(|c| c.tag == [0xa0])
        .ok_or_else(|| err(ci.content_at, "ContentInfo without [0] content"))?;
    let sd = children(explicit, 1)?
        .into_iter()
        .next()
        .ok_or_else(|| err(explicit.content_at, "empty ContentInfo content"))?;
    let sd_children = children(&sd, 2)?;
    let infos = sd_children
        .last()
        .filter(|c| c.tag == [0x31])
        .ok_or_else(|| err(sd.content_at, "SignedData without signerInfos"))?;
    let mut out = Vec::new();
    for si in children(infos, 3)? {
        out.push(raw_signer_info(&si, 4)?);
    }
    Ok(out)
}

/// [`RawSignerInfo`] of one SignerInfo given on its own (a counter-signature, RFC 5652 §11.4).
pub fn signer_info_raw(input: &[u8]) -> Result<RawSignerInfo, BerError> {
    let si = read(input, 0, 0)?;
    raw_signer_info(&si, 0)
}

fn raw_signer_info(si: &Element<'_>, depth: usize) -> Result<RawSignerInfo, BerError> {
    {
        let fields = children(si, depth)?;
        let (signed_attrs, rest) = match fields.get(3) {
            Some(attrs) if attrs.tag == [0xa0] => {
                let mut bytes = Vec::with_capacity(attrs.raw.len());
                if attrs.indefinite || !is_minimal(attrs) {
                    let mut content = Vec::new();
                    for c in children(attrs, depth + 1)? {
                        write_der(&c, &mut content, depth + 2)?;
                    }
                    bytes.push(0x31);
                    push_len(&mut bytes, content.len());
                    bytes.extend_from_slice(&content);
                } else {
                    bytes.extend_from_slice(attrs.raw);
                    bytes[0] = 0x31;
                }
                (Some(bytes), fields.get(5))
            }
            _ => (None, fields.get(4)),
        };
        let sig = rest
            .filter(|s| s.tag == [0x04] || s.tag == [0x24])
            .ok_or_else(|| err(si.content_at, "SignerInfo without a signature value"))?;
        let mut sig_der = Vec::new();
        write_der(sig, &mut sig_der, depth + 1)?;
        let header = read(&sig_der, 0, 0)?;
        Ok(RawSignerInfo {
            signed_attrs,
            signature: header.content.to_vec(),
        })
    }
}

/// Whether an element's own length octets are in DER's minimal form.
fn is_minimal(e: &Element<'_>) -> bool {
    let mut want = Vec::new();
    push_len(&mut want, e.content.len());
    e.raw.len() == e.tag.len() + want.len() + e.content.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_lengths_and_constructed_octet_strings_become_der() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" }, NULL }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x05,
            0x00, 0x00, 0x00,
        ];
        assert_eq!(
            to_der(&ber).unwrap(),
            [0x30, 0x07, 0x04, 0x03, b'a', b'b', b'c', 0x05, 0x00]
        );
        // Non-minimal length.
        assert_eq!(
            to_der(&[0x04, 0x81, 0x01, 0x07]).unwrap(),
            [0x04, 0x01, 0x07]
        );
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(to_der(&der).unwrap(), der);
        assert!(!needs_normalising(&der));
    }

    #[test]
    fn hostile_input_is_refused_not_followed() {
        assert!(to_der(&[0x30, 0x80]).is_err());
        assert!(to_der(&[0x04, 0x80, 0x00, 0x00]).is_err()); // primitive indefinite
        assert!(to_der(&[0x04, 0x85, 1, 0, 0, 0, 0]).is_err());
        assert!(to_der(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(to_der(&[0x05, 0x00, 0x00]).is_err()); // trailing
                                                       // Deep nesting stops at MAX_DEPTH instead of exhausting the stack.
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(to_der(&deep).is_err());
    }

    #[test]
    fn mutated_input_never_panics_and_normalising_is_idempotent() {
        // `openssl cms -sign -stream -outform DER`: indefinite lengths, a constructed
        // OCTET STRING eContent. Then 20 000 single- and double-byte mutations of it.
        let seed = include_bytes!("../tests/data/openssl_cms_stream.p7s").to_vec();
        let der = to_der(&seed).unwrap();
        assert!(der.len() < seed.len() && der[1] != 0x80);
        let infos = cms_signer_infos(&seed).unwrap();
        assert_eq!(infos, cms_signer_infos(&der).unwrap());
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].signed_attrs.as_ref().unwrap()[0], 0x31);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut m = seed.clone();
            for _ in 0..1 + next() % 2 {
                let i = (next() % m.len() as u64) as usize;
                m[i] = next() as u8;
            }
            if let Ok(der) = to_der(&m) {
                assert_eq!(to_der(&der).unwrap(), der);
            }
            let _ = cms_signer_infos(&m);
            let _ = signer_info_raw(&m);
            if let Ok(p) = cms_for_parsing(&m) {
                assert_eq!(cms_for_parsing(&p).unwrap(), p);
            }
        }
    }

    /// `ContentInfo { OID, [0] { SEQUENCE { fields } } }` in DER (short lengths only).
    fn content_info(fields: &[&[u8]]) -> Vec<u8> {
        let wrap = |tag: u8, content: &[u8]| {
            let mut v = vec![tag, content.len() as u8];
            v.extend_from_slice(content);
            v
        };
        let sd = wrap(0x30, &fields.concat());
        let mut ci = vec![0x06, 0x01, 0x2a];
        ci.extend(wrap(0xa0, &sd));
        wrap(0x30, &ci)
    }

    #[test]
    fn duplicate_certificates_and_crls_are_dropped_for_parsing_and_nothing_else() {
        let (version, algs, encap) = (
            &[0x02, 0x01, 0x03][..],
            &[0x31, 0x00][..],
            &[0x30, 0x00][..],
        );
        let (c1, c2, crl) = (
            &[0x04, 0x01, 0x01][..],
            &[0x04, 0x01, 0x02][..],
            &[0x04, 0x01, 0x03][..],
        );
        let infos = &[0x31, 0x00][..];
        let certs = |cs: &[&[u8]]| [&[0xa0, cs.concat().len() as u8][..], &cs.concat()].concat();
        let crls = |cs: &[&[u8]]| [&[0xa1, cs.concat().len() as u8][..], &cs.concat()].concat();

        let dup = content_info(&[
            version,
            algs,
            encap,
            &certs(&[c1, c2, c1]),
            &crls(&[crl, crl]),
            infos,
        ]);
        let want = content_info(&[
            version,
            algs,
            encap,
            &certs(&[c1, c2]),
            &crls(&[crl]),
            infos,
        ]);
        assert_eq!(cms_for_parsing(&dup).unwrap(), want);
        assert_eq!(cms_for_parsing(&want).unwrap(), want);

        // Duplicates elsewhere (digestAlgorithms, SignerInfos, a [0] before the certificates'
        // place) are the parser's to judge: left as they are.
        let same_alg = [&[0x31, 0x06][..], c1, c1].concat();
        let other = content_info(&[version, &same_alg, encap, infos]);
        assert_eq!(cms_for_parsing(&other).unwrap(), other);
        let early = content_info(&[version, algs, &certs(&[c1, c1]), infos]);
        assert_eq!(cms_for_parsing(&early).unwrap(), early);

        // A second element inside ContentInfo's [0] is not silently dropped.
        let mut two = content_info(&[version, algs, encap, &certs(&[c1, c1]), infos]);
        two.extend_from_slice(&[0x05, 0x00]);
        two[1] += 2;
        two[6] += 2;
        assert_eq!(cms_for_parsing(&two).unwrap(), two);
    }

    #[test]
    fn signed_attrs_come_from_the_input_bytes() {
        // ContentInfo { OID, [0] { SignedData { INT, SET{}, SEQ{}, SET { SignerInfo {
        //   INT, SEQ{}, SEQ{}, [0] { attr2, attr1 } (unsorted), SEQ{}, OCTET STRING } } } } }
        let attrs = [0xa0, 0x06, 0x04, 0x01, 0x02, 0x04, 0x01, 0x01];
        let mut si = vec![0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00];
        si.extend_from_slice(&attrs);
        si.extend_from_slice(&[0x30, 0x00, 0x04, 0x01, 0x99]);
        let mut si_seq = vec![0x30, si.len() as u8];
        si_seq.extend(si);
        let mut sd = vec![
            0x02,
            0x01,
            0x01,
            0x31,
            0x00,
            0x30,
            0x00,
            0x31,
            si_seq.len() as u8,
        ];
        sd.extend(si_seq);
        let mut sd_seq = vec![0x30, 0x80];
        sd_seq.extend(sd);
        sd_seq.extend([0, 0]);
        let mut ci = vec![0x30, 0x80, 0x06, 0x01, 0x2a, 0xa0, 0x80];
        ci.extend(sd_seq);
        ci.extend([0, 0, 0, 0]);
        let got = cms_signed_attrs(&ci).unwrap();
        assert_eq!(
            got,
            vec![Some(vec![0x31, 0x06, 0x04, 0x01, 0x02, 0x04, 0x01, 0x01])]
        );
        assert_eq!(cms_signer_infos(&ci).unwrap()[0].signature, vec![0x99]);
        assert!(to_der(&ci).is_ok());
    }
}
