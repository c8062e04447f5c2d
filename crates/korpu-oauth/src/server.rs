//! The authorisation server's state machine, FAPI 2.0 Security Profile: pushed authorisation
//! requests only (RFC 9126), authorisation code with PKCE S256, `private_key_jwt` client
//! authentication, DPoP-bound access and refresh tokens (RFC 9449), refresh-token rotation with
//! reuse detection, introspection (RFC 7662), revocation (RFC 7009), the `iss` authorisation
//! response parameter (RFC 9207) and discovery metadata (RFC 8414). The client-credentials
//! grant serves open (non-personal) data.
//!
//! Every step is a method over parsed form parameters, a verified DPoP proof and the clock;
//! the hub moves the bytes. Tokens are opaque random strings (256 bits) looked up here, so
//! revocation and a withdrawn consent take effect at the next call.
//!
//! Deliberately not here: persistence and sharing between hub replicas (this state lives in one
//! process; the hub gives it a store), the resource owner's sign-in and consent screen (myGov's),
//! and what a consent allows (the hub checks the consent's id carried by the grant at each
//! call).
use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::client_auth::{self, Presented};
use crate::dpop;
use crate::error::{Code, OAuthError};
use crate::jose::{Alg, Jwk};
use crate::pkce;
use crate::replay::ReplayCache;

/// The `request_uri` prefix of pushed requests (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A registered client application.
#[derive(Debug, Clone)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// The company's registered name (shown on consent screens, never the client's own words).
    pub name: String,
    /// Redirect URIs, compared exactly (FAPI 2.0 §5.3.2.2: no pattern matching).
    pub redirect_uris: Vec<String>,
    /// Keys for `private_key_jwt`.
    pub keys: Vec<Jwk>,
    /// Scopes the client may ask for through the authorisation code flow (personal data).
    pub scopes: Vec<String>,
    /// Scopes the client may get with client credentials (open data).
    pub open_scopes: Vec<String>,
}

/// Lifetimes, seconds, and the server's identity.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer identifier (RFC 8414 §2), an https URL without query or fragment.
    pub issuer: String,
    /// How long a `request_uri` may wait for the browser (RFC 9126 §2.2 suggests 5–600 s).
    pub request_uri_lifetime: i64,
    /// How long a code may wait for redemption (FAPI 2.0 §5.3.2.1: at most 60 s).
    pub code_lifetime: i64,
    /// Access token lifetime (short-lived: FAPI 2.0 §5.3.2.1 point 13).
    pub access_lifetime: i64,
    /// Refresh token lifetime, renewed by each rotation up to the grant's end.
    pub refresh_lifetime: i64,
    /// The DPoP proof window.
    pub dpop_window: dpop::Window,
    /// Live `jti`s remembered for replay checks, per kind (proofs, assertions).
    pub replay_capacity: usize,
}

impl Config {
    /// Defaults for `issuer`: 60 s request URIs and codes, 5-minute access tokens, 1-day
    /// refresh tokens.
    pub fn new(issuer: impl Into<String>) -> Config {
        Config {
            issuer: issuer.into(),
            request_uri_lifetime: 60,
            code_lifetime: 60,
            access_lifetime: 300,
            refresh_lifetime: 86_400,
            dpop_window: dpop::Window::default(),
            replay_capacity: 100_000,
        }
    }
}

/// Form parameters, each present at most once (RFC 6749 §3.1: a repeated parameter is an
/// error, since two parts of a stack may read different copies).
#[derive(Debug, Clone, Default)]
pub struct Form(BTreeMap<String, String>);

impl Form {
    /// Builds the form, refusing a repeated name.
    pub fn new<I, K, V>(pairs: I) -> Result<Form, OAuthError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.into();
            if map.insert(k.clone(), v.into()).is_some() {
                return Err(OAuthError::new(
                    Code::InvalidRequest,
                    format!("parameter {k} is repeated; send it once"),
                ));
            }
        }
        Ok(Form(map))
    }

    /// A parameter's value, empty values counting as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::new(
                Code::InvalidRequest,
                format!("parameter {name} is required"),
            )
        })
    }

    fn presented(&self) -> Presented<'_> {
        Presented {
            client_id: self.get("client_id"),
            assertion_type: self.get("client_assertion_type"),
            assertion: self.get("client_assertion"),
        }
    }
}

/// A pushed authorisation request, waiting for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The client.
    pub client_id: String,
    /// The redirect URI, one the client registered.
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The client's `state`, returned unchanged.
    pub state: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: String,
    /// The DPoP key the code is bound to (RFC 9449 §10), from `dpop_jkt` or the PAR's proof.
    pub dpop_jkt: Option<String>,
    expires: i64,
}

/// What the grant was given for: the resource owner, and the consent that allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The client.
    pub client_id: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The resource owner (the citizen), absent for client credentials.
    pub subject: Option<String>,
    /// The consent record that allows the access, checked by the hub at each call.
    pub consent_id: Option<String>,
    /// Thumbprint of the DPoP key the tokens are bound to.
    pub jkt: String,
}

#[derive(Debug, Clone)]
struct IssuedCode {
    pushed: Pushed,
    grant: Grant,
    expires: i64,
}

#[derive(Debug, Clone)]
struct Token {
    grant: Grant,
    family: u64,
    issued: i64,
    expires: i64,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The rotating refresh token (code grants only).
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// The JSON body; `token_type` is `DPoP` (RFC 9449 §5).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "access_token": self.access_token,
            "token_type": "DPoP",
            "expires_in": self.expires_in,
            "scope": self.scope,
        });
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = json!(r);
        }
        v
    }
}

/// Where the browser goes after the resource owner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect(pub String);

/// The authorisation server.
#[derive(Debug)]
pub struct AuthServer {
    cfg: Config,
    clients: HashMap<String, Client>,
    pushed: HashMap<String, Pushed>,
    codes: HashMap<String, IssuedCode>,
    /// Redeemed codes → the token family they made, to revoke it if the code comes again.
    spent_codes: HashMap<String, (u64, i64)>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
    /// Rotated-away refresh tokens → their family: a second use revokes the family.
    rotated: HashMap<String, (u64, i64)>,
    next_family: u64,
    /// The second `prune` last ran at.
    pruned_at: i64,
    assertions: ReplayCache,
    proofs: ReplayCache,
    rng: SystemRandom,
}

fn scopes_of(s: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = s
        .unwrap_or("")
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Refuses a code or refresh token presented by another client than its own, or expired.
fn held_by(
    grant: &Grant,
    expires: i64,
    client: &Client,
    now: i64,
    what: &str,
) -> Result<(), OAuthError> {
    if grant.client_id != client.id {
        return Err(OAuthError::new(
            Code::InvalidGrant,
            format!("the {what} was issued to another client"),
        ));
    }
    if expires < now {
        return Err(OAuthError::new(
            Code::InvalidGrant,
            format!("the {what} has expired; start the authorisation again"),
        ));
    }
    Ok(())
}

impl AuthServer {
    /// A server with no clients.
    pub fn new(cfg: Config) -> AuthServer {
        let cap = cfg.replay_capacity;
        AuthServer {
            cfg,
            clients: HashMap::new(),
            pushed: HashMap::new(),
            codes: HashMap::new(),
            spent_codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            rotated: HashMap::new(),
            next_family: 1,
            pruned_at: i64::MIN,
            assertions: ReplayCache::new(cap),
            proofs: ReplayCache::new(cap),
            rng: SystemRandom::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Registers (or replaces) a client.
    pub fn register(&mut self, client: Client) {
        self.clients.insert(client.id.clone(), client);
    }

    /// A registered client.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    fn random(&self) -> String {
        let mut b = [0u8; 32];
        self.rng
            .fill(&mut b)
            .expect("the operating system's random source works");
        B64URL.encode(b)
    }

    /// Authenticates the client of a back-channel request.
    fn authenticate(&mut self, form: &Form, now: i64) -> Result<Client, OAuthError> {
        let presented = form.presented();
        let id = presented
            .claimed_client()
            .ok_or(client_auth::ClientAuthError::Missing)?;
        let client = self.clients.get(&id).cloned().ok_or_else(|| {
            OAuthError::new(
                Code::InvalidClient,
                format!("client {id:?} is not registered"),
            )
        })?;
        client_auth::authenticate(
            &presented,
            &client.id,
            &client.keys,
            &self.cfg.issuer,
            now,
            &mut self.assertions,
        )?;
        Ok(client)
    }

    /// Checks a DPoP proof for a request to this server's own endpoints.
    pub fn check_dpop(
        &mut self,
        proof: &str,
        req: &dpop::Request<'_>,
    ) -> Result<dpop::Verified, OAuthError> {
        Ok(dpop::verify(
            proof,
            req,
            self.cfg.dpop_window,
            &mut self.proofs,
        )?)
    }

    /// The pushed authorisation request endpoint (RFC 9126 §2).
    pub fn push(
        &mut self,
        form: &Form,
        proof: Option<&dpop::Verified>,
        now: i64,
    ) -> Result<(String, i64), OAuthError> {
        let client = self.authenticate(form, now)?;
        let invalid = |m: String| OAuthError::new(Code::InvalidRequest, m);
        if form.get("request_uri").is_some() {
            return Err(invalid(
                "request_uri is not allowed in a pushed request".into(),
            ));
        }
        if form.get("response_type") != Some("code") {
            return Err(OAuthError::new(
                Code::InvalidRequest,
                "response_type must be code (FAPI 2.0)",
            ));
        }
        let redirect_uri = form.require("redirect_uri")?;
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Err(invalid(format!(
                "redirect_uri {redirect_uri:?} is not one this client registered"
            )));
        }
        let scopes = scopes_of(form.get("scope"));
        if scopes.is_empty() {
            return Err(OAuthError::new(Code::InvalidScope, "scope is required"));
        }
        if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
            return Err(OAuthError::new(
                Code::InvalidScope,
                format!("scope {s:?} is not registered for this client"),
            ));
        }
        let challenge = form.require("code_challenge")?;
        pkce::check_challenge(challenge, form.get("code_challenge_method"))
            .map_err(|e| invalid(e.to_string()))?;
        let dpop_jkt = match (form.get("dpop_jkt"), proof) {
            (Some(a), Some(p)) if a != p.jkt => {
                return Err(OAuthError::new(
                    Code::InvalidDpopProof,
                    "dpop_jkt does not match the DPoP proof's key",
                ))
            }
            (Some(a), _) => Some(a.to_owned()),
            (None, Some(p)) => Some(p.jkt.clone()),
            (None, None) => None,
        };
        let uri = format!("{REQUEST_URI_PREFIX}{}", self.random());
        self.prune(now);
        self.pushed.insert(
            uri.clone(),
            Pushed {
                client_id: client.id,
                redirect_uri: redirect_uri.to_owned(),
                scopes,
                state: form.get("state").map(str::to_owned),
                code_challenge: challenge.to_owned(),
                dpop_jkt,
                expires: now + self.cfg.request_uri_lifetime,
            },
        );
        Ok((uri, self.cfg.request_uri_lifetime))
    }

    /// The authorisation endpoint: the browser arrives with `client_id` and `request_uri`.
    /// The pushed request is taken (one use, RFC 9126 §4) and returned for the consent screen.
    /// These errors are shown to the user, never redirected: the redirect URI is not yet
    /// trusted.
    pub fn authorize(
        &mut self,
        client_id: &str,
        request_uri: &str,
        now: i64,
    ) -> Result<Pushed, OAuthError> {
        let stale = || {
            OAuthError::new(
                Code::InvalidRequestUri,
                "the request_uri is unknown, already used or expired; push the request again",
            )
        };
        let pushed = self.pushed.get(request_uri).ok_or_else(stale)?;
        if pushed.client_id != client_id {
            return Err(OAuthError::new(
                Code::InvalidRequest,
                "client_id does not match the pushed request's client",
            ));
        }
        let pushed = self.pushed.remove(request_uri).expect("looked up above");
        if pushed.expires < now {
            return Err(stale());
        }
        Ok(pushed)
    }

    fn redirect(&self, pushed: &Pushed, params: &[(&str, &str)]) -> Redirect {
        let mut url = url::Url::parse(&pushed.redirect_uri).expect("registered URIs are URLs");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            if let Some(s) = &pushed.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.cfg.issuer);
        }
        Redirect(url.to_string())
    }

    /// The resource owner allowed: a code for `subject`, under `consent_id`.
    pub fn approve(
        &mut self,
        pushed: Pushed,
        subject: &str,
        consent_id: Option<&str>,
        now: i64,
    ) -> Redirect {
        let code = self.random();
        let redirect = self.redirect(&pushed, &[("code", &code)]);
        let grant = Grant {
            client_id: pushed.client_id.clone(),
            scopes: pushed.scopes.clone(),
            subject: Some(subject.to_owned()),
            consent_id: consent_id.map(str::to_owned),
            // Unbound until redemption when the pushed request named no key.
            jkt: pushed.dpop_jkt.clone().unwrap_or_default(),
        };
        self.codes.insert(
            code,
            IssuedCode {
                pushed,
                grant,
                expires: now + self.cfg.code_lifetime,
            },
        );
        redirect
    }

    /// The resource owner refused.
    pub fn deny(&self, pushed: &Pushed) -> Redirect {
        self.redirect(
            pushed,
            &[
                ("error", "access_denied"),
                ("error_description", "the resource owner refused"),
            ],
        )
    }

    /// The token endpoint. Every token is bound to the DPoP proof's key: FAPI 2.0 requires
    /// sender-constrained tokens, and this server offers DPoP.
    pub fn token(
        &mut self,
        form: &Form,
        proof: Option<&dpop::Verified>,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate(form, now)?;
        let proof = proof.ok_or_else(|| {
            OAuthError::new(
                Code::InvalidDpopProof,
                "a DPoP proof is required: tokens here are sender-constrained (FAPI 2.0)",
            )
        })?;
        self.prune(now);
        match form.require("grant_type")? {
            "authorization_code" => self.redeem_code(&client, form, proof, now),
            "refresh_token" => self.rotate(&client, form, proof, now),
            "client_credentials" => {
                let scopes = scopes_of(form.get("scope"));
                if scopes.is_empty() {
                    return Err(OAuthError::new(Code::InvalidScope, "scope is required"));
                }
                if let Some(s) = scopes.iter().find(|s| !client.open_scopes.contains(s)) {
                    return Err(OAuthError::new(
                        Code::InvalidScope,
                        format!("scope {s:?} is not open data registered for this client; personal data needs the authorisation code flow and the citizen's consent"),
                    ));
                }
                let grant = Grant {
                    client_id: client.id,
                    scopes,
                    subject: None,
                    consent_id: None,
                    jkt: proof.jkt.clone(),
                };
                let family = self.family();
                Ok(self.issue(grant, family, false, now))
            }
            other => Err(OAuthError::new(
                Code::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported (authorization_code, refresh_token, client_credentials)"),
            )),
        }
    }

    fn family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    fn redeem_code(
        &mut self,
        client: &Client,
        form: &Form,
        proof: &dpop::Verified,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let code = form.require("code")?;
        let bad = |m: &str| OAuthError::new(Code::InvalidGrant, m);
        // RFC 6749 §4.1.2: a code used twice is a stolen code; what it gave is revoked.
        let spent = self.spent_codes.get(code).map(|s| s.0);
        self.refuse_reuse(
            spent,
            "the code was already used; the tokens it gave are revoked",
        )?;
        let entry = self
            .codes
            .remove(code)
            .ok_or_else(|| bad("the code is unknown or expired"))?;
        held_by(&entry.grant, entry.expires, client, now, "code")?;
        if form.get("redirect_uri") != Some(entry.pushed.redirect_uri.as_str()) {
            return Err(bad(
                "redirect_uri must be the one of the authorisation request",
            ));
        }
        pkce::verify(form.require("code_verifier")?, &entry.pushed.code_challenge)
            .map_err(|e| bad(&e.to_string()))?;
        let mut grant = entry.grant;
        if grant.jkt.is_empty() {
            grant.jkt = proof.jkt.clone();
        } else if grant.jkt != proof.jkt {
            return Err(OAuthError::new(
                Code::InvalidDpopProof,
                "the DPoP key is not the one the authorisation request was bound to",
            ));
        }
        let family = self.family();
        self.spent_codes
            .insert(code.to_owned(), (family, now + self.cfg.refresh_lifetime));
        Ok(self.issue(grant, family, true, now))
    }

    fn rotate(
        &mut self,
        client: &Client,
        form: &Form,
        proof: &dpop::Verified,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let presented = form.require("refresh_token")?;
        let bad = |m: &str| OAuthError::new(Code::InvalidGrant, m);
        // A rotated-away refresh token used again: one of the two users is a thief. Both lose
        // the grant (OAuth 2.0 Security BCP §4.14.2).
        let spent = self.rotated.get(presented).map(|s| s.0);
        self.refuse_reuse(
            spent,
            "the refresh token was already used; the grant is revoked",
        )?;
        let token = self
            .refresh
            .get(presented)
            .ok_or_else(|| bad("the refresh token is unknown, revoked or expired"))?;
        held_by(&token.grant, token.expires, client, now, "refresh token")?;
        if token.grant.jkt != proof.jkt {
            return Err(OAuthError::new(
                Code::InvalidDpopProof,
                "the DPoP key is not the one the refresh token is bound to",
            ));
        }
        let token = self.refresh.remove(presented).expect("looked up above");
        self.rotated
            .insert(presented.to_owned(), (token.family, token.expires));
        // The old access tokens of the family stay valid until they expire (short-lived).
        Ok(self.issue(token.grant, token.family, true, now))
    }

    fn issue(&mut self, grant: Grant, family: u64, refresh: bool, now: i64) -> TokenResponse {
        let access_token = self.random();
        let scope = grant.scopes.join(" ");
        let refresh_token = refresh.then(|| {
            let r = self.random();
            self.refresh.insert(
                r.clone(),
                Token {
                    grant: grant.clone(),
                    family,
                    issued: now,
                    expires: now + self.cfg.refresh_lifetime,
                },
            );
            r
        });
        self.access.insert(
            access_token.clone(),
            Token {
                grant,
                family,
                issued: now,
                expires: now + self.cfg.access_lifetime,
            },
        );
        TokenResponse {
            access_token,
            expires_in: self.cfg.access_lifetime,
            scope,
            refresh_token,
        }
    }

    /// A one-time credential (code, rotated refresh token) presented again: the family of
    /// tokens it belongs to is revoked and the request refused.
    fn refuse_reuse(&mut self, spent: Option<u64>, why: &str) -> Result<(), OAuthError> {
        match spent {
            Some(family) => {
                self.revoke_family(family);
                Err(OAuthError::new(Code::InvalidGrant, why))
            }
            None => Ok(()),
        }
    }

    fn revoke_family(&mut self, family: u64) {
        self.access.retain(|_, t| t.family != family);
        self.refresh.retain(|_, t| t.family != family);
    }

    /// Drops what has expired, so memory follows live grants, not history. At most once a
    /// second: it scans every grant, and each use checks its own expiry anyway, so an expired
    /// entry kept a moment longer is never honoured.
    fn prune(&mut self, now: i64) {
        if now <= self.pruned_at {
            return;
        }
        self.pruned_at = now;
        self.pushed.retain(|_, p| p.expires >= now);
        self.codes.retain(|_, c| c.expires >= now);
        self.spent_codes.retain(|_, (_, until)| *until >= now);
        self.access.retain(|_, t| t.expires >= now);
        self.refresh.retain(|_, t| t.expires >= now);
        self.rotated.retain(|_, (_, until)| *until >= now);
    }

    /// Revokes every token of the grant with this consent (the citizen withdrew it in myGov).
    pub fn revoke_consent(&mut self, consent_id: &str) {
        let matches = |t: &Token| t.grant.consent_id.as_deref() == Some(consent_id);
        self.access.retain(|_, t| !matches(t));
        self.refresh.retain(|_, t| !matches(t));
    }

    /// The revocation endpoint (RFC 7009): revokes the token and, for a refresh token, the
    /// grant's access tokens. Unknown tokens and tokens of other clients are answered alike
    /// (success, §2.2), so the endpoint tells nobody which tokens exist.
    pub fn revoke(&mut self, form: &Form, now: i64) -> Result<(), OAuthError> {
        let client = self.authenticate(form, now)?;
        let token = form.require("token")?;
        let family = self
            .refresh
            .get(token)
            .or_else(|| self.access.get(token))
            .filter(|t| t.grant.client_id == client.id)
            .map(|t| t.family);
        if let Some(family) = family {
            if self.refresh.contains_key(token) {
                self.revoke_family(family);
            } else {
                self.access.remove(token);
            }
        }
        Ok(())
    }

    /// The introspection endpoint (RFC 7662), for an authenticated client asking about its own
    /// tokens; anything else is `{"active": false}`.
    pub fn introspect(&mut self, form: &Form, now: i64) -> Result<Value, OAuthError> {
        let client = self.authenticate(form, now)?;
        let token = form.require("token")?;
        let found = self
            .access
            .get(token)
            .map(|t| (t, "access_token"))
            .or_else(|| self.refresh.get(token).map(|t| (t, "refresh_token")))
            .filter(|(t, _)| t.grant.client_id == client.id && t.expires >= now);
        Ok(match found {
            None => json!({ "active": false }),
            Some((t, kind)) => {
                let mut v = json!({
                    "active": true,
                    "client_id": t.grant.client_id,
                    "scope": t.grant.scopes.join(" "),
                    "iat": t.issued,
                    "exp": t.expires,
                    "iss": self.cfg.issuer,
                    "token_type": if kind == "access_token" { "DPoP" } else { "refresh_token" },
                    "cnf": { "jkt": t.grant.jkt },
                });
                if let Some(s) = &t.grant.subject {
                    v["sub"] = json!(s);
                }
                if let Some(c) = &t.grant.consent_id {
                    v["consent_id"] = json!(c);
                }
                v
            }
        })
    }

    /// A resource request: `Authorization: DPoP <token>` with a DPoP proof that carries the
    /// token's hash. Returns the grant the hub then checks the call against (scope, consent).
    pub fn authorize_call(
        &mut self,
        authorization: Option<&str>,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        now: i64,
    ) -> Result<Grant, OAuthError> {
        let invalid = |m: &str| OAuthError::new(Code::InvalidToken, m);
        let token =
            match authorization.and_then(|h| h.split_once(' ')) {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("DPoP") => t.trim(),
                Some((scheme, _)) if scheme.eq_ignore_ascii_case("Bearer") => return Err(invalid(
                    "this token is DPoP-bound: send it as Authorization: DPoP, with a DPoP proof",
                )),
                _ => {
                    return Err(invalid(
                        "an access token is required (Authorization: DPoP …)",
                    ))
                }
            };
        let proof = proof.ok_or_else(|| {
            OAuthError::new(
                Code::InvalidDpopProof,
                "a DPoP proof is required with the token",
            )
        })?;
        let verified = self.check_dpop(
            proof,
            &dpop::Request {
                method,
                uri,
                access_token: Some(token),
                nonce: None,
                now,
            },
        )?;
        let t = self
            .access
            .get(token)
            .filter(|t| t.expires >= now)
            .ok_or_else(|| invalid("the access token is unknown, revoked or expired"))?;
        if t.grant.jkt != verified.jkt {
            return Err(OAuthError::new(
                Code::InvalidDpopProof,
                "the DPoP proof's key is not the key the token is bound to",
            ));
        }
        Ok(t.grant.clone())
    }

    /// Discovery metadata (RFC 8414 §2), for endpoints under the issuer.
    pub fn metadata(&self) -> Value {
        let iss = self.cfg.issuer.trim_end_matches('/');
        let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
        let mut scopes: Vec<&String> = self
            .clients
            .values()
            .flat_map(|c| c.scopes.iter().chain(&c.open_scopes))
            .collect();
        scopes.sort();
        scopes.dedup();
        json!({
            "issuer": self.cfg.issuer,
            "pushed_authorization_request_endpoint": format!("{iss}/oauth/par"),
            "require_pushed_authorization_requests": true,
            "authorization_endpoint": format!("{iss}/oauth/authorize"),
            "token_endpoint": format!("{iss}/oauth/token"),
            "revocation_endpoint": format!("{iss}/oauth/revoke"),
            "introspection_endpoint": format!("{iss}/oauth/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": [pkce::METHOD],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
            "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
            "dpop_signing_alg_values_supported": algs,
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": scopes,
        })
    }
}
