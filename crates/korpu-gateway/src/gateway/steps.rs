//! The steps of an exchange that need no socket, as functions of their inputs, each with unit
//! tests here: authenticating a local information system by its registered TLS certificate
//! ([`authenticate_client`]), authorising a call ([`authorise`]), choosing the provider's
//! gateways ([`provider_gateways`]), the headers a request is forwarded and signed with
//! ([`outgoing_headers`]), what is signed of a request ([`request_signature_base`]) and
//! verified of an answer ([`response_signature_base`]), finding the data subject
//! ([`find_subject`]) and what every record states ([`new_record`]). The signatures themselves
//! (the batch signer and verifier) and forwarding (the peer connections) stay in
//! [`super::client`] and [`super::provider`].

use super::*;
use crate::index::PathTemplate;

/// PR-REST §4.7: a client subsystem with registered certificates (`registered`, SHA-256 hex)
/// must connect over TLS with one of them; `client_cert` is the SHA-256 of the certificate
/// the connection presented, `None` on the plain-HTTP side.
pub(super) fn authenticate_client(
    registered: Option<&Vec<String>>,
    client_cert: Option<&str>,
    client: &ClientId,
) -> Result<(), XRoadError> {
    match (registered, client_cert) {
        (Some(pins), Some(fp)) if pins.iter().any(|p| p.eq_ignore_ascii_case(fp)) => Ok(()),
        (Some(_), None) => Err(XRoadError::new(
            ErrorKind::UnknownClient,
            format!("{client} must connect over TLS with its registered certificate"),
        )),
        (_, Some(fp)) => Err(XRoadError::new(
            ErrorKind::UnknownClient,
            format!("the TLS client certificate (SHA-256 {fp}) is not registered for {client}"),
        )),
        (None, None) => Ok(()),
    }
}

/// The gateways serving `service`'s subsystem, in the configuration's order (the order of
/// failover), narrowed to `security_server` when the caller names one.
pub(super) fn provider_gateways<'a>(
    conf: &'a IndexedConf,
    service: &ServiceId,
    security_server: Option<&GatewayId>,
) -> Result<Vec<&'a GatewayInfo>, XRoadError> {
    let mut gateways: Vec<&GatewayInfo> = conf
        .gateways_serving_subsystem(&service.subsystem)
        .collect();
    if let Some(want) = security_server {
        gateways.retain(|g| &g.id == want);
        if gateways.is_empty() {
            return Err(XRoadError::new(
                ErrorKind::BadRequest,
                format!(
                    "X-Road-Security-Server {want} does not serve {}",
                    service.subsystem
                ),
            ));
        }
    }
    if gateways.is_empty() {
        return Err(XRoadError::new(
            ErrorKind::UnknownService,
            format!("no gateway serves {}", service.subsystem),
        ));
    }
    Ok(gateways)
}

/// The headers a request goes to the provider's gateway with, all of which its signature
/// covers: what may pass from the information system, and the X-Road ones as this gateway
/// sets them (never as the information system sent them).
pub(super) fn outgoing_headers(
    in_headers: &HeaderMap,
    xh: &XRoadHeaders,
    service_text: &str,
) -> HeaderMap {
    let mut out = p::passthrough_headers(in_headers);
    p::strip_xroad_response_headers(&mut out);
    for (n, v) in [
        (p::H_CLIENT, Some(xh.client_text.as_str())),
        (p::H_SERVICE, Some(service_text)),
        (p::H_USER, xh.user_id.as_deref()),
        (p::H_ISSUE, xh.issue.as_deref()),
        (p::H_PURPOSE, xh.purpose.as_deref()),
        (p::H_REPRESENTED, xh.represented_party.as_deref()),
    ] {
        if let Some(v) = v {
            p::set(&mut out, n, v);
        }
    }
    p::set_unique(&mut out, p::H_ID, &xh.message_id);
    out
}

/// Sign, the part without the key: the covered-header list of `out_headers` and the request's
/// signature base (protocol's module doc), what the batch signer signs and the record keeps.
pub(super) fn request_signature_base(
    method: &str,
    target: &p::Target,
    xh: &XRoadHeaders,
    out_headers: &HeaderMap,
    body_sha256: &[u8; 32],
    subject: Option<&str>,
    created_ms: u64,
) -> (String, String) {
    let covered = p::covered_names(out_headers);
    let covered_sha256 = p::covered_sha256(
        Some((method, &target.path, target.query.as_deref())),
        &covered,
        out_headers,
        body_sha256,
    );
    let base = p::SignedRequest {
        service: &target.service_text,
        headers: xh,
        created_ms,
        subject,
        covered_sha256,
    }
    .signature_base();
    (covered, base)
}

/// Verify, the part without the key: the signature base of a provider gateway's answer as
/// recomputed from what arrived (`covered` is its covered-header list), bound to our request
/// by `request_digest`. An answer carrying a header that would pass to the information system
/// uncovered is refused (only the X-Road headers this gateway sets itself may be uncovered).
pub(super) fn response_signature_base(
    headers: &HeaderMap,
    covered: &str,
    request_digest: &str,
    status: u16,
    error_type: Option<&str>,
    body_sha256: &[u8; 32],
    provider: &GatewayId,
) -> Result<String, XRoadError> {
    if let Some(n) = p::uncovered_header(headers, covered, RESPONSE_OWN_HEADERS) {
        return Err(XRoadError::new(
            ErrorKind::CpSignature,
            format!(
                "the response from {provider} carries the header {n}, which its signature does not cover"
            ),
        ));
    }
    Ok(p::response_signature_base(
        request_digest,
        status,
        error_type,
        &p::covered_sha256(None, covered, headers, body_sha256),
    ))
}

/// What every record of an exchange states, whichever its side (`role`) and outcome: the one
/// place the record's common fields are written. The caller sets the digests, signatures and
/// outcome over it (`ExchangeRecord { …, ..new_record(…) }`).
pub(super) fn new_record(
    gateway: &str,
    role: Role,
    xh: &XRoadHeaders,
    service: String,
) -> ExchangeRecord {
    ExchangeRecord {
        message_id: xh.message_id.clone(),
        time_unix_ms: now_ms(),
        client: xh.client_text.clone(),
        service,
        gateway: gateway.to_owned(),
        role,
        user_id: xh.user_id.clone(),
        purpose: xh.purpose.clone(),
        ..ExchangeRecord::default()
    }
}

/// The rule both gateways apply: `xh.client` needs an access right to `service`, and a purpose
/// when the service requires one. `denied` is the error type for this side of the exchange.
pub(super) fn authorise(
    conf: &IndexedConf,
    xh: &XRoadHeaders,
    service: &korpu_conf::ServiceInfo,
    denied: ErrorKind,
) -> Result<(), XRoadError> {
    if !conf.is_allowed(&xh.client, &service.id) {
        return Err(XRoadError::new(
            denied,
            format!("{} has no access right to {}", xh.client, service.id),
        ));
    }
    if service.purpose_required && xh.purpose.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(XRoadError::new(
            ErrorKind::PurposeRequired,
            format!(
                "service {} requires a purpose: send X-Korpu-Purpose",
                service.id
            ),
        ));
    }
    Ok(())
}

/// Finds the data subject's id in a request, where the service says it is. A path parameter
/// is matched against the service's OpenAPI path templates (`/persons/{pin}`); without a
/// matching template it is the last path segment. `templates` are the OpenAPI description's
/// path templates ([`IndexedConf::path_templates`]), split once per configuration version.
pub fn find_subject(
    loc: &SubjectLocation,
    headers: &HeaderMap,
    target: &p::Target,
    templates: &[PathTemplate],
) -> Option<String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    match loc {
        SubjectLocation::Header(name) => HeaderName::from_bytes(name.as_bytes())
            .ok()
            .and_then(|n| header(headers, n.as_str()).map(str::to_owned)),
        SubjectLocation::Query(name) => target.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k) == *name).then(|| decode(v))
        }),
        SubjectLocation::Path(name) => {
            let segs: Vec<&str> = target.path.split('/').filter(|s| !s.is_empty()).collect();
            let captured = templates
                .iter()
                .find_map(|t| t.capture(&segs, name))
                .or(segs.last().copied());
            captured.map(decode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn xh(client: &str, extra: &[(&str, &str)]) -> XRoadHeaders {
        let mut pairs = vec![(p::H_CLIENT, client)];
        pairs.extend_from_slice(extra);
        p::parse_headers(&headers(&pairs), || "id-1".into()).expect("headers")
    }

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("an identifier")
    }

    #[test]
    fn a_client_with_registered_certificates_must_present_one_of_them() {
        let client: ClientId = id("AZ/GOV/1/sub");
        let pins = vec!["AB12".to_owned()];
        assert!(authenticate_client(Some(&pins), Some("ab12"), &client).is_ok());
        assert!(authenticate_client(None, None, &client).is_ok());
        for (reg, cert) in [
            (Some(&pins), None),
            (Some(&pins), Some("cd34")),
            (None, Some("ab12")),
        ] {
            let e = authenticate_client(reg, cert, &client).expect_err("refused");
            assert_eq!(e.kind, ErrorKind::UnknownClient);
        }
    }

    #[test]
    fn authorisation_needs_an_access_right_and_a_purpose_where_required() {
        let conf = crate::index::tests::conf();
        let persons = conf.service(&id("AZ/GOV/2/pro/persons")).expect("persons");
        let other = conf.service(&id("AZ/GOV/2/pro/other")).expect("other");
        let allowed = xh("AZ/GOV/1/sub", &[]);
        assert!(authorise(&conf, &allowed, persons, ErrorKind::AccessDenied).is_ok());
        let stranger = xh("AZ/GOV/2/pro", &[]);
        let refused = authorise(&conf, &stranger, persons, ErrorKind::SpAccessDenied);
        assert_eq!(refused.map_err(|e| e.kind), Err(ErrorKind::SpAccessDenied));
        // `other` requires a purpose, and the client has no right to it either: the right
        // is checked first.
        let e = authorise(&conf, &allowed, other, ErrorKind::AccessDenied).expect_err("denied");
        assert_eq!(e.kind, ErrorKind::AccessDenied);
    }

    #[test]
    fn a_purpose_is_required_where_the_service_says() {
        let mut conf = crate::index::tests::conf_document();
        conf.services[0].purpose_required = true;
        let conf = IndexedConf::new(conf);
        let persons = conf.service(&id("AZ/GOV/2/pro/persons")).expect("persons");
        let silent = xh("AZ/GOV/1/sub", &[]);
        let refused = authorise(&conf, &silent, persons, ErrorKind::AccessDenied);
        assert_eq!(refused.map_err(|e| e.kind), Err(ErrorKind::PurposeRequired));
        let blank = xh("AZ/GOV/1/sub", &[(p::H_PURPOSE, " ")]);
        assert!(authorise(&conf, &blank, persons, ErrorKind::AccessDenied).is_err());
        let stated = xh("AZ/GOV/1/sub", &[(p::H_PURPOSE, "benefit")]);
        assert!(authorise(&conf, &stated, persons, ErrorKind::AccessDenied).is_ok());
    }

    #[test]
    fn provider_gateways_keep_the_configuration_order_and_the_callers_choice() {
        let conf = crate::index::tests::conf();
        let service: ServiceId = id("AZ/GOV/1/sub/thing");
        let ids =
            |g: Vec<&GatewayInfo>| g.into_iter().map(|g| g.id.to_string()).collect::<Vec<_>>();
        let all = provider_gateways(&conf, &service, None).expect("served");
        assert_eq!(ids(all), ["AZ/GOV/1/gw1", "AZ/GOV/2/gw2"]);
        let gw2: GatewayId = id("AZ/GOV/2/gw2");
        let chosen = provider_gateways(&conf, &service, Some(&gw2)).expect("served");
        assert_eq!(ids(chosen), ["AZ/GOV/2/gw2"]);
        let stranger: GatewayId = id("AZ/GOV/3/gw3");
        let e = provider_gateways(&conf, &service, Some(&stranger)).expect_err("not serving");
        assert_eq!(e.kind, ErrorKind::BadRequest);
        let e = provider_gateways(&conf, &id("AZ/GOV/9/none/x"), None).expect_err("no gateway");
        assert_eq!(e.kind, ErrorKind::UnknownService);
    }

    #[test]
    fn outgoing_headers_carry_the_x_road_headers_as_this_gateway_sets_them() {
        let incoming = headers(&[
            (p::H_CLIENT, "AZ/GOV/1/sub"),
            (p::H_USER, "user-1"),
            (p::H_REQUEST_HASH, "forged"),
            (p::H_SIG, "forged"),
            ("connection", "close"),
            ("accept", "application/json"),
        ]);
        let x = p::parse_headers(&incoming, || "id-1".into()).expect("headers");
        let out = outgoing_headers(&incoming, &x, "AZ/GOV/2/pro/persons");
        let get = |n: &str| out.get(n).and_then(|v| v.to_str().ok());
        assert_eq!(get(p::H_CLIENT), Some("AZ/GOV/1/sub"));
        assert_eq!(get(p::H_SERVICE), Some("AZ/GOV/2/pro/persons"));
        assert_eq!(get(p::H_ID), Some(x.message_id.as_str()));
        assert_eq!(get(p::H_USER), Some("user-1"));
        assert_eq!(get("accept"), Some("application/json"));
        for gone in [p::H_REQUEST_HASH, p::H_SIG, "connection", p::H_PURPOSE] {
            assert_eq!(get(gone), None, "{gone}");
        }
    }

    #[test]
    fn a_new_record_states_the_exchange_and_nothing_it_does_not_know() {
        let x = xh("AZ/GOV/1/sub", &[(p::H_USER, "u"), (p::H_PURPOSE, "why")]);
        let r = new_record(
            "AZ/GOV/1/gw1",
            Role::Client,
            &x,
            "AZ/GOV/2/pro/persons".into(),
        );
        assert_eq!(r.message_id, x.message_id);
        assert_eq!(r.client, "AZ/GOV/1/sub");
        assert_eq!(r.service, "AZ/GOV/2/pro/persons");
        assert_eq!(r.gateway, "AZ/GOV/1/gw1");
        assert_eq!(r.role, Role::Client);
        assert_eq!(r.user_id.as_deref(), Some("u"));
        assert_eq!(r.purpose.as_deref(), Some("why"));
        assert!(r.time_unix_ms > 0);
        assert!(r.request_signature.is_empty() && r.response_status.is_none());
        assert!(r.data_subject.is_none() && r.error.is_none());
    }

    #[test]
    fn the_subject_is_found_by_the_openapi_template_else_the_last_segment() {
        let target = p::parse_target("/r1/AZ/GOV/2/pro/persons/persons/12%2034/x").expect("t");
        let h = headers(&[("x-pin", "777")]);
        let loc = SubjectLocation::Path("pin".into());
        let templates = [PathTemplate::new("/persons/{pin}/x")];
        assert_eq!(
            find_subject(&loc, &h, &target, &templates).as_deref(),
            Some("12 34")
        );
        assert_eq!(find_subject(&loc, &h, &target, &[]).as_deref(), Some("x"));
        let loc = SubjectLocation::Header("x-pin".into());
        assert_eq!(find_subject(&loc, &h, &target, &[]).as_deref(), Some("777"));
    }

    #[test]
    fn the_request_base_changes_with_every_covered_header_and_the_body() {
        let target = p::parse_target("/r1/AZ/GOV/2/pro/persons/p/1?q=2").expect("target");
        let x = xh("AZ/GOV/1/sub", &[]);
        let out = outgoing_headers(&headers(&[("accept", "a")]), &x, &target.service_text);
        let body = [7u8; 32];
        let (covered, base) =
            request_signature_base("GET", &target, &x, &out, &body, Some("s"), 1_000);
        assert!(covered.split(' ').any(|n| n == "accept"), "{covered}");
        let same = request_signature_base("GET", &target, &x, &out, &body, Some("s"), 1_000);
        assert_eq!(same.1, base);
        let mut altered = out.clone();
        altered.insert("accept", HeaderValue::from_static("b"));
        let other = [
            request_signature_base("GET", &target, &x, &altered, &body, Some("s"), 1_000).1,
            request_signature_base("POST", &target, &x, &out, &body, Some("s"), 1_000).1,
            request_signature_base("GET", &target, &x, &out, &[8; 32], Some("s"), 1_000).1,
            request_signature_base("GET", &target, &x, &out, &body, None, 1_000).1,
            request_signature_base("GET", &target, &x, &out, &body, Some("s"), 1_001).1,
        ];
        for o in other {
            assert_ne!(o, base);
        }
    }

    #[test]
    fn an_answer_with_an_uncovered_header_is_refused_and_a_covered_one_is_bound() {
        let gw: GatewayId = id("AZ/GOV/2/gw2");
        let h = headers(&[("content-type", "application/json"), (p::H_ID, "id-1")]);
        let body = [1u8; 32];
        let base = response_signature_base(&h, "content-type", "d1", 200, None, &body, &gw)
            .expect("covered");
        // Bound to the request digest, the status, the error type and the body.
        for other in [
            response_signature_base(&h, "content-type", "d2", 200, None, &body, &gw),
            response_signature_base(&h, "content-type", "d1", 500, None, &body, &gw),
            response_signature_base(&h, "content-type", "d1", 200, Some("x"), &body, &gw),
            response_signature_base(&h, "content-type", "d1", 200, None, &[2; 32], &gw),
        ] {
            assert_ne!(other.expect("covered"), base);
        }
        let e = response_signature_base(&h, "", "d1", 200, None, &body, &gw)
            .expect_err("content-type is not covered");
        assert_eq!(e.kind, ErrorKind::CpSignature);
    }
}
