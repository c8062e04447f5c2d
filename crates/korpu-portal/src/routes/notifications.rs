//! The citizen's notifications, newest first; opening the page marks them read.

use axum::extract::State;
use axum::http::StatusCode;

use crate::html::Html;
use crate::i18n::Msg;
use crate::server::{now, Shared};
use crate::web::{fmt_time, html_page, Citizen, Ctx, Page};

pub(crate) async fn notifications(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Page {
    let l = c.lang;
    let list = s
        .store
        .notifications_of(&u.citizen)
        .await
        .unwrap_or_default();
    let _ = s.store.mark_read(&u.citizen, now()).await;
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::NotificationsTitle));
    if list.is_empty() {
        h.el("p", &[], l.t(Msg::NoNotifications));
    } else {
        h.raw("<ul class=\"cards\">");
        for n in list {
            h.raw("<li>");
            h.el("p", &[("class", "meta")], &fmt_time(n.created_at));
            h.raw("<p>");
            if n.read_at.is_none() {
                h.raw("<strong>");
            }
            h.text(&crate::notify::text(
                conf.as_deref(),
                l,
                &n.kind,
                &n.subject,
            ));
            if n.read_at.is_none() {
                h.raw("</strong>");
            }
            h.raw(" ");
            h.a(&n.link, l.t(Msg::Continue));
            h.raw("</p></li>");
        }
        h.raw("</ul>");
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "notifications",
        l.t(Msg::NotificationsTitle),
        maud::PreEscaped(h.0),
    ))
}
