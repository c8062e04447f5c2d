//! A citizen's applications: the list, each application's page with its status, history and
//! messages as the agency answers them now, and the signed result's download and verification.
//! Also the status poll the background refresh uses.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use korpu_conf::GlobalConf;
use korpu_id::ServiceId;
use serde_json::Value;

use maud::{html, Markup};

use crate::bridge::bridge;
use crate::i18n::{Lang, Msg};
use crate::server::{now, AppState, Shared};
use crate::store::{Application, Session};
use crate::web::{fmt_time, html_page, query_pairs, Citizen, Ctx, Page, PageError};

fn status_label(l: Lang, st: &str) -> &'static str {
    match st {
        "submitted" | "received" => l.t(Msg::StSubmitted),
        "in_review" => l.t(Msg::StInReview),
        "decided" => l.t(Msg::StDecided),
        "rejected" => l.t(Msg::StRejected),
        _ => l.t(Msg::StUnknown),
    }
}

fn service_name(conf: Option<&GlobalConf>, id: &str, l: Lang) -> String {
    conf.and_then(|c| c.services.iter().find(|s| s.id.to_string() == id))
        .and_then(|s| s.portal.as_ref().map(|p| p.names.get(l.code()).to_owned()))
        .unwrap_or_else(|| id.to_owned())
}

/// GETs `path` of application `a`'s service over the bridge, for `purpose`, with the citizen
/// as user and subject; the body of a successful answer.
async fn ask_agency(
    s: &AppState,
    a: &Application,
    path: &str,
    purpose: &str,
) -> Result<Bytes, String> {
    let conf = s.conf().ok_or("no global configuration yet")?;
    let id: ServiceId = a.service.parse().map_err(|e| format!("{e}"))?;
    let svc = conf
        .service(&id)
        .ok_or("the service is no longer registered")?
        .clone();
    let (status, bytes) =
        bridge(s, &conf, &svc, Method::GET, path, &a.citizen, purpose, None).await?;
    if !status.is_success() {
        return Err(format!("the agency answered {status}"));
    }
    Ok(bytes)
}

/// The signed-in citizen `u`'s application `id`; anyone else's, or none, is not found.
async fn own_application(s: &AppState, u: &Session, id: &str) -> Result<Application, PageError> {
    match s.store.application(&u.citizen, id).await {
        Ok(Some(a)) => Ok(a),
        _ => Err(PageError::not_found()),
    }
}

/// Asks the agency for an application's status; records and notifies a change. Returns the
/// agency's answer.
pub(crate) async fn poll_status(s: &AppState, a: &Application) -> Result<Value, String> {
    let path = format!("/{}", a.agency_ref);
    let bytes = ask_agency(s, a, &path, "application-status").await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let new = v["status"].as_str().unwrap_or("").to_owned();
    if !new.is_empty() && new != a.status {
        let msg = v["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|e| e["message"].as_str())
            .unwrap_or("")
            .to_owned();
        if s.store
            .set_status(&a.id, &a.status, &new, &msg, now())
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!(application = %a.id, status = %new, "application status changed");
            let link = format!("/applications/{}", a.id);
            crate::notify::status_changed(s, a, &new, &link).await;
        }
    }
    Ok(v)
}

pub(crate) async fn applications(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Page {
    let l = c.lang;
    let apps = s
        .store
        .applications_of(&u.citizen)
        .await
        .map_err(PageError::internal)?;
    let conf = s.conf();
    let body = html! {
        h1 { (l.t(Msg::ApplicationsTitle)) }
        @if apps.is_empty() {
            p { (l.t(Msg::NoApplications)) }
        } @else {
            table {
                thead { tr {
                    @for k in [Msg::Reference, Msg::NavServices, Msg::SubmittedAt, Msg::Status] {
                        th scope="col" { (l.t(k)) }
                    }
                } }
                tbody {
                    @for a in &apps {
                        tr {
                            td { a href={ "/applications/" (a.id) } { (a.id) } }
                            td { (service_name(conf.as_deref(), &a.service, l)) }
                            td { (fmt_time(a.created_at)) }
                            td { span class="tag" { (status_label(l, &a.status)) } }
                        }
                    }
                }
            }
        }
    };
    let title = l.t(Msg::ApplicationsTitle);
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        title,
        body,
    ))
}

pub(crate) async fn application_page(
    State(s): State<Shared>,
    Path(id): Path<String>,
    c: Ctx,
    Citizen(u): Citizen,
    OriginalUri(uri): OriginalUri,
) -> Page {
    let l = c.lang;
    let a = own_application(&s, &u, &id).await?;
    // The agency is asked now, so the page is current even between background refreshes.
    let remote = poll_status(&s, &a).await;
    let a = s
        .store
        .application(&u.citizen, &id)
        .await
        .ok()
        .flatten()
        .unwrap_or(a);
    let conf = s.conf();
    let submitted = query_pairs(uri.query())
        .iter()
        .any(|(k, _)| k == "submitted");
    let answer = match &remote {
        Ok(v) => agency_answer(l, &a.id, v),
        Err(_) => {
            let events = s.store.events(&a.id).await.unwrap_or_default();
            html! {
                div class="notice warn" role="status" { (l.t(Msg::BridgeFailed)) }
                ul {
                    @for e in &events {
                        li { (fmt_time(e.at)) " — " (status_label(l, &e.status)) }
                    }
                }
            }
        }
    };
    let body = html! {
        @if submitted {
            div class="notice" role="status" {
                h2 { (l.t(Msg::AppliedOk)) }
                p { (l.t(Msg::Reference)) ": " (a.id) }
            }
        }
        h1 { (service_name(conf.as_deref(), &a.service, l)) }
        dl class="summary" {
            dt { (l.t(Msg::Reference)) }
            dd { (a.id) }
            dt { (l.t(Msg::SubmittedAt)) }
            dd { (fmt_time(a.created_at)) }
            dt { (l.t(Msg::Status)) }
            dd { span class="tag" id="status" { (status_label(l, &a.status)) } }
        }
        p { a class="button secondary" href={ "/applications/" (a.id) } { (l.t(Msg::Refresh)) } }
        h2 { (l.t(Msg::History)) }
        (answer)
    };
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        &a.id,
        body,
    ))
}

/// What the agency answered about application `id`: its history, its messages and, once
/// decided, the signed document to download and verify.
fn agency_answer(l: Lang, id: &str, v: &Value) -> Markup {
    let history = v["history"].as_array().cloned().unwrap_or_default();
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let doc_name = v["document"].as_object().map(|doc| {
        doc.get("name")
            .and_then(Value::as_str)
            .unwrap_or("document.pdf")
    });
    html! {
        table {
            thead { tr {
                th scope="col" { (l.t(Msg::When)) }
                th scope="col" { (l.t(Msg::Status)) }
            } }
            tbody {
                @for e in &history {
                    tr {
                        td { (e["at"].as_str().unwrap_or("")) }
                        td { (status_label(l, e["status"].as_str().unwrap_or(""))) }
                    }
                }
            }
        }
        @if !msgs.is_empty() {
            h2 { (l.t(Msg::Messages)) }
            ul {
                @for m in &msgs {
                    li {
                        span class="meta" { (m["at"].as_str().unwrap_or("")) }
                        " " (m["text"].as_str().unwrap_or(""))
                    }
                }
            }
        }
        @if let Some(name) = doc_name {
            h2 { (l.t(Msg::Documents)) }
            p {
                a href={ "/applications/" (id) "/document" } download=(name) {
                    (l.t(Msg::Download)) " " (name)
                }
            }
            p { a href={ "/applications/" (id) "/verify" } { (l.t(Msg::Verify)) } }
        }
    }
}

/// The document of a decided application, fetched over the bridge.
async fn fetch_document(s: &AppState, a: &Application) -> Result<(String, Bytes), String> {
    let v = poll_status(s, a).await?;
    let doc = v["document"].as_object().ok_or("no document yet")?;
    let path = doc.get("path").and_then(Value::as_str).unwrap_or("");
    // Only a path under this application's resource: the agency's answer cannot make the
    // portal fetch anything else on the citizen's behalf.
    let prefix = format!("/{}/", a.agency_ref);
    if !path.starts_with(&prefix) || path.contains("..") || path.contains('?') {
        return Err("the agency named a document outside the application".into());
    }
    let name = doc
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .unwrap_or("document.pdf")
        .to_owned();
    let bytes = ask_agency(s, a, path, "application-document").await?;
    Ok((name, bytes))
}

pub(crate) async fn document_download(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Citizen(u): Citizen,
) -> Page {
    let a = own_application(&s, &u, &id).await?;
    match fetch_document(&s, &a).await {
        Ok((name, bytes)) => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response()),
        Err(e) => Err(PageError::text(StatusCode::BAD_GATEWAY, e)),
    }
}

pub(crate) async fn document_verify(
    State(s): State<Shared>,
    Path(id): Path<String>,
    c: Ctx,
    Citizen(u): Citizen,
) -> Page {
    let l = c.lang;
    let a = own_application(&s, &u, &id).await?;
    let outcome = match fetch_document(&s, &a).await {
        Ok((name, bytes)) => {
            let verdict = crate::verify::verify_pdf(&s.conf(), &bytes);
            html! { p { (name) } (verdict_notice(l, &verdict)) }
        }
        Err(e) => html! { p { (e) } },
    };
    let body = html! {
        h1 { (l.t(Msg::Verify)) }
        (outcome)
        p { a href={ "/applications/" (a.id) } { (l.t(Msg::Back)) } }
    };
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        l.t(Msg::Verify),
        body,
    ))
}

/// The verdict on a document's signatures: who signed it, or why it is not verified.
fn verdict_notice(l: Lang, verdict: &Result<String, String>) -> Markup {
    let (notice, tag, badge, text) = match verdict {
        Ok(signer) => (
            "notice",
            "tag ok",
            Msg::ProofOk,
            format!("{} {signer}", l.t(Msg::VerifiedBy)),
        ),
        Err(e) => (
            "notice warn",
            "tag bad",
            Msg::ProofBad,
            format!("{} {e}", l.t(Msg::NotVerified)),
        ),
    };
    html! {
        div class=(notice) role="status" id="verdict" {
            p { span class=(tag) { (l.t(badge)) } " " (text) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{HOSTILE, HOSTILE_ESCAPED as ESC};
    use serde_json::json;

    /// The agency's answer is outside data: a message (text), a document name (an attribute)
    /// and a reference (in a URL) come out escaped.
    #[test]
    fn the_agencys_answer_is_escaped_in_every_slot() {
        let v = json!({
            "history": [{"at": HOSTILE, "status": "decided"}],
            "messages": [{"at": "t", "text": HOSTILE}],
            "document": {"name": HOSTILE},
        });
        let html = agency_answer(Lang::En, HOSTILE, &v).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(&format!("<td>{ESC}</td>")));
        assert!(html.contains(&format!("download=\"{ESC}\"")));
        assert!(html.contains(&format!("href=\"/applications/{ESC}/verify\"")));
    }

    #[test]
    fn a_verdict_is_escaped() {
        for verdict in [Ok(HOSTILE.to_owned()), Err(HOSTILE.to_owned())] {
            let html = verdict_notice(Lang::En, &verdict).into_string();
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&lt;script&gt;"), "{html}");
        }
    }
}
