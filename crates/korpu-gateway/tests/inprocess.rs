//! The gateway's client side as a `tower::Service`, driven in-process with `oneshot` and
//! in-memory bodies: refusals in PR-REST's error form, limits, and the metaservices answered
//! from a global configuration built here. No sockets, no other process.

mod common;

use common::*;
use korpu_gateway::protocol::ErrorKind;

fn persons_path() -> String {
    format!("/r1/{PERSONS}/persons/1")
}

#[tokio::test]
async fn a_missing_or_malformed_client_is_refused_in_pr_rest_form() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    for headers in [vec![], vec![("x-road-client", "not an id")]] {
        let answer = call_client(&gw, request_to(&persons_path(), &headers, "")).await;
        answer.assert_error(ErrorKind::InvalidClient);
        assert!(answer.header("x-road-id").is_some());
    }
    // The same refusal in the XML form when the caller asks for it.
    let answer = call_client(
        &gw,
        request_to(&persons_path(), &[("accept", "application/xml")], ""),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.header("x-road-error"),
        Some(ErrorKind::InvalidClient.as_str())
    );
    assert!(String::from_utf8_lossy(&answer.body).starts_with("<?xml"));
}

#[tokio::test]
async fn an_unknown_service_and_a_client_without_access_are_refused() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    let unknown = "/r1/AZ/GOV/2/pro/nothing/x";
    let answer = call_as(&gw, CLIENT, unknown).await;
    answer.assert_error(ErrorKind::UnknownService);
    let answer = call_as(&gw, STRANGER, &persons_path()).await;
    answer.assert_error(ErrorKind::AccessDenied);
    // A client this gateway does not serve.
    let answer = call_as(&gw, "AZ/GOV/2/pro", &persons_path()).await;
    answer.assert_error(ErrorKind::UnknownClient);
}

#[tokio::test]
async fn a_caller_outside_the_client_networks_is_refused() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |c| {
        c.client_networks = vec!["10.0.0.0/8".into()];
    });
    let answer = call_as(&gw, CLIENT, &persons_path()).await;
    answer.assert_error(ErrorKind::UnknownClient);
}

#[tokio::test]
async fn oversized_headers_and_bodies_are_refused_before_anything_is_forwarded() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |c| {
        c.max_body_bytes = 1024;
        c.max_header_bytes = 4096;
    });
    let big = "x".repeat(8192);
    let answer = call_client(
        &gw,
        request_to(
            &persons_path(),
            &[("x-road-client", CLIENT), ("x-big", &big)],
            "",
        ),
    )
    .await;
    answer.assert_error(ErrorKind::BadRequest);
    let answer = call_client(
        &gw,
        request_to(
            &persons_path(),
            &[("x-road-client", CLIENT)],
            vec![0u8; 2048],
        ),
    )
    .await;
    answer.assert_error(ErrorKind::TooLarge);
    assert!(answer.json()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("max_body_bytes"));
}

#[tokio::test]
async fn list_clients_names_every_member_and_subsystem() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    let answer = call_client(&gw, request_to("/listClients", &[], "")).await;
    assert_eq!(answer.status, 200);
    let members = answer.json()["member"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let subsystems: Vec<_> = members
        .iter()
        .filter_map(|m| m["id"]["subsystem_code"].as_str())
        .collect();
    assert_eq!(members.len(), 5, "two members and three subsystems");
    assert_eq!(subsystems, ["client", "stranger", "pro"]);
}

#[tokio::test]
async fn list_and_allowed_methods_answer_from_the_configuration() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    let codes = |answer: &Answer| -> Vec<String> {
        answer.json()["service"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["service_code"].as_str().map(str::to_owned))
            .collect()
    };
    let list = call_as(&gw, STRANGER, "/r1/AZ/GOV/2/pro/listMethods").await;
    assert_eq!(list.status, 200);
    assert_eq!(codes(&list), ["persons", "plain"]);
    for (client, allowed) in [(CLIENT, vec!["persons"]), (STRANGER, vec![])] {
        let answer = call_as(&gw, client, "/r1/AZ/GOV/2/pro/allowedMethods").await;
        assert_eq!(answer.status, 200);
        assert_eq!(codes(&answer), allowed, "{client}");
    }
}

#[tokio::test]
async fn get_openapi_answers_the_description_or_says_there_is_none() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    let ask = |query: &str| format!("/r1/AZ/GOV/2/pro/getOpenAPI{query}");
    let answer = call_as(&gw, CLIENT, &ask("?serviceCode=persons")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.json()["openapi"], "3.0.0");
    call_as(&gw, CLIENT, &ask("?serviceCode=plain"))
        .await
        .assert_error(ErrorKind::UnknownService);
    call_as(&gw, CLIENT, &ask(""))
        .await
        .assert_error(ErrorKind::BadRequest);
}

#[tokio::test]
async fn an_expired_configuration_makes_the_gateway_refuse_to_route() {
    let platform = Platform::new();
    let gw = platform.gateway(GATEWAY, &platform.conf(), |_| {});
    let mut expired = platform.conf();
    expired.version = 2;
    let now = korpu_conf::Timestamp::now().unix();
    expired.issued_at = korpu_conf::Timestamp::from_unix(now - 380 * 86_400);
    expired.expires_at = korpu_conf::Timestamp::from_unix(now - 3600);
    gw.accept_conf(&platform.sign(&expired), false)
        .expect("an expired saved configuration still loads");
    let answer = call_as(&gw, CLIENT, &persons_path()).await;
    answer.assert_error(ErrorKind::OutdatedConf);
}
