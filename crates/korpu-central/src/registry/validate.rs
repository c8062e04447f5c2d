//! Field checks shared by the registry's rules: identifiers, names, addresses, ledger keys,
//! portal listings and form schemas. Each error names the request field and the rule broken.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use korpu_conf::{Localized, PortalListing};

use crate::error::RegistryError;

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn to_unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn parse<T: std::str::FromStr<Err = korpu_id::IdError>>(
    field: &'static str,
    value: &str,
) -> Result<T, RegistryError> {
    value.parse().map_err(|e| RegistryError::bad_id(field, e))
}

pub(super) fn invalid(
    field: &'static str,
    rule: &'static str,
    message: impl Into<String>,
) -> RegistryError {
    RegistryError::Invalid {
        field: field.to_owned(),
        rule,
        message: message.into(),
    }
}

pub(super) fn non_empty(field: &'static str, value: &str, max: usize) -> Result<(), RegistryError> {
    if value.trim().is_empty() {
        return Err(invalid(
            field,
            "non_empty",
            format!("{field} must not be empty"),
        ));
    }
    if value.len() > max {
        return Err(invalid(
            field,
            "max_length",
            format!(
                "{field} is {} bytes long: at most {max} are allowed",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Checks `host:port`; returns the host.
pub(super) fn parse_address(field: &'static str, address: &str) -> Result<String, RegistryError> {
    let bad = || {
        invalid(
            field,
            "host_port",
            format!("{address:?} is not host:port, e.g. gw1.tax.gov.az:5500 or 127.0.0.1:5500"),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ok_dns = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if host.parse::<IpAddr>().is_err() && !ok_dns {
        return Err(bad());
    }
    Ok(host.to_owned())
}

/// An `Invalid` error for a field path built at run time (e.g. `portal.names.en`).
pub(super) fn invalid_at(field: String, rule: &'static str, message: String) -> RegistryError {
    RegistryError::Invalid {
        field,
        rule,
        message,
    }
}

/// Checks a C2SP signed-note verifier key with the parser every consumer of the key uses
/// ([`korpu_tlog::NoteVerifier::from_vkey`]): `name+hexid+base64(0x01 || 32-byte Ed25519
/// key)`, the id being the first four bytes of SHA-256(name, '\n', 0x01, key). The id check
/// catches keys pasted with the wrong name or truncated; using the consumers' parser means the
/// registry never publishes a key that gateways and the portal would then refuse.
pub(super) fn check_ledger_key(field: &'static str, vkey: &str) -> Result<(), RegistryError> {
    let bad = |m: &str| {
        invalid(
            field,
            "note_verifier_key",
            format!(
                "{vkey:?} is not a ledger verifier key ({m}); use the line `korpu ledger key --config FILE` prints"
            ),
        )
    };
    if vkey.len() > 1000 {
        return Err(bad("longer than 1000 bytes"));
    }
    korpu_tlog::NoteVerifier::from_vkey(vkey).map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// Checks a portal listing: every field's error names its path under `portal`.
pub(super) fn check_portal_listing(p: &PortalListing) -> Result<(), RegistryError> {
    let text = |field: &str, l: &Localized, required: bool, max: usize| {
        for (lang, v) in [("az", &l.az), ("en", &l.en), ("ru", &l.ru)] {
            let path = format!("portal.{field}.{lang}");
            if required && v.trim().is_empty() {
                return Err(invalid_at(
                    path.clone(),
                    "non_empty",
                    format!("{path} must not be empty: the portal shows it in Azerbaijani, English and Russian"),
                ));
            }
            if v.len() > max {
                return Err(invalid_at(
                    path.clone(),
                    "max_length",
                    format!(
                        "{path} is {} bytes long: at most {max} are allowed",
                        v.len()
                    ),
                ));
            }
        }
        Ok(())
    };
    text("names", &p.names, true, 200)?;
    text("descriptions", &p.descriptions, true, 4000)?;
    text("requirements", &p.requirements, false, 4000)?;
    let c = &p.category;
    if c.is_empty()
        || c.len() > 50
        || !c
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
    {
        return Err(invalid_at(
            "portal.category".into(),
            "category_code",
            format!("category {c:?} must be 1-50 of a-z, 0-9 and '-', e.g. family or health"),
        ));
    }
    if let Some(schema) = &p.form_schema {
        check_form_schema(schema)?;
    }
    Ok(())
}

/// The portal generates forms from a subset of JSON Schema; a schema outside it is refused
/// here, at registration, rather than rendered wrongly to citizens later.
pub(super) fn check_form_schema(schema: &serde_json::Value) -> Result<(), RegistryError> {
    let err = |path: String, rule: &'static str, m: String| invalid_at(path, rule, m);
    let size = serde_json::to_vec(schema).map_or(0, |v| v.len());
    if size > 256 << 10 {
        return Err(err(
            "portal.form_schema".into(),
            "max_length",
            format!("the form schema is {size} bytes: at most 262144 are allowed"),
        ));
    }
    if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
        return Err(err(
            "portal.form_schema.type".into(),
            "object_schema",
            "a form schema describes an object: \"type\": \"object\"".into(),
        ));
    }
    let props = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            err(
                "portal.form_schema.properties".into(),
                "form_fields",
                "a form schema needs \"properties\": an object with at least one field".into(),
            )
        })?;
    for (name, prop) in props {
        let path = format!("portal.form_schema.properties.{name}");
        if name.is_empty()
            || name.len() > 100
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(err(
                path,
                "field_name",
                format!("form field name {name:?} must be 1-100 of A-Z, a-z, 0-9, '_', '-'"),
            ));
        }
        let ty = prop.get("type").and_then(|t| t.as_str());
        if !matches!(ty, Some("string" | "number" | "integer" | "boolean")) {
            return Err(err(
                format!("{path}.type"),
                "field_type",
                format!(
                    "form field {name} has type {:?}; the portal renders string, number, integer and boolean fields",
                    prop.get("type")
                ),
            ));
        }
        if let Some(e) = prop.get("enum") {
            if e.as_array().is_none_or(|a| a.is_empty()) {
                return Err(err(
                    format!("{path}.enum"),
                    "enum_values",
                    format!("form field {name}: enum must be a non-empty array"),
                ));
            }
        }
    }
    if let Some(req) = schema.get("required") {
        let names = req.as_array().ok_or_else(|| {
            err(
                "portal.form_schema.required".into(),
                "required_fields",
                "required must be an array of field names".into(),
            )
        })?;
        for n in names {
            if !n.as_str().is_some_and(|n| props.contains_key(n)) {
                return Err(err(
                    "portal.form_schema.required".into(),
                    "required_fields",
                    format!("required names {n}, which is not one of the form's properties"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    use super::check_ledger_key;

    /// A vkey of the right shape with a key id that matches its name and material.
    fn vkey(name: &str, material: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(material);
        format!(
            "{name}+{}+{}",
            hex::encode(&h.finalize()[..4]),
            base64::engine::general_purpose::STANDARD.encode(material)
        )
    }

    #[test]
    fn ledger_key_check_refuses_what_gateways_and_portal_refuse() {
        let good = korpu_tlog::NoteSigner::generate("gw1.social.gov.az")
            .unwrap()
            .verifier();
        assert!(check_ledger_key("ledger_key", &good.to_vkey()).is_ok());
        // y = 2 is not the y-coordinate of a point on edwards25519: the id matches, the shape
        // is right, but no consumer can verify a signature with it.
        let mut not_a_point = vec![0x01, 2];
        not_a_point.resize(33, 0);
        let k = vkey("gw1.social.gov.az", &not_a_point);
        assert!(k.parse::<korpu_tlog::NoteVerifier>().is_err());
        assert!(check_ledger_key("ledger_key", &k).is_err(), "{k}");
        // A name with a control character: note verifiers refuse such names.
        let mut material = vec![0x01];
        material.extend_from_slice(good.key().as_bytes());
        let k = vkey("gw1\u{7}", &material);
        assert!(check_ledger_key("ledger_key", &k).is_err(), "{k:?}");
        // The same material under a clean name passes: the refusals above are about the point
        // and the name, not the construction.
        assert!(check_ledger_key("ledger_key", &vkey("gw1", &material)).is_ok());
    }
}
