//! Speed of the portal's pages under many concurrent signed-in citizens (a benchmark, not a
//! test): p50/p95 of the portal's own time (its `Server-Timing` header) and of the latency seen
//! by the client, for the catalogue, a service page and an application's status page (which
//! asks the agency over the bridge every time).
//!
//! Run against `korpu demo` (development identity provider):
//!
//! ```text
//! # sign-in rate limit raised: all sessions sign in from 127.0.0.1
//! KORPU_PORTAL_LOGIN_RATE_PER_MINUTE=100000 korpu demo --dir /tmp/demo &
//! cargo bench -p korpu-portal --bench pages -- --portal http://127.0.0.1:4600 --sessions 200 --rounds 5
//! ```
//!
//! Each session signs in through the full OpenID Connect flow, submits one child-benefit
//! application, and then all sessions request the three pages concurrently, `rounds` times.
//! Without `--portal` it prints this usage and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

struct Sample {
    server_ms: f64,
    client_ms: f64,
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn cookie_of(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let first = v.split(';').next()?;
            let (k, val) = first.split_once('=')?;
            (k == name && !val.is_empty()).then(|| first.to_owned())
        })
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Signs a citizen in through the development provider; returns the session cookie and CSRF.
async fn sign_in(
    http: &reqwest::Client,
    portal: &str,
    pin: &str,
) -> Result<(String, String), String> {
    let r = http
        .get(format!("{portal}/login?next=/services"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let authorize = location(&r);
    let query = authorize
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .ok_or("no authorize URL")?;
    let mut form: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    form.push(("pin".into(), pin.into()));
    form.push(("name".into(), format!("Citizen {pin}")));
    form.push(("email".into(), String::new()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = http
        .post(format!("{portal}/dev-idp/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = location(&r);
    let r = http
        .get(&callback)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let session = cookie_of(&r, "mygov").ok_or("no session cookie (is dev_idp on?)")?;
    let page = http
        .get(format!("{portal}/services"))
        .header(COOKIE, &session)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .ok_or("no CSRF token on the page")?
        .to_owned();
    Ok((session, csrf))
}

async fn timed(http: &reqwest::Client, url: &str, cookie: &str) -> Result<Sample, String> {
    let t = Instant::now();
    let r = http
        .get(url)
        .header(COOKIE, cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let server_ms = r
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("dur=").nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: {status}"));
    }
    Ok(Sample {
        server_ms,
        client_ms: t.elapsed().as_secs_f64() * 1000.0,
    })
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let Some(portal) = arg("--portal") else {
        eprintln!("usage: cargo bench -p korpu-portal --bench pages -- --portal URL [--sessions 200] [--rounds 5]");
        return;
    };
    let sessions: usize = arg("--sessions")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rounds: usize = arg("--rounds").and_then(|v| v.parse().ok()).unwrap_or(5);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(sessions)
        .build()
        .expect("client");
    let portal = Arc::new(portal);
    // Sign in and apply, a few at a time (the provider's rate limit is per IP).
    let mut users = Vec::new();
    for i in 0..sessions {
        let pin = format!("BENCH{i:04}");
        let (cookie, csrf) = sign_in(&http, &portal, &pin).await.expect("sign in");
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .append_pair("child_pin", "5ABC12D")
            .append_pair("child_birth_date", "2026-11-20")
            .append_pair("iban", "AZ21NABZ00000000137010001944")
            .finish();
        let r = http
            .post(format!(
                "{portal}/services/GOV/1400003/benefits/child-benefit/apply"
            ))
            .header(COOKIE, &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("apply");
        let app = location(&r);
        assert!(
            app.starts_with("/applications/"),
            "application not accepted: {}",
            r.status()
        );
        users.push((cookie, app.split('?').next().unwrap_or_default().to_owned()));
    }
    println!("{sessions} sessions signed in, one application each; {rounds} rounds of 3 pages each, all sessions at once");
    for (label, path) in [
        ("catalogue", "/services?q=benefit".to_owned()),
        (
            "service page",
            "/services/GOV/1400003/benefits/child-benefit".to_owned(),
        ),
        ("status page", String::new()),
    ] {
        let mut server = Vec::new();
        let mut client = Vec::new();
        let started = Instant::now();
        for _ in 0..rounds {
            let tasks: Vec<_> = users
                .iter()
                .map(|(cookie, app)| {
                    let http = http.clone();
                    let url = format!("{}{}", portal, if path.is_empty() { app } else { &path });
                    let cookie = cookie.clone();
                    tokio::spawn(async move { timed(&http, &url, &cookie).await })
                })
                .collect();
            for t in tasks {
                let s = t.await.expect("task").expect("request");
                server.push(s.server_ms);
                client.push(s.client_ms);
            }
        }
        let n = server.len();
        let rps = n as f64 / started.elapsed().as_secs_f64();
        println!(
            "{label:<13} n={n:<5} server p50 {:>7.2} ms  p95 {:>7.2} ms   client p50 {:>7.2} ms  p95 {:>7.2} ms   {rps:.0} req/s",
            pct(&mut server, 0.5),
            pct(&mut server, 0.95),
            pct(&mut client, 0.5),
            pct(&mut client, 0.95),
        );
    }
}
