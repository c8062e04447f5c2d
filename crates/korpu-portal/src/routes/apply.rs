//! Applying: the service's form (from its JSON schema), its validation, and the submission
//! over the bridge to the agency; the portal keeps only the reference and status.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use korpu_conf::ServiceInfo;
use maud::html;
use serde_json::{Map, Value};

use crate::bridge::bridge;
use crate::form;
use crate::i18n::Msg;
use crate::oidc;
use crate::routes::catalogue::{find_service, service_path, SvcPath};
use crate::server::{now, sha256_hex, AppState, Shared};
use crate::store::Application;
use crate::web::{checked_form, csrf_field, html_page, redirect, Citizen, Ctx, Page, PageError};

fn render_apply(
    s: &AppState,
    c: &Ctx,
    svc: &ServiceInfo,
    values: &Map<String, Value>,
    errors: &[form::FieldError],
    notice: Option<&str>,
) -> Response {
    let l = c.lang;
    let u = c.citizen().expect("signed in");
    let p = svc.portal.as_ref().expect("listed");
    let schema = p.form_schema.clone().unwrap_or(Value::Null);
    let name = p.names.get(l.code());
    let action = format!("{}/apply", service_path(&svc.id));
    let body = html! {
        (form::error_summary(l, errors))
        @if let Some(n) = notice {
            div class="notice warn" role="alert" { (n) }
        }
        span class="hint" { (l.t(Msg::FormTitle)) }
        h1 { (name) }
        form method="post" action=(action) novalidate="novalidate" {
            (csrf_field(u))
            (form::render_fields(&schema, l, values, errors))
            button class="button" type="submit" { (l.t(Msg::Submit)) }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let title = if errors.is_empty() {
        name.to_owned()
    } else {
        format!("{}: {name}", l.t(Msg::ErrorSummary))
    };
    html_page(s, c, status, "services", &title, body)
}

pub(crate) async fn apply_form(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    c: Ctx,
    Citizen(_u): Citizen,
) -> Page {
    match find_service(&s, &class, &member, &subsystem, &service) {
        Some((_, svc)) if svc.portal.as_ref().is_some_and(|p| p.form_schema.is_some()) => {
            Ok(render_apply(&s, &c, &svc, &Map::new(), &[], None))
        }
        _ => Err(PageError::not_found()),
    }
}

pub(crate) async fn apply_submit(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    c: Ctx,
    Citizen(u): Citizen,
    body: Bytes,
) -> Page {
    let posted = checked_form(&c, &body)?;
    let Some((conf, svc)) = find_service(&s, &class, &member, &subsystem, &service) else {
        return Err(PageError::not_found());
    };
    let Some(schema) = svc.portal.as_ref().and_then(|p| p.form_schema.clone()) else {
        return Err(PageError::not_found());
    };
    let data = match form::validate(&schema, &posted, c.lang) {
        Ok(d) => d,
        Err((entered, errors)) => return Ok(render_apply(&s, &c, &svc, &entered, &errors, None)),
    };
    let body = serde_json::to_vec(&data).expect("JSON serialises");
    let answer = bridge(
        &s,
        &conf,
        &svc,
        Method::POST,
        "",
        &u.citizen,
        "application",
        Some(body),
    )
    .await;
    let reply = match answer {
        Ok((status, bytes)) if status.is_success() => serde_json::from_slice::<Value>(&bytes).ok(),
        Ok((status, _)) => {
            tracing::warn!(service = %svc.id, %status, "the agency refused an application");
            None
        }
        Err(e) => {
            tracing::warn!(service = %svc.id, error = %e, "an application did not reach the agency");
            None
        }
    };
    let Some(agency_ref) = reply
        .as_ref()
        .and_then(|r| r["application_id"].as_str())
        .filter(|r| {
            !r.is_empty()
                && r.len() <= 100
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
    else {
        return Ok(render_apply(
            &s,
            &c,
            &svc,
            &data,
            &[],
            Some(c.lang.t(Msg::BridgeFailed)),
        ));
    };
    let status = reply
        .as_ref()
        .and_then(|r| r["status"].as_str())
        .unwrap_or("submitted")
        .to_owned();
    let t = now();
    let app = Application {
        id: format!("A-{}", &sha256_hex(&oidc::random_token(16))[..12]),
        citizen: u.citizen.clone(),
        email: u.email.clone(),
        service: svc.id.to_string(),
        agency_ref,
        status: status.clone(),
        data: String::from_utf8(serde_json::to_vec(&data).expect("JSON")).expect("UTF-8"),
        created_at: t,
        updated_at: t,
    };
    if let Err(e) = s.store.insert_application(&app).await {
        tracing::error!(error = %e, "cannot store an application");
        return Err(PageError::internal(e));
    }
    let _ = s.store.add_event(&app.id, &status, "", t).await;
    tracing::info!(application = %app.id, service = %svc.id, "application submitted");
    Ok(redirect(
        &format!("/applications/{}?submitted=1", app.id),
        &c.set_cookies,
    ))
}
