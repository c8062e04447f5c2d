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
use serde_json::Value;

use crate::bridge::bridge;
use crate::html::Html;
use crate::i18n::Msg;
use crate::server::Shared;
use crate::web::{html_page, Citizen, Ctx};

/// The service code of the provider-side metaservice.
pub const SUBJECT_ACCESSES: &str = "korpuSubjectAccesses";

/// One row of the tracker: when, who, which system, what, purpose, and the proof's verdict.
type Row = (String, String, String, String, String, Result<u64, String>);

pub(crate) async fn tracker(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Response {
    let l = c.lang;
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::TrackerTitle));
    h.el("p", &[("class", "lead")], l.t(Msg::TrackerLead));
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
                    korpu_tlog::record::rfc3339_ms(rec.time_unix_ms),
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
    for p in &problems {
        h.raw("<div class=\"notice warn\" role=\"status\">");
        h.text(&format!("{} {p}", l.t(Msg::TrackerUnavailable)));
        h.raw("</div>");
    }
    if own > 0 {
        h.el(
            "p",
            &[("class", "meta")],
            &format!("{} {own}", l.t(Msg::OwnRequests)),
        );
    }
    if rows.is_empty() {
        h.el("p", &[], l.t(Msg::NoAccesses));
    } else {
        h.raw("<table id=\"accesses\"><thead><tr>");
        for k in [
            Msg::When,
            Msg::Who,
            Msg::System,
            Msg::What,
            Msg::Purpose,
            Msg::Proof,
        ] {
            h.el("th", &[("scope", "col")], l.t(k));
        }
        h.raw("</tr></thead><tbody>");
        for (t, who, sys, what, purpose, verdict) in rows {
            h.raw("<tr>");
            h.el("td", &[], &t);
            h.el("td", &[], &who);
            h.el("td", &[], &sys);
            h.el("td", &[], &what);
            h.el("td", &[], &purpose);
            h.raw("<td>");
            match verdict {
                Ok(size) => {
                    h.el(
                        "span",
                        &[("class", "tag ok"), ("title", &format!("tree size {size}"))],
                        l.t(Msg::ProofOk),
                    );
                }
                Err(e) => {
                    h.el(
                        "span",
                        &[("class", "tag bad"), ("title", &e)],
                        l.t(Msg::ProofBad),
                    );
                }
            }
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    html_page(
        &s,
        &c,
        StatusCode::OK,
        "tracker",
        l.t(Msg::TrackerTitle),
        maud::PreEscaped(h.0),
    )
}
