//! The data tracker: who accessed my data. Asks every gateway that offers the
//! `korpuSubjectAccesses` metaservice (over the bridge, as the portal, with the citizen as
//! user and subject), and checks each entry's inclusion proof and checkpoint signature against
//! that gateway's ledger key from the global configuration.
//!
//! What is shown is what was hashed: every row is parsed from the record's exact bytes the
//! gateway sends with the proof ([`crate::verify::verify_entry`]); the fields the gateway puts
//! beside them are never shown, so a "verified" badge covers the whole row.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use crate::bridge::bridge;
use crate::i18n::{Lang, Msg};
use crate::server::Shared;
use crate::web::{html_page, Citizen, Ctx};

/// The service code of the provider-side metaservice.
pub const SUBJECT_ACCESSES: &str = "korpuSubjectAccesses";

/// One row of the tracker: when, who, which system, what, purpose, and the proof's verdict.
type Row = (String, String, String, String, String, Result<u64, String>);

pub(crate) async fn tracker(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Response {
    let l = c.lang;
    let conf = s.conf();
    let mut rows: Vec<Row> = Vec::new();
    let mut problems = Vec::new();
    let mut own = 0usize;
    if let Some(conf) = conf.as_deref() {
        for svc in conf
            .services
            .iter()
            .filter(|x| x.id.code.as_str() == SUBJECT_ACCESSES)
        {
            let provider = svc.id.subsystem.member.clone();
            let agency = conf
                .members
                .iter()
                .find(|m| m.id == provider)
                .map_or_else(|| provider.to_string(), |m| m.name.clone());
            let client: korpu_id::ClientId =
                korpu_id::ClientId::Subsystem(svc.id.subsystem.clone());
            let key = conf
                .gateways_serving(&client)
                .find_map(|g| g.ledger_key.clone());
            let answer = bridge(
                &s,
                conf,
                svc,
                Method::GET,
                "",
                &u.citizen,
                "data-tracker",
                None,
            )
            .await;
            let v: Value = match answer {
                Ok((st, b)) if st.is_success() => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Ok((st, _)) => {
                    problems.push(format!("{agency}: {st}"));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{agency}: {e}"));
                    continue;
                }
            };
            for e in v["entries"].as_array().cloned().unwrap_or_default() {
                let checked = match &key {
                    Some(k) => crate::verify::verify_entry(&e, k, &u.citizen),
                    None => crate::verify::CheckedEntry {
                        record: None,
                        verdict: Err("no ledger key registered for this gateway".into()),
                    },
                };
                let Some(rec) = checked.record else {
                    rows.push((
                        String::new(),
                        "—".into(),
                        "—".into(),
                        format!("— ({agency})"),
                        "—".into(),
                        checked.verdict,
                    ));
                    continue;
                };
                let who = rec.client.clone();
                // The citizen's own requests through myGov (applying, checking a status) are
                // not someone else looking at their data; they are counted, not listed (only
                // when proven: an unproven row is shown, failed, whoever it claims).
                if checked.verdict.is_ok() && who == s.client.to_string() {
                    own += 1;
                    continue;
                }
                let who_name = who
                    .parse::<korpu_id::ClientId>()
                    .ok()
                    .and_then(|c| conf.members.iter().find(|m| &m.id == c.member()))
                    .map_or_else(|| who.clone(), |m| m.name.clone());
                let system = who.rsplit('/').next().unwrap_or("").to_owned();
                let service = rec.service.clone();
                let what = service
                    .parse::<korpu_id::ServiceId>()
                    .ok()
                    .and_then(|id| conf.service(&id).map(|x| x.title.clone()))
                    .unwrap_or(service);
                rows.push((
                    korpu_xroad::record::rfc3339_ms(rec.time_unix_ms),
                    who_name,
                    system,
                    format!("{what} ({agency})"),
                    rec.purpose.clone().unwrap_or_else(|| "—".into()),
                    checked.verdict,
                ));
            }
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let body = accesses(l, &rows, &problems, own);
    let title = l.t(Msg::TrackerTitle);
    html_page(&s, &c, StatusCode::OK, "tracker", title, body)
}

/// The tracker's page body: which gateways could not be asked, how many of the citizen's own
/// requests were left out, and the accesses with each proof's verdict.
fn accesses(l: Lang, rows: &[Row], problems: &[String], own: usize) -> Markup {
    html! {
        h1 { (l.t(Msg::TrackerTitle)) }
        p class="lead" { (l.t(Msg::TrackerLead)) }
        @for p in problems {
            div class="notice warn" role="status" { (l.t(Msg::TrackerUnavailable)) " " (p) }
        }
        @if own > 0 {
            p class="meta" { (l.t(Msg::OwnRequests)) " " (own) }
        }
        @if rows.is_empty() {
            p { (l.t(Msg::NoAccesses)) }
        } @else {
            table id="accesses" {
                thead { tr {
                    @for k in [Msg::When, Msg::Who, Msg::System, Msg::What, Msg::Purpose, Msg::Proof] {
                        th scope="col" { (l.t(k)) }
                    }
                } }
                tbody {
                    @for (t, who, sys, what, purpose, verdict) in rows {
                        tr {
                            td { (t) }
                            td { (who) }
                            td { (sys) }
                            td { (what) }
                            td { (purpose) }
                            td {
                                @match verdict {
                                    Ok(size) => span class="tag ok" title={ "tree size " (size) } { (l.t(Msg::ProofOk)) },
                                    Err(e) => span class="tag bad" title=(e) { (l.t(Msg::ProofBad)) },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{HOSTILE as bad, HOSTILE_ESCAPED as esc};

    /// Every cell of a row comes from a gateway's answer, the verdict's reason (a `title`
    /// attribute) included.
    #[test]
    fn a_gateways_answer_is_escaped_in_text_and_attributes() {
        let row = |verdict| {
            let s = bad.to_owned();
            (s.clone(), s.clone(), s.clone(), s.clone(), s, verdict)
        };
        let rows = [row(Err(bad.to_owned())), row(Ok(7))];
        let html = accesses(Lang::En, &rows, &[bad.to_owned()], 2).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(&format!("<td>{esc}</td>")), "{html}");
        assert!(html.contains(&format!("<span class=\"tag bad\" title=\"{esc}\">")));
        assert!(html.contains("<span class=\"tag ok\" title=\"tree size 7\">"));
        assert!(html.contains(&format!(
            "role=\"status\">This agency's ledger is not available right now: {esc}</div>"
        )));
    }
}
