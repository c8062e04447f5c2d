//! Signing in and out with OpenID Connect (authorization code with PKCE, state bound to the
//! browser by a pre-login cookie, nonce, ID token checked against the provider's keys), the
//! per-address rate limit on sign-in, and the rule for where `next` may lead.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::i18n::Msg;
use crate::oidc;
use crate::server::{now, same, sha256_hex, AppState, Provider, Shared};
use crate::store::{PendingLogin, Session};
use crate::web::{checked_form, cookies, query_get, query_pairs, redirect, Ctx, Page, PageError};

/// Only same-origin paths may be a `next`: an open redirect would let a phishing link borrow
/// the portal's address. Anything else becomes `/`; no `next` at all, `/applications`.
fn safe_next(next: Option<String>) -> String {
    match next {
        None => "/applications".into(),
        Some(n) if is_local_path(&n) => n,
        Some(_) => "/".into(),
    }
}

/// Whether `p`, sent as a `Location`, stays on this origin whatever a browser does with it.
/// The WHATWG URL parser drops tabs and newlines (`/\t/evil` is `//evil`), treats `\` as `/`
/// in http(s) URLs (`/\evil` is `//evil`), and `//host` is another origin; so a path must start
/// with exactly one `/`, and neither it nor its percent-decoded forms (`%09`, `%5C`, …, a
/// handler might decode them and redirect again) may hold a backslash, a control character
/// or a second leading slash.
pub(crate) fn is_local_path(p: &str) -> bool {
    let ok = |b: &[u8]| {
        b.first() == Some(&b'/')
            && b.get(1) != Some(&b'/')
            && !b.iter().any(|&c| c == b'\\' || c < 0x20 || c == 0x7f)
    };
    if p.len() >= 2000 || !ok(p.as_bytes()) {
        return false;
    }
    // Decoded until nothing changes (a few rounds at most: each one shortens the text).
    let mut form = p.as_bytes().to_vec();
    for _ in 0..4 {
        let decoded: Vec<u8> = percent_encoding::percent_decode(&form).collect();
        if decoded == form {
            return true;
        }
        if !ok(&decoded) {
            return false;
        }
        form = decoded;
    }
    false
}

/// Counts a sign-in attempt from `ip`; over the per-minute limit, the 429 page.
fn rate_limit(s: &AppState, ip: IpAddr) -> Result<(), PageError> {
    let minute = now() / 60;
    let mut m = s.rate.lock().expect("lock");
    if m.len() > 100_000 {
        m.retain(|_, (min, _)| *min == minute);
    }
    let e = m.entry(ip).or_insert((minute, 0));
    if e.0 != minute {
        *e = (minute, 0);
    }
    e.1 += 1;
    if e.1 <= s.cfg.login_rate_per_minute {
        Ok(())
    } else {
        Err(PageError::status(
            StatusCode::TOO_MANY_REQUESTS,
            Msg::TooMany,
        ))
    }
}

async fn provider(s: &AppState, refresh_keys: bool) -> Result<Provider, oidc::OidcError> {
    if !refresh_keys {
        if let Some(p) = s.provider.read().await.clone() {
            return Ok(p);
        }
    }
    let discovery = oidc::discover(&s.http, &s.issuer).await?;
    let jwks = oidc::fetch_jwks(&s.http, &discovery).await?;
    let p = Provider { discovery, jwks };
    *s.provider.write().await = Some(p.clone());
    Ok(p)
}

fn redirect_uri(s: &AppState) -> String {
    format!("{}/callback", s.public_url)
}

pub(crate) async fn login(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    c: Ctx,
    RawQuery(q): RawQuery,
) -> Page {
    rate_limit(&s, peer.ip())?;
    let next = safe_next(query_get(&query_pairs(q.as_deref()), "next"));
    let p = match provider(&s, false).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "identity provider unavailable");
            return Err(PageError::status(StatusCode::BAD_GATEWAY, Msg::LoginFailed));
        }
    };
    let state = oidc::random_token(24);
    let nonce = oidc::random_token(24);
    let verifier = oidc::random_token(48);
    let pending = PendingLogin {
        nonce: nonce.clone(),
        verifier: verifier.clone(),
        next,
        created_at: now(),
    };
    if let Err(e) = s.store.insert_login(&state, &pending).await {
        return Err(PageError::internal(e));
    }
    let url = oidc::authorize_url(
        &p.discovery,
        &s.cfg.oidc_client_id,
        &redirect_uri(&s),
        "openid profile email",
        &state,
        &nonce,
        &oidc::pkce_challenge(&verifier),
        c.lang.code(),
    );
    // Login CSRF (RFC 6749 §10.12): the state, and with it the nonce and PKCE verifier kept
    // under it, belongs to this browser only. SameSite=Lax still sends it on the provider's
    // top-level redirect back to /callback; an attacker's callback link, opened in a victim's
    // browser, arrives without it.
    let mut cookies = c.set_cookies.clone();
    cookies.push(s.cookie(s.login_cookie(), &state, LOGIN_TTL_SECS, true));
    Ok(redirect(&url, &cookies))
}

/// How long a sign-in may take between /login and /callback.
const LOGIN_TTL_SECS: i64 = 600;

pub(crate) async fn callback(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    c: Ctx,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Page {
    rate_limit(&s, peer.ip())?;
    let q = query_pairs(uri.query());
    // The pre-login cookie is spent whatever happens next.
    let spent = s.cookie(s.login_cookie(), "", 0, true);
    let fail = |why: &str| {
        tracing::warn!(reason = %why, "sign-in failed");
        Err(PageError::status(StatusCode::BAD_REQUEST, Msg::LoginFailed).with_cookie(spent.clone()))
    };
    let (Some(code), Some(state)) = (query_get(&q, "code"), query_get(&q, "state")) else {
        return fail(&format!(
            "no code: {}",
            query_get(&q, "error").unwrap_or_default()
        ));
    };
    // Checked before the state is looked up (and spent): a link made for another browser
    // neither signs this one in nor spoils the sign-in it was made for.
    if !cookies(&headers)
        .get(s.login_cookie())
        .is_some_and(|mine| same(mine, &state))
    {
        return fail("the state does not belong to this browser (no or another pre-login cookie)");
    }
    let pending = match s.store.take_login(&state).await {
        Ok(Some(p)) if now() - p.created_at < LOGIN_TTL_SECS => p,
        _ => return fail("unknown or expired state"),
    };
    let p = match provider(&s, false).await {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    let token = match oidc::exchange_code(
        &s.http,
        &p.discovery,
        &s.cfg.oidc_client_id,
        &s.cfg.oidc_client_secret,
        &redirect_uri(&s),
        &code,
        &pending.verifier,
    )
    .await
    {
        Ok(t) => t,
        Err(e) => return fail(&e.to_string()),
    };
    // A key id the cached JWKS lacks means the provider rotated its keys: fetch them again.
    let p = match oidc::token_kid(&token) {
        Some(kid) if !oidc::jwks_has(&p.jwks, &kid) => match provider(&s, true).await {
            Ok(p) => p,
            Err(e) => return fail(&e.to_string()),
        },
        _ => p,
    };
    let claims = match oidc::verify_id_token(
        &token,
        &p.jwks,
        &p.discovery.issuer,
        &s.cfg.oidc_client_id,
        &pending.nonce,
        now(),
    ) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let Some(citizen) = claims
        .get(&s.cfg.oidc_id_claim)
        .and_then(Value::as_str)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 100
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
    else {
        return fail("the ID token lacks the configured personal id claim");
    };
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(citizen)
        .chars()
        .take(200)
        .collect::<String>();
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(254)
        .collect::<String>();
    let sid = oidc::random_token(32);
    let session = Session {
        citizen: citizen.to_owned(),
        name,
        email,
        csrf: oidc::random_token(32),
        expires_at: now() + s.cfg.session_ttl_secs as i64,
    };
    if let Err(e) = s
        .store
        .insert_session(&sha256_hex(&sid), &session, now())
        .await
    {
        return fail(&e.to_string());
    }
    tracing::info!("citizen signed in");
    let mut cookies = c.set_cookies.clone();
    cookies.push(spent);
    cookies.push(s.cookie(s.session_cookie, &sid, s.cfg.session_ttl_secs as i64, true));
    Ok(redirect(&pending.next, &cookies))
}

pub(crate) async fn logout(State(s): State<Shared>, c: Ctx, body: Bytes) -> Page {
    checked_form(&c, &body)?;
    if let Some((hash, _)) = &c.session {
        let _ = s.store.delete_session(hash).await;
    }
    let mut cookies = c.set_cookies.clone();
    cookies.push(s.cookie(s.session_cookie, "", 0, true));
    Ok(redirect("/", &cookies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next(Some("/services?q=x".into())), "/services?q=x");
        assert_eq!(safe_next(None), "/applications");
        assert_eq!(safe_next(Some("//evil.example/".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example/".into())), "/");
        assert_eq!(safe_next(Some("/\\evil".into())), "/");
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    /// `/login?next=/%09/evil.example/` used to redirect to `/\t/evil.example/`, which a
    /// browser's URL parser reads as `//evil.example/` (issue 13, item 12).
    #[test]
    fn next_refuses_what_a_browser_would_take_off_site() {
        for bad in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r/evil.example/",
            "/%09/evil.example/",
            "/%0a/evil.example/",
            "/%0D/evil.example/",
            "/\\evil",
            "/%5cevil",
            "/%5Cevil.example/",
            "//evil",
            "/%2f/evil.example/",
            "/%252f/evil.example/",
            "/%2509/evil.example/",
            "\\/evil",
            " /evil",
            "\t/evil",
            "evil",
            "/x\u{7f}",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad:?} was accepted");
            assert_eq!(safe_next(Some(bad.into())), "/", "{bad:?}");
        }
        for good in [
            "/",
            "/services?q=benefit",
            "/applications/42",
            "/a%20b",
            "/tracker#x",
        ] {
            assert!(is_local_path(good), "{good:?} was refused");
        }
    }
}
