//! The portal as an OpenID Connect relying party: discovery, the authorization code flow with
//! PKCE (S256), `state` and `nonce`, the token exchange (`client_secret_basic`, or `none` for a
//! public client), and ID token verification (RS256 and ES256 with `ring`, against the
//! issuer's JWKS; `iss`, `aud`/`azp`, `exp`, `iat` and `nonce` checked).
//!
//! It does not use access tokens or the UserInfo endpoint: the portal needs only who the
//! citizen is, which the signed ID token says. Token verification is a pure function
//! ([`verify_id_token`]); the HTTP calls are thin.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::signature;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What went wrong while signing a citizen in.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered wrongly: {0}")]
    Protocol(String),
    #[error("the ID token was refused: {0}")]
    BadToken(String),
}

/// The parts of the provider's discovery document the portal uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Allowed clock difference with the provider.
const SKEW_SECS: i64 = 120;

/// Random bytes as base64url (state, nonce, PKCE verifier, session ids).
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    B64URL.encode(b)
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// Fetches and checks the discovery document: its `issuer` must be exactly the configured one
/// (OpenID Connect Discovery §4.3), or tokens could be accepted from a look-alike.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, OidcError> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| OidcError::Unreachable(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(OidcError::Protocol(format!(
            "{url} answered {}",
            resp.status()
        )));
    }
    let d: Discovery = resp
        .json()
        .await
        .map_err(|e| OidcError::Protocol(format!("{url}: not a discovery document: {e}")))?;
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(OidcError::Protocol(format!(
            "the discovery document names issuer {:?}, but the portal is configured for {issuer:?}",
            d.issuer
        )));
    }
    Ok(d)
}

/// The URL the browser is sent to.
#[allow(clippy::too_many_arguments)]
pub fn authorize_url(
    d: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    nonce: &str,
    challenge: &str,
    ui_locales: &str,
) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("ui_locales", ui_locales)
        .finish();
    let sep = if d.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{q}", d.authorization_endpoint)
}

/// Exchanges the code for tokens; returns the ID token.
pub async fn exchange_code(
    http: &reqwest::Client,
    d: &Discovery,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Result<String, OidcError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ];
    let mut req = http.post(&d.token_endpoint);
    if client_secret.is_empty() {
        form.push(("client_id", client_id));
    } else {
        // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        req = req.basic_auth(enc(client_id), Some(enc(client_secret)));
    }
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let resp = req
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| OidcError::Unreachable(format!("token endpoint: {e}")))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| OidcError::Protocol(format!("token endpoint: not JSON: {e}")))?;
    if !status.is_success() {
        return Err(OidcError::Protocol(format!(
            "token endpoint refused the code ({status}): {} {}",
            v["error"].as_str().unwrap_or(""),
            v["error_description"].as_str().unwrap_or("")
        )));
    }
    v["id_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| OidcError::Protocol("the token response has no id_token".into()))
}

pub async fn fetch_jwks(http: &reqwest::Client, d: &Discovery) -> Result<Value, OidcError> {
    let resp = http
        .get(&d.jwks_uri)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| OidcError::Unreachable(format!("{}: {e}", d.jwks_uri)))?;
    resp.json()
        .await
        .map_err(|e| OidcError::Protocol(format!("{}: not a JWK set: {e}", d.jwks_uri)))
}

fn b64(field: &str, s: &str) -> Result<Vec<u8>, OidcError> {
    B64URL
        .decode(s.trim_end_matches('='))
        .map_err(|_| OidcError::BadToken(format!("{field} is not base64url")))
}

/// The header's `kid`, to know whether the cached JWKS has the key.
pub fn token_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let h: Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
    h["kid"].as_str().map(str::to_owned)
}

/// Whether `jwks` holds a key with this id.
pub fn jwks_has(jwks: &Value, kid: &str) -> bool {
    jwks["keys"]
        .as_array()
        .is_some_and(|ks| ks.iter().any(|k| k["kid"].as_str() == Some(kid)))
}

/// Verifies an ID token's signature and claims; returns its claims.
pub fn verify_id_token(
    token: &str,
    jwks: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<Map<String, Value>, OidcError> {
    let bad = |m: String| OidcError::BadToken(m);
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS (three dot-separated parts)".into()));
    };
    let header: Value = serde_json::from_slice(&b64("header", h64)?)
        .map_err(|_| bad("the header is not JSON".into()))?;
    let alg = header["alg"].as_str().unwrap_or("");
    let kid = header["kid"].as_str();
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        // `none` and HMAC algorithms are refused outright: a token must be signed by the
        // provider's published key, not by a secret the client also knows.
        other => {
            return Err(bad(format!(
                "signature algorithm {other:?} is not accepted (RS256, ES256)"
            )))
        }
    };
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let candidates: Vec<&Value> = keys
        .iter()
        .filter(|k| k["kty"].as_str() == Some(kty))
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .filter(|k| kid.is_none_or(|kid| k["kid"].as_str() == Some(kid)))
        .collect();
    if candidates.is_empty() {
        return Err(bad(format!("no {kty} key {kid:?} in the provider's JWKS")));
    }
    let signed = format!("{h64}.{p64}");
    let sig = b64("signature", s64)?;
    let verified = candidates.iter().any(|k| {
        let str_of = |f: &str| k[f].as_str().and_then(|s| B64URL.decode(s).ok());
        match alg {
            "RS256" => match (str_of("n"), str_of("e")) {
                (Some(n), Some(e)) => signature::RsaPublicKeyComponents { n, e }
                    .verify(
                        &signature::RSA_PKCS1_2048_8192_SHA256,
                        signed.as_bytes(),
                        &sig,
                    )
                    .is_ok(),
                _ => false,
            },
            _ => match (str_of("x"), str_of("y")) {
                (Some(x), Some(y)) if k["crv"] == "P-256" && x.len() == 32 && y.len() == 32 => {
                    let mut point = vec![4u8];
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                        .verify(signed.as_bytes(), &sig)
                        .is_ok()
                }
                _ => false,
            },
        }
    });
    if !verified {
        return Err(bad(
            "the signature does not verify with the provider's key".into()
        ));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64("payload", p64)?)
        .map_err(|_| bad("the payload is not a JSON object".into()))?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(bad(format!(
            "iss is {:?}, expected {issuer:?}",
            claims.get("iss")
        )));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => {
            a.iter().any(|x| x.as_str() == Some(client_id))
                && (a.len() == 1 || claims.get("azp").and_then(Value::as_str) == Some(client_id))
        }
        _ => false,
    };
    if !aud_ok {
        return Err(bad(format!(
            "the token is not for this client (aud {:?})",
            claims.get("aud")
        )));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp + SKEW_SECS < now {
        return Err(bad("the token has expired".into()));
    }
    if claims.get("iat").and_then(Value::as_i64).unwrap_or(0) > now + SKEW_SECS {
        return Err(bad("the token was issued in the future".into()));
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        // A token minted for another sign-in (replayed or injected) carries another nonce.
        return Err(bad("the nonce does not match this sign-in".into()));
    }
    Ok(claims)
}

/// Signs a JWT with ES256 (the development provider's tokens; tests).
pub fn sign_es256(key: &signature::EcdsaKeyPair, kid: &str, claims: &Value) -> String {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let signed = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), signed.as_bytes())
        .expect("ECDSA signing with a valid key does not fail");
    format!("{signed}.{}", B64URL.encode(sig.as_ref()))
}

/// An ES256 public key as a JWK.
pub fn es256_jwk(key: &signature::EcdsaKeyPair, kid: &str) -> Value {
    use signature::KeyPair;
    let p = key.public_key().as_ref();
    serde_json::json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                       "x": B64URL.encode(&p[1..33]), "y": B64URL.encode(&p[33..65])})
}

/// A fresh ES256 key pair.
pub fn generate_es256() -> signature::EcdsaKeyPair {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key generation works");
    signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .expect("a freshly generated key parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(now: i64) -> Value {
        json!({"iss": "https://idp", "aud": "mygov", "sub": "AZ1234567", "nonce": "n1",
               "exp": now + 300, "iat": now})
    }

    #[test]
    fn es256_tokens_verify_and_every_claim_is_checked() {
        let now = 1_800_000_000;
        let key = generate_es256();
        let jwks = json!({"keys": [es256_jwk(&key, "k1")]});
        let ok = sign_es256(&key, "k1", &claims(now));
        let c = verify_id_token(&ok, &jwks, "https://idp", "mygov", "n1", now).unwrap();
        assert_eq!(c["sub"], "AZ1234567");

        let check = |claims: Value| {
            verify_id_token(
                &sign_es256(&key, "k1", &claims),
                &jwks,
                "https://idp",
                "mygov",
                "n1",
                now,
            )
            .unwrap_err()
            .to_string()
        };
        let mut c = claims(now);
        c["iss"] = json!("https://evil");
        assert!(check(c).contains("iss"));
        let mut c = claims(now);
        c["aud"] = json!("other");
        assert!(check(c).contains("not for this client"));
        let mut c = claims(now);
        c["exp"] = json!(now - 1000);
        assert!(check(c).contains("expired"));
        let mut c = claims(now);
        c["nonce"] = json!("n2");
        assert!(check(c).contains("nonce"));

        // A token signed by another key, a tampered payload and alg=none are all refused.
        let other = generate_es256();
        let forged = sign_es256(&other, "k1", &claims(now));
        assert!(verify_id_token(&forged, &jwks, "https://idp", "mygov", "n1", now).is_err());
        let mut parts: Vec<&str> = ok.split('.').collect();
        let mut c = claims(now);
        c["sub"] = json!("AZ0000000");
        let tampered_payload = B64URL.encode(c.to_string());
        parts[1] = &tampered_payload;
        assert!(
            verify_id_token(&parts.join("."), &jwks, "https://idp", "mygov", "n1", now).is_err()
        );
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims(now).to_string())
        );
        assert!(
            verify_id_token(&none, &jwks, "https://idp", "mygov", "n1", now)
                .unwrap_err()
                .to_string()
                .contains("not accepted")
        );
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
