//! The registry through its management API (driven without sockets), on SQLite and on real
//! PostgreSQL. Every test runs once per backend, each in a database of its own.
//!
//! PostgreSQL is found at `KORPU_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). A server that does not answer fails the
//! tests: they never skip.
mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use korpu_central::pki::CentralPki;
use korpu_central::store::Store;
use korpu_testkit::pg;
use serde_json::{json, Value};
use sqlx::Connection;
use tower::ServiceExt;

/// A registry with its own database and PKI, and an administrator token.
struct Fixture {
    router: Router,
    token: String,
    _dir: tempfile::TempDir,
    pg_db: Option<String>,
}

impl Fixture {
    async fn new(postgres: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_db) = if postgres {
            let (url, name) = pg::create_database("korpu_test").await;
            (url, Some(name))
        } else {
            (
                format!("sqlite:{}", dir.path().join("registry.db").display()),
                None,
            )
        };
        let store = Store::open(&url).await.expect("open store");
        let pki = CentralPki::create(
            dir.path(),
            "AZ",
            &["127.0.0.1".into()],
            "http://127.0.0.1:9/ocsp",
        )
        .expect("create PKI");
        let registry = common::registry(store, pki);
        for (code, desc) in korpu_central::DEFAULT_MEMBER_CLASSES {
            registry
                .add_member_class(&korpu_central::registry::NewMemberClass {
                    code: (*code).into(),
                    description: (*desc).into(),
                })
                .await
                .unwrap();
        }
        let token = registry.create_admin_token("test").await.unwrap();
        let router = korpu_central::server::test_router(registry).await.unwrap();
        Fixture {
            router,
            token,
            _dir: dir,
            pg_db,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => Body::from(v.to_string()),
            None => Body::empty(),
        };
        let (status, bytes) = common::call(&self.router, req.body(body).unwrap()).await;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, path, Some(&self.token.clone()), Some(body))
            .await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.admin("POST", path, body.clone()).await;
        assert!(status.is_success(), "POST {path} {body} -> {status} {v}");
        v
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self
            .call("GET", path, Some(&self.token.clone()), None)
            .await;
        assert_eq!(status, StatusCode::OK, "GET {path} -> {v}");
        v
    }

    /// Everything the registry would publish, for before/after comparisons.
    async fn snapshot(&self) -> Value {
        json!({
            "members": self.get("/api/v1/members").await,
            "gateways": self.get("/api/v1/gateways").await,
            "services": self.get("/api/v1/services").await,
            "access": self.get("/api/v1/access-rights").await,
            "certs": self.get("/api/v1/certificates").await,
            "classes": self.get("/api/v1/member-classes").await,
            "version": self.get("/api/v1/conf").await["version"],
        })
    }

    async fn finish(self) {
        if let Some(db) = self.pg_db {
            drop(self.router);
            pg::drop_database(&db).await;
        }
    }

    /// Registers one agency with a gateway and a service.
    async fn agency(&self, code: &str, sub: &str, service: &str) {
        self.ok(
            "/api/v1/members",
            json!({"member": format!("AZ/GOV/{code}"), "name": format!("Agency {code}")}),
        )
        .await;
        self.ok(
            "/api/v1/subsystems",
            json!({"subsystem": format!("AZ/GOV/{code}/{sub}")}),
        )
        .await;
        self.ok(
            "/api/v1/gateways",
            json!({"gateway": format!("AZ/GOV/{code}/gw1"), "address": "127.0.0.1:5500"}),
        )
        .await;
        self.ok(
            "/api/v1/gateway-clients",
            json!({"gateway": format!("AZ/GOV/{code}/gw1"), "client": format!("AZ/GOV/{code}/{sub}")}),
        )
        .await;
        self.ok(
            "/api/v1/services",
            json!({"service": format!("AZ/GOV/{code}/{sub}/{service}"), "title": "A service",
                   "version": "v1", "data_subject": {"in": "path", "name": "pin"}, "purpose_required": true}),
        )
        .await;
    }
}

fn csr_pem(cn: &str) -> String {
    let key = korpu_pki::key::SigningKey::generate();
    korpu_pki::csr::to_pem(&korpu_pki::csr::create(&key, cn).unwrap())
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Fixture::new(false).await).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::Fixture::new(true).await).await; })*
        }
    };
}

on_both_backends!(
    an_instance_is_set_up_and_published,
    bad_input_is_refused_with_field_and_rule_and_changes_nothing,
    certificates_are_issued_for_registered_owners_and_revoked,
    access_rights_are_granted_and_revoked,
    portal_listings_and_ledger_keys_are_validated_stored_and_published,
);

async fn an_instance_is_set_up_and_published(f: Fixture) {
    let v0 = f.get("/api/v1/conf").await["version"].as_u64().unwrap();
    f.agency("1400001", "population", "persons").await;
    f.agency("1400003", "benefits", "apply").await;
    let granted = f
        .ok(
            "/api/v1/access-rights",
            json!({"client": "AZ/GOV/1400003/benefits", "service": "AZ/GOV/1400001/population/persons"}),
        )
        .await;
    assert!(granted["conf_version"].as_u64().unwrap() > v0);

    let members = f.get("/api/v1/members").await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert_eq!(members[0]["id"], "AZ/GOV/1400001");
    assert_eq!(members[0]["subsystems"], json!(["population"]));
    let services = f.get("/api/v1/services").await;
    assert_eq!(services[0]["id"], "AZ/GOV/1400001/population/persons");
    assert_eq!(
        services[0]["data_subject"],
        json!({"in": "path", "name": "pin"})
    );
    let gateways = f.get("/api/v1/gateways").await;
    assert_eq!(gateways[0]["clients"], json!(["AZ/GOV/1400001/population"]));

    // The same content republished keeps its version; a change bumps it.
    let a = f.ok("/api/v1/conf/publish", json!({})).await["version"]
        .as_u64()
        .unwrap();
    let b = f.ok("/api/v1/conf/publish", json!({})).await["version"]
        .as_u64()
        .unwrap();
    assert_eq!(a, b);
    f.ok(
        "/api/v1/member-classes",
        json!({"code": "EDU", "description": "Universities"}),
    )
    .await;
    let c = f.get("/api/v1/conf").await["version"].as_u64().unwrap();
    assert_eq!(c, a + 1);
    f.finish().await;
}

/// (method, path, token, body, expected status, expected field, expected rule)
type BadCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Value,
    StatusCode,
    Option<&'static str>,
    Option<&'static str>,
);

async fn bad_input_is_refused_with_field_and_rule_and_changes_nothing(f: Fixture) {
    f.agency("1400001", "population", "persons").await;
    let before = f.snapshot().await;

    // (method, path, token, body, status, field, rule)
    let bad_token = "korpu_0000";
    let cases: Vec<BadCase> = vec![
        (
            "POST",
            "/api/v1/members",
            None,
            json!({"member": "AZ/GOV/2", "name": "X"}),
            StatusCode::UNAUTHORIZED,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/members",
            Some(bad_token),
            json!({"member": "AZ/GOV/2", "name": "X"}),
            StatusCode::UNAUTHORIZED,
            None,
            None,
        ),
        (
            "GET",
            "/api/v1/members",
            None,
            Value::Null,
            StatusCode::UNAUTHORIZED,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/GOV/12 34", "name": "X"}),
            StatusCode::BAD_REQUEST,
            Some("member"),
            Some("allowed_characters"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/GOV", "name": "X"}),
            StatusCode::BAD_REQUEST,
            Some("member"),
            Some("identifier_parts"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/GOV/1400001", "name": "Again"}),
            StatusCode::CONFLICT,
            None,
            Some("unique"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/XYZ/1", "name": "X"}),
            StatusCode::BAD_REQUEST,
            Some("member"),
            Some("known_member_class"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "EE/GOV/1", "name": "X"}),
            StatusCode::BAD_REQUEST,
            Some("member"),
            Some("instance"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/GOV/2"}),
            StatusCode::BAD_REQUEST,
            Some("name"),
            Some("required"),
        ),
        (
            "POST",
            "/api/v1/members",
            Some("ok"),
            json!({"member": "AZ/GOV/2", "name": "  "}),
            StatusCode::BAD_REQUEST,
            Some("name"),
            Some("non_empty"),
        ),
        (
            "POST",
            "/api/v1/member-classes",
            Some("ok"),
            json!({"code": "GOV"}),
            StatusCode::CONFLICT,
            None,
            Some("unique"),
        ),
        (
            "POST",
            "/api/v1/subsystems",
            Some("ok"),
            json!({"subsystem": "AZ/GOV/9999/x"}),
            StatusCode::BAD_REQUEST,
            Some("subsystem"),
            Some("registered"),
        ),
        (
            "POST",
            "/api/v1/gateways",
            Some("ok"),
            json!({"gateway": "AZ/GOV/1400001/gw2", "address": "no port"}),
            StatusCode::BAD_REQUEST,
            Some("address"),
            Some("host_port"),
        ),
        (
            "POST",
            "/api/v1/gateway-clients",
            Some("ok"),
            json!({"gateway": "AZ/GOV/1400001/gw1", "client": "AZ/GOV/1400001/nosuch"}),
            StatusCode::BAD_REQUEST,
            Some("client"),
            Some("registered"),
        ),
        (
            "POST",
            "/api/v1/services",
            Some("ok"),
            json!({"service": "AZ/GOV/1400001/population/p2", "title": "T", "data_subject": {"in": "header", "name": "bad name"}}),
            StatusCode::BAD_REQUEST,
            Some("data_subject"),
            Some("parameter_name"),
        ),
        (
            "POST",
            "/api/v1/access-rights",
            Some("ok"),
            json!({"client": "AZ/GOV/1400001/population", "service": "AZ/GOV/1400001/population/nosuch"}),
            StatusCode::BAD_REQUEST,
            Some("service"),
            Some("registered"),
        ),
        (
            "POST",
            "/api/v1/certificates",
            Some("ok"),
            json!({"kind": "signing", "owner": "AZ/GOV/7777777", "csr": csr_pem("AZ/GOV/7777777")}),
            StatusCode::BAD_REQUEST,
            Some("owner"),
            Some("registered"),
        ),
        (
            "POST",
            "/api/v1/certificates",
            Some("ok"),
            json!({"kind": "gateway_tls", "owner": "AZ/GOV/1400001/gw9", "csr": csr_pem("x")}),
            StatusCode::BAD_REQUEST,
            Some("owner"),
            Some("registered"),
        ),
        (
            "POST",
            "/api/v1/certificates",
            Some("ok"),
            json!({"kind": "signing", "owner": "AZ/GOV/1400001", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
            StatusCode::BAD_REQUEST,
            Some("csr"),
            Some("pkcs10"),
        ),
        (
            "POST",
            "/api/v1/certificates/revoke",
            Some("ok"),
            json!({"serial": "abcdef"}),
            StatusCode::NOT_FOUND,
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/certificates/revoke",
            Some("ok"),
            json!({"serial": "zz"}),
            StatusCode::BAD_REQUEST,
            Some("serial"),
            Some("hex"),
        ),
        (
            "DELETE",
            "/api/v1/access-rights",
            Some("ok"),
            json!({"client": "AZ/GOV/1400001/population", "service": "AZ/GOV/1400001/population/persons"}),
            StatusCode::NOT_FOUND,
            None,
            None,
        ),
    ];
    for (method, path, token, body, status, field, rule) in cases {
        let token = match token {
            Some("ok") => Some(f.token.clone()),
            other => other.map(str::to_owned),
        };
        let body = (!body.is_null()).then_some(body);
        let (got, v) = f.call(method, path, token.as_deref(), body.clone()).await;
        let ctx = format!("{method} {path} {body:?} -> {got} {v}");
        assert_eq!(got, status, "{ctx}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{ctx}"
        );
        assert_eq!(v["error"]["field"].as_str(), field, "{ctx}");
        assert_eq!(v["error"]["rule"].as_str(), rule, "{ctx}");
    }
    // Not JSON at all.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/members")
        .header("authorization", format!("Bearer {}", f.token))
        .body(Body::from("{not json"))
        .unwrap();
    let resp = f.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["error"]["rule"], "json");

    assert_eq!(
        f.snapshot().await,
        before,
        "a refused request changed the registry"
    );
    f.finish().await;
}

async fn certificates_are_issued_for_registered_owners_and_revoked(f: Fixture) {
    f.agency("1400001", "population", "persons").await;
    // The CSR claims another identity; the certificate names the registered owner regardless.
    let issued = f
        .ok(
            "/api/v1/certificates",
            json!({"kind": "gateway_tls", "owner": "AZ/GOV/1400001/gw1", "csr": csr_pem("AZ/GOV/6666666/evil")}),
        )
        .await;
    let cert =
        korpu_pki::cert::Certificate::from_pem(issued["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(cert.common_name().as_deref(), Some("AZ/GOV/1400001/gw1"));
    let chain = issued["chain"].as_array().unwrap();
    let issuing = korpu_pki::cert::Certificate::from_pem(chain[0].as_str().unwrap()).unwrap();
    cert.verify_issued_by(&issuing).unwrap();
    let pin = cert.sha256_fingerprint_hex();
    assert_eq!(
        f.get("/api/v1/gateways").await[0]["tls_cert_sha256"],
        json!([pin])
    );

    let serial = issued["serial"].as_str().unwrap();
    assert_eq!(serial, cert.serial_hex());
    f.ok(
        "/api/v1/certificates/revoke",
        json!({"serial": serial, "reason": "key_compromise"}),
    )
    .await;
    let certs = f.get("/api/v1/certificates").await;
    assert_eq!(certs[0]["revocation_reason"], "key_compromise");
    assert!(certs[0]["revoked_at"].is_string());
    // A revoked TLS certificate is no longer pinned in the configuration.
    assert_eq!(
        f.get("/api/v1/gateways").await[0]["tls_cert_sha256"],
        json!([])
    );
    let (status, v) = f
        .admin(
            "POST",
            "/api/v1/certificates/revoke",
            json!({"serial": serial, "reason": "no such reason"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    f.finish().await;
}

async fn access_rights_are_granted_and_revoked(f: Fixture) {
    f.agency("1400001", "population", "persons").await;
    f.agency("1400002", "tax", "income").await;
    let right =
        json!({"client": "AZ/GOV/1400002/tax", "service": "AZ/GOV/1400001/population/persons"});
    f.ok("/api/v1/access-rights", right.clone()).await;
    let (status, _) = f
        .admin("POST", "/api/v1/access-rights", right.clone())
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(f.get("/api/v1/access-rights").await, json!([right]));
    let (status, v) = f
        .admin("DELETE", "/api/v1/access-rights", right.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(f.get("/api/v1/access-rights").await, json!([]));
    f.finish().await;
}

fn child_benefit_listing() -> Value {
    json!({
        "names": {"az": "Uşaq müavinəti", "en": "Child benefit", "ru": "Пособие на ребёнка"},
        "descriptions": {"az": "Uşaq doğulanda ödənilən müavinət.", "en": "A benefit paid when a child is born.",
                         "ru": "Пособие при рождении ребёнка."},
        "category": "family",
        "requirements": {"az": "Uşağın doğum şəhadətnaməsi", "en": "The child's birth certificate", "ru": ""},
        "form_schema": {"type": "object", "required": ["child_pin"],
                        "properties": {"child_pin": {"type": "string", "pattern": "^[0-9A-Z]{7}$"},
                                       "iban": {"type": "string"}}}
    })
}

async fn portal_listings_and_ledger_keys_are_validated_stored_and_published(f: Fixture) {
    f.agency("1400003", "benefits", "apply").await;
    // A key made by the ledger's own format code, so the registry's check agrees with the real
    // producer.
    let vkey = korpu_tlog::NoteSigner::generate("gw1.social.gov.az")
        .unwrap()
        .verifier()
        .to_vkey();
    f.ok(
        "/api/v1/services",
        json!({"service": "AZ/GOV/1400003/benefits/child-benefit", "title": "Child benefit application",
               "data_subject": {"in": "header", "name": "X-Subject-Id"},
               "portal": child_benefit_listing()}),
    )
    .await;
    f.ok(
        "/api/v1/gateways",
        json!({"gateway": "AZ/GOV/1400003/gw2", "address": "127.0.0.1:5501", "ledger_key": vkey}),
    )
    .await;
    let before_set = f.get("/api/v1/gateways").await;
    assert!(before_set[0].get("ledger_key").is_none(), "{before_set}");
    let set = f
        .ok(
            "/api/v1/gateway-ledger-keys",
            json!({"gateway": "AZ/GOV/1400003/gw1", "ledger_key": vkey}),
        )
        .await;
    assert!(set["conf_version"].as_u64().is_some());

    let gateways = f.get("/api/v1/gateways").await;
    assert_eq!(gateways[0]["ledger_key"], json!(vkey));
    assert_eq!(gateways[1]["ledger_key"], json!(vkey));
    let services = f.get("/api/v1/services").await;
    let listed: Vec<&Value> = services
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("portal").is_some())
        .collect();
    assert_eq!(listed.len(), 1, "{services}");
    assert_eq!(listed[0]["portal"], child_benefit_listing());
    // The untouched service keeps its old shape: no `portal` key at all.
    let plain = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "AZ/GOV/1400003/benefits/apply")
        .unwrap();
    assert!(plain.get("portal").is_none());

    let before = f.snapshot().await;
    let mut bad_key = vkey.clone();
    bad_key.replace_range(..1, "x"); // another name: the key id no longer matches
    let mut no_ru = child_benefit_listing();
    no_ru["names"]["ru"] = json!("  ");
    let mut bad_cat = child_benefit_listing();
    bad_cat["category"] = json!("Family Benefits");
    let mut bad_type = child_benefit_listing();
    bad_type["form_schema"]["properties"]["kids"] = json!({"type": "array"});
    let mut bad_required = child_benefit_listing();
    bad_required["form_schema"]["required"] = json!(["nope"]);
    let svc = |id: &str, portal: Value| json!({"service": format!("AZ/GOV/1400003/benefits/{id}"), "title": "T", "portal": portal});
    let cases = vec![
        (
            "/api/v1/gateway-ledger-keys",
            json!({"gateway": "AZ/GOV/1400003/gw1", "ledger_key": bad_key}),
            "ledger_key",
            "note_verifier_key",
        ),
        (
            "/api/v1/gateway-ledger-keys",
            json!({"gateway": "AZ/GOV/1400003/gw1", "ledger_key": "gw1+00000000+AQ=="}),
            "ledger_key",
            "note_verifier_key",
        ),
        (
            "/api/v1/gateway-ledger-keys",
            json!({"gateway": "AZ/GOV/1400003/gw9", "ledger_key": vkey}),
            "gateway",
            "registered",
        ),
        (
            "/api/v1/gateways",
            json!({"gateway": "AZ/GOV/1400003/gw3", "address": "127.0.0.1:5502", "ledger_key": "nonsense"}),
            "ledger_key",
            "note_verifier_key",
        ),
        (
            "/api/v1/services",
            svc("s1", no_ru),
            "portal.names.ru",
            "non_empty",
        ),
        (
            "/api/v1/services",
            svc("s2", bad_cat),
            "portal.category",
            "category_code",
        ),
        (
            "/api/v1/services",
            svc("s3", bad_type),
            "portal.form_schema.properties.kids.type",
            "field_type",
        ),
        (
            "/api/v1/services",
            svc("s4", bad_required),
            "portal.form_schema.required",
            "required_fields",
        ),
    ];
    for (path, body, field, rule) in cases {
        let (status, v) = f.admin("POST", path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body} -> {v}");
        assert_eq!(v["error"]["field"], field, "{path} {body} -> {v}");
        assert_eq!(v["error"]["rule"], rule, "{path} {body} -> {v}");
    }
    assert_eq!(
        f.snapshot().await,
        before,
        "a refused request changed the registry"
    );
    f.finish().await;
}

/// A database created before `portal` and `ledger_key` existed gains the columns when opened,
/// keeping its rows.
#[tokio::test]
async fn an_old_sqlite_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for ddl in [
            "CREATE TABLE member_classes (code TEXT PRIMARY KEY, description TEXT NOT NULL)",
            "CREATE TABLE members (id TEXT PRIMARY KEY, class TEXT NOT NULL, name TEXT NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE subsystems (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE gateways (id TEXT PRIMARY KEY, member_id TEXT NOT NULL, address TEXT NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE services (id TEXT PRIMARY KEY, subsystem_id TEXT NOT NULL, version TEXT, title TEXT NOT NULL, openapi TEXT, subject_in TEXT, subject_name TEXT, purpose_required BIGINT NOT NULL, created_at BIGINT NOT NULL)",
            "INSERT INTO gateways VALUES ('AZ/GOV/1/gw1', 'AZ/GOV/1', '127.0.0.1:5500', 0)",
            "INSERT INTO services VALUES ('AZ/GOV/1/s/x', 'AZ/GOV/1/s', NULL, 'X', NULL, NULL, NULL, 0, 0)",
        ] {
            sqlx::query(ddl).execute(&mut conn).await.unwrap();
        }
    }
    // Made with the umask's mode, which the registry refuses; the operator runs the chmod
    // its message names.
    std::fs::set_permissions(
        dir.path().join("old.db"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let store = Store::open(&url).await.expect("an old database opens");
    assert_eq!(store.gateways().await.unwrap().len(), 1);
    let services = store.services().await.unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].portal, None);
    assert!(store
        .set_gateway_ledger_key("AZ/GOV/1/gw1", Some("k+00000000+AQ=="))
        .await
        .unwrap());
    assert_eq!(store.gateway_ledger_keys().await.unwrap().len(), 1);
    // Opening again is a no-op.
    drop(store);
    Store::open(&url).await.expect("reopens");
}

/// The last hand-rolled schema, as `Store::open` created it before migrations (`BLOB` became
/// `BYTEA` on PostgreSQL), and a row in each table a registry fills first.
fn hand_rolled_schema(binary: &str) -> Vec<String> {
    let mut ddl: Vec<String> = [
        "CREATE TABLE IF NOT EXISTS member_classes (
            code TEXT PRIMARY KEY, description TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS members (
            id TEXT PRIMARY KEY, class TEXT NOT NULL REFERENCES member_classes(code),
            name TEXT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS subsystems (
            id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id),
            created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS gateways (
            id TEXT PRIMARY KEY, member_id TEXT NOT NULL REFERENCES members(id),
            address TEXT NOT NULL, created_at BIGINT NOT NULL, ledger_key TEXT)",
        "CREATE TABLE IF NOT EXISTS gateway_clients (
            gateway_id TEXT NOT NULL REFERENCES gateways(id), client_id TEXT NOT NULL,
            PRIMARY KEY (gateway_id, client_id))",
        "CREATE TABLE IF NOT EXISTS services (
            id TEXT PRIMARY KEY, subsystem_id TEXT NOT NULL REFERENCES subsystems(id),
            version TEXT, title TEXT NOT NULL, openapi TEXT, subject_in TEXT, subject_name TEXT,
            purpose_required BIGINT NOT NULL, created_at BIGINT NOT NULL, portal TEXT)",
        "CREATE TABLE IF NOT EXISTS access_rights (
            client_id TEXT NOT NULL, service_id TEXT NOT NULL REFERENCES services(id),
            created_at BIGINT NOT NULL, PRIMARY KEY (client_id, service_id))",
        "CREATE TABLE IF NOT EXISTS admin_tokens (
            token_sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS conf_versions (
            version BIGINT PRIMARY KEY, content_sha256 TEXT NOT NULL, issued_at BIGINT NOT NULL)",
        "INSERT INTO member_classes VALUES ('GOV', 'Government agencies')",
        "INSERT INTO members VALUES ('AZ/GOV/1', 'GOV', 'Agency One', 7)",
        "INSERT INTO admin_tokens VALUES ('00ff', 'old administrator', 7)",
    ]
    .map(str::to_owned)
    .to_vec();
    ddl.push(format!(
        "CREATE TABLE IF NOT EXISTS certificates (
            serial TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, subject TEXT NOT NULL,
            not_before BIGINT NOT NULL, not_after BIGINT NOT NULL, der {binary} NOT NULL,
            revoked_at BIGINT, revocation_reason TEXT, created_at BIGINT NOT NULL)"
    ));
    ddl
}

/// A database the hand-rolled schema made (tables present, no `_sqlx_migrations`) opens with
/// the migrations, keeps its rows, and records the migrations as applied.
async fn a_hand_rolled_database_is_adopted_by_the_migrations(url: &str, binary: &str) {
    {
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        for ddl in hand_rolled_schema(binary) {
            sqlx::query(&ddl).execute(&mut conn).await.unwrap();
        }
    }
    let store = Store::open(url)
        .await
        .expect("a hand-rolled database opens");
    assert_eq!(
        store.members().await.unwrap(),
        [("AZ/GOV/1".to_owned(), "Agency One".to_owned())]
    );
    assert_eq!(
        store.admin_for_token("00ff").await.unwrap().as_deref(),
        Some("old administrator")
    );
    store
        .insert_member("AZ/GOV/2", "GOV", "Agency Two", 8)
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(url).await.expect("reopens");
    assert_eq!(store.members().await.unwrap().len(), 2);
    store.close().await;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, [1, 2]);
}

#[tokio::test]
async fn a_hand_rolled_sqlite_database_is_adopted_by_the_migrations() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display());
    // As the old store made it: a private file first (korpu_pki::private::prepare_sqlite).
    korpu_pki::private::prepare_sqlite(&url).unwrap();
    a_hand_rolled_database_is_adopted_by_the_migrations(&url, "BLOB").await;
}

#[tokio::test]
async fn a_hand_rolled_postgres_database_is_adopted_by_the_migrations() {
    sqlx::any::install_default_drivers();
    let (url, name) = pg::create_database("korpu_test").await;
    a_hand_rolled_database_is_adopted_by_the_migrations(&url, "BYTEA").await;
    pg::drop_database(&name).await;
}
