//! The page frame every page shares: skip link, header with navigation and language switcher,
//! main landmark, footer. One function, so every page has the same landmarks and the same
//! accessible structure.

use maud::{html, Markup, DOCTYPE};

use crate::html::url_part;
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
pub fn page(f: &Frame<'_>, title: &str, body: Markup) -> String {
    let l = f.lang;
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (l.t(Msg::Site)) }
                link rel="stylesheet" href="/static/portal.css";
                script src="/static/portal.js" defer {}
            }
            body {
                a class="skip" href="#main" { (l.t(Msg::Skip)) }
                header class="site" {
                    div class="bar" {
                        a class="logo" href="/" { (l.t(Msg::Site)) }
                        (main_nav(f))
                        (language_nav(f))
                    }
                }
                @if let Some((name, _)) = f.user {
                    div class="phase" { (l.t(Msg::SignedInAs)) " " strong { (name) } }
                }
                main id="main" tabindex="-1" { (body) }
                footer class="site" { div class="bar" { (l.t(Msg::Footer)) } }
            }
        }
    }
    .into_string()
}

/// The site navigation: the catalogue for everyone, the citizen's own pages once signed in,
/// and signing in or out.
fn main_nav(f: &Frame<'_>) -> Markup {
    let l = f.lang;
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
    html! {
        nav class="main" aria-label=(l.t(Msg::Site)) {
            ul {
                @for (key, href, text) in items {
                    li { a href=(href) aria-current=[(key == f.section).then_some("page")] { (text) } }
                }
                @match f.user {
                    Some((_, csrf)) => li {
                        form method="post" action="/logout" {
                            (csrf_input(csrf))
                            button class="link-button" type="submit" { (l.t(Msg::Logout)) }
                        }
                    },
                    None => li { a href={ "/login?next=" (url_part(f.path)) } { (l.t(Msg::Login)) } },
                }
            }
        }
    }
}

/// The language switcher.
fn language_nav(f: &Frame<'_>) -> Markup {
    let l = f.lang;
    // Query-only references (`?lang=en`) keep the page's own path and origin: a link built
    // from the path itself would, for a request to `//evil.example/x`, point off-site.
    let query = f.path.split_once('?').map_or("", |(_, q)| q);
    html! {
        nav class="langs" aria-label=(l.t(Msg::Language)) {
            ul {
                @for other in Lang::ALL {
                    @let href = if query.is_empty() {
                        format!("?lang={}", other.code())
                    } else {
                        format!("?{query}&lang={}", other.code())
                    };
                    li {
                        a href=(href) lang=(other.code())
                            aria-current=[(other == l).then_some("true")]
                            hreflang=[(other != l).then_some(other.code())] { (other.native_name()) }
                    }
                }
            }
        }
    }
}

/// The hidden field that carries the session's CSRF token in every form that changes state.
pub(crate) fn csrf_input(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
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
            html! {},
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

    /// The citizen's name (text), CSRF token (attribute) and the page's path (in the sign-in
    /// and language URLs) come out escaped.
    #[test]
    fn the_frames_values_are_escaped() {
        use crate::html::{HOSTILE, HOSTILE_ESCAPED};
        let signed_in = page(
            &Frame {
                lang: Lang::En,
                path: HOSTILE,
                user: Some((HOSTILE, HOSTILE)),
                unread: 1,
                section: "",
            },
            HOSTILE,
            html! {},
        );
        assert!(!signed_in.contains("<script>"), "{signed_in}");
        assert!(signed_in.contains(&format!("<strong>{HOSTILE_ESCAPED}</strong>")));
        assert!(signed_in.contains(&format!("name=\"csrf\" value=\"{HOSTILE_ESCAPED}\"")));
        assert!(signed_in.contains(&format!("<title>{HOSTILE_ESCAPED} — myGov</title>")));
        let query = format!("/x?{HOSTILE}");
        let anonymous = frame(&query);
        assert!(!anonymous.contains("<script>"), "{anonymous}");
        assert!(anonymous.contains(&format!("href=\"/login?next={}\"", url_part(&query))));
        assert!(anonymous.contains(&format!("href=\"?{HOSTILE_ESCAPED}&amp;lang=ru\"")));
    }
}
