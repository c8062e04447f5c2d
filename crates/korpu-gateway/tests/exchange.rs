//! A whole exchange in one process: the client side's forward step reaches the provider
//! gateway's own `tower::Service` (`Gateway::reach_in_process`) instead of a connection, so
//! authenticate → authorise → sign → forward → verify → record run on both gateways, with
//! their real keys, certificates, staples and a signed global configuration, and no socket.
//! The provider answers from its built-in `korpu:subject-accesses` backend, so no information
//! system is needed either.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use korpu_conf::{AccessRight, ServiceInfo, SubjectLocation};
use korpu_gateway::record::{Durable, ExchangeRecord, Recorder, TrackerPage};
use korpu_gateway::service::{Caller, GatewayService};

const ACCESSES: &str = "AZ/GOV/2/pro/accesses";

/// Keeps records in memory and answers the data tracker's question with the subject asked.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<ExchangeRecord>>>);

impl Recorder for Kept {
    fn record<'a>(&'a self, record: &'a ExchangeRecord) -> Durable<'a> {
        let mut kept = self.0.lock().expect("lock");
        kept.push(record.clone());
        let at = kept.len() as u64 - 1;
        Box::pin(async move { Ok(at) })
    }

    fn subject_accesses(&self, subject: &str, _: Option<u64>, _: usize) -> TrackerPage<'_> {
        let page = serde_json::json!({"entries": [], "next": null, "subject": subject});
        Box::pin(async move { Ok(page) })
    }
}

impl Kept {
    fn roles(&self) -> Vec<(String, Option<String>)> {
        let kept = self.0.lock().expect("lock");
        kept.iter()
            .map(|r| (r.role.to_string(), r.data_subject.clone()))
            .collect()
    }
}

#[tokio::test]
async fn an_exchange_passes_both_gateways_in_process_signed_verified_and_recorded() {
    let platform = Platform::new();
    let client_cfg = platform.gateway_config(GATEWAY, |_| {});
    let provider_cfg = platform.gateway_config(PROVIDER_GATEWAY, |c| {
        c.services = [(ACCESSES.to_owned(), "korpu:subject-accesses".to_owned())].into();
    });
    let (client_tls, provider_tls) = (
        certificate(&client_cfg, "tls.pem"),
        certificate(&provider_cfg, "tls.pem"),
    );
    let mut conf = platform.conf();
    conf.gateways[0].tls_cert_sha256 = vec![client_tls.sha256_fingerprint_hex()];
    conf.gateways[1].tls_cert_sha256 = vec![provider_tls.sha256_fingerprint_hex()];
    conf.services.push(ServiceInfo {
        data_subject: Some(SubjectLocation::Query("subject".into())),
        ..conf.services[1].clone()
    });
    conf.services[2].id = id(ACCESSES);
    conf.access_rights.push(AccessRight {
        client: id(CLIENT),
        service: id(ACCESSES),
    });
    let (client_records, provider_records) = (Kept::default(), Kept::default());
    let client = platform.start(client_cfg.clone(), Box::new(client_records.clone()), &conf);
    let provider = platform.start(
        provider_cfg.clone(),
        Box::new(provider_records.clone()),
        &conf,
    );
    platform.staple(&client, &client_cfg);
    platform.staple(&provider, &provider_cfg);
    let provider_side = GatewayService::new(provider, Caller::PeerGateway(Arc::new(client_tls)));
    client.reach_in_process(&conf.gateways[1], provider_side, provider_tls);

    // The data tracker's question, asked for the subject AZ123 by `user`.
    let ask = |user: &'static str| {
        let path = format!("/r1/{ACCESSES}/mine?subject=AZ123");
        call_client(
            &client,
            request_to(
                &path,
                &[("x-road-client", CLIENT), ("x-road-userid", user)],
                "",
            ),
        )
    };
    let answer = ask("AZ123").await;
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    assert_eq!(answer.status, 200, "{body}");
    assert_eq!(answer.json()["subject"], "AZ123");
    assert_eq!(answer.header("x-road-client"), Some(CLIENT));
    assert_eq!(answer.header("x-road-service"), Some(ACCESSES));
    assert!(answer.header("x-road-request-hash").is_some(), "{body}");
    assert!(answer.header("x-road-error").is_none(), "{body}");
    // Each side recorded its half; the provider found the data subject where the service says.
    assert_eq!(client_records.roles(), [("client".to_owned(), None)]);
    assert_eq!(
        provider_records.roles(),
        [("provider".to_owned(), Some("AZ123".to_owned()))]
    );

    // Someone other than the subject is refused by the provider, and the refusal, signed over
    // the verified request, is passed on and recorded by the client's gateway.
    let answer = ask("AZ999").await;
    answer.assert_error(korpu_gateway::protocol::ErrorKind::SpAccessDenied);
    assert_eq!(client_records.roles().len(), 2);
}
