//! The FAPI 2.0 flow through the authorisation server, and the attacks on each of its claims:
//! a replayed assertion, code or proof, a stolen token under another key, a downgraded PKCE, a
//! withdrawn consent. Keys are made with `ring` here; `openssl_ps256_assertion_is_accepted`
//! uses a key and signature that openssl made.
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use korpu_oauth::dpop;
use korpu_oauth::server::Redirect;
use korpu_oauth::{AuthServer, Client, Code, Config, Form, Jwk, OAuthError};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

const ISSUER: &str = "https://hub.example.gov.az";
const TOKEN_URL: &str = "https://hub.example.gov.az/oauth/token";
const PAR_URL: &str = "https://hub.example.gov.az/oauth/par";
const API_URL: &str = "https://hub.example.gov.az/api/tax/income";
const REDIRECT: &str = "https://bank.example.az/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const NOW: i64 = 1_800_000_000;

struct Key {
    pair: EcdsaKeyPair,
    jwk: Value,
}

fn es256() -> Key {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256",
        "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65])});
    Key { pair, jwk }
}

fn sign(key: &Key, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let sig = key
        .pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", B64URL.encode(sig.as_ref()))
}

fn jti() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    B64URL.encode(b)
}

fn assertion(key: &Key, client: &str, aud: &str, now: i64) -> String {
    sign(
        key,
        json!({"alg": "ES256"}),
        json!({"iss": client, "sub": client, "aud": aud, "jti": jti(), "iat": now, "exp": now + 60}),
    )
}

fn proof(key: &Key, htm: &str, htu: &str, now: i64, token: Option<&str>) -> String {
    let mut claims = json!({"jti": jti(), "htm": htm, "htu": htu, "iat": now});
    if let Some(t) = token {
        claims["ath"] = json!(dpop::token_hash(t));
    }
    sign(
        key,
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}),
        claims,
    )
}

struct World {
    server: AuthServer,
    client_key: Key,
    dpop_key: Key,
}

fn world() -> World {
    let client_key = es256();
    let mut server = AuthServer::new(Config::new(ISSUER));
    server.register(Client {
        id: "kapital-bank".into(),
        name: "Kapital Bank ASC".into(),
        redirect_uris: vec![REDIRECT.into()],
        keys: vec![Jwk::from_json(&client_key.jwk).unwrap()],
        scopes: vec!["income".into()],
        open_scopes: vec!["rates".into()],
    });
    World {
        server,
        client_key,
        dpop_key: es256(),
    }
}

impl World {
    fn form(&self, extra: &[(&str, &str)], now: i64) -> Form {
        let a = assertion(&self.client_key, "kapital-bank", ISSUER, now);
        let mut pairs: Vec<(String, String)> = vec![
            (
                "client_assertion_type".into(),
                korpu_oauth::client_auth::ASSERTION_TYPE.into(),
            ),
            ("client_assertion".into(), a),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Form::new(pairs).unwrap()
    }

    fn dpop(&mut self, key: Option<&Key>, htm: &str, htu: &str, now: i64) -> dpop::Verified {
        let key = key.unwrap_or(&self.dpop_key);
        let p = proof(key, htm, htu, now, None);
        self.server
            .check_dpop(
                &p,
                &dpop::Request {
                    method: htm,
                    uri: htu,
                    access_token: None,
                    nonce: None,
                    now,
                },
            )
            .unwrap()
    }

    fn par(&mut self, now: i64) -> String {
        let form = self.form(
            &[
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("scope", "income"),
                ("state", "s-123"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
            now,
        );
        let p = self.dpop(None, "POST", PAR_URL, now);
        self.server.push(&form, Some(&p), now).unwrap().0
    }

    fn code(&mut self, now: i64) -> String {
        let uri = self.par(now);
        let pushed = self.server.authorize("kapital-bank", &uri, now).unwrap();
        let Redirect(url) = self
            .server
            .approve(pushed, "AZE-1234567", Some("consent-1"), now);
        let url = url::Url::parse(&url).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "s-123");
        assert_eq!(q["iss"], ISSUER, "RFC 9207");
        q["code"].clone()
    }

    fn redeem(
        &mut self,
        code: &str,
        key: Option<&Key>,
        now: i64,
    ) -> Result<korpu_oauth::TokenResponse, OAuthError> {
        let form = self.form(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            now,
        );
        let p = self.dpop(key, "POST", TOKEN_URL, now);
        self.server.token(&form, Some(&p), now)
    }

    fn call(
        &mut self,
        token: &str,
        key: Option<&Key>,
        now: i64,
    ) -> Result<korpu_oauth::Grant, OAuthError> {
        let key = key.unwrap_or(&self.dpop_key);
        let p = proof(key, "GET", API_URL, now, Some(token));
        self.server.authorize_call(
            Some(&format!("DPoP {token}")),
            Some(&p),
            "GET",
            &format!("{API_URL}?year=2026"),
            now,
        )
    }
}

fn code_of<T: std::fmt::Debug>(r: Result<T, OAuthError>) -> Code {
    r.expect_err("must be refused").code
}

#[test]
fn the_whole_flow_par_code_pkce_dpop_call_refresh_revoke() {
    let mut w = world();
    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW + 1).unwrap();
    assert_eq!(t.to_json()["token_type"], "DPoP");
    assert_eq!(t.scope, "income");
    let grant = w.call(&t.access_token, None, NOW + 2).unwrap();
    assert_eq!(grant.subject.as_deref(), Some("AZE-1234567"));
    assert_eq!(grant.consent_id.as_deref(), Some("consent-1"));
    assert_eq!(grant.client_id, "kapital-bank");

    let info = w
        .server
        .introspect(&w.form(&[("token", &t.access_token)], NOW + 3), NOW + 3)
        .unwrap();
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "AZE-1234567");
    assert_eq!(
        info["cnf"]["jkt"],
        Jwk::from_json(&w.dpop_key.jwk).unwrap().thumbprint()
    );

    // Rotation: a new refresh token each time; the old one is spent.
    let old = t.refresh_token.clone().unwrap();
    let form = w.form(
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        NOW + 10,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW + 10);
    let t2 = w.server.token(&form, Some(&p), NOW + 10).unwrap();
    assert_ne!(t2.refresh_token, t.refresh_token);
    w.call(&t2.access_token, None, NOW + 11).unwrap();

    // Revoking the refresh token ends the grant's access tokens too.
    let form = w.form(&[("token", t2.refresh_token.as_deref().unwrap())], NOW + 12);
    w.server.revoke(&form, NOW + 12).unwrap();
    assert_eq!(
        code_of(w.call(&t2.access_token, None, NOW + 13)),
        Code::InvalidToken
    );
    let info = w
        .server
        .introspect(&w.form(&[("token", &t2.access_token)], NOW + 14), NOW + 14)
        .unwrap();
    assert_eq!(info, json!({"active": false}));
}

#[test]
fn a_reused_refresh_token_revokes_the_whole_grant() {
    let mut w = world();
    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    let old = t.refresh_token.unwrap();
    let rotate = |w: &mut World, now| {
        let form = w.form(
            &[("grant_type", "refresh_token"), ("refresh_token", &old)],
            now,
        );
        let p = w.dpop(None, "POST", TOKEN_URL, now);
        w.server.token(&form, Some(&p), now)
    };
    let t2 = rotate(&mut w, NOW + 1).unwrap();
    assert_eq!(code_of(rotate(&mut w, NOW + 2)), Code::InvalidGrant);
    assert_eq!(
        code_of(w.call(&t2.access_token, None, NOW + 3)),
        Code::InvalidToken
    );
    let form = w.form(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t2.refresh_token.as_deref().unwrap()),
        ],
        NOW + 4,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW + 4);
    assert_eq!(
        code_of(w.server.token(&form, Some(&p), NOW + 4)),
        Code::InvalidGrant
    );
}

#[test]
fn a_code_used_twice_revokes_what_it_gave() {
    let mut w = world();
    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    assert_eq!(code_of(w.redeem(&code, None, NOW + 1)), Code::InvalidGrant);
    assert_eq!(
        code_of(w.call(&t.access_token, None, NOW + 2)),
        Code::InvalidToken
    );
}

#[test]
fn a_stolen_code_or_token_is_useless_without_the_bound_key() {
    let mut w = world();
    let thief = es256();
    let code = w.code(NOW);
    // The PAR's proof bound the code to the client's DPoP key.
    assert_eq!(
        code_of(w.redeem(&code, Some(&thief), NOW)),
        Code::InvalidDpopProof
    );

    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    assert_eq!(
        code_of(w.call(&t.access_token, Some(&thief), NOW)),
        Code::InvalidDpopProof
    );
    // Presented as a bearer token, it is refused too.
    let p = proof(&w.dpop_key, "GET", API_URL, NOW, Some(&t.access_token));
    let r = w.server.authorize_call(
        Some(&format!("Bearer {}", t.access_token)),
        Some(&p),
        "GET",
        API_URL,
        NOW,
    );
    assert_eq!(code_of(r), Code::InvalidToken);
}

#[test]
fn dpop_proofs_are_refused_when_replayed_misdirected_stale_or_for_another_token() {
    let mut w = world();
    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    let auth = format!("DPoP {}", t.access_token);
    let p = proof(&w.dpop_key, "GET", API_URL, NOW, Some(&t.access_token));
    w.server
        .authorize_call(Some(&auth), Some(&p), "GET", API_URL, NOW)
        .unwrap();
    let again = w
        .server
        .authorize_call(Some(&auth), Some(&p), "GET", API_URL, NOW + 1);
    assert!(again.unwrap_err().description.contains("already used"));

    for (p, method, uri, now, why) in [
        (
            proof(&w.dpop_key, "GET", API_URL, NOW, Some(&t.access_token)),
            "POST",
            API_URL,
            NOW,
            "htm",
        ),
        (
            proof(&w.dpop_key, "GET", API_URL, NOW, Some(&t.access_token)),
            "GET",
            "https://hub.example.gov.az/api/tax/other",
            NOW,
            "htu",
        ),
        (
            proof(
                &w.dpop_key,
                "GET",
                API_URL,
                NOW - 120,
                Some(&t.access_token),
            ),
            "GET",
            API_URL,
            NOW,
            "iat",
        ),
        (
            proof(
                &w.dpop_key,
                "GET",
                API_URL,
                NOW + 120,
                Some(&t.access_token),
            ),
            "GET",
            API_URL,
            NOW,
            "iat",
        ),
        (
            proof(&w.dpop_key, "GET", API_URL, NOW, Some("another-token")),
            "GET",
            API_URL,
            NOW,
            "ath",
        ),
        (
            proof(&w.dpop_key, "GET", API_URL, NOW, None),
            "GET",
            API_URL,
            NOW,
            "ath",
        ),
    ] {
        let err = w
            .server
            .authorize_call(Some(&auth), Some(&p), method, uri, now)
            .unwrap_err();
        assert_eq!(err.code, Code::InvalidDpopProof, "{why}");
        assert!(err.description.contains(why), "{why}: {}", err.description);
    }
    // Upper case host and the default port are the same URI (RFC 3986 §6.2.3).
    let p = proof(
        &w.dpop_key,
        "GET",
        "https://HUB.example.gov.az:443/api/tax/income",
        NOW,
        Some(&t.access_token),
    );
    w.server
        .authorize_call(Some(&auth), Some(&p), "GET", API_URL, NOW)
        .unwrap();

    // A proof whose jwk carries the private key is refused even though it verifies.
    let mut leaky = w.dpop_key.jwk.clone();
    leaky["d"] = json!(B64URL.encode([1u8; 32]));
    let p = sign(
        &w.dpop_key,
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": leaky}),
        json!({"jti": jti(), "htm": "GET", "htu": API_URL, "iat": NOW, "ath": dpop::token_hash(&t.access_token)}),
    );
    let err = w
        .server
        .authorize_call(Some(&auth), Some(&p), "GET", API_URL, NOW)
        .unwrap_err();
    assert!(
        err.description.contains("private key material"),
        "{}",
        err.description
    );
}

#[test]
fn client_assertions_are_one_time_for_this_issuer_only() {
    let mut w = world();
    let a = assertion(&w.client_key, "kapital-bank", ISSUER, NOW);
    let form = |a: &str| {
        Form::new([
            (
                "client_assertion_type",
                korpu_oauth::client_auth::ASSERTION_TYPE,
            ),
            ("client_assertion", a),
            ("token", "x"),
        ])
        .unwrap()
    };
    w.server.introspect(&form(&a), NOW).unwrap();
    let err = w.server.introspect(&form(&a), NOW + 1).unwrap_err();
    assert_eq!(err.code, Code::InvalidClient);
    assert!(err.description.contains("already used"));

    for (a, why) in [
        (
            assertion(&w.client_key, "kapital-bank", TOKEN_URL, NOW),
            "aud",
        ),
        (
            assertion(&w.client_key, "kapital-bank", ISSUER, NOW - 600),
            "exp",
        ),
        (
            assertion(&es256(), "kapital-bank", ISSUER, NOW),
            "no registered key",
        ),
        (
            assertion(&w.client_key, "other-bank", ISSUER, NOW),
            "not registered",
        ),
    ] {
        let err = w.server.introspect(&form(&a), NOW).unwrap_err();
        assert_eq!(err.code, Code::InvalidClient, "{why}");
        assert_eq!(err.code.status(), 401);
        assert!(err.description.contains(why), "{why}: {}", err.description);
    }
}

#[test]
fn pushed_requests_are_checked_and_used_once() {
    let mut w = world();
    let base = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "income"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let with = |k: &str, v: &str| -> Vec<(&str, String)> {
        base.iter()
            .map(|(bk, bv)| {
                (
                    *bk,
                    if *bk == k {
                        v.to_owned()
                    } else {
                        bv.to_string()
                    },
                )
            })
            .collect()
    };
    for (k, v, code, why) in [
        (
            "redirect_uri",
            "https://evil.example/cb",
            Code::InvalidRequest,
            "not one this client registered",
        ),
        (
            "redirect_uri",
            "https://bank.example.az/cb/../cb",
            Code::InvalidRequest,
            "not one this client registered",
        ),
        ("scope", "income tax-debts", Code::InvalidScope, "tax-debts"),
        (
            "code_challenge_method",
            "plain",
            Code::InvalidRequest,
            "S256",
        ),
        (
            "response_type",
            "token",
            Code::InvalidRequest,
            "response_type",
        ),
    ] {
        let pairs = with(k, v);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let err = w.server.push(&w.form(&pairs, NOW), None, NOW).unwrap_err();
        assert_eq!(err.code, code, "{why}");
        assert!(err.description.contains(why), "{why}: {}", err.description);
    }
    let repeated = Form::new([("scope", "income"), ("scope", "rates")]).unwrap_err();
    assert!(repeated.description.contains("repeated"));

    let uri = w.par(NOW);
    assert_eq!(
        code_of(w.server.authorize("other-bank", &uri, NOW)),
        Code::InvalidRequest
    );
    w.server.authorize("kapital-bank", &uri, NOW).unwrap();
    assert_eq!(
        code_of(w.server.authorize("kapital-bank", &uri, NOW)),
        Code::InvalidRequestUri
    );
    let late = w.par(NOW);
    assert_eq!(
        code_of(w.server.authorize("kapital-bank", &late, NOW + 61)),
        Code::InvalidRequestUri
    );
}

#[test]
fn pkce_redirect_and_expiry_are_enforced_at_redemption() {
    let mut w = world();
    let code = w.code(NOW);
    let form = w.form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ],
        NOW,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW);
    let err = w.server.token(&form, Some(&p), NOW).unwrap_err();
    assert_eq!(err.code, Code::InvalidGrant);
    assert!(err.description.contains("code_verifier"));

    let code = w.code(NOW);
    assert_eq!(code_of(w.redeem(&code, None, NOW + 61)), Code::InvalidGrant);

    let code = w.code(NOW);
    let form = w.form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ],
        NOW,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW);
    assert!(w
        .server
        .token(&form, Some(&p), NOW)
        .unwrap_err()
        .description
        .contains("redirect_uri"));

    // No DPoP proof, no token.
    let code = w.code(NOW);
    let form = w.form(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        NOW,
    );
    assert_eq!(
        code_of(w.server.token(&form, None, NOW)),
        Code::InvalidDpopProof
    );
}

#[test]
fn withdrawn_consent_and_expiry_stop_the_next_call() {
    let mut w = world();
    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    w.call(&t.access_token, None, NOW + 1).unwrap();
    w.server.revoke_consent("consent-1");
    assert_eq!(
        code_of(w.call(&t.access_token, None, NOW + 2)),
        Code::InvalidToken
    );

    let code = w.code(NOW);
    let t = w.redeem(&code, None, NOW).unwrap();
    assert_eq!(
        code_of(w.call(&t.access_token, None, NOW + 301)),
        Code::InvalidToken
    );
}

#[test]
fn client_credentials_serve_open_data_only() {
    let mut w = world();
    let form = w.form(
        &[("grant_type", "client_credentials"), ("scope", "rates")],
        NOW,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW);
    let t = w.server.token(&form, Some(&p), NOW).unwrap();
    assert!(t.refresh_token.is_none());
    let grant = w.call(&t.access_token, None, NOW).unwrap();
    assert_eq!(grant.subject, None);

    let form = w.form(
        &[("grant_type", "client_credentials"), ("scope", "income")],
        NOW,
    );
    let p = w.dpop(None, "POST", TOKEN_URL, NOW);
    let err = w.server.token(&form, Some(&p), NOW).unwrap_err();
    assert_eq!(err.code, Code::InvalidScope);
    assert!(err.description.contains("consent"));
}

#[test]
fn metadata_says_what_fapi_clients_need() {
    let w = world();
    let m = w.server.metadata();
    assert_eq!(m["issuer"], ISSUER);
    assert_eq!(m["require_pushed_authorization_requests"], true);
    assert_eq!(m["pushed_authorization_request_endpoint"], PAR_URL);
    assert_eq!(m["token_endpoint"], TOKEN_URL);
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["private_key_jwt"])
    );
    assert_eq!(
        m["dpop_signing_alg_values_supported"],
        json!(["PS256", "ES256", "EdDSA"])
    );
    assert_eq!(m["scopes_supported"], json!(["income", "rates"]));
}

/// A PS256 client assertion whose key and signature openssl made.
#[test]
fn openssl_ps256_assertion_is_accepted() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
    ok(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key));
    let modulus = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let hex_n = String::from_utf8(modulus.stdout).unwrap();
    let hex_n = hex_n.trim().strip_prefix("Modulus=").unwrap();
    let n: Vec<u8> = (0..hex_n.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_n[i..i + 2], 16).unwrap())
        .collect();
    let jwk = json!({"kty": "RSA", "n": B64URL.encode(&n), "e": "AQAB"});

    let header = B64URL.encode(json!({"alg": "PS256"}).to_string());
    let claims = B64URL.encode(
        json!({"iss": "rsa-bank", "sub": "rsa-bank", "aud": ISSUER, "jti": "j1", "exp": NOW + 60})
            .to_string(),
    );
    let input = dir.path().join("input");
    std::fs::write(&input, format!("{header}.{claims}")).unwrap();
    let sig = dir.path().join("sig");
    ok(Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sign",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&sig)
        .arg(&input));
    let token = format!(
        "{header}.{claims}.{}",
        B64URL.encode(std::fs::read(&sig).unwrap())
    );

    let mut server = AuthServer::new(Config::new(ISSUER));
    server.register(Client {
        id: "rsa-bank".into(),
        name: "RSA Bank".into(),
        redirect_uris: vec![],
        keys: vec![Jwk::from_json(&jwk).unwrap()],
        scopes: vec![],
        open_scopes: vec![],
    });
    let form = Form::new([
        (
            "client_assertion_type",
            korpu_oauth::client_auth::ASSERTION_TYPE,
        ),
        ("client_assertion", token.as_str()),
        ("token", "x"),
    ])
    .unwrap();
    assert_eq!(
        server.introspect(&form, NOW).unwrap(),
        json!({"active": false})
    );
}
