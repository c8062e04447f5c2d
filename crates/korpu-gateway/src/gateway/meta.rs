//! What the gateway answers itself: health, metrics of the signer, PR-META listClients and
//! PR-MREST's metaservices, all from the current global configuration.

use super::*;

impl Gateway {
    pub(super) fn json(v: serde_json::Value) -> Response<OutBody> {
        let mut r = Response::new(OutBody::full(serde_json::to_vec(&v).expect("json")));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        r
    }

    /// The signer's and verifier's counters: signatures made per message signed is the batch
    /// size (its distribution in `korpu_signature_batch_size`), verifications per message
    /// received the share of batches verified here.
    pub(super) fn signature_metrics(&self, s: &mut Scrape) {
        let (signatures, signed) = self.signer.counts();
        let (verifications, remembered) = self.verifier.counts();
        s.histogram(
            "korpu_signature_batch_size",
            "Messages signed together under one ECDSA signature, per batch.",
            self.signer.batch_sizes(),
        );
        for (name, help, value) in [
            (
                "korpu_signatures_total",
                "ECDSA signatures made over outgoing messages (one per batch).",
                signatures,
            ),
            (
                "korpu_signed_messages_total",
                "Outgoing messages signed.",
                signed,
            ),
            (
                "korpu_signature_verifications_total",
                "ECDSA verifications of incoming messages' signatures.",
                verifications,
            ),
            (
                "korpu_signature_batch_reuses_total",
                "Incoming messages whose batch signature was already verified for another message.",
                remembered,
            ),
        ] {
            s.counter(name, help, value);
        }
    }

    pub(super) fn health(&self) -> Response<OutBody> {
        let loaded = self.loaded();
        let now = Timestamp::now();
        let ok = loaded.as_ref().is_some_and(|l| now < l.conf.expires_at);
        let mut r = Self::json(serde_json::json!({
            "status": if ok { "ok" } else { "unavailable" },
            "gateway": self.id.to_string(),
            "conf_version": loaded.as_ref().map(|l| l.conf.version),
            "conf_expires_at": loaded.as_ref().map(|l| l.conf.expires_at.to_string()),
            "conf_error": self.conf_error.lock().expect("lock").clone(),
            "ocsp_stapled": self.staples.read().expect("lock").tls.is_some(),
        }));
        if !ok {
            *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        }
        r
    }

    /// PR-META listClients (JSON form).
    pub(super) fn list_clients(&self, form: p::ErrorForm) -> Response<OutBody> {
        let Some(loaded) = self.loaded() else {
            return err_response(
                &XRoadError::new(ErrorKind::OutdatedConf, "no global configuration yet"),
                "",
                form,
            );
        };
        let mut list = Vec::new();
        for m in &loaded.conf.members {
            let id = |sub: Option<&str>| {
                let mut v = serde_json::json!({
                    "member_class": m.id.class.as_str(), "member_code": m.id.code.as_str(),
                    "object_type": if sub.is_some() { "SUBSYSTEM" } else { "MEMBER" },
                    "xroad_instance": m.id.instance.as_str(),
                });
                if let Some(s) = sub {
                    v["subsystem_code"] = s.into();
                }
                v
            };
            list.push(serde_json::json!({"id": id(None), "name": m.name}));
            for s in &m.subsystems {
                list.push(serde_json::json!({"id": id(Some(s.as_str())), "name": m.name, "subsystemName": s.as_str()}));
            }
        }
        Self::json(serde_json::json!({ "member": list }))
    }

    /// PR-MREST listMethods, allowedMethods and getOpenAPI, answered from the global
    /// configuration, which holds every service's description.
    pub(super) fn metaservice(
        &self,
        conf: &IndexedConf,
        target: &p::Target,
        xh: &XRoadHeaders,
    ) -> Option<Result<Response<OutBody>, XRoadError>> {
        let sub = &target.service.subsystem;
        let code = target.service.code.as_str();
        let services = conf.services.iter().filter(|s| &s.id.subsystem == sub);
        let describe = |s: &korpu_conf::ServiceInfo| {
            serde_json::json!({
                "member_class": sub.member.class.as_str(), "member_code": sub.member.code.as_str(),
                "object_type": "SERVICE", "service_code": s.id.code.as_str(),
                "service_type": if s.openapi.is_some() { "OPENAPI" } else { "REST" },
                "subsystem_code": sub.code.as_str(), "xroad_instance": sub.member.instance.as_str(),
            })
        };
        match code {
            "listMethods" => Some(Ok(Self::json(
                serde_json::json!({"service": services.map(describe).collect::<Vec<_>>()}),
            ))),
            "allowedMethods" => Some(Ok(Self::json(serde_json::json!({
                "service": services.filter(|s| conf.is_allowed(&xh.client, &s.id)).map(describe).collect::<Vec<_>>()
            })))),
            "getOpenAPI" => {
                let wanted = target
                    .query
                    .as_deref()
                    .unwrap_or("")
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("serviceCode="));
                let Some(wanted) = wanted else {
                    return Some(Err(XRoadError::new(
                        ErrorKind::BadRequest,
                        "getOpenAPI needs ?serviceCode=SERVICE",
                    )));
                };
                let found = conf
                    .services
                    .iter()
                    .find(|s| &s.id.subsystem == sub && s.id.code.as_str() == wanted);
                Some(match found.and_then(|s| s.openapi.clone()) {
                    Some(doc) => {
                        let ct = if doc.trim_start().starts_with('{') {
                            "application/json"
                        } else {
                            "application/yaml"
                        };
                        let mut r = Response::new(OutBody::full(doc));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                        Ok(r)
                    }
                    None => Err(XRoadError::new(
                        ErrorKind::UnknownService,
                        format!("{sub}/{wanted} has no OpenAPI description"),
                    )),
                })
            }
            _ => None,
        }
    }
}
