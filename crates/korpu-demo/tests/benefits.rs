//! The social ministry's sample system in-process: an application is decided after it asked
//! the population registry over the bridge, through a stand-in for the ministry's gateway that
//! records the PR-REST request it received and answers with a family.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::{HeaderMap, Uri};
use axum::routing::any;
use axum::{Json, Router};
use korpu_demo::sample::{benefits, spawn_benefits};
use serde_json::{json, Value};

/// What the stand-in gateway received: the path and the headers.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

async fn gateway() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().fallback(any(move |uri: Uri, h: HeaderMap| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push((uri.path().to_owned(), h));
            Json(json!({"children": [{"pin": "AZ7654321C1"}]}))
        }
    }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

/// The JSON answer to `r`.
async fn answer(r: reqwest::RequestBuilder) -> Value {
    r.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn an_application_is_decided_after_the_family_is_asked_for_over_the_bridge() {
    let (gw, seen) = gateway().await;
    let bridge = Arc::new(OnceLock::new());
    bridge.set(gw).unwrap();
    let options = benefits::Options {
        step: Duration::from_millis(10),
        bridge,
        signing: None,
    };
    let addr = spawn_benefits("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let as_applicant = |r: reqwest::RequestBuilder| r.header("X-Subject-Id", "AZ7654321");
    let apply = http
        .post(format!("http://{addr}/child-benefit"))
        .json(&json!({"child_pin": "5ABC12D"}));
    let created = answer(as_applicant(apply)).await;
    let id = created["application_id"].as_str().unwrap().to_owned();
    let mut status = Value::Null;
    for _ in 0..200 {
        status = answer(as_applicant(
            http.get(format!("http://{addr}/child-benefit/{id}")),
        ))
        .await;
        if status["status"] == "decided" || status["status"] == "rejected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status["status"], "decided", "{status}");
    assert!(status["document"]["name"].is_string(), "{status}");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (path, h) = &seen[0];
    assert_eq!(path, "/r1/AZ/GOV/1400001/population/family/AZ7654321");
    assert_eq!(h["x-road-client"], "AZ/GOV/1400003/benefits");
    assert_eq!(h["x-road-userid"], "AZ/GOV/1400003/benefits/case-worker");
    assert_eq!(h["x-korpu-purpose"], "benefit-eligibility");
}
