//! The hub judged by a client nobody here wrote: npm `openid-client` 6 (FAPI 2.0, DPoP,
//! `private_key_jwt`) does discovery, gets a DPoP-bound client-credentials token, calls the
//! hub's API with it, introspects and revokes it, is refused after revocation, and pushes an
//! authorisation request. Then the HTTP layer's own refusals: repeated parameters, a wrong
//! content type, two DPoP headers, an oversized body.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use korpu_api::quota::{Limit, Limiter};
use korpu_api::{Application, Hub, HubConfig};
use serde_json::Value;

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

fn node(args: &[&str]) -> String {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/openid-client").is_dir(),
        "openid-client is not installed: run `bash scripts/test` (it runs npm ci in {})",
        dir.display()
    );
    let out = Command::new("node")
        .arg(dir.join("client.mjs"))
        .args(args)
        .output()
        .expect("node runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "node client.mjs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn start_hub(dir: &Path) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = HubConfig {
        listen: addr,
        public_url: format!("http://{addr}"),
        applications: vec![Application {
            client_id: "kapital-bank".into(),
            name: "Kapital Bank ASC".into(),
            redirect_uris: vec!["https://bank.example.az/cb".into()],
            jwks_file: "bank.jwks.json".into(),
            scopes: vec!["income".into()],
            open_scopes: vec!["rates".into()],
            // Two calls at once, then one per 100 s: the third call in a row is refused.
            rate_limit: Some(Limit {
                rate_per_sec: 0.01,
                burst: 2,
            }),
        }],
        ..HubConfig::default()
    };
    let clients = config.clients(dir).unwrap();
    let hub = Arc::new(Hub::new(&config, clients, Limiter::local()));
    tokio::spawn(korpu_api::serve(hub, listener, std::future::pending()));
    config.issuer()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_gets_a_dpop_bound_token_uses_it_and_loses_it_on_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("bank.private.jwk");
    let public = dir.path().join("bank.jwks.json");
    node(&[
        "keygen",
        private.to_str().unwrap(),
        public.to_str().unwrap(),
    ]);
    let issuer = start_hub(dir.path()).await;

    let hub = issuer.clone();
    let out = tokio::task::spawn_blocking(move || {
        node(&["run", &issuer, "kapital-bank", private.to_str().unwrap()])
    })
    .await
    .unwrap();
    let out: Value = serde_json::from_str(&out).unwrap();
    let ok = |step: &str| -> &Value {
        assert_eq!(out[step]["ok"], true, "{step}: {}", out[step]);
        &out[step]["value"]
    };

    assert_eq!(
        ok("discovery")["require_pushed_authorization_requests"],
        true
    );
    let token = ok("token");
    assert!(
        token["token_type"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("DPoP"),
        "{token}"
    );
    assert_eq!(token["scope"], "rates");
    let call = ok("call");
    assert_eq!(call["status"], 200, "{call}");
    assert_eq!(call["body"]["client_id"], "kapital-bank");
    assert_eq!(
        call["body"]["subject"],
        Value::Null,
        "client credentials: no citizen"
    );
    let info = ok("introspect");
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "kapital-bank");
    // The bucket holds two calls: the second passes, the third is refused with a retry time.
    let second = ok("call_2");
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["ratelimit"], "\"per-api\";r=0;t=0", "{second}");
    let limited = ok("call_3");
    assert_eq!(limited["status"], 429, "{limited}");
    let retry: u64 = limited["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry), "{limited}");
    assert!(
        limited["body"].as_str().unwrap().contains("rate_limited"),
        "{limited}"
    );
    ok("revoke");
    // openid-client turns the 401 and its challenge into an error; its parse of our
    // WWW-Authenticate header is the verdict.
    let after = &out["call_after_revoke"];
    assert_eq!(after["ok"], false, "{after}");
    assert_eq!(after["status"], 401, "{after}");
    let challenge = &after["challenges"][0];
    assert!(
        challenge["scheme"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("DPoP"),
        "{after}"
    );
    assert_eq!(challenge["parameters"]["error"], "invalid_token", "{after}");
    let par = ok("par").as_str().unwrap().to_owned();
    assert!(par.contains("/oauth/authorize?"), "{par}");
    assert!(
        par.contains("request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A"),
        "{par}"
    );

    // What the run did, as the hub counted it for Prometheus.
    let metrics = reqwest::get(format!("{hub}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"korpu_api_calls_total{client="kapital-bank",api="grant",outcome="allowed"} 2"#,
        r#"korpu_api_calls_total{client="kapital-bank",api="grant",outcome="rate_limited"} 1"#,
        r#"korpu_api_refused_calls_total{error="invalid_token"} 1"#,
        r#"korpu_api_token_requests_total{grant_type="client_credentials",outcome="issued"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn malformed_oauth_requests_get_rfc6749_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bank.jwks.json"),
        r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
    )
    .unwrap();
    let issuer = start_hub(dir.path()).await;
    let http = reqwest::Client::new();
    let token_url = format!("{issuer}/oauth/token");
    let form = "application/x-www-form-urlencoded";

    for (ctype, body, dpop_headers, status, error, why) in [
        (form, "grant_type=client_credentials&grant_type=authorization_code", 0, 400, "invalid_request", "repeated"),
        ("application/json", r#"{"grant_type":"client_credentials"}"#, 0, 400, "invalid_request", "x-www-form-urlencoded"),
        (form, "grant_type=client_credentials&client_id=kapital-bank", 2, 400, "invalid_dpop_proof", "one DPoP header"),
        (form, "grant_type=client_credentials&client_id=kapital-bank", 0, 401, "invalid_client", "client_assertion"),
        (form, "grant_type=client_credentials&client_id=nobody&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", 0, 401, "invalid_client", "not registered"),
    ] {
        let mut req = http.post(&token_url).header("content-type", ctype).body(body);
        for _ in 0..dpop_headers {
            req = req.header("dpop", "x.y.z");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{why}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{why}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], error, "{why}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
    }

    let huge = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(64 * 1024)
    );
    let resp = http
        .post(&token_url)
        .header("content-type", form)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);

    let resp = http
        .get(format!("{issuer}/api/v1/grant"))
        .header("authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("DPoP-bound"));
}
