//! Consent: a company's request for a citizen's data (checked against the global
//! configuration), granting it for a chosen time, the list of consents with their history, and
//! revoking one.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use korpu_conf::GlobalConf;
use korpu_id::{ClientId, ServiceId};

use crate::html::{esc, Html};
use crate::i18n::{Lang, Msg};
use crate::oidc;
use crate::server::{now, sha256_hex, Shared};
use crate::store::Consent;
use crate::web::{
    checked_form, csrf_field, fmt_time, html_page, query_get, query_pairs, redirect, Citizen, Ctx,
    Page, PageError,
};

fn client_label(conf: Option<&GlobalConf>, client: &str, l: Lang) -> (String, bool) {
    let Ok(id) = client.parse::<ClientId>() else {
        return (l.t(Msg::UnknownCompany).to_owned(), false);
    };
    match conf.and_then(|c| c.members.iter().find(|m| &m.id == id.member())) {
        Some(m) => (m.name.clone(), true),
        None => (l.t(Msg::UnknownCompany).to_owned(), false),
    }
}

fn item_label(conf: Option<&GlobalConf>, item: &str, l: Lang) -> String {
    conf.and_then(|c| c.services.iter().find(|s| s.id.to_string() == item))
        .map(|s| match &s.portal {
            Some(p) => p.names.get(l.code()).to_owned(),
            None => s.title.clone(),
        })
        .unwrap_or_else(|| item.to_owned())
}

/// A company's request for consent, e.g. linked from its application:
/// `/consents/new?client=AZ/COM/…/app&purpose=…&item=SERVICE&item=SERVICE`.
pub(crate) async fn consent_request(
    State(s): State<Shared>,
    c: Ctx,
    Citizen(u): Citizen,
    OriginalUri(uri): OriginalUri,
) -> Page {
    let l = c.lang;
    let q = query_pairs(uri.query());
    let client = query_get(&q, "client").unwrap_or_default();
    let purpose = query_get(&q, "purpose").unwrap_or_default();
    let items: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.clone())
        .collect();
    let conf = s.conf();
    let (company, known) = client_label(conf.as_deref(), &client, l);
    let items_known = items.iter().all(|i| {
        i.parse::<ServiceId>()
            .ok()
            .is_some_and(|id| conf.as_deref().is_some_and(|c| c.service(&id).is_some()))
    });
    if !known
        || items.is_empty()
        || !items_known
        || purpose.trim().is_empty()
        || purpose.len() > 500
    {
        return Err(PageError::status(
            StatusCode::BAD_REQUEST,
            Msg::NotFoundLead,
        ));
    }
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::ConsentRequest));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t(Msg::Company));
    h.el("dd", &[], &company);
    h.el("dt", &[], l.t(Msg::Application));
    h.el("dd", &[], &client);
    h.el("dt", &[], l.t(Msg::Purpose));
    h.el("dd", &[], &purpose);
    h.raw("</dl>");
    h.el("h2", &[], l.t(Msg::DataItems));
    h.raw("<ul>");
    for i in &items {
        h.el("li", &[], &item_label(conf.as_deref(), i, l));
    }
    h.raw("</ul>");
    h.raw("<form method=\"post\" action=\"/consents\" novalidate>");
    h.raw(&csrf_field(&u).0);
    for (k, v) in [("client", client.as_str()), ("purpose", purpose.as_str())] {
        h.open("input", &[("type", "hidden"), ("name", k), ("value", v)]);
    }
    for i in &items {
        h.open(
            "input",
            &[("type", "hidden"), ("name", "item"), ("value", i.as_str())],
        );
    }
    h.raw("<fieldset class=\"field\">");
    h.el("legend", &[], l.t(Msg::Expiry));
    for (i, (days, key)) in [
        ("30", Msg::Days30),
        ("90", Msg::Days90),
        ("365", Msg::Days365),
    ]
    .iter()
    .enumerate()
    {
        let id = format!("days-{days}");
        h.raw("<div class=\"radio\">");
        let mut attrs = vec![
            ("type", "radio"),
            ("id", id.as_str()),
            ("name", "days"),
            ("value", *days),
        ];
        if i == 0 {
            attrs.push(("checked", "checked"));
        }
        h.open("input", &attrs);
        h.el("label", &[("for", id.as_str())], l.t(*key));
        h.raw("</div>");
    }
    h.raw("</fieldset>");
    h.raw(&format!(
        "<button class=\"button\" type=\"submit\">{}</button></form>",
        esc(l.t(Msg::Grant))
    ));
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "consents",
        l.t(Msg::ConsentRequest),
        maud::PreEscaped(h.0),
    ))
}

pub(crate) async fn consent_grant(
    State(s): State<Shared>,
    c: Ctx,
    Citizen(u): Citizen,
    body: Bytes,
) -> Page {
    let l = c.lang;
    let posted = checked_form(&c, &body)?;
    let client = query_get(&posted, "client").unwrap_or_default();
    let purpose = query_get(&posted, "purpose").unwrap_or_default();
    let items: Vec<String> = posted
        .iter()
        .filter(|(k, _)| k == "item")
        .map(|(_, v)| v.clone())
        .collect();
    let days: i64 = match query_get(&posted, "days").as_deref() {
        Some("90") => 90,
        Some("365") => 365,
        _ => 30,
    };
    let conf = s.conf();
    let (_, known) = client_label(conf.as_deref(), &client, l);
    let ok_items = !items.is_empty()
        && items.iter().all(|i| {
            i.parse::<ServiceId>()
                .ok()
                .is_some_and(|id| conf.as_deref().is_some_and(|c| c.service(&id).is_some()))
        });
    if !known || !ok_items || purpose.trim().is_empty() || purpose.len() > 500 {
        return Err(PageError::status(
            StatusCode::BAD_REQUEST,
            Msg::NotFoundLead,
        ));
    }
    let t = now();
    let consent = Consent {
        id: format!("C-{}", &sha256_hex(&oidc::random_token(16))[..12]),
        client: client.clone(),
        purpose,
        items: serde_json::to_string(&items).expect("JSON"),
        created_at: t,
        expires_at: t + days * 86_400,
        revoked_at: None,
    };
    if let Err(e) = s.store.insert_consent(&u.citizen, &consent).await {
        return Err(PageError::internal(e));
    }
    let (company, _) = client_label(conf.as_deref(), &client, l);
    crate::notify::notify(
        &s,
        &u.citizen,
        &u.email,
        "consent_granted",
        &company,
        "/consents",
    )
    .await;
    Ok(redirect("/consents", &c.set_cookies))
}

pub(crate) async fn consent_revoke(
    State(s): State<Shared>,
    Path(id): Path<String>,
    c: Ctx,
    Citizen(u): Citizen,
    body: Bytes,
) -> Page {
    checked_form(&c, &body)?;
    match s.store.revoke_consent(&u.citizen, &id, now()).await {
        Ok(true) => {
            let conf = s.conf();
            let client = s
                .store
                .consents_of(&u.citizen)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|x| x.id == id)
                .map(|x| x.client)
                .unwrap_or_default();
            let (company, _) = client_label(conf.as_deref(), &client, c.lang);
            crate::notify::notify(
                &s,
                &u.citizen,
                &u.email,
                "consent_revoked",
                &company,
                "/consents",
            )
            .await;
            Ok(redirect("/consents", &c.set_cookies))
        }
        Ok(false) => Err(PageError::not_found()),
        Err(e) => Err(PageError::internal(e)),
    }
}

pub(crate) async fn consents(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Page {
    let l = c.lang;
    let list = s.store.consents_of(&u.citizen).await.unwrap_or_default();
    let conf = s.conf();
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::ConsentsTitle));
    h.el("p", &[("class", "lead")], l.t(Msg::ConsentsLead));
    if list.is_empty() {
        h.el("p", &[], l.t(Msg::NoConsents));
    }
    let t = now();
    for (i, x) in list.iter().enumerate() {
        let (company, _) = client_label(conf.as_deref(), &x.client, l);
        let items: Vec<String> = serde_json::from_str(&x.items).unwrap_or_default();
        let state = if x.revoked_at.is_some() {
            (Msg::Revoked, "bad")
        } else if x.expires_at <= t {
            (Msg::Expired, "bad")
        } else {
            (Msg::Granted, "ok")
        };
        h.raw(&format!("<section aria-labelledby=\"consent-{i}\">"));
        h.el("h2", &[("id", &format!("consent-{i}"))], &company);
        h.raw("<dl class=\"summary\">");
        h.el("dt", &[], l.t(Msg::Status));
        h.raw("<dd>");
        h.el(
            "span",
            &[("class", &format!("tag {}", state.1))],
            l.t(state.0),
        );
        h.raw("</dd>");
        h.el("dt", &[], l.t(Msg::Application));
        h.el("dd", &[], &x.client);
        h.el("dt", &[], l.t(Msg::Purpose));
        h.el("dd", &[], &x.purpose);
        h.el("dt", &[], l.t(Msg::DataItems));
        h.raw("<dd><ul>");
        for it in &items {
            h.el("li", &[], &item_label(conf.as_deref(), it, l));
        }
        h.raw("</ul></dd>");
        h.el("dt", &[], l.t(Msg::ValidUntil));
        h.el("dd", &[], &fmt_time(x.expires_at));
        h.el("dt", &[], l.t(Msg::History));
        h.raw("<dd><ul>");
        for (action, at) in s.store.consent_history(&x.id).await.unwrap_or_default() {
            let key = if action == "revoked" {
                Msg::Revoked
            } else {
                Msg::Granted
            };
            h.el("li", &[], &format!("{} — {}", fmt_time(at), l.t(key)));
        }
        h.raw("</ul></dd></dl>");
        if state.0 == Msg::Granted {
            h.raw(&format!(
                "<form method=\"post\" action=\"/consents/{}/revoke\">",
                esc(&x.id)
            ));
            h.raw(&csrf_field(&u).0);
            h.raw(&format!(
                "<button class=\"button warning\" type=\"submit\" aria-label=\"{}: {}\">{}</button></form>",
                esc(l.t(Msg::Revoke)),
                esc(&company),
                esc(l.t(Msg::Revoke))
            ));
        }
        h.raw("</section>");
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "consents",
        l.t(Msg::ConsentsTitle),
        maud::PreEscaped(h.0),
    ))
}
