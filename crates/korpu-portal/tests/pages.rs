//! The pages every route shares, over real HTTP against a started portal (no global
//! configuration, no gateway): the 404 and 403 message pages in the chosen language with the
//! page CSP and the language cookie, and the redirect to sign in (keeping `next` and the
//! cookies) for every page that needs a signed-in citizen. These pin what the request-context
//! extractors and the one error type must keep doing.

mod support;

use korpu_portal::i18n::{Lang, Msg};
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

struct Portal {
    base: String,
    http: reqwest::Client,
    running: korpu_portal::RunningPortal,
    _dir: tempfile::TempDir,
}

async fn portal() -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let running = korpu_portal::start(support::config(dir.path()))
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Portal {
        base: format!("http://{}", running.addr),
        http,
        running,
        _dir: dir,
    }
}

impl Portal {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

/// Whether the response sets the language cookie to `code`.
fn sets_lang(r: &reqwest::Response, code: &str) -> bool {
    let prefix = format!("lang={code};");
    cookies(r).iter().any(|c| c.starts_with(&prefix))
}

fn cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The page CSP (with the identity provider's origin as a form target), not the default one
/// the security-headers layer puts on responses that are no page.
fn has_page_csp(r: &reqwest::Response) -> bool {
    r.headers()
        .get(CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("form-action 'self' http://"))
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_and_services_get_the_404_page_in_the_chosen_language() {
    let p = portal().await;
    for path in ["/no/such/page?lang=en", "/services/GOV/1/x/y?lang=en"] {
        let r = p.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(has_page_csp(&r), "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(sets_lang(&r, "en"), "{path}: {:?}", cookies(&r));
        let body = r.text().await.unwrap();
        assert!(body.contains(Lang::En.t(Msg::NotFound)), "{path}: {body}");
        assert!(body.contains(Lang::En.t(Msg::NotFoundLead)), "{path}");
    }
    p.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_for_citizens_redirect_to_sign_in_and_back_keeping_the_language_cookie() {
    let p = portal().await;
    for (path, next) in [
        ("/applications?lang=ru", "%2Fapplications"),
        ("/applications/A1?lang=ru", "%2Fapplications%2FA1"),
        (
            "/applications/A1/document?lang=ru",
            "%2Fapplications%2FA1%2Fdocument",
        ),
        (
            "/applications/A1/verify?lang=ru",
            "%2Fapplications%2FA1%2Fverify",
        ),
        ("/consents?lang=ru", "%2Fconsents"),
        (
            "/consents/new?client=x&lang=ru",
            "%2Fconsents%2Fnew%3Fclient%3Dx",
        ),
        ("/notifications?lang=ru", "%2Fnotifications"),
        ("/tracker?lang=ru", "%2Ftracker"),
        (
            "/services/GOV/1/x/y/apply?lang=ru",
            "%2Fservices%2FGOV%2F1%2Fx%2Fy%2Fapply",
        ),
    ] {
        let r = p.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            r.headers()[LOCATION].to_str().unwrap(),
            format!("/login?next={next}"),
            "{path}"
        );
        assert!(sets_lang(&r, "ru"), "{path}: {:?}", cookies(&r));
    }
    // Posts too: a signed-out post to revoke a consent or to apply is sent to sign in.
    for path in ["/consents/C1/revoke", "/services/GOV/1/x/y/apply"] {
        let r = p
            .http
            .post(format!("{}{path}", p.base))
            .body("csrf=x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(r.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?next="));
    }
    p.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_without_the_sessions_csrf_token_gets_the_403_page() {
    let p = portal().await;
    let r = p
        .http
        .post(format!("{}/logout?lang=en", p.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("csrf=guessed")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(has_page_csp(&r));
    assert!(sets_lang(&r, "en"));
    let body = r.text().await.unwrap();
    assert!(body.contains(Lang::En.t(Msg::ErrorTitle)), "{body}");
    assert!(body.contains(Lang::En.t(Msg::CsrfFailed)), "{body}");
    p.running.shutdown().await;
}
