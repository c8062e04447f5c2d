//! The portal's store on SQLite and on real PostgreSQL (at `KORPU_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a server that does not answer fails the
//! tests). Each PostgreSQL run gets a database of its own.

use korpu_portal::store::{Application, Consent, PendingLogin, Session, Store};
use korpu_testkit::pg;

async fn with_store(postgres: bool, f: impl AsyncFnOnce(Store)) {
    let dir = tempfile::tempdir().unwrap();
    if !postgres {
        let s = Store::open(&format!("sqlite:{}", dir.path().join("p.db").display()))
            .await
            .unwrap();
        f(s).await;
        return;
    }
    let (url, name) = pg::create_database("korpu_portal_test").await;
    let s = Store::open(&url).await.unwrap();
    f(s.clone()).await;
    drop(s);
    pg::drop_database(&name).await;
}

async fn sessions_and_logins(s: Store) {
    let sess = Session {
        citizen: "AZ1".into(),
        name: "A".into(),
        email: "a@x.az".into(),
        csrf: "t".into(),
        expires_at: 2000,
    };
    s.insert_session("h1", &sess, 1000).await.unwrap();
    assert_eq!(s.session("h1", 1500).await.unwrap().unwrap().citizen, "AZ1");
    assert!(
        s.session("h1", 2000).await.unwrap().is_none(),
        "an expired session is gone"
    );
    assert!(s.session("h2", 1500).await.unwrap().is_none());
    s.touch_session("h1", 3000).await.unwrap();
    assert!(s.session("h1", 2500).await.unwrap().is_some());
    s.delete_session("h1").await.unwrap();
    assert!(s.session("h1", 1500).await.unwrap().is_none());

    let l = PendingLogin {
        nonce: "n".into(),
        verifier: "v".into(),
        next: "/x".into(),
        created_at: 10,
    };
    s.insert_login("st", &l).await.unwrap();
    assert_eq!(s.take_login("st").await.unwrap().unwrap().verifier, "v");
    assert!(
        s.take_login("st").await.unwrap().is_none(),
        "a state is usable once"
    );
}

async fn applications_and_history(s: Store) {
    let a = Application {
        id: "A-1".into(),
        citizen: "AZ1".into(),
        email: String::new(),
        service: "AZ/GOV/1/b/cb".into(),
        agency_ref: "CB-1".into(),
        status: "submitted".into(),
        data: "{}".into(),
        created_at: 1,
        updated_at: 1,
    };
    s.insert_application(&a).await.unwrap();
    s.add_event("A-1", "submitted", "", 1).await.unwrap();
    assert!(
        s.application("AZ2", "A-1").await.unwrap().is_none(),
        "another citizen sees nothing"
    );
    assert_eq!(s.applications_of("AZ1").await.unwrap().len(), 1);
    assert!(s
        .set_status("A-1", "submitted", "in_review", "m", 2)
        .await
        .unwrap());
    // The same change seen twice (two portal processes polling) is recorded once.
    assert!(!s
        .set_status("A-1", "submitted", "in_review", "m", 2)
        .await
        .unwrap());
    assert!(s
        .set_status("A-1", "in_review", "decided", "ok", 3)
        .await
        .unwrap());
    let ev: Vec<String> = s
        .events("A-1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(ev, ["submitted", "in_review", "decided"]);
    assert!(s.open_applications().await.unwrap().is_empty());
}

async fn consents_keep_history(s: Store) {
    let c = Consent {
        id: "C-1".into(),
        client: "AZ/COM/1/app".into(),
        purpose: "p".into(),
        items: "[\"AZ/GOV/1/p/x\"]".into(),
        created_at: 10,
        expires_at: 100,
        revoked_at: None,
    };
    s.insert_consent("AZ1", &c).await.unwrap();
    assert!(
        !s.revoke_consent("AZ2", "C-1", 20).await.unwrap(),
        "only the citizen's own"
    );
    assert!(s.revoke_consent("AZ1", "C-1", 20).await.unwrap());
    assert!(
        !s.revoke_consent("AZ1", "C-1", 21).await.unwrap(),
        "revoked once"
    );
    let h = s.consent_history("C-1").await.unwrap();
    assert_eq!(h, [("granted".to_owned(), 10), ("revoked".to_owned(), 20)]);
    assert_eq!(s.consents_of("AZ1").await.unwrap()[0].revoked_at, Some(20));

    s.notify("N-1", "AZ1", "status", "decided|x", "/a", 5)
        .await
        .unwrap();
    assert_eq!(s.unread_count("AZ1").await.unwrap(), 1);
    s.mark_read("AZ1", 6).await.unwrap();
    assert_eq!(s.unread_count("AZ1").await.unwrap(), 0);
    assert_eq!(s.notifications_of("AZ1").await.unwrap().len(), 1);
}

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite { $(#[tokio::test] async fn $name() { super::with_store(false, super::$name).await; })* }
        mod postgres { $(#[tokio::test] async fn $name() { super::with_store(true, super::$name).await; })* }
    };
}

both!(
    sessions_and_logins,
    applications_and_history,
    consents_keep_history
);
