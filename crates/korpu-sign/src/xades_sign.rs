//! Creation of ASiC-E containers with a XAdES signature (ETSI EN 319 132-1 baseline B-B, B-T
//! and B-LT; the DigiDoc/BDOC layout of EN 319 162-1 §4.4): the data files,
//! `META-INF/manifest.xml` (the OpenDocument manifest DigiDoc tools require) and
//! `META-INF/signatures0.xml` holding one `ds:Signature`.
//!
//! The signature references each file by its name (SHA-256 of its bytes) and the
//! `SignedProperties` (Type `…#SignedProperties`, exclusive C14N), which carry the claimed
//! SigningTime, SigningCertificateV2 (the signer certificate's SHA-256) and a DataObjectFormat
//! per file. SignedInfo is canonicalised with exclusive C14N and signed with the signer's key
//! (ECDSA values written as raw `r||s`, as XML-DSig wants). B-T adds a SignatureTimeStamp over
//! the canonical `ds:SignatureValue`; B-LT the chain (CertificateValues) and the signer's OCSP
//! response (RevocationValues).
//!
//! Digests are computed over the canonical form Körpü's own reader produces from the final
//! text, so what is signed is exactly what a verifier re-canonicalises. A parallel signer gets a
//! signatures file of its own ([`add_signature`]). Not here: several `ds:Signature` in one
//! file, signature policies, counter-signatures.
use std::time::SystemTime;

use base64::Engine as _;
use korpu_pki::alg::{key_kind, EcdsaEncoding, HashAlg, KeyKind, SignatureAlgorithm};
use percent_encoding::utf8_percent_encode;
use quick_xml::escape::escape;
use sha2::{Digest, Sha256};

use crate::asice::URI_KEEP;
use crate::asice::{self, DataFile};
use crate::cades::Signer;
use crate::xades::{DS, XADES};
use crate::xml::{C14n, Document, Limits};
use crate::{RevocationSource, SignError, Timestamper};

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const SHA256_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SP_ID: &str = "S0-SignedProperties";

/// Builds an ASiC-E container with `files` and one XAdES signature by `signer`. With a
/// `timestamper` the signature is B-T; with a `revocation` source too, B-LT.
pub fn create(
    files: &[DataFile],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    revocation: Option<&dyn RevocationSource>,
) -> Result<Vec<u8>, SignError> {
    if files.is_empty() {
        return Err(SignError::InvalidInput(
            "a container needs a data file".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        asice::check_data_name(&f.name)?;
        if !seen.insert(f.name.as_str()) {
            return Err(SignError::InvalidInput(format!(
                "file \"{}\" is given twice",
                f.name
            )));
        }
    }
    if signer.cert.public_key_der() != signer.key.public_key_der() {
        return Err(SignError::KeyMismatch(signer.cert.subject()));
    }
    signer.cert.check_validity(signing_time)?;
    if revocation.is_some() && timestamper.is_none() {
        return Err(SignError::InvalidInput(
            "B-LT needs a time-stamping authority".into(),
        ));
    }
    let xml = signature_xml(files, signer, signing_time, timestamper, revocation)?;
    let manifest = odf_manifest(files);
    let data: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.name.as_str(), f.content.as_slice()))
        .collect();
    asice::write_zip(
        &data,
        &[
            ("META-INF/manifest.xml".into(), manifest.into_bytes()),
            ("META-INF/signatures0.xml".into(), xml.into_bytes()),
        ],
    )
}

/// Adds a parallel XAdES signature by `signer` over every data file of an existing ASiC-E
/// container (read within `limits`), as `META-INF/signaturesN.xml` with the next free N.
/// Existing entries — other signatures, CAdES or XAdES, and the manifest — are kept byte for
/// byte; media types come from the OpenDocument manifest when it lists the file.
pub fn add_signature(
    container: &[u8],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    revocation: Option<&dyn RevocationSource>,
    limits: &asice::Limits,
) -> Result<Vec<u8>, SignError> {
    let c = asice::open(container, limits).map_err(|e| SignError::InvalidInput(e.to_string()))?;
    if c.files.is_empty() {
        return Err(SignError::InvalidInput(
            "the container has no data file to sign".into(),
        ));
    }
    if signer.cert.public_key_der() != signer.key.public_key_der() {
        return Err(SignError::KeyMismatch(signer.cert.subject()));
    }
    signer.cert.check_validity(signing_time)?;
    let listed = c
        .meta()
        .get("META-INF/manifest.xml")
        .map(|m| odf_media_types(m))
        .unwrap_or_default();
    let files: Vec<DataFile> = c
        .files
        .iter()
        .map(|(n, d)| DataFile {
            name: n.clone(),
            mime_type: listed
                .get(n)
                .cloned()
                .unwrap_or_else(|| asice::guess_mime(n).into()),
            content: d.clone(),
        })
        .collect();
    let name = (0..)
        .map(|i| format!("META-INF/signatures{i}.xml"))
        .find(|n| !c.meta().contains_key(n))
        .expect("some index is free");
    let xml = signature_xml(&files, signer, signing_time, timestamper, revocation)?;
    let mut meta: Vec<(String, Vec<u8>)> = c
        .meta()
        .iter()
        .map(|(n, b)| (n.clone(), b.clone()))
        .collect();
    if !c.meta().contains_key("META-INF/manifest.xml") {
        meta.push((
            "META-INF/manifest.xml".into(),
            odf_manifest(&files).into_bytes(),
        ));
    }
    meta.push((name, xml.into_bytes()));
    let data: Vec<(&str, &[u8])> = c
        .files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    asice::write_zip(&data, &meta)
}

/// full-path → media-type of an OpenDocument manifest (best effort: an unreadable manifest
/// lists nothing, and the media types are then guessed).
fn odf_media_types(xml: &[u8]) -> std::collections::BTreeMap<String, String> {
    const NS: &str = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0";
    let mut out = std::collections::BTreeMap::new();
    let Ok(doc) = Document::parse(xml, &Limits::default()) else {
        return out;
    };
    for n in doc.children_named(doc.root(), NS, "file-entry") {
        let Some(e) = doc.element(n) else { continue };
        let attr = |local: &str| {
            e.attrs
                .iter()
                .find(|(k, _)| k.rsplit(':').next() == Some(local))
                .map(|(_, v)| v.clone())
        };
        if let (Some(path), Some(mt)) = (attr("full-path"), attr("media-type")) {
            out.insert(path, mt);
        }
    }
    out
}

/// The SignatureMethod URI of a key's scheme.
fn method_uri(alg: &SignatureAlgorithm) -> Result<String, SignError> {
    let h = |h: HashAlg| match h {
        HashAlg::Sha1 => "sha1",
        HashAlg::Sha256 => "sha256",
        HashAlg::Sha384 => "sha384",
        HashAlg::Sha512 => "sha512",
    };
    Ok(match alg {
        SignatureAlgorithm::RsaPkcs1 { hash } => {
            format!("http://www.w3.org/2001/04/xmldsig-more#rsa-{}", h(*hash))
        }
        SignatureAlgorithm::Ecdsa { hash, .. } => {
            format!("http://www.w3.org/2001/04/xmldsig-more#ecdsa-{}", h(*hash))
        }
        SignatureAlgorithm::RsaPss {
            hash,
            mgf1_hash,
            salt_len,
        } if mgf1_hash == hash && *salt_len == hash.output_len() => {
            format!(
                "http://www.w3.org/2007/05/xmldsig-more#{}-rsa-MGF1",
                h(*hash)
            )
        }
        SignatureAlgorithm::Ed25519 => {
            "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519".into()
        }
        other => {
            return Err(SignError::InvalidInput(format!(
                "no XML-DSig identifier for {}",
                other.name()
            )))
        }
    })
}

/// A DER ECDSA-Sig-Value as the fixed-width `r||s` of XML-DSig (each `n` bytes).
fn ecdsa_raw(der: &[u8], n: usize) -> Result<Vec<u8>, SignError> {
    let bad = || SignError::encoding("XAdES signature value", "not a DER ECDSA signature");
    let body = der.strip_prefix(&[0x30]).ok_or_else(bad)?;
    let (len, mut rest) = der_len(body).ok_or_else(bad)?;
    if rest.len() != len {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(2 * n);
    for _ in 0..2 {
        let r = rest.strip_prefix(&[0x02]).ok_or_else(bad)?;
        let (l, r) = der_len(r).ok_or_else(bad)?;
        let int = r.get(..l).ok_or_else(bad)?;
        let int: &[u8] = &int[int.iter().take_while(|b| **b == 0).count()..];
        if int.len() > n {
            return Err(bad());
        }
        out.extend(std::iter::repeat_n(0u8, n - int.len()));
        out.extend_from_slice(int);
        rest = &r[l..];
    }
    Ok(out)
}

fn der_len(b: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = b.split_first()?;
    match first {
        0..=0x7F => Some((usize::from(first), rest)),
        0x81 => Some((usize::from(*rest.first()?), &rest[1..])),
        0x82 => Some((
            usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?),
            &rest[2..],
        )),
        _ => None,
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn xs_datetime(t: SystemTime) -> Result<String, SignError> {
    let dt =
        der::DateTime::from_system_time(t).map_err(|e| SignError::encoding("SigningTime", e))?;
    // der's Display is RFC 3339 with "Z", which is xs:dateTime.
    Ok(dt.to_string())
}

fn signature_xml(
    files: &[DataFile],
    signer: &Signer<'_>,
    signing_time: SystemTime,
    timestamper: Option<&dyn Timestamper>,
    revocation: Option<&dyn RevocationSource>,
) -> Result<String, SignError> {
    let alg = signer.key.algorithm();
    let method = method_uri(&alg)?;
    let mut refs = String::new();
    let mut formats = String::new();
    for (i, f) in files.iter().enumerate() {
        let uri = utf8_percent_encode(&f.name, URI_KEEP).to_string();
        refs.push_str(&format!(
            "<ds:Reference Id=\"r-id-{n}\" URI=\"{uri}\"><ds:DigestMethod Algorithm=\"{SHA256_URI}\"/><ds:DigestValue>{d}</ds:DigestValue></ds:Reference>",
            n = i + 1,
            uri = escape(uri.as_str()),
            d = b64(&Sha256::digest(&f.content)),
        ));
        formats.push_str(&format!(
            "<xades:DataObjectFormat ObjectReference=\"#r-id-{n}\"><xades:MimeType>{m}</xades:MimeType></xades:DataObjectFormat>",
            n = i + 1,
            m = escape(f.mime_type.as_str()),
        ));
    }
    let mut key_info = format!(
        "<ds:X509Certificate>{}</ds:X509Certificate>",
        b64(signer.cert.der())
    );
    for c in signer.chain {
        key_info.push_str(&format!(
            "<ds:X509Certificate>{}</ds:X509Certificate>",
            b64(c.der())
        ));
    }
    let signed_props = format!(
        "<xades:SignedProperties Id=\"{SP_ID}\"><xades:SignedSignatureProperties><xades:SigningTime>{t}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm=\"{SHA256_URI}\"/><ds:DigestValue>{cd}</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties><xades:SignedDataObjectProperties>{formats}</xades:SignedDataObjectProperties></xades:SignedProperties>",
        t = xs_datetime(signing_time)?,
        cd = b64(&Sha256::digest(signer.cert.der())),
    );
    let doc = |sp_digest: &str, sig_value: &str, unsigned: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<asic:XAdESSignatures xmlns:asic=\"{asic}\" xmlns:ds=\"{DS}\" xmlns:xades=\"{XADES}\"><ds:Signature Id=\"S0\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/><ds:SignatureMethod Algorithm=\"{method}\"/>{refs}<ds:Reference Id=\"r-sp\" Type=\"{ty}\" URI=\"#{SP_ID}\"><ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256_URI}\"/><ds:DigestValue>{sp_digest}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue Id=\"S0-SIG\">{sig_value}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>{key_info}</ds:X509Data></ds:KeyInfo><ds:Object><xades:QualifyingProperties Target=\"#S0\">{signed_props}{unsigned}</xades:QualifyingProperties></ds:Object></ds:Signature></asic:XAdESSignatures>\n",
            asic = crate::xades::ASIC,
            ty = crate::xades::SIGNED_PROPERTIES_TYPE,
        )
    };
    let exc = C14n::from_uri(EXC_C14N).expect("exclusive C14N is known");
    let parse = |text: &str| {
        Document::parse(text.as_bytes(), &Limits::default())
            .map_err(|e| SignError::encoding("XAdES signature", e))
    };
    let find = |d: &Document, ns: &str, local: &str| {
        d.descendants(d.root())
            .into_iter()
            .find(|&n| d.is(n, ns, local))
            .ok_or_else(|| SignError::encoding("XAdES signature", format!("no {local}")))
    };
    let c14n = |d: &Document, n| {
        d.canonicalize(n, &exc, None)
            .map_err(|e| SignError::encoding("XAdES signature", e))
    };

    // 1. The digest of SignedProperties as it will read in the final document.
    let draft = parse(&doc("", "", ""))?;
    let sp = c14n(&draft, find(&draft, XADES, "SignedProperties")?)?;
    let sp_digest = b64(&Sha256::digest(&sp));
    // 2. The signature over the canonical SignedInfo.
    let draft = parse(&doc(&sp_digest, "", ""))?;
    let si = c14n(&draft, find(&draft, DS, "SignedInfo")?)?;
    let mut value = signer.key.sign_message(&si)?;
    if let SignatureAlgorithm::Ecdsa {
        encoding: EcdsaEncoding::Der,
        ..
    } = alg
    {
        let n = match key_kind(&signer.cert.public_key_der()) {
            Ok(KeyKind::Ec { curve }) => curve.bits().div_ceil(8),
            _ => {
                return Err(SignError::encoding(
                    "XAdES signature",
                    "ECDSA without an EC key",
                ))
            }
        };
        value = ecdsa_raw(&value, n)?;
    }
    let sig_value = b64(&value);
    let Some(ts) = timestamper else {
        return Ok(doc(&sp_digest, &sig_value, ""));
    };
    // 3. B-T: a time-stamp over the canonical SignatureValue element.
    let draft = parse(&doc(&sp_digest, &sig_value, ""))?;
    let sv = c14n(&draft, find(&draft, DS, "SignatureValue")?)?;
    let token = ts.timestamp(&Sha256::digest(&sv).into())?;
    let mut unsigned = format!(
        "<xades:SignatureTimeStamp Id=\"S0-TS\"><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/><xades:EncapsulatedTimeStamp>{}</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>",
        b64(&token)
    );
    // 4. B-LT: the chain, and OCSP responses (or CRLs, from CAs that publish those) for the
    // signer and, as far as the source answers, each CA above it.
    if let Some(source) = revocation {
        let gathered = crate::lt::gather(source, signer.cert, signer.chain)?;
        unsigned.push_str("<xades:CertificateValues>");
        for c in signer.chain {
            unsigned.push_str(&format!(
                "<xades:EncapsulatedX509Certificate>{}</xades:EncapsulatedX509Certificate>",
                b64(c.der())
            ));
        }
        unsigned.push_str("</xades:CertificateValues><xades:RevocationValues>");
        if !gathered.ocsps.is_empty() {
            unsigned.push_str("<xades:OCSPValues>");
            for o in &gathered.ocsps {
                unsigned.push_str(&format!(
                    "<xades:EncapsulatedOCSPValue>{}</xades:EncapsulatedOCSPValue>",
                    b64(o)
                ));
            }
            unsigned.push_str("</xades:OCSPValues>");
        }
        if !gathered.crls.is_empty() {
            // XAdES orders CRLValues before OCSPValues (EN 319 132-1 §5.4.2 schema).
            let mut crls = String::from("<xades:CRLValues>");
            for c in &gathered.crls {
                crls.push_str(&format!(
                    "<xades:EncapsulatedCRLValue>{}</xades:EncapsulatedCRLValue>",
                    b64(c)
                ));
            }
            crls.push_str("</xades:CRLValues>");
            let at = unsigned
                .rfind("<xades:RevocationValues>")
                .expect("just written")
                + "<xades:RevocationValues>".len();
            unsigned.insert_str(at, &crls);
        }
        unsigned.push_str("</xades:RevocationValues>");
    }
    Ok(doc(
        &sp_digest,
        &sig_value,
        &format!(
            "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>{unsigned}</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
        ),
    ))
}

/// The OpenDocument manifest (`META-INF/manifest.xml`) listing the data files.
fn odf_manifest(files: &[DataFile]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\n<manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.etsi.asic-e+zip\"/>\n",
    );
    for f in files {
        x.push_str(&format!(
            "<manifest:file-entry manifest:full-path=\"{}\" manifest:media-type=\"{}\"/>\n",
            escape(f.name.as_str()),
            escape(f.mime_type.as_str())
        ));
    }
    x.push_str("</manifest:manifest>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_ecdsa_to_raw() {
        // r = 0x00ff.. (leading zero for sign), s = 0x01
        let der = [0x30, 0x08, 0x02, 0x02, 0x00, 0xFF, 0x02, 0x02, 0x00, 0x01];
        assert_eq!(ecdsa_raw(&der, 4).unwrap(), vec![0, 0, 0, 0xFF, 0, 0, 0, 1]);
        assert!(ecdsa_raw(&der[..5], 4).is_err());
        assert!(ecdsa_raw(&der, 0).is_err());
    }
}
