//! The development identity provider that `korpu demo` uses (`dev_idp = true`): a tiny OpenID
//! Connect provider inside the portal process at `/dev-idp`, speaking the same protocol as a
//! real one (discovery, authorization code + PKCE S256, ES256-signed ID tokens, JWKS), so the
//! portal's relying-party code path is the production one.
//!
//! It is NOT an identity provider: anyone may type any personal id. Every page says so. Its
//! codes and key live in memory only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, Markup, DOCTYPE};
use serde_json::{json, Value};

use crate::i18n::{Lang, Msg};
use crate::server::{now, AppState};

struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    challenge: String,
    sub: String,
    name: String,
    email: String,
    expires_at: i64,
}

/// The provider's key and outstanding codes.
pub struct DevIdp {
    issuer: String,
    key: ring::signature::EcdsaKeyPair,
    kid: String,
    codes: Mutex<HashMap<String, Grant>>,
}

impl DevIdp {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            key: crate::oidc::generate_es256(),
            kid: format!("dev-{}", &crate::oidc::random_token(6)),
            codes: Mutex::new(HashMap::new()),
        }
    }
}

type Shared = Arc<AppState>;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/dev-idp/.well-known/openid-configuration", get(discovery))
        .route("/dev-idp/jwks", get(jwks))
        .route(
            "/dev-idp/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route("/dev-idp/token", post(token))
}

fn idp(s: &AppState) -> &DevIdp {
    s.dev_idp
        .as_ref()
        .expect("routes exist only with the dev IdP")
}

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let i = &idp(&s).issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "profile", "email"],
    }))
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    let d = idp(&s);
    Json(json!({"keys": [crate::oidc::es256_jwk(&d.key, &d.kid)]}))
}

fn params(q: &str) -> HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn page(lang: Lang, body: Markup, status: StatusCode) -> Response {
    let title = lang.t(Msg::DevIdpTitle);
    let html = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/static/portal.css";
            }
            body {
                header class="devbanner" { (title) }
                main id="main" { (body) }
            }
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html.into_string(),
    )
        .into_response()
}

fn check_request(s: &AppState, p: &HashMap<String, String>) -> Result<(), String> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    if get("response_type") != "code" {
        return Err("response_type must be code".into());
    }
    if get("client_id") != s.cfg.oidc_client_id {
        return Err("unknown client_id".into());
    }
    if get("redirect_uri") != format!("{}/callback", s.cfg.effective_public_url()) {
        return Err("redirect_uri is not registered for this client".into());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return Err("PKCE with S256 is required".into());
    }
    if !get("scope").split(' ').any(|x| x == "openid") {
        return Err("scope must include openid".into());
    }
    Ok(())
}

async fn authorize_page(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let p = params(q.as_deref().unwrap_or(""));
    let lang = p
        .get("ui_locales")
        .and_then(|l| Lang::from_code(l.split(' ').next().unwrap_or("")))
        .unwrap_or_default();
    if let Err(e) = check_request(&s, &p) {
        let body = html! { h1 { (lang.t(Msg::ErrorTitle)) } p { (e) } };
        return page(lang, body, StatusCode::BAD_REQUEST);
    }
    page(lang, login_form(lang, &p), StatusCode::OK)
}

/// The sign-in form: the relying party's request passed on in hidden fields, and the
/// identity the tester types (prefilled with the demo citizen).
fn login_form(lang: Lang, request: &HashMap<String, String>) -> Markup {
    let passed_on = [
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "scope",
    ];
    let fields = [
        ("pin", Msg::DevIdpPin, "AZ1234567", "text", "off"),
        ("name", Msg::DevIdpName, "Aysel Məmmədova", "text", "name"),
        (
            "email",
            Msg::DevIdpEmail,
            "aysel@example.az",
            "email",
            "email",
        ),
    ];
    html! {
        h1 { (lang.t(Msg::Login)) }
        form method="post" action="/dev-idp/authorize" novalidate {
            @for k in passed_on {
                input type="hidden" name=(k) value=(request.get(k).map(String::as_str).unwrap_or(""));
            }
            @for (id, key, value, ty, ac) in fields {
                div class="field" {
                    label for=(id) { (lang.t(key)) }
                    input type=(ty) id=(id) name=(id) value=(value) autocomplete=(ac);
                }
            }
            button class="button" type="submit" { (lang.t(Msg::Continue)) }
        }
    }
}

async fn authorize_submit(State(s): State<Shared>, body: Bytes) -> Response {
    let mut p = params(std::str::from_utf8(&body).unwrap_or(""));
    p.insert("response_type".into(), "code".into());
    p.insert("code_challenge_method".into(), "S256".into());
    if let Err(e) = check_request(&s, &p) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    let get = |k: &str| p.get(k).cloned().unwrap_or_default();
    let sub = get("pin").trim().to_owned();
    if sub.is_empty() || sub.len() > 64 || !sub.chars().all(|c| c.is_ascii_alphanumeric()) {
        let body = html! { h1 { "?" } p { "FIN: A-Z, 0-9" } };
        return page(Lang::Az, body, StatusCode::BAD_REQUEST);
    }
    let code = crate::oidc::random_token(24);
    let grant = Grant {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        nonce: get("nonce"),
        challenge: get("code_challenge"),
        sub,
        name: get("name"),
        email: get("email"),
        expires_at: now() + 60,
    };
    let to = format!(
        "{}?{}",
        grant.redirect_uri,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", &get("state"))
            .append_pair("iss", &idp(&s).issuer)
            .finish()
    );
    let mut codes = idp(&s).codes.lock().expect("lock");
    let t = now();
    codes.retain(|_, g| g.expires_at > t);
    codes.insert(code, grant);
    Redirect::to(&to).into_response()
}

async fn token(State(s): State<Shared>, body: Bytes) -> Response {
    let p = params(std::str::from_utf8(&body).unwrap_or(""));
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let refuse = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response();
    if get("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type");
    }
    let d = idp(&s);
    // Codes are single use: taken out of the map whatever happens next.
    let Some(g) = d.codes.lock().expect("lock").remove(get("code")) else {
        return refuse("invalid_grant");
    };
    if g.expires_at < now()
        || g.client_id != get("client_id")
        || g.redirect_uri != get("redirect_uri")
        || crate::oidc::pkce_challenge(get("code_verifier")) != g.challenge
    {
        return refuse("invalid_grant");
    }
    let t = now();
    let claims = json!({"iss": d.issuer, "sub": g.sub, "aud": g.client_id, "nonce": g.nonce,
                        "iat": t, "exp": t + 300, "name": g.name, "email": g.email});
    let id_token = crate::oidc::sign_es256(&d.key, &d.kid, &claims);
    Json(
        json!({"access_token": crate::oidc::random_token(24), "token_type": "Bearer",
                "expires_in": 300, "id_token": id_token}),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{HOSTILE, HOSTILE_ESCAPED};

    /// The relying party's parameters come from the query string anyone can write.
    #[test]
    fn the_passed_on_request_is_escaped() {
        let request: HashMap<String, String> = ["state", "redirect_uri"]
            .into_iter()
            .map(|k| (k.to_owned(), HOSTILE.to_owned()))
            .collect();
        let html = login_form(Lang::En, &request).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(&format!(
            "<input type=\"hidden\" name=\"state\" value=\"{HOSTILE_ESCAPED}\">"
        )));
    }
}
