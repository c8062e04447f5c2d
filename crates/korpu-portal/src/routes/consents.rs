//! Consent: a company's request for a citizen's data (checked against the global
//! configuration), granting it for a chosen time, the list of consents with their history, and
//! revoking one.

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use korpu_conf::GlobalConf;
use korpu_id::{ClientId, ServiceId};
use maud::{html, Markup};

use crate::i18n::{Lang, Msg};
use crate::layout::csrf_input;
use crate::oidc;
use crate::server::{now, sha256_hex, Shared};
use crate::store::{Consent, Session};
use crate::web::{
    checked_form, fmt_time, html_page, query_get, query_pairs, redirect, Citizen, Ctx, Page,
    PageError,
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

/// A company's request as the citizen sees it, from a query or the posted form: the client,
/// its purpose and the data items (services) it wants.
struct Request {
    client: String,
    purpose: String,
    items: Vec<String>,
}

impl Request {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        Request {
            client: query_get(pairs, "client").unwrap_or_default(),
            purpose: query_get(pairs, "purpose").unwrap_or_default(),
            items: pairs
                .iter()
                .filter(|(k, _)| k == "item")
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// Whether the client is a registered member's, every item a registered service, and the
    /// purpose said in at most 500 bytes.
    fn is_valid(&self, conf: Option<&GlobalConf>, l: Lang) -> bool {
        let (_, known) = client_label(conf, &self.client, l);
        let items_known = !self.items.is_empty()
            && self.items.iter().all(|i| {
                i.parse::<ServiceId>()
                    .ok()
                    .is_some_and(|id| conf.is_some_and(|c| c.service(&id).is_some()))
            });
        known && items_known && !self.purpose.trim().is_empty() && self.purpose.len() <= 500
    }
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
    let req = Request::from_pairs(&query_pairs(uri.query()));
    let conf = s.conf();
    if !req.is_valid(conf.as_deref(), l) {
        return Err(PageError::status(
            StatusCode::BAD_REQUEST,
            Msg::NotFoundLead,
        ));
    }
    let (company, _) = client_label(conf.as_deref(), &req.client, l);
    let items: Vec<String> = req
        .items
        .iter()
        .map(|i| item_label(conf.as_deref(), i, l))
        .collect();
    let body = html! {
        h1 { (l.t(Msg::ConsentRequest)) }
        dl class="summary" {
            dt { (l.t(Msg::Company)) }
            dd { (company) }
            dt { (l.t(Msg::Application)) }
            dd { (req.client) }
            dt { (l.t(Msg::Purpose)) }
            dd { (req.purpose) }
        }
        h2 { (l.t(Msg::DataItems)) }
        ul { @for i in &items { li { (i) } } }
        (grant_form(l, &u.csrf, &req))
    };
    let title = l.t(Msg::ConsentRequest);
    Ok(html_page(&s, &c, StatusCode::OK, "consents", title, body))
}

/// The form that grants `req`: the request again in hidden fields, and the choice of how long.
fn grant_form(l: Lang, csrf: &str, req: &Request) -> Markup {
    let days = [
        ("30", Msg::Days30),
        ("90", Msg::Days90),
        ("365", Msg::Days365),
    ];
    html! {
        form method="post" action="/consents" novalidate {
            (csrf_input(csrf))
            input type="hidden" name="client" value=(req.client);
            input type="hidden" name="purpose" value=(req.purpose);
            @for i in &req.items {
                input type="hidden" name="item" value=(i);
            }
            fieldset class="field" {
                legend { (l.t(Msg::Expiry)) }
                @for (n, (d, key)) in days.iter().enumerate() {
                    @let id = format!("days-{d}");
                    div class="radio" {
                        input type="radio" id=(id) name="days" value=(d)
                            checked=[(n == 0).then_some("checked")];
                        label for=(id) { (l.t(*key)) }
                    }
                }
            }
            button class="button" type="submit" { (l.t(Msg::Grant)) }
        }
    }
}

pub(crate) async fn consent_grant(
    State(s): State<Shared>,
    c: Ctx,
    Citizen(u): Citizen,
    body: Bytes,
) -> Page {
    let l = c.lang;
    let posted = checked_form(&c, &body)?;
    let req = Request::from_pairs(&posted);
    let days: i64 = match query_get(&posted, "days").as_deref() {
        Some("90") => 90,
        Some("365") => 365,
        _ => 30,
    };
    let conf = s.conf();
    if !req.is_valid(conf.as_deref(), l) {
        return Err(PageError::status(
            StatusCode::BAD_REQUEST,
            Msg::NotFoundLead,
        ));
    }
    let Request {
        client,
        purpose,
        items,
    } = req;
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
    notified(&s, &u, &c, "consent_granted", &company).await
}

/// After a consent is granted or revoked (`kind`): the citizen is notified (naming the
/// company) and sent back to the list.
async fn notified(s: &Shared, u: &Session, c: &Ctx, kind: &str, company: &str) -> Page {
    crate::notify::notify(s, &u.citizen, &u.email, kind, company, "/consents").await;
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
            notified(&s, &u, &c, "consent_revoked", &company).await
        }
        Ok(false) => Err(PageError::not_found()),
        Err(e) => Err(PageError::internal(e)),
    }
}

pub(crate) async fn consents(State(s): State<Shared>, c: Ctx, Citizen(u): Citizen) -> Page {
    let l = c.lang;
    let list = s.store.consents_of(&u.citizen).await.unwrap_or_default();
    let conf = s.conf();
    let t = now();
    let mut sections = Vec::new();
    for (i, x) in list.iter().enumerate() {
        let history = s.store.consent_history(&x.id).await.unwrap_or_default();
        sections.push(consent_section(
            conf.as_deref(),
            l,
            &u.csrf,
            t,
            i,
            x,
            &history,
        ));
    }
    let body = html! {
        h1 { (l.t(Msg::ConsentsTitle)) }
        p class="lead" { (l.t(Msg::ConsentsLead)) }
        @if list.is_empty() {
            p { (l.t(Msg::NoConsents)) }
        }
        @for section in sections { (section) }
    };
    let title = l.t(Msg::ConsentsTitle);
    Ok(html_page(&s, &c, StatusCode::OK, "consents", title, body))
}

/// The `i`th consent of the list at time `t`: what it covers, its history (`(action, at)`),
/// and while it holds, the button that withdraws it.
fn consent_section(
    conf: Option<&GlobalConf>,
    l: Lang,
    csrf: &str,
    t: i64,
    i: usize,
    x: &Consent,
    history: &[(String, i64)],
) -> Markup {
    let (company, _) = client_label(conf, &x.client, l);
    let items: Vec<String> = serde_json::from_str(&x.items).unwrap_or_default();
    let (state, tag) = if x.revoked_at.is_some() {
        (Msg::Revoked, "tag bad")
    } else if x.expires_at <= t {
        (Msg::Expired, "tag bad")
    } else {
        (Msg::Granted, "tag ok")
    };
    let heading = format!("consent-{i}");
    html! {
        section aria-labelledby=(heading) {
            h2 id=(heading) { (company) }
            dl class="summary" {
                dt { (l.t(Msg::Status)) }
                dd { span class=(tag) { (l.t(state)) } }
                dt { (l.t(Msg::Application)) }
                dd { (x.client) }
                dt { (l.t(Msg::Purpose)) }
                dd { (x.purpose) }
                dt { (l.t(Msg::DataItems)) }
                dd { ul { @for it in &items { li { (item_label(conf, it, l)) } } } }
                dt { (l.t(Msg::ValidUntil)) }
                dd { (fmt_time(x.expires_at)) }
                dt { (l.t(Msg::History)) }
                dd {
                    ul {
                        @for (action, at) in history {
                            @let key = if action == "revoked" { Msg::Revoked } else { Msg::Granted };
                            li { (fmt_time(*at)) " — " (l.t(key)) }
                        }
                    }
                }
            }
            @if state == Msg::Granted {
                form method="post" action={ "/consents/" (x.id) "/revoke" } {
                    (csrf_input(csrf))
                    button class="button warning" type="submit"
                        aria-label={ (l.t(Msg::Revoke)) ": " (company) } { (l.t(Msg::Revoke)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{HOSTILE, HOSTILE_ESCAPED as ESCAPED};

    /// A company's request arrives in a link anyone can make: its client, purpose and items
    /// go back into hidden fields (attributes) escaped.
    #[test]
    fn a_requests_values_are_escaped_in_the_grant_form() {
        let req = Request {
            client: HOSTILE.into(),
            purpose: HOSTILE.into(),
            items: vec![HOSTILE.into()],
        };
        let html = grant_form(Lang::En, HOSTILE, &req).into_string();
        assert!(!html.contains("<script>"), "{html}");
        for name in ["csrf", "client", "purpose", "item"] {
            assert!(
                html.contains(&format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{ESCAPED}\">"
                )),
                "{name}: {html}"
            );
        }
        assert!(html.contains("id=\"days-30\" name=\"days\" value=\"30\" checked=\"checked\""));
    }

    #[test]
    fn a_consents_values_are_escaped_in_text_attributes_and_urls() {
        let x = Consent {
            id: HOSTILE.into(),
            client: HOSTILE.into(),
            purpose: HOSTILE.into(),
            items: serde_json::to_string(&[HOSTILE]).unwrap(),
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
        };
        let history = [("granted".to_owned(), 0)];
        let html = consent_section(None, Lang::En, HOSTILE, 1, 0, &x, &history).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains(&format!("<dd>{ESCAPED}</dd>")), "{html}");
        assert!(html.contains(&format!("<li>{ESCAPED}</li>")), "{html}");
        assert!(html.contains(&format!("action=\"/consents/{ESCAPED}/revoke\"")));
        assert!(html.contains(&format!("value=\"{ESCAPED}\"")));
    }
}
