//! The pages and files that are no area's: the home page, the style sheet and script, the
//! health check, and the 404 for any other path.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::json;

use crate::i18n::Msg;
use crate::server::Shared;
use crate::web::{html_page, Ctx, PageError};

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/portal.css"),
    )
        .into_response()
}

pub(crate) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/portal.js"),
    )
        .into_response()
}

pub(crate) async fn health(State(s): State<Shared>) -> Response {
    let conf = s.conf();
    let body = json!({"status": if conf.is_some() { "ok" } else { "starting" },
                      "conf_version": conf.map(|c| c.version)});
    let code = if body["status"] == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

pub(crate) async fn home(State(s): State<Shared>, c: Ctx) -> Response {
    let l = c.lang;
    let body = html! {
        h1 { (l.t(Msg::HomeTitle)) }
        p class="lead" { (l.t(Msg::HomeLead)) }
        a class="button" href="/services" { (l.t(Msg::Start)) }
    };
    html_page(&s, &c, StatusCode::OK, "", l.t(Msg::Tagline), body)
}

pub(crate) async fn not_found(_c: Ctx) -> PageError {
    PageError::not_found()
}
