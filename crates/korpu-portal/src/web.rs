//! What every page shares: the request context (language, session, the path for language
//! links and `next`), its extractors [`Ctx`] and [`Citizen`], the page frame, redirects with
//! cookies, CSRF checks, and [`PageError`], the one error type whose response is the 404/403/
//! 500 (or other status) message page.
//!
//! A `PageError` needs the request's context to render (language, signed-in user, cookies to
//! set), which `IntoResponse` does not get; so its response only carries the error, and the
//! [`render_errors`] middleware, which sees the context the handler extracted, renders it.
//! Nothing here decides who may see what: handlers do, with [`Citizen`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use maud::{html, Markup};

use crate::html::url_part;
use crate::i18n::{Lang, Msg};
use crate::layout::{csrf_input, page, Frame};
use crate::server::{now, same, sha256_hex, AppState, Shared};
use crate::store::Session;

/// What a page handler returns: the page, or the error page to render in its place.
pub(crate) type Page = Result<Response, PageError>;

pub(crate) fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

pub(crate) fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn query_get(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Everything a handler needs about who is asking, in which language; an extractor (below).
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) lang: Lang,
    /// The path and query of this request without `lang`, for language links and `next`.
    pub(crate) path: String,
    pub(crate) session: Option<(String, Session)>,
    pub(crate) set_cookies: Vec<String>,
    unread: i64,
}

impl Ctx {
    pub(crate) fn citizen(&self) -> Option<&Session> {
        self.session.as_ref().map(|(_, s)| s)
    }
}

/// The request's language (a `lang` query also sets the cookie), session (its idle expiry pushed
/// forward) and unread count. Handlers take the [`Ctx`] extractor, which calls this once.
async fn ctx(s: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> Ctx {
    let jar = cookies(headers);
    let q = query_pairs(uri.query());
    let mut set_cookies = Vec::new();
    let from_query = query_get(&q, "lang").and_then(|c| Lang::from_code(&c));
    let lang = match from_query {
        Some(l) => {
            set_cookies.push(s.cookie("lang", l.code(), 365 * 86_400, false));
            l
        }
        None => jar
            .get("lang")
            .and_then(|c| Lang::from_code(c))
            .unwrap_or_default(),
    };
    let rest: Vec<(String, String)> = q.into_iter().filter(|(k, _)| k != "lang").collect();
    let path = if rest.is_empty() {
        page_path(uri.path())
    } else {
        format!(
            "{}?{}",
            page_path(uri.path()),
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish()
        )
    };
    let mut session = None;
    let mut unread = 0;
    if let Some(id) = jar.get(s.session_cookie) {
        let hash = sha256_hex(id);
        if let Ok(Some(sess)) = s.store.session(&hash, now()).await {
            // Idle timeout: each request pushes the expiry forward, at most once a minute.
            let fresh = now() + s.cfg.session_ttl_secs as i64;
            if fresh - sess.expires_at > 60 {
                let _ = s.store.touch_session(&hash, fresh).await;
            }
            unread = s.store.unread_count(&sess.citizen).await.unwrap_or(0);
            session = Some((hash, sess));
        }
    }
    Ctx {
        lang,
        path,
        session,
        set_cookies,
        unread,
    }
}

pub(crate) fn html_page(
    s: &AppState,
    c: &Ctx,
    status: StatusCode,
    section: &str,
    title: &str,
    body: Markup,
) -> Response {
    let frame = Frame {
        lang: c.lang,
        path: &c.path,
        user: c.citizen().map(|u| (u.name.as_str(), u.csrf.as_str())),
        unread: c.unread,
        section,
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page(&frame, title, body),
    )
        .into_response();
    for ck in &c.set_cookies {
        if let Ok(v) = HeaderValue::from_str(ck) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&s.csp()) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp
}

pub(crate) fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut r = Redirect::to(to).into_response();
    for ck in cookies {
        if let Ok(v) = HeaderValue::from_str(ck) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Checks the CSRF token of a posted form against the session's.
fn csrf_ok(c: &Ctx, posted: &[(String, String)]) -> bool {
    match (c.citizen(), query_get(posted, "csrf")) {
        (Some(u), Some(t)) => same(&u.csrf, &t),
        _ => false,
    }
}

/// The fields of a posted form, once its CSRF token matches the session's; otherwise the page
/// that refuses it (403).
pub(crate) fn checked_form(c: &Ctx, body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    let posted = query_pairs(std::str::from_utf8(body).ok());
    if csrf_ok(c, &posted) {
        Ok(posted)
    } else {
        Err(PageError::status(StatusCode::FORBIDDEN, Msg::CsrfFailed))
    }
}

/// The hidden CSRF field of a form the signed-in citizen `u` posts.
pub(crate) fn csrf_field(u: &Session) -> Markup {
    csrf_input(&u.csrf)
}

/// The message page of a [`PageError`]: a title, a text and a link to the catalogue.
fn message_page(s: &AppState, c: &Ctx, status: StatusCode, title_key: Msg, text: &str) -> Response {
    let body = html! {
        h1 { (c.lang.t(title_key)) }
        p { (text) }
        p { a href="/services" { (c.lang.t(Msg::NavServices)) } }
    };
    html_page(s, c, status, "", c.lang.t(title_key), body)
}

pub(crate) fn fmt_time(t: i64) -> String {
    let ts = korpu_conf::Timestamp::from_unix(t.max(0) as u64).to_string();
    // 2026-11-23T21:30:00Z → 2026-11-23 21:30 UTC
    let ts = ts.trim_end_matches('Z');
    match ts.split_once('T') {
        Some((d, t)) => format!("{d} {} UTC", &t[..t.len().min(5)]),
        None => ts.to_owned(),
    }
}

/// A request path made safe to write back into a page: leading slashes and backslashes
/// collapsed to one `/`, so `//evil.example/x` (a valid request target) never becomes a
/// link to another origin.
pub(crate) fn page_path(p: &str) -> String {
    format!("/{}", p.trim_start_matches(['/', '\\']))
}

impl FromRequestParts<Shared> for Ctx {
    type Rejection = Infallible;

    /// Computed once per request (the session lookup is a database query): a second extractor
    /// in the same request, e.g. [`Citizen`], reuses it, and the [`render_errors`] middleware
    /// gets a copy to render an error page with.
    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, Infallible> {
        if let Some(c) = parts.extensions.get::<Ctx>() {
            return Ok(c.clone());
        }
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let c = ctx(s, &parts.headers, &uri).await;
        parts.extensions.insert(c.clone());
        if let Some(slot) = parts.extensions.get::<CtxSlot>() {
            *slot.0.lock().expect("lock") = Some(c.clone());
        }
        Ok(c)
    }
}

/// The signed-in citizen; without a session the request is answered with a redirect to sign
/// in that comes back to this page (`/login?next=…`), keeping the cookies the context sets.
pub(crate) struct Citizen(pub(crate) Session);

impl FromRequestParts<Shared> for Citizen {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, Response> {
        let Ok(c) = Ctx::from_request_parts(parts, s).await;
        match c.citizen() {
            Some(u) => Ok(Citizen(u.clone())),
            None => Err(redirect(
                &format!("/login?next={}", url_part(&c.path)),
                &c.set_cookies,
            )),
        }
    }
}

/// The one error type of page handlers: a status and the message page that explains it.
#[derive(Clone, Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    title: Msg,
    text: Text,
    /// Cookies set on the error page besides the context's (e.g. a spent sign-in cookie).
    cookies: Vec<String>,
}

#[derive(Clone, Debug)]
enum Text {
    /// A message key, translated when rendered.
    Key(Msg),
    /// A text shown as is (an error's description).
    Raw(String),
}

impl PageError {
    /// 404 with the "not found" page.
    pub(crate) fn not_found() -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            title: Msg::NotFound,
            text: Text::Key(Msg::NotFoundLead),
            cookies: Vec::new(),
        }
    }

    /// `status` with the error title and the message `key`.
    pub(crate) fn status(status: StatusCode, key: Msg) -> Self {
        PageError {
            status,
            title: Msg::ErrorTitle,
            text: Text::Key(key),
            cookies: Vec::new(),
        }
    }

    /// `status` with the error title and `text` as is.
    pub(crate) fn text(status: StatusCode, text: impl std::fmt::Display) -> Self {
        PageError {
            status,
            title: Msg::ErrorTitle,
            text: Text::Raw(text.to_string()),
            cookies: Vec::new(),
        }
    }

    /// 500 with `e`'s description.
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::text(StatusCode::INTERNAL_SERVER_ERROR, e)
    }

    /// Sets `cookie` too (a `Set-Cookie` value).
    pub(crate) fn with_cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }

    fn render(self, s: &AppState, c: &Ctx) -> Response {
        let mut c = c.clone();
        c.set_cookies.extend(self.cookies);
        let text = match &self.text {
            Text::Key(k) => c.lang.t(*k),
            Text::Raw(t) => t.as_str(),
        };
        message_page(s, &c, self.status, self.title, text)
    }
}

impl IntoResponse for PageError {
    /// Only the status and the error itself: [`render_errors`] turns it into the page.
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// Where the [`Ctx`] extractor leaves the request's context for [`render_errors`].
#[derive(Clone, Default)]
struct CtxSlot(Arc<Mutex<Option<Ctx>>>);

/// Renders a [`PageError`] a handler returned as the message page, in the request's context.
pub(crate) async fn render_errors(
    State(s): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = CtxSlot::default();
    req.extensions_mut().insert(slot.clone());
    let headers = req.headers().clone();
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let mut resp = next.run(req).await;
    let Some(err) = resp.extensions_mut().remove::<PageError>() else {
        return resp;
    };
    let known = slot.0.lock().expect("lock").take();
    let c = match known {
        Some(c) => c,
        // A handler that failed before extracting its context.
        None => ctx(&s, &headers, &uri).await,
    };
    err.render(&s, &c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_have_one_leading_slash() {
        assert_eq!(page_path("//evil.example/x"), "/evil.example/x");
        assert_eq!(page_path("/\\evil.example/x"), "/evil.example/x");
        assert_eq!(page_path("/services"), "/services");
    }
}
