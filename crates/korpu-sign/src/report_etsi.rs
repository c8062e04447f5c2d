//! The ETSI TS 119 102-2 validation report: the verdicts of [`SignatureReport`]s written as
//! the standard's `ValidationReport` XML (namespace `http://uri.etsi.org/19102/v1.2.1#`), for
//! systems that read validation results in the EU format (`korpu doc verify --report etsi`).
//!
//! Per signature a `SignatureValidationReport` with: `SignatureIdentifier` (SHA-256 of the
//! signature value, and the value), `ValidationTimeInfo` (the validation time, and the best
//! signature time: the time-stamp's genTime when one proved it), `SignersDocument` (the digest
//! the signature covers, CAdES and PAdES), `SignatureAttributes` (the claimed signing time and
//! each verified signature time-stamp), `SignerInformation` (the signer certificate), a
//! `SignatureQuality` of `notApplicable` (Körpü does not evaluate EU trusted lists, so it
//! claims no qualification), and `SignatureValidationStatus` with the main indication as
//! `urn:etsi:019102:mainindication:…` and the EN 319 102-1 sub-indication as
//! `urn:etsi:019102:subindication:…`, its associated data naming the trust anchor, the
//! certificate chain and the revocation data validation used, and Körpü's reason, level and
//! revocation text as `AdditionalValidationReportData`. The certificates, OCSP responses, CRLs
//! and time-stamp tokens referred to are listed once each in `SignatureValidationObjects`
//! (base64 DER), so the report can be re-checked without the signed file.
//!
//! Deliberately not here: a signed report (the optional `ds:Signature` and
//! `SignatureValidator`; the standard allows an unsigned one), the validation constraints
//! evaluation (`ValidationConstraintsEvaluationReport` is optional; the policy's outcome shows
//! in the indication), per-constraint `CryptoInformation`, counter-signatures, and the reports
//! of time-stamps themselves as validation objects. The report only re-expresses the verdicts:
//! it decides nothing.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use korpu_pki::alg::HashAlg;
use sha2::{Digest, Sha256};

use crate::rfc3339;
use crate::validate::{Indication, SignatureReport};

/// The namespace of TS 119 102-2 v1.2.1.
pub const NAMESPACE: &str = "http://uri.etsi.org/19102/v1.2.1#";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const MAIN_PREFIX: &str = "urn:etsi:019102:mainindication:";
const SUB_PREFIX: &str = "urn:etsi:019102:subindication:";
const POE_VALIDATION: &str = "urn:etsi:019102:poetype:validation";
/// No qualification is claimed: Körpü does not evaluate the EU trusted lists (the URI the EU
/// DSS uses for this case).
const QUALITY_NOT_APPLICABLE: &str = "urn:cef:dss:signatureQualification:notApplicable";
const OBJ_CERT: &str = "urn:etsi:019102:validationObject:certificate";
const OBJ_OCSP: &str = "urn:etsi:019102:validationObject:OCSPResponse";
const OBJ_CRL: &str = "urn:etsi:019102:validationObject:CRL";
const OBJ_TIMESTAMP: &str = "urn:etsi:019102:validationObject:timestamp";
/// Types of Körpü's own `AdditionalValidationReportData` entries.
const DATA_REASON: &str = "urn:korpu:validation:reason";
const DATA_LEVEL: &str = "urn:korpu:validation:level";
const DATA_REVOCATION: &str = "urn:korpu:validation:revocation";

/// What validation used and found, beside the verdict, for this report: filled in by the
/// validators as they go, so the report names the very objects the verdict rests on. Not part
/// of the simple (JSON) report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Objects {
    /// The signature value (CMS SignerInfo.signature, XML-DSig SignatureValue), raw bytes.
    pub signature_value: Option<Vec<u8>>,
    /// The signer certificate (DER), once identified.
    pub signer_certificate: Option<Vec<u8>>,
    /// The certification path built (DER, signer first, trust anchor last).
    pub chain: Vec<Vec<u8>>,
    /// OCSP responses (DER) the revocation check had.
    pub ocsp_responses: Vec<Vec<u8>>,
    /// CRLs (DER) the revocation check had.
    pub crls: Vec<Vec<u8>>,
    /// Verified signature time-stamp tokens (DER) with their genTime.
    pub timestamps: Vec<(Vec<u8>, SystemTime)>,
    /// The digest of the signed data as the signature states it (CAdES message-digest, which
    /// the validator recomputed and compared).
    pub signers_document: Option<(HashAlg, Vec<u8>)>,
}

/// The `ValidationReport` XML for `signatures`, validated at `validation_time`. With no
/// signature (a file that could not be read as a signed document) the report holds one
/// TOTAL_FAILED / FORMAT_FAILURE entry carrying `error` as its reason, since the schema
/// requires at least one `SignatureValidationReport`.
pub fn to_xml(
    signatures: &[&SignatureReport],
    error: Option<&str>,
    validation_time: SystemTime,
) -> String {
    let failed;
    let signatures: Vec<&SignatureReport> = if signatures.is_empty() {
        failed = SignatureReport::failed(
            "FORMAT_FAILURE",
            error.unwrap_or("the file holds no signature"),
        );
        vec![&failed]
    } else {
        signatures.to_vec()
    };
    let mut objects = ObjectList::default();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<vr:ValidationReport xmlns:vr=\"{NAMESPACE}\" xmlns:ds=\"{DS}\">"
    );
    for r in &signatures {
        signature_report(&mut x, r, validation_time, &mut objects);
    }
    if !objects.items.is_empty() {
        x.push_str("  <vr:SignatureValidationObjects>\n");
        for (id, kind, der) in &objects.items {
            let _ = writeln!(x, "    <vr:ValidationObject id=\"{id}\">");
            let _ = writeln!(x, "      <vr:ObjectType>{kind}</vr:ObjectType>");
            let _ = writeln!(
                x,
                "      <vr:ValidationObjectRepresentation><vr:base64>{}</vr:base64>\
                 </vr:ValidationObjectRepresentation>",
                B64.encode(der)
            );
            x.push_str("    </vr:ValidationObject>\n");
        }
        x.push_str("  </vr:SignatureValidationObjects>\n");
    }
    x.push_str("</vr:ValidationReport>\n");
    x
}

/// The main indication's URI.
pub fn main_indication_uri(i: Indication) -> String {
    let name = match i {
        Indication::TotalPassed => "total-passed",
        Indication::Indeterminate => "indeterminate",
        Indication::TotalFailed => "total-failed",
    };
    format!("{MAIN_PREFIX}{name}")
}

/// The sub-indication's URI (EN 319 102-1 names, e.g. `HASH_FAILURE`).
pub fn sub_indication_uri(sub: &str) -> String {
    format!("{SUB_PREFIX}{sub}")
}

/// The validation objects of a report, each once, in the order first referred to.
#[derive(Default)]
struct ObjectList {
    ids: BTreeSet<String>,
    items: Vec<(String, &'static str, Vec<u8>)>,
}

impl ObjectList {
    /// The id of `der` as an object of `kind`, adding it when new. Ids are the kind's letter
    /// and the object's SHA-256, so the same certificate in two signatures is one object.
    fn add(&mut self, kind: &'static str, der: &[u8]) -> String {
        let letter = match kind {
            OBJ_CERT => "C",
            OBJ_OCSP => "O",
            OBJ_CRL => "R",
            OBJ_TIMESTAMP => "T",
            _ => "X",
        };
        let id = format!("{letter}-{}", hex::encode_upper(Sha256::digest(der)));
        if self.ids.insert(id.clone()) {
            self.items.push((id.clone(), kind, der.to_vec()));
        }
        id
    }
}

fn digest_uri(h: HashAlg) -> &'static str {
    match h {
        HashAlg::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        HashAlg::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        HashAlg::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        HashAlg::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
    }
}

fn digest_alg_and_value(x: &mut String, indent: &str, h: HashAlg, value: &[u8]) {
    let _ = writeln!(
        x,
        "{indent}<vr:DigestAlgAndValue><ds:DigestMethod Algorithm=\"{}\"/>\
         <ds:DigestValue>{}</ds:DigestValue></vr:DigestAlgAndValue>",
        digest_uri(h),
        B64.encode(value)
    );
}

/// Escapes text for element content and double-quoted attributes; drops characters XML 1.0
/// cannot carry (a certificate subject is outside input).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// xs:dateTime of a report's RFC 3339 text, when it is one (the simple report may carry a
/// signer's unparsable claim as it was written).
fn xs_datetime(s: &str) -> Option<&str> {
    let ok = s.len() >= 20
        && s.as_bytes().get(4) == Some(&b'-')
        && s.as_bytes().get(10) == Some(&b'T')
        && s.chars()
            .all(|c| c.is_ascii_digit() || "-:TZ.+".contains(c));
    ok.then_some(s)
}

fn signature_report(x: &mut String, r: &SignatureReport, at: SystemTime, objects: &mut ObjectList) {
    let o = &r.objects;
    x.push_str("  <vr:SignatureValidationReport>\n");

    if let Some(sv) = &o.signature_value {
        x.push_str("    <vr:SignatureIdentifier>\n");
        digest_alg_and_value(x, "      ", HashAlg::Sha256, &Sha256::digest(sv));
        let _ = writeln!(
            x,
            "      <ds:SignatureValue>{}</ds:SignatureValue>",
            B64.encode(sv)
        );
        x.push_str("      <vr:HashOnly>false</vr:HashOnly>\n");
        x.push_str("      <vr:DocHashOnly>false</vr:DocHashOnly>\n");
        x.push_str("    </vr:SignatureIdentifier>\n");
    }

    // Best signature time: the earliest time a verified time-stamp proves, else the
    // validation time (EN 319 102-1 §5.6.2.4, as the EU DSS reports it).
    let best = o.timestamps.iter().min_by_key(|(_, t)| *t);
    x.push_str("    <vr:ValidationTimeInfo>\n");
    let _ = writeln!(
        x,
        "      <vr:ValidationTime>{}</vr:ValidationTime>",
        rfc3339(at)
    );
    x.push_str("      <vr:BestSignatureTime>\n");
    let _ = writeln!(
        x,
        "        <vr:POETime>{}</vr:POETime>",
        rfc3339(best.map_or(at, |(_, t)| *t))
    );
    let _ = writeln!(
        x,
        "        <vr:TypeOfProof>{POE_VALIDATION}</vr:TypeOfProof>"
    );
    if let Some((token, _)) = best {
        let id = objects.add(OBJ_TIMESTAMP, token);
        let _ = writeln!(x, "        <vr:POEObject VOReference=\"{id}\"/>");
    }
    x.push_str("      </vr:BestSignatureTime>\n");
    x.push_str("    </vr:ValidationTimeInfo>\n");

    if let Some((h, d)) = &o.signers_document {
        x.push_str("    <vr:SignersDocument>\n");
        digest_alg_and_value(x, "      ", *h, d);
        x.push_str("    </vr:SignersDocument>\n");
    }

    let claimed = r.claimed_signing_time.as_deref().and_then(xs_datetime);
    if claimed.is_some() || !o.timestamps.is_empty() {
        x.push_str("    <vr:SignatureAttributes>\n");
        if let Some(t) = claimed {
            let _ = writeln!(
                x,
                "      <vr:SigningTime Signed=\"true\"><vr:Time>{t}</vr:Time></vr:SigningTime>"
            );
        }
        for (token, t) in &o.timestamps {
            let id = objects.add(OBJ_TIMESTAMP, token);
            let _ = writeln!(
                x,
                "      <vr:SignatureTimeStamp Signed=\"false\"><vr:AttributeObject \
                 VOReference=\"{id}\"/><vr:TimeStampValue>{}</vr:TimeStampValue>\
                 </vr:SignatureTimeStamp>",
                rfc3339(*t)
            );
        }
        x.push_str("    </vr:SignatureAttributes>\n");
    }

    if let Some(cert) = &o.signer_certificate {
        let id = objects.add(OBJ_CERT, cert);
        x.push_str("    <vr:SignerInformation>\n");
        let _ = writeln!(x, "      <vr:SignerCertificate VOReference=\"{id}\"/>");
        if !r.signer.is_empty() {
            let _ = writeln!(x, "      <vr:Signer>{}</vr:Signer>", esc(&r.signer));
        }
        x.push_str("    </vr:SignerInformation>\n");
    }

    x.push_str("    <vr:SignatureQuality>\n");
    let _ = writeln!(
        x,
        "      <vr:SignatureQualityInformation>{QUALITY_NOT_APPLICABLE}\
         </vr:SignatureQualityInformation>"
    );
    x.push_str("    </vr:SignatureQuality>\n");

    x.push_str("    <vr:SignatureValidationStatus>\n");
    let _ = writeln!(
        x,
        "      <vr:MainIndication>{}</vr:MainIndication>",
        main_indication_uri(r.indication)
    );
    if let Some(sub) = &r.sub_indication {
        // A sub-indication is an EN 319 102-1 name (letters and underscores); anything else
        // would not make a URI, so it is left to the reason.
        if !sub.is_empty() && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let _ = writeln!(
                x,
                "      <vr:SubIndication>{}</vr:SubIndication>",
                sub_indication_uri(sub)
            );
        }
    }
    x.push_str("      <vr:AssociatedValidationReportData>\n");
    if !o.chain.is_empty() {
        let ids: Vec<String> = o.chain.iter().map(|c| objects.add(OBJ_CERT, c)).collect();
        let anchored = r.trust_anchor.is_some() && ids.len() > 1;
        if anchored {
            let _ = writeln!(
                x,
                "        <vr:TrustAnchor VOReference=\"{}\"/>",
                ids[ids.len() - 1]
            );
        }
        x.push_str("        <vr:CertificateChain>\n");
        let _ = writeln!(
            x,
            "          <vr:SigningCertificate VOReference=\"{}\"/>",
            ids[0]
        );
        let end = if anchored { ids.len() - 1 } else { ids.len() };
        for id in ids.iter().take(end).skip(1) {
            let _ = writeln!(
                x,
                "          <vr:IntermediateCertificate VOReference=\"{id}\"/>"
            );
        }
        if anchored {
            let _ = writeln!(
                x,
                "          <vr:TrustAnchor VOReference=\"{}\"/>",
                ids[ids.len() - 1]
            );
        }
        x.push_str("        </vr:CertificateChain>\n");
    }
    for der in &o.ocsp_responses {
        let id = objects.add(OBJ_OCSP, der);
        let _ = writeln!(
            x,
            "        <vr:RelatedValidationObject VOReference=\"{id}\"/>"
        );
    }
    for der in &o.crls {
        let id = objects.add(OBJ_CRL, der);
        let _ = writeln!(
            x,
            "        <vr:RelatedValidationObject VOReference=\"{id}\"/>"
        );
    }
    x.push_str("        <vr:AdditionalValidationReportData>\n");
    let mut data = |kind: &str, value: &str| {
        let _ = writeln!(
            x,
            "          <vr:ReportData><vr:Type>{kind}</vr:Type><vr:Value>{}</vr:Value>\
             </vr:ReportData>",
            esc(value)
        );
    };
    data(DATA_LEVEL, &r.level);
    data(DATA_REVOCATION, &r.revocation);
    if let Some(why) = &r.reason {
        data(DATA_REASON, why);
    }
    x.push_str("        </vr:AdditionalValidationReportData>\n");
    x.push_str("      </vr:AssociatedValidationReportData>\n");
    x.push_str("    </vr:SignatureValidationStatus>\n");
    x.push_str("  </vr:SignatureValidationReport>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indication_uris() {
        assert_eq!(
            main_indication_uri(Indication::TotalPassed),
            "urn:etsi:019102:mainindication:total-passed"
        );
        assert_eq!(
            main_indication_uri(Indication::TotalFailed),
            "urn:etsi:019102:mainindication:total-failed"
        );
        assert_eq!(
            sub_indication_uri("HASH_FAILURE"),
            "urn:etsi:019102:subindication:HASH_FAILURE"
        );
    }

    #[test]
    fn outside_text_is_escaped() {
        assert_eq!(esc("CN=a<b>&\"c\u{1}"), "CN=a&lt;b&gt;&amp;&quot;c\u{FFFD}");
    }

    #[test]
    fn an_unreadable_file_still_gives_a_report() {
        let x = to_xml(&[], Some("not a PDF"), SystemTime::UNIX_EPOCH);
        assert!(x.contains("urn:etsi:019102:mainindication:total-failed"));
        assert!(x.contains("urn:etsi:019102:subindication:FORMAT_FAILURE"));
        assert!(x.contains("not a PDF"));
    }
}
