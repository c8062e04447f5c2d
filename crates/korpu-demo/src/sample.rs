//! Small sample information systems for the demo and the tests: what an agency's own system
//! behind its gateway looks like. Their data is made up, derived from the request, so that a
//! newcomer sees a plausible answer and a test can check it.

use std::net::SocketAddr;

use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Which agency's system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agency {
    Population,
    Tax,
    Benefits,
}

fn name_for(pin: &str) -> &'static str {
    const NAMES: [&str; 6] = [
        "Aysel Məmmədova",
        "Rəşad Əliyev",
        "Leyla Hüseynova",
        "Tural Quliyev",
        "Nigar Həsənova",
        "Elvin İsmayılov",
    ];
    NAMES[pin.bytes().map(usize::from).sum::<usize>() % NAMES.len()]
}

/// Echoes what arrived: method, path, query, headers and the body's length and SHA-256, so a
/// test can see exactly what the gateways passed through. `?sleep_ms=N` answers late and
/// `?reply_bytes=N` answers with N bytes instead, for timeout and large-response checks.
async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;
    // Hashed as it streams, so a large body costs the sample system no memory.
    let mut body = body;
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(d) = frame.into_data() {
            len += d.len() as u64;
            hasher.update(&d);
        }
    }
    let param = |name: &str| {
        uri.query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(ms) = param("sleep_ms") {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(n) = param("reply_bytes") {
        return vec![b'k'; n.min(1 << 30) as usize].into_response();
    }
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("<binary>"))))
        .collect();
    Json(json!({
        "method": method.as_str(), "path": uri.path(), "query": uri.query(),
        "headers": h, "body_len": len, "body_sha256": hex::encode(hasher.finalize()),
    }))
    .into_response()
}

pub fn router(agency: Agency) -> Router {
    let common = Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .layer(axum::extract::DefaultBodyLimit::disable());
    match agency {
        Agency::Population => common
            .route(
                "/persons/{pin}",
                get(|Path(pin): Path<String>| async move {
                    Json(json!({"pin": pin, "name": name_for(&pin), "birth_date": "1990-04-12", "address": "Bakı, Nizami küç. 10"}))
                }),
            )
            .route(
                "/family/{pin}",
                get(|Path(pin): Path<String>| async move {
                    Json(json!({"pin": pin, "spouse": format!("{pin}S"), "children": [{"pin": format!("{pin}C1"), "birth_date": "2026-11-20"}]}))
                }),
            ),
        Agency::Tax => common.route(
            "/income",
            get(|headers: HeaderMap| async move {
                match headers.get("x-subject-id").and_then(|v| v.to_str().ok()) {
                    Some(pin) => (StatusCode::OK, Json(json!({"pin": pin, "year": 2025, "declared_income_azn": 18400}))),
                    None => (StatusCode::BAD_REQUEST, Json(json!({"error": "X-Subject-Id is required"}))),
                }
            }),
        ),
        Agency::Benefits => common.merge(benefits::router(benefits::Options::default())),
    }
}

/// Serves `agency`'s sample system on `addr` until the task is dropped; returns the bound
/// address.
pub async fn spawn(agency: Agency, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    serve(router(agency), addr).await
}

/// Serves the social ministry's system with a working child-benefit process: it asks the
/// population registry over the bridge and signs its decisions (see [`benefits`]).
pub async fn spawn_benefits(
    addr: SocketAddr,
    options: benefits::Options,
) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .merge(benefits::router(options));
    serve(app, addr).await
}

async fn serve(app: Router, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "sample information system stopped");
        }
    });
    Ok(bound)
}

/// The social ministry's child-benefit process, as the portal drives it: an application
/// arrives (the applicant is the data subject, `X-Subject-Id`), waits `step` in `submitted`,
/// moves to `in_review` while the ministry asks the population registry over the bridge for the
/// family composition (purpose `benefit-eligibility`, subject = the applicant), and after
/// another `step` is `decided` with a decision PDF signed (PAdES B-B) by the ministry's key.
/// Applications live in memory: this is a sample, not a case-management system.
pub mod benefits {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{header, HeaderMap, Method, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use korpu_xroad::{ClientOptions, Request};
    use serde_json::{json, Value};
    use sha2::{Digest, Sha256};

    /// The ministry's signing material.
    pub struct Signing {
        pub key: korpu_pki::key::SigningKey,
        pub cert: korpu_pki::cert::Certificate,
        pub chain: Vec<korpu_pki::cert::Certificate>,
        /// The central registry's public URL: its `/tsa` time-stamps decisions, its `/ocsp`
        /// answers for the ministry's certificate and its `/crl/root.crl` for the issuing CA,
        /// so decisions are PAdES B-LT and validate (TOTAL_PASSED) later without any network.
        /// `None`: B-B.
        pub central: Option<String>,
    }

    /// The central registry's TSA and OCSP responder, reached over plain HTTP from a blocking
    /// thread.
    struct Central {
        url: String,
        http: korpu_sign::fetch::HttpFetcher,
    }

    impl Central {
        /// POSTs `body` to the registry's endpoint `path` (`/tsa`, `/ocsp`).
        fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, String> {
            use korpu_sign::RevocationFetcher;
            self.http
                .post(&format!("{}{path}", self.url), content_type, body)
        }
    }

    impl korpu_sign::Timestamper for Central {
        fn timestamp(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, korpu_sign::SignError> {
            let (req, nonce) = korpu_pki::tsa::build_request(sha256);
            let resp = self
                .post("/tsa", "application/timestamp-query", &req)
                .map_err(korpu_sign::SignError::Timestamp)?;
            korpu_sign::token_for_request(&resp, sha256, &nonce)
        }
    }

    impl korpu_sign::RevocationSource for Central {
        fn ocsp(
            &self,
            cert: &korpu_pki::cert::Certificate,
            issuer: &korpu_pki::cert::Certificate,
        ) -> Result<Vec<u8>, korpu_sign::SignError> {
            let (req, nonce) = korpu_pki::ocsp::build_request(cert, issuer)?;
            let resp = self
                .post("/ocsp", "application/ocsp-request", &req)
                .map_err(|e| korpu_sign::SignError::InvalidInput(format!("OCSP: {e}")))?;
            korpu_pki::ocsp::verify_response(
                &resp,
                cert,
                issuer,
                Some(&nonce),
                std::time::SystemTime::now(),
            )?;
            Ok(resp)
        }

        /// The root's CRL, for the issuing CA (the OCSP responder answers for the issuing CA's
        /// certificates only).
        fn crl(
            &self,
            cert: &korpu_pki::cert::Certificate,
            issuer: &korpu_pki::cert::Certificate,
        ) -> Result<Option<Vec<u8>>, korpu_sign::SignError> {
            use korpu_sign::RevocationFetcher;
            if issuer.verify_issued_by(issuer).is_err() {
                return Ok(None);
            }
            let Ok(der) = self.http.get(&format!("{}/crl/root.crl", self.url)) else {
                return Ok(None);
            };
            let crl = korpu_pki::crl::Crl::from_der(&der)?;
            crl.verify_issued_by(issuer)?;
            crl.status(cert)?;
            Ok(Some(der))
        }
    }

    /// Signs a decision: B-LT when the central registry is known, B-B otherwise.
    fn sign_decision(s: &Signing, pdf: &[u8]) -> Result<Vec<u8>, korpu_sign::SignError> {
        let limits = korpu_sign::pdf::Limits::default();
        let signer = korpu_sign::cades::Signer {
            key: &s.key,
            cert: &s.cert,
            chain: &s.chain,
        };
        let central = s.central.as_ref().map(|url| Central {
            url: url.clone(),
            http: korpu_sign::fetch::HttpFetcher::default(),
        });
        let ts = central.as_ref().map(|c| c as &dyn korpu_sign::Timestamper);
        let signed =
            korpu_sign::pdf::sign(pdf, &signer, std::time::SystemTime::now(), ts, &limits)?;
        match &central {
            Some(c) => korpu_sign::pdf::add_validation_data(&signed, c, &limits),
            None => Ok(signed),
        }
    }

    #[derive(Clone, Default)]
    pub struct Options {
        /// How long each step (submitted → in review → decided) takes.
        pub step: Duration,
        /// The ministry gateway's client URL, set once the gateway runs.
        pub bridge: Arc<OnceLock<String>>,
        /// Signs decisions; without it decisions are unsigned.
        pub signing: Option<Arc<Signing>>,
    }

    #[derive(Clone)]
    struct App {
        applicant: String,
        status: String,
        history: Vec<Value>,
        messages: Vec<Value>,
        pdf: Option<Vec<u8>>,
    }

    #[derive(Clone)]
    struct St {
        apps: Arc<Mutex<HashMap<String, App>>>,
        opts: Options,
        /// The client for the ministry's own gateway.
        http: reqwest::Client,
    }

    pub fn router(opts: Options) -> Router {
        let st = St {
            apps: Arc::new(Mutex::new(HashMap::new())),
            opts,
            http: ClientOptions::default()
                .build()
                .expect("a client without files or a timeout builds"),
        };
        Router::new()
            .route("/child-benefit", post(apply))
            .route("/child-benefit/{id}", get(status))
            .route("/child-benefit/{id}/decision.pdf", get(decision))
            .with_state(st)
    }

    fn now() -> String {
        korpu_conf::Timestamp::now().to_string()
    }

    fn subject(h: &HeaderMap) -> Option<String> {
        h.get("x-subject-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    async fn apply(State(st): State<St>, headers: HeaderMap, body: Bytes) -> Response {
        let Some(pin) = subject(&headers) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "X-Subject-Id (the applicant) is required"})),
            )
                .into_response();
        };
        let Ok(form) = serde_json::from_slice::<Value>(&body) else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "the application is not JSON"})),
            )
                .into_response();
        };
        let id = format!(
            "CB-{}",
            hex::encode(
                &Sha256::digest(
                    [
                        body.as_ref(),
                        pin.as_bytes(),
                        now().as_bytes(),
                        &rand_bytes()
                    ]
                    .concat()
                )[..6]
            )
        );
        let app = App {
            applicant: pin.clone(),
            status: "submitted".into(),
            history: vec![
                json!({"status": "submitted", "at": now(), "message": "Müraciət qəbul edildi"}),
            ],
            messages: Vec::new(),
            pdf: None,
        };
        st.apps.lock().expect("lock").insert(id.clone(), app);
        tokio::spawn(process(st.clone(), id.clone(), pin, form));
        (
            StatusCode::CREATED,
            Json(json!({"application_id": id, "status": "submitted"})),
        )
            .into_response()
    }

    fn rand_bytes() -> [u8; 16] {
        let mut b = [0u8; 16];
        for (i, x) in b.iter_mut().enumerate() {
            *x = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
                >> (i % 4)) as u8;
        }
        b
    }

    fn update(st: &St, id: &str, status: &str, message: &str, pdf: Option<Vec<u8>>) {
        if let Some(a) = st.apps.lock().expect("lock").get_mut(id) {
            a.status = status.into();
            a.history
                .push(json!({"status": status, "at": now(), "message": message}));
            if !message.is_empty() {
                a.messages.push(json!({"at": now(), "text": message}));
            }
            if pdf.is_some() {
                a.pdf = pdf;
            }
        }
    }

    async fn process(st: St, id: String, pin: String, form: Value) {
        tokio::time::sleep(st.opts.step).await;
        update(&st, &id, "in_review", "Ailə tərkibi Dövlət Əhali Reyestrindən yoxlanılır / Family composition is being checked with the population registry", None);
        // The ministry asks the population registry over the bridge: subject = the applicant.
        let family = match st.opts.bridge.get() {
            Some(gw) => Request::new(
                Method::GET,
                gw,
                "AZ/GOV/1400001/population/family",
                &format!("/{pin}"),
            )
            .client("AZ/GOV/1400003/benefits")
            .user_id("AZ/GOV/1400003/benefits/case-worker")
            .purpose("benefit-eligibility")
            .send(&st.http)
            .await
            .ok()
            .and_then(|a| a.error_for_status().ok()),
            None => None,
        };
        let family: Value = family
            .and_then(|a| serde_json::from_slice(&a.body).ok())
            .unwrap_or(Value::Null);
        tokio::time::sleep(st.opts.step).await;
        let children = family["children"].as_array().map_or(0, Vec::len);
        let granted = children > 0;
        let (status, msg) = if granted {
            ("decided", format!("Qərar: uşaq müavinəti təyin edildi ({children} uşaq) / Decision: child benefit granted ({children} child)"))
        } else {
            ("rejected", "Qərar: ailə tərkibi təsdiqlənmədi / Decision: the family composition could not be confirmed".to_owned())
        };
        let text = [
            "Ministry of Labour and Social Protection of the Republic of Azerbaijan".to_owned(),
            "DECISION on child benefit".to_owned(),
            format!("Application: {id}"),
            format!("Applicant personal id: {pin}"),
            format!("Child: {}", form["child_pin"].as_str().unwrap_or("-")),
            format!("Children in the family (population registry): {children}"),
            format!(
                "Decision: {}",
                if granted {
                    "GRANTED, 100 AZN per month"
                } else {
                    "NOT GRANTED"
                }
            ),
            format!("Date: {}", now()),
        ];
        let pdf = korpu_sign::pdf::text_page(&text);
        let signed = match st.opts.signing.clone() {
            // Time-stamping and OCSP are blocking HTTP calls.
            Some(s) => {
                let unsigned = pdf.clone();
                match tokio::task::spawn_blocking(move || sign_decision(&s, &unsigned)).await {
                    Ok(Ok(signed)) => signed,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the decision could not be signed");
                        pdf
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the signing task failed");
                        pdf
                    }
                }
            }
            None => pdf,
        };
        update(&st, &id, status, &msg, Some(signed));
    }

    async fn status(State(st): State<St>, headers: HeaderMap, Path(id): Path<String>) -> Response {
        let apps = st.apps.lock().expect("lock");
        // Only the applicant's own applications: another subject gets nothing, not even
        // whether the id exists.
        match apps.get(&id).filter(|a| Some(&a.applicant) == subject(&headers).as_ref()) {
            Some(a) => Json(json!({
                "application_id": id, "status": a.status, "history": a.history, "messages": a.messages,
                "document": a.pdf.as_ref().map(|_| json!({"name": format!("decision-{id}.pdf"), "path": format!("/{id}/decision.pdf")})),
            }))
            .into_response(),
            None => (StatusCode::NOT_FOUND, Json(json!({"error": "no such application"}))).into_response(),
        }
    }

    async fn decision(
        State(st): State<St>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        let apps = st.apps.lock().expect("lock");
        match apps
            .get(&id)
            .filter(|a| Some(&a.applicant) == subject(&headers).as_ref())
            .and_then(|a| a.pdf.clone())
        {
            Some(pdf) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
            None => (StatusCode::NOT_FOUND, Json(json!({"error": "no decision"}))).into_response(),
        }
    }
}
