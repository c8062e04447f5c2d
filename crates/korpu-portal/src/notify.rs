//! Notifications: kept in the portal (the citizen's list, with an unread count in the menu)
//! and, when the citizen's identity provider gave an e-mail address and an SMTP server is
//! configured, sent by e-mail. A failed e-mail is logged (without the address) and does not
//! lose the notification.

use std::time::Duration;

use korpu_conf::GlobalConf;

use crate::i18n::{Lang, Msg};
use crate::server::{now, AppState};
use crate::store::Application;

/// The notification's sentence in `l`. `subject` is kind-specific: `status|service id` for a
/// status change, the company's name for consents.
pub fn text(conf: Option<&GlobalConf>, l: Lang, kind: &str, subject: &str) -> String {
    match kind {
        "status" => {
            let (status, service) = subject.split_once('|').unwrap_or((subject, ""));
            let name = conf
                .and_then(|c| c.services.iter().find(|s| s.id.to_string() == service))
                .and_then(|s| s.portal.as_ref().map(|p| p.names.get(l.code()).to_owned()))
                .unwrap_or_else(|| service.to_owned());
            let st = match status {
                "in_review" => l.t(Msg::StInReview),
                "decided" => l.t(Msg::StDecided),
                "rejected" => l.t(Msg::StRejected),
                "submitted" | "received" => l.t(Msg::StSubmitted),
                _ => l.t(Msg::StUnknown),
            };
            format!("{} {name} — {st}", l.t(Msg::NStatus))
        }
        "consent_granted" => format!("{} {subject}", l.t(Msg::NConsentGranted)),
        "consent_revoked" => format!("{} {subject}", l.t(Msg::NConsentRevoked)),
        _ => subject.to_owned(),
    }
}

/// Records a notification and e-mails it.
pub async fn notify(
    s: &AppState,
    citizen: &str,
    email: &str,
    kind: &str,
    subject: &str,
    link: &str,
) {
    let id = format!("N-{}", crate::oidc::random_token(12));
    if let Err(e) = s
        .store
        .notify(&id, citizen, kind, subject, link, now())
        .await
    {
        tracing::error!(error = %e, "cannot store a notification");
        return;
    }
    if s.cfg.smtp_server.is_empty() || email.is_empty() {
        return;
    }
    let conf = s.conf();
    // Azerbaijani first, then English: the portal does not know which language the citizen
    // reads mail in.
    let az = text(conf.as_deref(), Lang::Az, kind, subject);
    let en = text(conf.as_deref(), Lang::En, kind, subject);
    let url = format!("{}{link}", s.cfg.effective_public_url());
    let body = format!("{az}\n{url}\n\n{en}\n{url}\n\n-- \nmyGov\n");
    let mail = crate::smtp::Mail {
        from: &s.cfg.mail_from,
        to: email,
        subject: &format!("myGov: {az}"),
        body: &body,
    };
    match crate::smtp::send(
        &s.cfg.smtp_server,
        &mail,
        Duration::from_secs(s.cfg.upstream_timeout_secs),
    )
    .await
    {
        Ok(()) => tracing::info!(notification = %id, "notification e-mailed"),
        Err(e) => tracing::warn!(notification = %id, error = %e, "notification e-mail not sent"),
    }
}

pub async fn status_changed(s: &AppState, a: &Application, new: &str, link: &str) {
    notify(
        s,
        &a.citizen,
        &a.email,
        "status",
        &format!("{new}|{}", a.service),
        link,
    )
    .await;
}
