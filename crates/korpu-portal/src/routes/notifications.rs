//! The citizen's notifications, newest first; opening the page marks them read.

use axum::extract::State;
use axum::http::StatusCode;
use maud::html;

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
    let body = html! {
        h1 { (l.t(Msg::NotificationsTitle)) }
        @if list.is_empty() {
            p { (l.t(Msg::NoNotifications)) }
        } @else {
            ul class="cards" {
                @for n in &list {
                    @let text = crate::notify::text(conf.as_deref(), l, &n.kind, &n.subject);
                    li {
                        p class="meta" { (fmt_time(n.created_at)) }
                        p {
                            @if n.read_at.is_none() { strong { (text) } } @else { (text) }
                            " "
                            a href=(n.link) { (l.t(Msg::Continue)) }
                        }
                    }
                }
            }
        }
    };
    let title = l.t(Msg::NotificationsTitle);
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "notifications",
        title,
        body,
    ))
}
