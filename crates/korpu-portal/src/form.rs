//! Application forms generated from a service's JSON Schema, and their server-side validation.
//!
//! The subset the registry accepts (korpu-central checks it at registration): an object whose
//! properties are `string` (optionally `format: date | email`, `enum`, `minLength`,
//! `maxLength`, `pattern`), `number`/`integer` (`minimum`, `maximum`, `enum`) or `boolean`, and
//! `required`. Labels come from `title`/`description`, translated by the extension keywords
//! `x-title`/`x-description` (`{"az", "en", "ru"}`); field order from `x-order` (else by
//! name, since a JSON object has no order). Pure functions: no I/O.

use maud::{html, Markup};
use serde_json::{Map, Value};

use crate::i18n::{Lang, Msg};

/// One problem with one field, for the error summary and the message next to the field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    /// The field's label, so the error summary says which field each message is about.
    pub label: String,
    pub message: String,
}

fn props(schema: &Value) -> Vec<(String, Value)> {
    let Some(p) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(order) = schema.get("x-order").and_then(Value::as_array) {
        for n in order.iter().filter_map(Value::as_str) {
            if let Some(v) = p.get(n) {
                out.push((n.to_owned(), v.clone()));
            }
        }
    }
    for (k, v) in p {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

fn required(schema: &Value, name: &str) -> bool {
    schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(name)))
}

fn localized(prop: &Value, key: &str, lang: Lang, fallback: &str) -> String {
    prop.get(format!("x-{key}"))
        .and_then(|t| t.get(lang.code()).or_else(|| t.get("az")))
        .and_then(Value::as_str)
        .or_else(|| prop.get(key).and_then(Value::as_str))
        .unwrap_or(fallback)
        .to_owned()
}

fn enum_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders the form's fields (without the `<form>` element), with `values` filled in and each
/// error next to its field.
pub fn render_fields(
    schema: &Value,
    lang: Lang,
    values: &Map<String, Value>,
    errors: &[FieldError],
) -> Markup {
    html! {
        @for (name, prop) in props(schema) {
            (field(schema, lang, &name, &prop, values, errors))
        }
    }
}

/// One field: its label, hint and error, and its control — a checkbox, a list of choices or
/// a text box.
fn field(
    schema: &Value,
    lang: Lang,
    name: &str,
    prop: &Value,
    values: &Map<String, Value>,
    errors: &[FieldError],
) -> Markup {
    let id = format!("f-{name}");
    let label = localized(prop, "title", lang, name);
    let hint = localized(prop, "description", lang, "");
    let err = errors.iter().find(|e| e.field == name);
    let ty = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    let current = values.get(name).map(enum_label).unwrap_or_default();
    let mut described = Vec::new();
    if !hint.is_empty() {
        described.push(format!("{id}-hint"));
    }
    if err.is_some() {
        described.push(format!("{id}-error"));
    }
    let described = (!described.is_empty()).then(|| described.join(" "));
    let wrapper = if err.is_some() {
        "field error"
    } else {
        "field"
    };
    let opt = if required(schema, name) {
        String::new()
    } else {
        format!(" {}", lang.t(Msg::Optional))
    };
    let label = html! { label for=(id) { (label) (opt) } };
    let notes = html! {
        @if !hint.is_empty() {
            span class="hint" id={ (id) "-hint" } { (hint) }
        }
        @if let Some(e) = err {
            span class="error-message" id={ (id) "-error" } { (e.message) }
        }
    };
    if ty == "boolean" {
        return html! {
            div class=(wrapper) {
                div class="checkbox" {
                    input type="checkbox" id=(id) name=(name) value="true"
                        checked=[(current == "true").then_some("checked")]
                        aria-describedby=[described];
                    (label)
                }
                (notes)
            }
        };
    }
    let invalid = err.is_some().then_some("true");
    let control = if let Some(options) = prop.get("enum").and_then(Value::as_array) {
        html! {
            select id=(id) name=(name) aria-describedby=[described] aria-invalid=[invalid] {
                option value="" { (lang.t(Msg::Choose)) }
                @for o in options {
                    @let v = enum_label(o);
                    option value=(v) selected=[(v == current).then_some("selected")] { (v) }
                }
            }
        }
    } else {
        let input_type = match prop.get("format").and_then(Value::as_str) {
            Some("date") if ty == "string" => "date",
            Some("email") if ty == "string" => "email",
            _ => "text",
        };
        let inputmode = match ty {
            "integer" => Some("numeric"),
            "number" => Some("decimal"),
            _ => None,
        };
        html! {
            input id=(id) name=(name) aria-describedby=[described] aria-invalid=[invalid]
                type=(input_type) value=(current) inputmode=[inputmode]
                autocomplete=[(input_type == "email").then_some("email")];
        }
    };
    html! { div class=(wrapper) { (label) (notes) (control) } }
}

/// What the citizen entered (to show again) and what is wrong with it.
pub type Rejected = (Map<String, Value>, Vec<FieldError>);

/// Validates posted `(name, value)` pairs against the schema. Returns the typed JSON object
/// to submit, or the errors (in field order) with the values as entered, to show again.
pub fn validate(
    schema: &Value,
    posted: &[(String, String)],
    lang: Lang,
) -> Result<Map<String, Value>, Rejected> {
    let mut out = Map::new();
    let mut entered = Map::new();
    let mut errors = Vec::new();
    for (name, prop) in props(schema) {
        let raw = posted
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        let ty = prop.get("type").and_then(Value::as_str).unwrap_or("string");
        let label = localized(&prop, "title", lang, &name);
        let mut fail = |m: String| {
            errors.push(FieldError {
                field: name.clone(),
                label: label.clone(),
                message: m,
            })
        };
        if ty == "boolean" {
            let b = raw == "true";
            entered.insert(name.clone(), Value::Bool(b));
            if !b && required(schema, &name) {
                fail(lang.t(Msg::ErrRequired).into());
            } else {
                out.insert(name.clone(), Value::Bool(b));
            }
            continue;
        }
        entered.insert(name.clone(), Value::String(raw.clone()));
        if raw.is_empty() {
            if required(schema, &name) {
                fail(lang.t(Msg::ErrRequired).into());
            }
            continue;
        }
        let value = match ty {
            "integer" => match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    fail(lang.t(Msg::ErrInteger).into());
                    continue;
                }
            },
            "number" => match raw.replace(',', ".").parse::<f64>() {
                Ok(n) if n.is_finite() => Value::from(n),
                _ => {
                    fail(lang.t(Msg::ErrNumber).into());
                    continue;
                }
            },
            _ => Value::String(raw.clone()),
        };
        if let Some(options) = prop.get("enum").and_then(Value::as_array) {
            if !options.iter().any(|o| enum_label(o) == raw) {
                fail(lang.t(Msg::ErrEnum).into());
                continue;
            }
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = prop.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    fail(format!("{} {min}", lang.t(Msg::ErrMin)));
                    continue;
                }
            }
            if let Some(max) = prop.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    fail(format!("{} {max}", lang.t(Msg::ErrMax)));
                    continue;
                }
            }
        }
        if ty == "string" {
            let len = raw.chars().count() as u64;
            if let Some(min) = prop.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    fail(format!("{} {min}", lang.t(Msg::ErrMinlength)));
                    continue;
                }
            }
            let max = prop
                .get("maxLength")
                .and_then(Value::as_u64)
                .unwrap_or(2000);
            if len > max {
                fail(format!("{} {max}", lang.t(Msg::ErrMaxlength)));
                continue;
            }
            match prop.get("format").and_then(Value::as_str) {
                Some("date") if !is_date(&raw) => {
                    fail(lang.t(Msg::ErrDate).into());
                    continue;
                }
                Some("email") if !is_email(&raw) => {
                    fail(lang.t(Msg::ErrEmail).into());
                    continue;
                }
                _ => {}
            }
            if let Some(p) = prop.get("pattern").and_then(Value::as_str) {
                // JSON Schema patterns are unanchored (ECMA-262 semantics); a pattern that does
                // not compile rejects the value rather than letting anything through.
                let ok = regex_lite::Regex::new(p).is_ok_and(|re| re.is_match(&raw));
                if !ok {
                    fail(localized(
                        &prop,
                        "pattern-message",
                        lang,
                        lang.t(Msg::ErrPattern),
                    ));
                    continue;
                }
            }
        }
        out.insert(name.clone(), value);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err((entered, errors))
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[0..4].parse::<u32>(),
        s[5..7].parse::<u32>(),
        s[8..10].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && y >= 1900
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !s.chars().any(char::is_whitespace)
}

/// The error summary at the top of a page (GOV.UK pattern): each error links to its field.
pub fn error_summary(lang: Lang, errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="error-summary" role="alert" tabindex="-1" aria-labelledby="error-summary-title" {
                h2 id="error-summary-title" { (lang.t(Msg::ErrorSummary)) }
                ul {
                    @for e in errors {
                        li { a href={ "#f-" (e.field) } { (e.label) ": " (e.message) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["child_pin", "birth", "agree"],
               "x-order": ["child_pin", "birth", "children", "kind", "agree"],
               "properties": {
                   "child_pin": {"type": "string", "title": "FİN", "pattern": "^[0-9A-Z]{7}$"},
                   "birth": {"type": "string", "format": "date"},
                   "children": {"type": "integer", "minimum": 1, "maximum": 12},
                   "kind": {"type": "string", "enum": ["monthly", "once"]},
                   "agree": {"type": "boolean"}}})
    }

    fn post(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn valid_input_becomes_typed_json() {
        let v = validate(
            &schema(),
            &post(&[
                ("child_pin", "AB12C3D"),
                ("birth", "2026-11-20"),
                ("children", "2"),
                ("kind", "once"),
                ("agree", "true"),
            ]),
            Lang::En,
        )
        .unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"child_pin": "AB12C3D", "birth": "2026-11-20", "children": 2, "kind": "once", "agree": true})
        );
    }

    #[test]
    fn each_rule_gives_an_error_on_its_field() {
        let (entered, errors) = validate(
            &schema(),
            &post(&[
                ("child_pin", "ab"),
                ("birth", "2026-02-30"),
                ("children", "13"),
                ("kind", "weekly"),
            ]),
            Lang::En,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["child_pin", "birth", "children", "kind", "agree"]);
        assert_eq!(errors[0].message, "Enter it in the correct format");
        assert_eq!(errors[4].message, "Fill in this field");
        assert_eq!(entered["child_pin"], "ab");
        let html = render_fields(&schema(), Lang::En, &entered, &errors).into_string();
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("id=\"f-child_pin-error\""));
        assert!(html.contains("value=\"ab\""));
    }

    /// A schema is the agency's and a value the citizen's: labels and hints (text), names,
    /// values and choices (attributes) and the error summary's links (URLs) come out escaped.
    #[test]
    fn schema_texts_names_and_values_are_escaped() {
        use crate::html::{HOSTILE as bad, HOSTILE_ESCAPED as esc};
        let schema = json!({"type": "object", "required": [bad],
            "properties": {
                bad: {"type": "string", "title": bad, "description": bad},
                "kind": {"type": "string", "enum": [bad]},
                "ok": {"type": "boolean", "title": bad}}});
        let (entered, errors) = validate(&schema, &post(&[("kind", bad)]), Lang::En).unwrap_err();
        let mut values = entered;
        values.insert(bad.to_owned(), Value::String(bad.to_owned()));
        let html = render_fields(&schema, Lang::En, &values, &errors).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains(&format!("<label for=\"f-{esc}\">{esc}</label>")),
            "{html}"
        );
        assert!(html.contains(&format!("name=\"{esc}\"")), "{html}");
        assert!(html.contains(&format!("value=\"{esc}\"")), "{html}");
        assert!(
            html.contains(&format!(
                "<option value=\"{esc}\" selected=\"selected\">{esc}</option>"
            )),
            "{html}"
        );
        let summary = error_summary(Lang::En, &errors).into_string();
        assert!(!summary.contains("<script>"), "{summary}");
        assert!(
            summary.contains(&format!("<a href=\"#f-{esc}\">{esc}: ")),
            "{summary}"
        );
    }
}
