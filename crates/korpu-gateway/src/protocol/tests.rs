//! Unit tests of the protocol functions (kept apart: they are longer than the code).

use super::*;

#[test]
fn targets_are_read_as_pr_rest_says() {
    let t = parse_target("/r1/INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE/v1/bar/zyggy?quu=1")
        .unwrap();
    assert_eq!(
        t.service.to_string(),
        "INSTANCE/CLASS2/MEMBER2/SUBSYSTEM2/BARSERVICE"
    );
    assert_eq!(t.path, "/v1/bar/zyggy");
    assert_eq!(t.query.as_deref(), Some("quu=1"));
    let t = parse_target("/r1/A/B/C/D/E").unwrap();
    assert_eq!(t.path, "");
    assert_eq!(
        parse_target("/r2/A/B/C/D/E").unwrap_err().kind,
        ErrorKind::BadRequest
    );
    assert_eq!(
        parse_target("/r1/A/B/C").unwrap_err().kind,
        ErrorKind::BadRequest
    );
    assert!(parse_target("/r1/A/B/C/D/E%20F")
        .unwrap_err()
        .message
        .contains("' '"));
}

#[test]
fn headers_are_read_and_the_last_client_header_counts() {
    let mut h = HeaderMap::new();
    assert_eq!(
        parse_headers(&h, new_message_id).unwrap_err().kind,
        ErrorKind::InvalidClient
    );
    h.append(H_CLIENT, HeaderValue::from_static("AZ/GOV/1/first"));
    h.append(H_CLIENT, HeaderValue::from_static("AZ/GOV/1/second"));
    h.insert(H_USER, HeaderValue::from_static("AZ1234567"));
    let x = parse_headers(&h, || "generated".into()).unwrap();
    assert_eq!(x.client.to_string(), "AZ/GOV/1/second");
    assert_eq!(x.message_id, "generated");
    assert_eq!(x.user_id.as_deref(), Some("AZ1234567"));
    h.insert(H_CLIENT, HeaderValue::from_static("AZ/GOV"));
    let e = parse_headers(&h, new_message_id).unwrap_err();
    assert_eq!((e.kind, e.status()), (ErrorKind::InvalidClient, 400));
}

#[test]
fn filtered_and_internal_headers_do_not_pass() {
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("host", "a"),
        ("user-agent", "curl"),
        ("connection", "close, x-secret"),
        ("x-secret", "1"),
        ("x-korpu-gw-signature", "forged"),
        ("transfer-encoding", "chunked"),
        ("x-powered-by", "PHP"),
        ("accept", "application/xml"),
        ("cache-control", "no-cache"),
        ("content-type", "text/plain"),
    ] {
        h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    let out = passthrough_headers(&h);
    let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for n in ["x-powered-by", "accept", "cache-control", "content-type"] {
        assert!(out.contains_key(n), "{n}");
    }
}

#[test]
fn message_ids_are_uuid_v4() {
    let id = new_message_id();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_ne!(id, new_message_id());
}

fn sample_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in [
        (H_CLIENT, "AZ/GOV/3/benefits"),
        (H_SERVICE, "AZ/GOV/1/pop/income"),
        (H_ID, "m1"),
        (H_USER, "AZ1"),
        (H_PURPOSE, "benefit"),
        (H_ISSUE, "case-7"),
        (H_REPRESENTED, "COM/1500001"),
        ("x-subject-id", "AZ1234567"),
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("x-custom", "a"),
    ] {
        h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    h.append("x-custom", HeaderValue::from_static("b"));
    h
}

fn covered_of(h: &HeaderMap, covered: &str) -> [u8; 32] {
    covered_sha256(
        Some(("GET", "/income", Some("y=2024"))),
        covered,
        h,
        &[7; 32],
    )
}

#[test]
fn each_altered_added_or_removed_covered_header_changes_what_is_signed() {
    let h = sample_headers();
    let covered = covered_names(&h);
    assert!(covered.split(' ').any(|n| n == "x-subject-id"), "{covered}");
    assert_eq!(uncovered_header(&h, &covered, &[]), None);
    let base = covered_of(&h, &covered);
    let names: Vec<HeaderName> = h.keys().cloned().collect();
    for name in &names {
        let mut altered = h.clone();
        altered.insert(name.clone(), HeaderValue::from_static("forged"));
        assert_ne!(covered_of(&altered, &covered), base, "altered {name}");
        let mut removed = h.clone();
        removed.remove(name);
        assert_ne!(covered_of(&removed, &covered), base, "removed {name}");
        // Dropping the header and its name from the list changes the (signed) list.
        let shorter: Vec<&str> = covered.split(' ').filter(|n| n != name).collect();
        assert_ne!(
            covered_of(&removed, &shorter.join(" ")),
            base,
            "unlisted {name}"
        );
    }
    // A second value, or the same values in another order, is another message.
    let mut more = h.clone();
    more.append("x-subject-id", HeaderValue::from_static("AZ7654321"));
    assert_ne!(covered_of(&more, &covered), base);
    let mut swapped = h.clone();
    swapped.remove("x-custom");
    swapped.append("x-custom", HeaderValue::from_static("b"));
    swapped.append("x-custom", HeaderValue::from_static("a"));
    assert_ne!(covered_of(&swapped, &covered), base);
    // A header added on the way is not in the list: the receiver refuses it.
    let mut added = h.clone();
    added.insert("x-subject-id-2", HeaderValue::from_static("AZ7654321"));
    assert_eq!(
        uncovered_header(&added, &covered, &[]),
        Some("x-subject-id-2")
    );
    // Internal and hop-by-hop headers are not forwarded, so need no cover.
    added.remove("x-subject-id-2");
    added.insert(H_SIG, HeaderValue::from_static("sig"));
    added.insert("content-length", HeaderValue::from_static("3"));
    assert_eq!(uncovered_header(&added, &covered, &[]), None);
    // Method, path, query and body are covered too.
    for other in [
        covered_sha256(
            Some(("POST", "/income", Some("y=2024"))),
            &covered,
            &h,
            &[7; 32],
        ),
        covered_sha256(
            Some(("GET", "/family", Some("y=2024"))),
            &covered,
            &h,
            &[7; 32],
        ),
        covered_sha256(Some(("GET", "/income", None)), &covered, &h, &[7; 32]),
        covered_sha256(
            Some(("GET", "/income", Some("y=2024"))),
            &covered,
            &h,
            &[8; 32],
        ),
    ] {
        assert_ne!(other, base);
    }
}

#[test]
fn every_field_of_the_signature_base_changes_it_and_the_request_hash() {
    let h = sample_headers();
    let xh = parse_headers(&h, new_message_id).unwrap();
    let base = SignedRequest {
        service: "AZ/GOV/1/pop/income",
        headers: &xh,
        created_ms: 1_700_000_000_000,
        subject: Some("AZ1234567"),
        covered_sha256: covered_of(&h, &covered_names(&h)),
    };
    let text = base.signature_base();
    assert!(
        text.starts_with("korpu-request/2\nid=2:m1\ncreated=13:1700000000000\n"),
        "{text}"
    );
    assert!(text.contains("\nsubject=9:AZ1234567\n"), "{text}");
    let mut other_id = xh.clone();
    other_id.message_id = "m2".into();
    let mut other_user = xh.clone();
    other_user.user_id = Some("AZ2".into());
    let mut other_purpose = xh.clone();
    other_purpose.purpose = None;
    let mut other_client = xh.clone();
    other_client.client_text = "AZ/GOV/3/other".into();
    let variants = [
        SignedRequest {
            headers: &other_id,
            ..base.clone()
        },
        SignedRequest {
            headers: &other_user,
            ..base.clone()
        },
        SignedRequest {
            headers: &other_purpose,
            ..base.clone()
        },
        SignedRequest {
            headers: &other_client,
            ..base.clone()
        },
        SignedRequest {
            created_ms: 1_700_000_000_001,
            ..base.clone()
        },
        SignedRequest {
            subject: Some("AZ7654321"),
            ..base.clone()
        },
        SignedRequest {
            subject: None,
            ..base.clone()
        },
        SignedRequest {
            service: "AZ/GOV/1/pop/family",
            ..base.clone()
        },
        SignedRequest {
            covered_sha256: [0; 32],
            ..base.clone()
        },
    ];
    let hash = request_hash(&text);
    assert_eq!(hash.len(), 88, "base64 of a SHA-512");
    for v in variants {
        let t = v.signature_base();
        assert_ne!(t, text, "{v:?}");
        assert_ne!(request_hash(&t), hash, "{v:?}");
    }
    let r = response_signature_base("ab", 200, None, &[1; 32]);
    assert_ne!(r, response_signature_base("ac", 200, None, &[1; 32]));
    assert_ne!(r, response_signature_base("ab", 500, None, &[1; 32]));
    assert_ne!(
        r,
        response_signature_base("ab", 200, Some("Server.X"), &[1; 32])
    );
    assert_ne!(r, response_signature_base("ab", 200, None, &[2; 32]));
}

#[test]
fn two_identical_requests_have_different_request_hashes() {
    let h = sample_headers();
    let covered = covered_of(&h, &covered_names(&h));
    let hash = |id: &str, created_ms| {
        let mut xh = parse_headers(&h, new_message_id).unwrap();
        xh.message_id = id.into();
        request_hash(
            &SignedRequest {
                service: "AZ/GOV/1/pop/income",
                headers: &xh,
                created_ms,
                subject: None,
                covered_sha256: covered,
            }
            .signature_base(),
        )
    };
    assert_ne!(hash(&new_message_id(), 1), hash(&new_message_id(), 1));
    // Even an information system reusing its X-Road-Id gets one hash per message.
    assert_ne!(hash("same", 1), hash("same", 2));
    assert_eq!(hash("same", 1), hash("same", 1));
}

#[test]
fn dot_segments_are_refused_in_every_encoding() {
    for bad in [
        "/r1/AZ/GOV/1/pop/echo/../family/AZ1",
        "/r1/AZ/GOV/1/pop/echo/./x",
        "/r1/AZ/GOV/1/pop/persons/AZ1/x/..",
        "/r1/AZ/GOV/1/pop/echo/%2e%2e/family",
        "/r1/AZ/GOV/1/pop/echo/%2E%2E/family",
        "/r1/AZ/GOV/1/pop/echo/.%2E/family",
        "/r1/AZ/GOV/1/pop/echo/%2e./family",
        "/r1/AZ/GOV/1/pop/echo/%2e/family",
        "/r1/AZ/GOV/1/pop/echo/..%2ffamily",
        "/r1/AZ/GOV/1/pop/echo/..%2Ffamily",
        "/r1/AZ/GOV/1/pop/echo/x%2f..%2ffamily",
        "/r1/AZ/GOV/1/pop/echo/..%5cfamily",
        "/r1/AZ/GOV/1/pop/echo/..\\family",
        "/r1/AZ/GOV/1/pop/echo/%252e%252e/family",
        "/r1/AZ/GOV/1/../pop/echo",
        "/r1/AZ/GOV/1/pop/echo/..?x=1",
    ] {
        let e = parse_target(bad).unwrap_err();
        assert_eq!((e.kind, e.status()), (ErrorKind::BadRequest, 400), "{bad}");
        assert!(e.message.contains("dot segment"), "{bad}: {e}");
    }
    for good in [
        "/r1/AZ/GOV/1/pop/echo/a.b/..c/c../...",
        "/r1/AZ/GOV/1/pop/echo/v1.2/%2e%2e%2e",
        "/r1/AZ/GOV/1/pop/echo/a%2fb",
        "/r1/AZ/GOV/1/pop/echo/x?path=../..",
    ] {
        assert!(parse_target(good).is_ok(), "{good}");
    }
}

#[test]
fn xml_errors_carry_the_json_content_escaped() {
    let e = XRoadError::new(ErrorKind::BadRequest, "a <b> & \"c\" 'd'\u{1}");
    let (xml, ct) = e.render("id<1>", ErrorForm::Xml);
    assert_eq!(ct, "application/xml;charset=utf-8");
    assert_eq!(
        String::from_utf8(xml).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><type>Client.BadRequest</type>\
         <message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;\u{FFFD}</message>\
         <detail>id&lt;1&gt;</detail></error>\n"
    );
    let (json, ct) = e.render("id<1>", ErrorForm::Json);
    assert_eq!(ct, "application/json;charset=utf-8");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["message"], "a <b> & \"c\" 'd'\u{1}");
}

#[test]
fn each_error_kind_has_its_pr_rest_type_status_and_peer_reading() {
    for k in ErrorKind::ALL {
        let t = k.as_str();
        let expected = if t.starts_with("Client.") { 400 } else { 500 };
        assert_eq!(k.status(), expected, "{t}");
        assert!(t.starts_with("Client.") || t.starts_with("Server."), "{t}");
        // A provider's gateway may send any kind but the caller's own gateway's.
        let from_peer = ErrorKind::from_peer(t);
        if t.starts_with("Server.ClientProxy.") {
            assert_eq!(from_peer, None, "{t}");
        } else {
            assert_eq!(from_peer, Some(k), "{t}");
        }
        let e = XRoadError::new(k, "m");
        let (json, _) = e.render("id", ErrorForm::Json);
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["type"], t);
    }
    let mut types: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), ErrorKind::ALL.len());
    assert_eq!(ErrorKind::from_peer("Client.Nonsense"), None);
}

#[test]
fn accept_chooses_the_error_form() {
    let form = |accept: &[&str]| {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append("accept", HeaderValue::from_str(a).unwrap());
        }
        ErrorForm::from_accept(&h)
    };
    assert_eq!(form(&[]), ErrorForm::Json);
    assert_eq!(form(&["application/xml"]), ErrorForm::Xml);
    assert_eq!(form(&["text/xml; charset=utf-8"]), ErrorForm::Xml);
    assert_eq!(form(&["*/*"]), ErrorForm::Json);
    assert_eq!(
        form(&["application/json, application/xml"]),
        ErrorForm::Json
    );
    assert_eq!(form(&["application/xml, application/json"]), ErrorForm::Xml);
    assert_eq!(form(&["application/json;q=0.5, text/xml"]), ErrorForm::Xml);
    assert_eq!(form(&["application/xml;q=0"]), ErrorForm::Json);
    assert_eq!(form(&["text/html", "APPLICATION/XML"]), ErrorForm::Xml);
}
