use super::*;
use proptest::prelude::*;

/// Any valid raw part: allowed characters only, 1 to MAX_PART_LEN long.
fn part() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9'()+,\\-.=?]{1,40}").expect("valid regex")
}

fn member() -> impl Strategy<Value = MemberId> {
    (part(), part(), part()).prop_map(|(i, c, m)| {
        MemberId::new(
            InstanceId::new(&i).unwrap(),
            MemberClass::new(&c).unwrap(),
            MemberCode::new(&m).unwrap(),
        )
    })
}

fn service() -> impl Strategy<Value = ServiceId> {
    (member(), part(), part()).prop_map(|(m, s, c)| {
        m.subsystem(SubsystemCode::new(&s).unwrap())
            .service(ServiceCode::new(&c).unwrap())
    })
}

proptest! {
    #[test]
    fn member_round_trips(m in member()) {
        let text = m.to_string();
        prop_assert_eq!(text.parse::<MemberId>().unwrap(), m.clone());
        prop_assert_eq!(text.parse::<ClientId>().unwrap(), ClientId::Member(m));
    }

    #[test]
    fn service_round_trips(s in service()) {
        let text = s.to_string();
        prop_assert_eq!(text.parse::<ServiceId>().unwrap(), s.clone());
        let client = s.subsystem.to_string();
        prop_assert_eq!(client.parse::<ClientId>().unwrap(), ClientId::Subsystem(s.subsystem.clone()));
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<ServiceId>(&json).unwrap(), s);
    }

    #[test]
    fn rest_path_splits_service_and_rest(s in service(), rest in "(/[a-z0-9]{0,8}){0,4}") {
        let path = format!("{s}{rest}");
        let (id, tail) = ServiceId::split_rest_path(&path).unwrap();
        prop_assert_eq!(id, s);
        prop_assert_eq!(tail, rest.as_str());
    }

    #[test]
    fn fully_percent_encoded_parts_decode(p in part()) {
        // A client may percent-encode every byte of a part (PR-REST 4.2); the result is the same id.
        let encoded: String = p.bytes().map(|b| format!("%{b:02X}")).collect();
        let code = MemberCode::from_encoded(&encoded).unwrap();
        prop_assert_eq!(code.as_str(), p.as_str());
    }

    #[test]
    fn forbidden_characters_are_named(prefix in part(), bad in "[^A-Za-z0-9'()+,\\-.=?/%]", suffix in part()) {
        let value = format!("{prefix}{bad}{suffix}");
        let text = format!("AZ/GOV/{}", utf8_percent_encode(&value, PART_ENCODE));
        match text.parse::<MemberId>() {
            Err(IdError::BadChar { part, bad: c, .. }) => {
                prop_assert_eq!(part, Part::MemberCode);
                prop_assert_eq!(c.to_string(), bad);
            }
            other => prop_assert!(false, "expected BadChar, got {:?}", other),
        }
    }
}

#[test]
fn example_from_the_design_brief() {
    let s: ServiceId = "AZ/GOV/1234567/population/persons".parse().unwrap();
    assert_eq!(s.subsystem.member.instance.as_str(), "AZ");
    assert_eq!(s.subsystem.member.class.as_str(), "GOV");
    assert_eq!(s.subsystem.member.code.as_str(), "1234567");
    assert_eq!(s.subsystem.code.as_str(), "population");
    assert_eq!(s.code.as_str(), "persons");
}

#[test]
fn question_mark_is_encoded_in_text_form() {
    let c = ServiceCode::new("who?").unwrap();
    assert_eq!(c.to_string(), "who%3F");
    assert_eq!("who%3F".parse::<ServiceCode>().unwrap(), c);
}

#[test]
fn slash_inside_a_part_is_refused() {
    // PR-REST 4.2 shows "BAR%2FSERVICE", but 4.8 (since v1.0.3) forbids "/" in any part.
    let err = "AZ/GOV/1234567/sub/BAR%2FSERVICE"
        .parse::<ServiceId>()
        .unwrap_err();
    assert_eq!(err.part(), Some(Part::ServiceCode));
    assert!(err.to_string().contains("'/'"), "{err}");
}

#[test]
fn errors_name_the_part_and_the_rule() {
    let cases: &[(&str, Part, &str)] = &[
        ("AZ//1234567", Part::MemberClass, "member class is empty"),
        (
            "AZ/GOV/12 34",
            Part::MemberCode,
            "member code \"12 34\" contains ' '",
        ),
        (
            "AZ:X/GOV/1",
            Part::Instance,
            "instance \"AZ:X\" contains ':'",
        ),
        (
            "AZ/GOV/%FF",
            Part::MemberCode,
            "not valid percent-encoded UTF-8",
        ),
    ];
    for (text, part, msg) in cases {
        let err = text.parse::<MemberId>().unwrap_err();
        assert_eq!(err.part(), Some(*part), "{text}");
        assert!(err.to_string().contains(msg), "{text}: {err}");
    }
    let long = "x".repeat(MAX_PART_LEN + 1);
    let err = format!("AZ/GOV/{long}").parse::<MemberId>().unwrap_err();
    assert_eq!(
        err,
        IdError::TooLong {
            part: Part::MemberCode,
            len: MAX_PART_LEN + 1
        }
    );
}

#[test]
fn wrong_part_counts_are_explained() {
    let err = "AZ/GOV".parse::<MemberId>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "member id \"AZ/GOV\" has 2 parts separated by '/': expected 3 (INSTANCE/CLASS/CODE)"
    );
    assert!("AZ/GOV/1/a/b".parse::<ClientId>().is_err());
    assert!(ServiceId::split_rest_path("AZ/GOV/1/sub").is_err());
    let gw: GatewayId = "AZ/GOV/1234567/gw1".parse().unwrap();
    assert_eq!(gw.to_string(), "AZ/GOV/1234567/gw1");
}
