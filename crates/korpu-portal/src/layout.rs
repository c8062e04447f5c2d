//! The page frame every page shares: skip link, header with navigation and language switcher,
//! main landmark, footer. One function, so every page has the same landmarks and the same
//! accessible structure.

use crate::html::{esc, url_part, Html};
use crate::i18n::{Lang, Msg};

/// What the frame needs to know about the request.
pub struct Frame<'a> {
    pub lang: Lang,
    /// The path (and query, without `lang`) of this page, for the language links.
    pub path: &'a str,
    /// The signed-in citizen's display name and CSRF token, if any.
    pub user: Option<(&'a str, &'a str)>,
    pub unread: i64,
    /// Which navigation entry is current.
    pub section: &'a str,
}

/// The whole HTML document.
pub fn page(f: &Frame<'_>, title: &str, body: &str) -> String {
    let l = f.lang;
    let mut h = Html::new();
    h.raw("<!DOCTYPE html>");
    h.raw(&format!("<html lang=\"{}\">", l.code()));
    h.raw("<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    h.el("title", &[], &format!("{title} — {}", l.t(Msg::Site)));
    h.raw("<link rel=\"stylesheet\" href=\"/static/portal.css\"><script src=\"/static/portal.js\" defer></script></head><body>");
    h.raw(&format!(
        "<a class=\"skip\" href=\"#main\">{}</a>",
        esc(l.t(Msg::Skip))
    ));
    h.raw("<header class=\"site\"><div class=\"bar\">");
    h.raw(&format!(
        "<a class=\"logo\" href=\"/\">{}</a>",
        esc(l.t(Msg::Site))
    ));
    h.raw(&format!(
        "<nav class=\"main\" aria-label=\"{}\"><ul>",
        esc(l.t(Msg::Site))
    ));
    let mut items = vec![("services", "/services", l.t(Msg::NavServices).to_owned())];
    if f.user.is_some() {
        items.push((
            "applications",
            "/applications",
            l.t(Msg::NavApplications).to_owned(),
        ));
        items.push(("tracker", "/tracker", l.t(Msg::NavTracker).to_owned()));
        items.push(("consents", "/consents", l.t(Msg::NavConsents).to_owned()));
        let n = if f.unread > 0 {
            format!("{} ({})", l.t(Msg::NavNotifications), f.unread)
        } else {
            l.t(Msg::NavNotifications).to_owned()
        };
        items.push(("notifications", "/notifications", n));
    }
    for (key, href, text) in items {
        h.raw("<li>");
        if key == f.section {
            h.el("a", &[("href", href), ("aria-current", "page")], &text);
        } else {
            h.a(href, &text);
        }
        h.raw("</li>");
    }
    match f.user {
        Some((_, csrf)) => {
            h.raw("<li><form method=\"post\" action=\"/logout\">");
            h.open(
                "input",
                &[("type", "hidden"), ("name", "csrf"), ("value", csrf)],
            );
            h.raw(&format!(
                "<button class=\"link-button\" type=\"submit\">{}</button></form></li>",
                esc(l.t(Msg::Logout))
            ));
        }
        None => {
            h.raw("<li>");
            h.a(
                &format!("/login?next={}", url_part(f.path)),
                l.t(Msg::Login),
            );
            h.raw("</li>");
        }
    }
    h.raw("</ul></nav>");
    h.raw(&format!(
        "<nav class=\"langs\" aria-label=\"{}\"><ul>",
        esc(l.t(Msg::Language))
    ));
    // Query-only references (`?lang=en`) keep the page's own path and origin: a link built
    // from the path itself would, for a request to `//evil.example/x`, point off-site.
    let query = f.path.split_once('?').map_or("", |(_, q)| q);
    for other in Lang::ALL {
        h.raw("<li>");
        let href = if query.is_empty() {
            format!("?lang={}", other.code())
        } else {
            format!("?{query}&lang={}", other.code())
        };
        if other == l {
            h.el(
                "a",
                &[
                    ("href", &href),
                    ("lang", other.code()),
                    ("aria-current", "true"),
                ],
                other.native_name(),
            );
        } else {
            h.el(
                "a",
                &[
                    ("href", &href),
                    ("lang", other.code()),
                    ("hreflang", other.code()),
                ],
                other.native_name(),
            );
        }
        h.raw("</li>");
    }
    h.raw("</ul></nav></div></header>");
    if let Some((name, _)) = f.user {
        h.raw("<div class=\"phase\">");
        h.text(l.t(Msg::SignedInAs));
        h.raw(" <strong>");
        h.text(name);
        h.raw("</strong></div>");
    }
    h.raw("<main id=\"main\" tabindex=\"-1\">");
    h.raw(body);
    h.raw("</main><footer class=\"site\"><div class=\"bar\">");
    h.text(l.t(Msg::Footer));
    h.raw("</div></footer></body></html>");
    h.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(path: &str) -> String {
        page(
            &Frame {
                lang: Lang::default(),
                path,
                user: None,
                unread: 0,
                section: "",
            },
            "t",
            "",
        )
    }

    /// `GET //evil.example/x` used to give `href="//evil.example/x?lang=az"`.
    #[test]
    fn language_links_never_leave_the_origin() {
        for path in [
            "//evil.example/x",
            "/\\evil.example/x",
            "///evil.example/x?q=1",
        ] {
            let html = frame(path);
            assert!(!html.contains("href=\"//"), "{path}: {html}");
            assert!(!html.contains("href=\"/\\"), "{path}: {html}");
            assert!(!html.contains("evil.example/x?lang"), "{path}: {html}");
        }
        let html = frame("/services?q=benefit");
        assert!(html.contains("href=\"?q=benefit&amp;lang=en\""), "{html}");
        assert!(frame("/services").contains("href=\"?lang=ru\""));
    }
}
