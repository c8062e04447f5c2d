//! The catalogue: every service listed for the portal, searchable in any of the three
//! languages and by category, and each service's page with what one needs and how to apply.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use korpu_conf::{GlobalConf, ServiceInfo};
use korpu_id::ServiceId;

use crate::html::{esc, url_part, Html};
use crate::i18n::Msg;
use crate::server::{AppState, Shared};
use crate::web::{html_page, query_get, query_pairs, Ctx, Page, PageError};

fn member_name(conf: &GlobalConf, svc: &ServiceInfo) -> String {
    conf.members
        .iter()
        .find(|m| m.id == svc.id.subsystem.member)
        .map_or_else(|| svc.id.subsystem.member.to_string(), |m| m.name.clone())
}

pub(crate) fn service_path(id: &ServiceId) -> String {
    format!(
        "/services/{}/{}/{}/{}",
        url_part(id.subsystem.member.class.as_str()),
        url_part(id.subsystem.member.code.as_str()),
        url_part(id.subsystem.code.as_str()),
        url_part(id.code.as_str())
    )
}

/// Lowercases for search, folding Azerbaijani and Russian letters case-insensitively.
fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

pub(crate) async fn catalogue(
    State(s): State<Shared>,
    c: Ctx,
    OriginalUri(uri): OriginalUri,
) -> Page {
    let l = c.lang;
    let q = query_pairs(uri.query());
    let term = query_get(&q, "q").unwrap_or_default();
    let category = query_get(&q, "category").unwrap_or_default();
    let conf = s.conf();
    let listed: Vec<&ServiceInfo> = conf
        .as_deref()
        .map(|c| c.services.iter().filter(|s| s.portal.is_some()).collect())
        .unwrap_or_default();
    let mut categories: Vec<String> = listed
        .iter()
        .filter_map(|s| s.portal.as_ref().map(|p| p.category.clone()))
        .collect();
    categories.sort();
    categories.dedup();
    let words: Vec<String> = fold(&term).split_whitespace().map(str::to_owned).collect();
    let hits: Vec<&ServiceInfo> = listed
        .into_iter()
        .filter(|svc| {
            let p = svc.portal.as_ref().expect("filtered");
            if !category.is_empty() && p.category != category {
                return false;
            }
            // A word matches in any language, so a citizen finds the service whichever
            // language they type in.
            let hay = fold(&format!(
                "{} {} {} {} {} {} {} {}",
                p.names.az,
                p.names.en,
                p.names.ru,
                p.descriptions.az,
                p.descriptions.en,
                p.descriptions.ru,
                p.category,
                conf.as_deref()
                    .map(|c| member_name(c, svc))
                    .unwrap_or_default()
            ));
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .collect();
    let mut h = Html::new();
    h.el("h1", &[], l.t(Msg::CatalogueTitle));
    h.raw("<form class=\"search\" method=\"get\" action=\"/services\" role=\"search\">");
    h.raw("<div class=\"field\">");
    h.el("label", &[("for", "q")], l.t(Msg::SearchLabel));
    h.open(
        "input",
        &[
            ("type", "search"),
            ("id", "q"),
            ("name", "q"),
            ("value", term.as_str()),
        ],
    );
    h.raw("</div><div class=\"field\">");
    h.el("label", &[("for", "category")], l.t(Msg::Category));
    h.raw("<select id=\"category\" name=\"category\">");
    h.el("option", &[("value", "")], l.t(Msg::AllCategories));
    for cat in &categories {
        if *cat == category {
            h.el("option", &[("value", cat), ("selected", "selected")], cat);
        } else {
            h.el("option", &[("value", cat)], cat);
        }
    }
    h.raw("</select></div>");
    h.raw(&format!(
        "<button class=\"button\" type=\"submit\">{}</button></form>",
        esc(l.t(Msg::SearchButton))
    ));
    h.raw(&format!(
        "<p role=\"status\">{} {}</p>",
        hits.len(),
        esc(l.t(Msg::Results))
    ));
    if hits.is_empty() {
        h.el("p", &[], l.t(Msg::NoResults));
    } else {
        h.raw("<ul class=\"cards\">");
        for svc in hits {
            let p = svc.portal.as_ref().expect("filtered");
            h.raw("<li><h2>");
            h.a(&service_path(&svc.id), p.names.get(l.code()));
            h.raw("</h2>");
            h.el("p", &[], p.descriptions.get(l.code()));
            h.raw("<p class=\"meta\">");
            h.text(&format!(
                "{}: {} · {}: {}",
                l.t(Msg::Agency),
                conf.as_deref()
                    .map(|c| member_name(c, svc))
                    .unwrap_or_default(),
                l.t(Msg::Category),
                p.category
            ));
            h.raw("</p></li>");
        }
        h.raw("</ul>");
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "services",
        l.t(Msg::CatalogueTitle),
        maud::PreEscaped(h.0),
    ))
}

/// The listed service named by the path, from the current configuration.
pub(crate) fn find_service(
    s: &AppState,
    class: &str,
    member: &str,
    subsystem: &str,
    service: &str,
) -> Option<(Arc<GlobalConf>, ServiceInfo)> {
    let conf = s.conf()?;
    let id: ServiceId = format!("{}/{class}/{member}/{subsystem}/{service}", conf.instance)
        .parse()
        .ok()?;
    let svc = conf.service(&id)?.clone();
    svc.portal.as_ref()?;
    Some((conf, svc))
}

pub(crate) type SvcPath = Path<(String, String, String, String)>;

pub(crate) async fn service_page(
    State(s): State<Shared>,
    Path((class, member, subsystem, service)): SvcPath,
    c: Ctx,
) -> Page {
    let l = c.lang;
    let Some((conf, svc)) = find_service(&s, &class, &member, &subsystem, &service) else {
        return Err(PageError::not_found());
    };
    let p = svc.portal.as_ref().expect("listed");
    let name = p.names.get(l.code());
    let mut h = Html::new();
    h.raw("<p>");
    h.a("/services", l.t(Msg::Back));
    h.raw("</p>");
    h.el("h1", &[], name);
    h.el("p", &[("class", "lead")], p.descriptions.get(l.code()));
    h.raw("<dl class=\"summary\">");
    h.el("dt", &[], l.t(Msg::Agency));
    h.el("dd", &[], &member_name(&conf, &svc));
    h.el("dt", &[], l.t(Msg::Category));
    h.el("dd", &[], &p.category);
    h.raw("</dl>");
    let req = p.requirements.get(l.code());
    if !req.is_empty() {
        h.el("h2", &[], l.t(Msg::WhatYouNeed));
        h.raw("<ul>");
        for line in req.lines().filter(|x| !x.trim().is_empty()) {
            h.el("li", &[], line.trim());
        }
        h.raw("</ul>");
    }
    if p.form_schema.is_some() {
        let apply = format!("{}/apply", service_path(&svc.id));
        if c.citizen().is_some() {
            h.raw(&format!(
                "<a class=\"button\" href=\"{}\">{}</a>",
                esc(&apply),
                esc(l.t(Msg::ApplyNow))
            ));
        } else {
            h.raw(&format!(
                "<a class=\"button\" href=\"/login?next={}\">{}</a>",
                esc(&url_part(&apply)),
                esc(l.t(Msg::LoginToApply))
            ));
        }
    } else {
        h.el("p", &[], l.t(Msg::NoForm));
    }
    Ok(html_page(
        &s,
        &c,
        StatusCode::OK,
        "services",
        name,
        maud::PreEscaped(h.0),
    ))
}
