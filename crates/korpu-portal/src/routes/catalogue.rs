//! The catalogue: every service listed for the portal, searchable in any of the three
//! languages and by category, and each service's page with what one needs and how to apply.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use korpu_conf::{GlobalConf, ServiceInfo};
use korpu_id::ServiceId;
use maud::{html, Markup};

use crate::html::url_part;
use crate::i18n::{Lang, Msg};
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
    let agency = |svc: &ServiceInfo| {
        conf.as_deref()
            .map(|c| member_name(c, svc))
            .unwrap_or_default()
    };
    let body = html! {
        h1 { (l.t(Msg::CatalogueTitle)) }
        (search_form(l, &term, &category, &categories))
        p role="status" { (hits.len()) " " (l.t(Msg::Results)) }
        @if hits.is_empty() {
            p { (l.t(Msg::NoResults)) }
        } @else {
            ul class="cards" {
                @for svc in &hits {
                    @let p = svc.portal.as_ref().expect("filtered");
                    li {
                        h2 { a href=(service_path(&svc.id)) { (p.names.get(l.code())) } }
                        p { (p.descriptions.get(l.code())) }
                        p class="meta" {
                            (l.t(Msg::Agency)) ": " (agency(svc)) " · "
                            (l.t(Msg::Category)) ": " (p.category)
                        }
                    }
                }
            }
        }
    };
    let title = l.t(Msg::CatalogueTitle);
    Ok(html_page(&s, &c, StatusCode::OK, "services", title, body))
}

/// The search box and category filter, showing the search the citizen made.
fn search_form(l: Lang, term: &str, category: &str, categories: &[String]) -> Markup {
    html! {
        form class="search" method="get" action="/services" role="search" {
            div class="field" {
                label for="q" { (l.t(Msg::SearchLabel)) }
                input type="search" id="q" name="q" value=(term);
            }
            div class="field" {
                label for="category" { (l.t(Msg::Category)) }
                select id="category" name="category" {
                    option value="" { (l.t(Msg::AllCategories)) }
                    @for cat in categories {
                        option value=(cat) selected=[(cat == category).then_some("selected")] { (cat) }
                    }
                }
            }
            button class="button" type="submit" { (l.t(Msg::SearchButton)) }
        }
    }
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
    let req = p.requirements.get(l.code());
    let apply = format!("{}/apply", service_path(&svc.id));
    let body = html! {
        p { a href="/services" { (l.t(Msg::Back)) } }
        h1 { (name) }
        p class="lead" { (p.descriptions.get(l.code())) }
        dl class="summary" {
            dt { (l.t(Msg::Agency)) }
            dd { (member_name(&conf, &svc)) }
            dt { (l.t(Msg::Category)) }
            dd { (p.category) }
        }
        @if !req.is_empty() {
            h2 { (l.t(Msg::WhatYouNeed)) }
            ul {
                @for line in req.lines().filter(|x| !x.trim().is_empty()) {
                    li { (line.trim()) }
                }
            }
        }
        @if p.form_schema.is_none() {
            p { (l.t(Msg::NoForm)) }
        } @else if c.citizen().is_some() {
            a class="button" href=(apply) { (l.t(Msg::ApplyNow)) }
        } @else {
            a class="button" href={ "/login?next=" (url_part(&apply)) } { (l.t(Msg::LoginToApply)) }
        }
    };
    Ok(html_page(&s, &c, StatusCode::OK, "services", name, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search term (an attribute value) and categories (attribute and text) come from
    /// outside: the query string and the registry.
    #[test]
    fn the_search_form_escapes_the_search_and_categories() {
        let hostile = "\" onfocus=\"alert(1)\"><script>x</script>";
        let cats = [hostile.to_owned(), "benefits".to_owned()];
        let html = search_form(Lang::En, hostile, hostile, &cats).into_string();
        assert!(
            !html.contains("<script>") && !html.contains("\" onfocus"),
            "{html}"
        );
        let escaped = "&quot; onfocus=&quot;alert(1)&quot;&gt;&lt;script&gt;x&lt;/script&gt;";
        assert!(html.contains(&format!("value=\"{escaped}\"")), "{html}");
        assert!(html.contains(&format!(
            "<option value=\"{escaped}\" selected=\"selected\">{escaped}</option>"
        )));
        assert!(html.contains("<option value=\"benefits\">benefits</option>"));
    }
}
