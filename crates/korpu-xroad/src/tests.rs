//! The builder and the error parsing against a tiny axum server on 127.0.0.1 that echoes what
//! it received.

use std::time::Duration;

use axum::http::{HeaderMap as AxHeaders, Uri};
use axum::routing::any;
use axum::Router;

use super::*;

/// Serves `router` on a free loopback port; returns `http://127.0.0.1:{port}`.
async fn serve(router: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, router).await });
    format!("http://{addr}")
}

/// Answers with the method, URI, headers and body it received, as JSON.
async fn echo(method: axum::http::Method, uri: Uri, h: AxHeaders, body: Bytes) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").into()))
        .collect();
    serde_json::json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })
    .to_string()
}

fn http() -> reqwest::Client {
    ClientOptions::new(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test]
async fn builder_sends_the_pr_rest_headers_subject_and_body() {
    let gw = serve(Router::new().fallback(any(echo))).await;
    let ans = Request::new(
        Method::POST,
        &format!("{gw}/"),
        "AZ/GOV/1/pop",
        "/persons?x=1",
    )
    .client("AZ/GOV/3/benefits")
    .user_id("AZ9876543")
    .purpose("benefit-eligibility")
    .message_id("m-1")
    .subject(Some(&Subject::Query("pin code".into())), "AZ 1/2")
    .header("X-Extra", "yes")
    .header("bad name", "dropped")
    .header("x-ctl", "a\nb")
    .body("application/json", b"{\"a\":1}".to_vec())
    .send(&http())
    .await
    .expect("send");
    assert_eq!(ans.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&ans.body).expect("json");
    assert_eq!(v["method"], "POST");
    assert_eq!(
        v["uri"],
        "/r1/AZ/GOV/1/pop/persons?x=1&pin%20code=AZ%201%2F2"
    );
    let h = &v["headers"];
    assert_eq!(h["x-road-client"], "AZ/GOV/3/benefits");
    assert_eq!(h["x-road-userid"], "AZ9876543");
    assert_eq!(h["x-korpu-purpose"], "benefit-eligibility");
    assert_eq!(h["x-road-id"], "m-1");
    assert_eq!(h["x-extra"], "yes");
    assert_eq!(h["content-type"], "application/json");
    assert!(h.get("x-ctl").is_none(), "{h}");
    assert_eq!(v["body"], "{\"a\":1}");
}

#[tokio::test]
async fn subject_in_a_header_or_nowhere() {
    let gw = serve(Router::new().fallback(any(echo))).await;
    let r = Request::new(Method::GET, &gw, "AZ/GOV/2/tax", "/income")
        .subject(Some(&Subject::Header("X-Subject-Id".into())), "AZ1234567");
    assert_eq!(r.url(), format!("{gw}/r1/AZ/GOV/2/tax/income"));
    let ans = r.send(&http()).await.expect("send");
    let v: serde_json::Value = serde_json::from_slice(&ans.body).expect("json");
    assert_eq!(v["headers"]["x-subject-id"], "AZ1234567");
    let r = Request::new(Method::GET, &gw, "s", "/p").subject(None, "AZ1234567");
    assert_eq!(r.url(), format!("{gw}/r1/s/p"));
    assert!(r.headers().is_empty());
}

#[tokio::test]
async fn a_pr_rest_error_answer_is_parsed() {
    let gw = serve(Router::new().fallback(any(|| async {
        (
            StatusCode::FORBIDDEN,
            [("x-road-error", "Server.ServerProxy.AccessDenied")],
            r#"{"type":"Server.ServerProxy.AccessDenied","message":"no","detail":"d-1"}"#,
        )
    })))
    .await;
    let ans = Request::new(Method::GET, &gw, "s", "/p")
        .send(&http())
        .await
        .expect("send");
    let e = ans.error_for_status().expect_err("403");
    assert_eq!(e.status, StatusCode::FORBIDDEN);
    assert_eq!(e.kind.as_deref(), Some("Server.ServerProxy.AccessDenied"));
    assert_eq!(e.message.as_deref(), Some("no"));
    assert_eq!(e.detail.as_deref(), Some("d-1"));
    assert_eq!(
        e.x_road_error.as_deref(),
        Some("Server.ServerProxy.AccessDenied")
    );
    assert_eq!(e.to_string(), "Server.ServerProxy.AccessDenied: no");
}

#[tokio::test]
async fn an_error_not_in_the_json_form_keeps_the_start_of_the_body() {
    let long = "x".repeat(800);
    let body = long.clone();
    let gw = serve(Router::new().fallback(any(move || {
        let body = body.clone();
        async move {
            (
                StatusCode::BAD_GATEWAY,
                [("x-road-error", "Server.ServerProxy.ServiceFailed")],
                body,
            )
        }
    })))
    .await;
    let e = Request::new(Method::GET, &gw, "s", "")
        .send(&http())
        .await
        .expect("send")
        .error_for_status()
        .expect_err("502");
    assert_eq!(e.kind, None);
    assert_eq!(e.error_type(), Some("Server.ServerProxy.ServiceFailed"));
    assert_eq!(e.to_string(), long[..500]);
}

#[tokio::test]
async fn a_success_is_not_an_error_and_no_redirect_is_followed_when_strict() {
    let gw = serve(
        Router::new()
            .route(
                "/r1/s/moved",
                any(|| async { (StatusCode::FOUND, [("location", "/r1/s/ok")], "") }),
            )
            .fallback(any(|| async { "fine" })),
    )
    .await;
    let mut o = ClientOptions::new(Duration::from_secs(5));
    o.strict = true;
    let strict = o.build().expect("client");
    let ans = Request::new(Method::GET, &gw, "s", "/moved")
        .send(&strict)
        .await
        .expect("send");
    assert_eq!(ans.status, StatusCode::FOUND);
    let ans = Request::new(Method::GET, &gw, "s", "/ok")
        .send(&strict)
        .await
        .expect("send")
        .error_for_status()
        .expect("200");
    assert_eq!(&ans.body[..], b"fine");
}

#[test]
fn unreadable_or_bad_pem_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.pem");
    let mut o = ClientOptions::new(Duration::from_secs(1));
    o.roots = Some(missing.clone());
    let e = o.build().expect_err("missing roots");
    assert!(matches!(e, ClientBuildError::Read { .. }), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    let junk = dir.path().join("id.pem");
    std::fs::write(&junk, "not a pem").expect("write");
    let mut o = ClientOptions::new(Duration::from_secs(1));
    o.identity = Some((junk.clone(), junk));
    let e = o.build().expect_err("bad identity");
    assert!(e.to_string().starts_with("gateway_client_cert "), "{e}");
}

#[tokio::test]
async fn the_timeout_is_a_send_error_and_the_default_has_none() {
    let gw = serve(Router::new().fallback(any(|| async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        "late"
    })))
    .await;
    let hasty = ClientOptions::new(Duration::from_millis(50))
        .build()
        .expect("client");
    let e = Request::new(Method::POST, &gw, "s", "/dx/documents")
        .body("application/json", "{}")
        .send(&hasty)
        .await
        .expect_err("times out");
    assert!(matches!(e, SendError::Send(ref r) if r.is_timeout()), "{e}");

    assert_eq!(ClientOptions::default().timeout, None);
    let patient = ClientOptions::default().build().expect("client");
    let ans = Request::new(Method::POST, &gw, "s", "/dx/documents")
        .send(&patient)
        .await
        .expect("waits");
    assert_eq!(&ans.body[..], b"late");
}
