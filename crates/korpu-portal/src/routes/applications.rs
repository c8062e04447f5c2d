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

use crate::bridge::bridge;
use crate::html::{esc, Html};
use crate::i18n::{Lang, Msg};
use crate::server::{now, AppState, Shared};
use crate::store::Application;
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

/// Asks the agency for an application's status; records and notifies a change. Returns the
/// agency's answer.
pub(crate) async fn poll_status(s: &AppState, a: &Application) -> Result<Value, String> {
    let conf = s.conf().ok_or("no global configuration yet")?;
    let id: ServiceId = a.service.parse().map_err(|e| format!("{e}"))?;
    let svc = conf
        .service(&id)
        .ok_or("the service is no longer registered")?
        .clone();
    let (status, bytes) = bridge(
        s,
        &conf,
        &svc,
        Method::GET,
        &format!("/{}", a.agency_ref),
        &a.citizen,
        "application-status",
        None,
    )
    .await?;
    if !status.is_success() {
        return Err(format!("the agency answered {status}"));
    }
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
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::ApplicationsTitle));
    if apps.is_empty() {
        h.el("p", &[], l.t(Msg::NoApplications));
    } else {
        h.raw("<table><thead><tr>");
        for k in [
            Msg::Reference,
            Msg::NavServices,
            Msg::SubmittedAt,
            Msg::Status,
        ] {
            h.el("th", &[("scope", "col")], l.t(k));
        }
        h.raw("</tr></thead><tbody>");
        for a in apps {
            h.raw("<tr><td>");
            h.a(&format!("/applications/{}", a.id), &a.id);
            h.raw("</td>");
            h.el("td", &[], &service_name(conf.as_deref(), &a.service, l));
            h.el("td", &[], &fmt_time(a.created_at));
            h.raw("<td>");
            h.el("span", &[("class", "tag")], status_label(l, &a.status));
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        l.t(Msg::ApplicationsTitle),
        maud::PreEscaped(h.0),
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
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return Err(PageError::not_found());
    };
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
    let mut h = Html::new();
    if query_pairs(uri.query())
        .iter()
        .any(|(k, _)| k == "submitted")
    {
        h.raw("<div class=\"notice\" role=\"status\"><h2>");
        h.text(l.t(Msg::AppliedOk));
        h.raw("</h2><p>");
        h.text(&format!("{}: {}", l.t(Msg::Reference), a.id));
        h.raw("</p></div>");
    }
    h.el("h1", &[], &service_name(conf.as_deref(), &a.service, l));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t(Msg::Reference));
    h.el("dd", &[], &a.id);
    h.el("dt", &[], l.t(Msg::SubmittedAt));
    h.el("dd", &[], &fmt_time(a.created_at));
    h.el("dt", &[], l.t(Msg::Status));
    h.raw("<dd>");
    h.el(
        "span",
        &[("class", "tag"), ("id", "status")],
        status_label(l, &a.status),
    );
    h.raw("</dd></dl>");
    h.raw(&format!(
        "<p><a class=\"button secondary\" href=\"/applications/{}\">{}</a></p>",
        esc(&a.id),
        esc(l.t(Msg::Refresh))
    ));
    h.el("h2", &[], l.t(Msg::History));
    match &remote {
        Ok(v) => {
            h.raw("<table><thead><tr>");
            h.el("th", &[("scope", "col")], l.t(Msg::When));
            h.el("th", &[("scope", "col")], l.t(Msg::Status));
            h.raw("</tr></thead><tbody>");
            for e in v["history"].as_array().cloned().unwrap_or_default() {
                h.raw("<tr>");
                h.el("td", &[], e["at"].as_str().unwrap_or(""));
                h.el(
                    "td",
                    &[],
                    status_label(l, e["status"].as_str().unwrap_or("")),
                );
                h.raw("</tr>");
            }
            h.raw("</tbody></table>");
            let msgs = v["messages"].as_array().cloned().unwrap_or_default();
            if !msgs.is_empty() {
                h.el("h2", &[], l.t(Msg::Messages));
                h.raw("<ul>");
                for m in msgs {
                    h.raw("<li>");
                    h.el("span", &[("class", "meta")], m["at"].as_str().unwrap_or(""));
                    h.raw(" ");
                    h.text(m["text"].as_str().unwrap_or(""));
                    h.raw("</li>");
                }
                h.raw("</ul>");
            }
            if let Some(doc) = v["document"].as_object() {
                h.el("h2", &[], l.t(Msg::Documents));
                let name = doc
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("document.pdf");
                h.raw("<p>");
                h.el(
                    "a",
                    &[
                        ("href", &format!("/applications/{}/document", a.id)),
                        ("download", name),
                    ],
                    &format!("{} {name}", l.t(Msg::Download)),
                );
                h.raw("</p><p>");
                h.a(&format!("/applications/{}/verify", a.id), l.t(Msg::Verify));
                h.raw("</p>");
            }
        }
        Err(_) => {
            h.raw("<div class=\"notice warn\" role=\"status\">");
            h.text(l.t(Msg::BridgeFailed));
            h.raw("</div><ul>");
            for e in s.store.events(&a.id).await.unwrap_or_default() {
                h.el(
                    "li",
                    &[],
                    &format!("{} — {}", fmt_time(e.at), status_label(l, &e.status)),
                );
            }
            h.raw("</ul>");
        }
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        &a.id,
        maud::PreEscaped(h.0),
    ))
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
    let conf = s.conf().ok_or("no configuration")?;
    let id: ServiceId = a.service.parse().map_err(|e| format!("{e}"))?;
    let svc = conf.service(&id).ok_or("unknown service")?.clone();
    let (status, bytes) = bridge(
        s,
        &conf,
        &svc,
        Method::GET,
        path,
        &a.citizen,
        "application-document",
        None,
    )
    .await?;
    if !status.is_success() {
        return Err(format!("the agency answered {status}"));
    }
    Ok((name, bytes))
}

pub(crate) async fn document_download(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Citizen(u): Citizen,
) -> Page {
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return Err(PageError::not_found());
    };
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
    let Ok(Some(a)) = s.store.application(&u.citizen, &id).await else {
        return Err(PageError::not_found());
    };
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::Verify));
    match fetch_document(&s, &a).await {
        Ok((name, bytes)) => {
            let verdict = crate::verify::verify_pdf(&s.conf(), &bytes);
            h.el("p", &[], &name);
            match verdict {
                Ok(signer) => {
                    h.raw("<div class=\"notice\" role=\"status\" id=\"verdict\"><p><span class=\"tag ok\">");
                    h.text(l.t(Msg::ProofOk));
                    h.raw("</span> ");
                    h.text(&format!("{} {signer}", l.t(Msg::VerifiedBy)));
                    h.raw("</p></div>");
                }
                Err(e) => {
                    h.raw("<div class=\"notice warn\" role=\"status\" id=\"verdict\"><p><span class=\"tag bad\">");
                    h.text(l.t(Msg::ProofBad));
                    h.raw("</span> ");
                    h.text(&format!("{} {e}", l.t(Msg::NotVerified)));
                    h.raw("</p></div>");
                }
            }
        }
        Err(e) => {
            h.el("p", &[], &e);
        }
    }
    h.raw("<p>");
    h.a(&format!("/applications/{}", a.id), l.t(Msg::Back));
    h.raw("</p>");
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "applications",
        l.t(Msg::Verify),
        maud::PreEscaped(h.0),
    ))
}
