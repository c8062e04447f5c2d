//! The global configuration indexed once per version, so that what every message asks of it
//! (may this client call this service, which gateways serve this subsystem, which gateway
//! pins this TLS certificate, where in a path is the data subject) is a hash lookup instead
//! of a scan of the document's lists.
//!
//! [`IndexedConf`] owns the verified document and dereferences to it, so everything not
//! indexed reads the document as before; its own methods shadow [`GlobalConf`]'s scanning ones
//! with the same answers (the document order of gateways is kept). It does not verify
//! anything: it is built from a configuration already verified.

use std::collections::{HashMap, HashSet};

use korpu_conf::{GatewayInfo, GlobalConf, ServiceInfo};
use korpu_id::{ClientId, ServiceId, SubsystemId};

/// A verified global configuration with its lookup tables.
pub struct IndexedConf {
    conf: GlobalConf,
    /// Access rights: client → the services it may call.
    access: HashMap<ClientId, HashSet<ServiceId>>,
    /// Services by id: index into `conf.services`.
    services: HashMap<ServiceId, usize>,
    /// Gateways serving each client (member or subsystem), as indices into `conf.gateways` in
    /// document order.
    serving: HashMap<ClientId, Vec<usize>>,
    /// The same for subsystems, so that a service's provider is looked up without building a
    /// `ClientId` per message.
    serving_subsystem: HashMap<SubsystemId, Vec<usize>>,
    /// Gateways by the SHA-256 (lowercase hex) of a TLS certificate they pin; the first in
    /// document order when two pin the same one, as the scan found.
    by_tls_sha256: HashMap<String, usize>,
    /// Each service's OpenAPI path templates (the keys of `paths`), parsed and split once.
    path_templates: HashMap<ServiceId, Vec<PathTemplate>>,
}

impl IndexedConf {
    pub fn new(conf: GlobalConf) -> Self {
        let mut access: HashMap<ClientId, HashSet<ServiceId>> = HashMap::new();
        for r in &conf.access_rights {
            access
                .entry(r.client.clone())
                .or_default()
                .insert(r.service.clone());
        }
        let mut services = HashMap::with_capacity(conf.services.len());
        let mut path_templates = HashMap::new();
        for (i, s) in conf.services.iter().enumerate() {
            // The first of duplicate ids wins, as `GlobalConf::service`'s scan did.
            services.entry(s.id.clone()).or_insert(i);
            if let Some(t) = s.openapi.as_deref().and_then(openapi_path_templates) {
                path_templates.entry(s.id.clone()).or_insert(t);
            }
        }
        let mut serving: HashMap<ClientId, Vec<usize>> = HashMap::new();
        let mut serving_subsystem: HashMap<SubsystemId, Vec<usize>> = HashMap::new();
        let mut by_tls_sha256 = HashMap::new();
        for (i, g) in conf.gateways.iter().enumerate() {
            for c in &g.clients {
                let list = serving.entry(c.clone()).or_default();
                // A gateway listing a client twice is still one gateway serving it.
                if list.last() != Some(&i) {
                    list.push(i);
                }
                if let ClientId::Subsystem(s) = c {
                    let list = serving_subsystem.entry(s.clone()).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
            for fp in &g.tls_cert_sha256 {
                by_tls_sha256.entry(fp.clone()).or_insert(i);
            }
        }
        Self {
            conf,
            access,
            services,
            serving,
            serving_subsystem,
            by_tls_sha256,
            path_templates,
        }
    }

    /// The document itself.
    pub fn document(&self) -> &GlobalConf {
        &self.conf
    }

    /// Whether `client` may call `service` according to this document.
    pub fn is_allowed(&self, client: &ClientId, service: &ServiceId) -> bool {
        self.access
            .get(client)
            .is_some_and(|services| services.contains(service))
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceInfo> {
        self.services.get(id).map(|&i| &self.conf.services[i])
    }

    /// The gateways that serve `client` (a subsystem or member), in document order.
    pub fn gateways_serving(&self, client: &ClientId) -> impl Iterator<Item = &GatewayInfo> {
        self.gateways_at(self.serving.get(client))
    }

    /// The gateways that serve the subsystem `sub`, in document order.
    pub fn gateways_serving_subsystem(
        &self,
        sub: &SubsystemId,
    ) -> impl Iterator<Item = &GatewayInfo> {
        self.gateways_at(self.serving_subsystem.get(sub))
    }

    fn gateways_at<'a>(
        &'a self,
        at: Option<&'a Vec<usize>>,
    ) -> impl Iterator<Item = &'a GatewayInfo> + 'a {
        at.map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|&i| &self.conf.gateways[i])
    }

    /// The gateway that pins the TLS certificate with this SHA-256 (lowercase hex).
    pub fn gateway_by_tls_sha256(&self, sha256_hex: &str) -> Option<&GatewayInfo> {
        self.by_tls_sha256
            .get(sha256_hex)
            .map(|&i| &self.conf.gateways[i])
    }

    /// The path templates of the service's OpenAPI description; empty without one.
    pub fn path_templates(&self, id: &ServiceId) -> &[PathTemplate] {
        self.path_templates.get(id).map_or(&[], Vec::as_slice)
    }
}

impl std::ops::Deref for IndexedConf {
    type Target = GlobalConf;

    fn deref(&self) -> &GlobalConf {
        &self.conf
    }
}

/// The keys of an OpenAPI (JSON) document's `paths`; `None` when it is not JSON or has none.
fn openapi_path_templates(doc: &str) -> Option<Vec<PathTemplate>> {
    let v = serde_json::from_str::<serde_json::Value>(doc).ok()?;
    let paths = v.get("paths")?.as_object()?;
    Some(paths.keys().map(|t| PathTemplate::new(t)).collect())
}

/// An OpenAPI path template (`/persons/{pin}/documents`), split into its segments once per
/// configuration version rather than once per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A segment beginning with `{`, kept whole: it matches any one path segment.
    Param(String),
}

impl PathTemplate {
    pub fn new(text: &str) -> Self {
        let segments = text
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.starts_with('{') {
                true => Segment::Param(s.to_owned()),
                false => Segment::Literal(s.to_owned()),
            })
            .collect();
        Self {
            text: text.to_owned(),
            segments,
        }
    }

    /// The template as the OpenAPI description writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path segment (as sent, still percent-encoded) in the place of the parameter
    /// `{name}`, when `path` (split into its non-empty segments) fits this template; the last
    /// one when the template names the parameter twice.
    pub fn capture<'p>(&self, path: &[&'p str], name: &str) -> Option<&'p str> {
        if self.segments.len() != path.len() {
            return None;
        }
        let mut value = None;
        for (t, s) in self.segments.iter().zip(path) {
            match t {
                Segment::Param(p) => {
                    if p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) == Some(name) {
                        value = Some(*s);
                    }
                }
                Segment::Literal(l) if l == s => {}
                Segment::Literal(_) => return None,
            }
        }
        value
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small configuration: two gateways both serving `AZ/GOV/1/sub`, two services.
    pub(crate) fn conf() -> IndexedConf {
        IndexedConf::new(conf_document())
    }

    pub(crate) fn conf_document() -> GlobalConf {
        serde_json::from_value(serde_json::json!({
            "format": korpu_conf::CONF_FORMAT, "instance": "AZ", "version": 7,
            "issued_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-02T00:00:00Z",
            "central": {"conf_url": "https://c/conf", "ocsp_url": "https://c/ocsp", "tsa_url": "https://c/tsa"},
            "pki": {"root_certs": [], "issuing_certs": [], "ocsp_responder_certs": [], "tsa_certs": []},
            "member_classes": [], "members": [],
            "gateways": [
                {"id": "AZ/GOV/1/gw1", "address": "a:1", "tls_cert_sha256": ["aa", "bb"],
                 "clients": ["AZ/GOV/1/sub", "AZ/GOV/1"]},
                {"id": "AZ/GOV/2/gw2", "address": "b:1", "tls_cert_sha256": ["cc", "aa"],
                 "clients": ["AZ/GOV/2/pro", "AZ/GOV/1/sub", "AZ/GOV/2/pro"]}
            ],
            "services": [
                {"id": "AZ/GOV/2/pro/persons", "version": null, "title": "P",
                 "openapi": "{\"paths\": {\"/persons/{pin}\": {}, \"/x\": {}}}",
                 "data_subject": null, "purpose_required": false},
                {"id": "AZ/GOV/2/pro/other", "version": null, "title": "O", "openapi": "not json",
                 "data_subject": null, "purpose_required": true}
            ],
            "access_rights": [
                {"client": "AZ/GOV/1/sub", "service": "AZ/GOV/2/pro/persons"}
            ]
        }))
        .expect("a test configuration")
    }

    fn id<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("an identifier")
    }

    /// Every lookup gives what the document's own scans give, for present and absent keys.
    #[test]
    fn lookups_answer_as_the_scans_of_the_document() {
        let c = conf();
        let doc = c.document();
        let clients: Vec<ClientId> = ["AZ/GOV/1/sub", "AZ/GOV/1", "AZ/GOV/2/pro", "AZ/GOV/3/x"]
            .iter()
            .map(|s| id(s))
            .collect();
        let services: Vec<ServiceId> = [
            "AZ/GOV/2/pro/persons",
            "AZ/GOV/2/pro/other",
            "AZ/GOV/2/pro/none",
        ]
        .iter()
        .map(|s| id(s))
        .collect();
        for cl in &clients {
            for s in &services {
                assert_eq!(c.is_allowed(cl, s), doc.is_allowed(cl, s), "{cl} {s}");
            }
            let indexed: Vec<_> = c.gateways_serving(cl).map(|g| &g.id).collect();
            let scanned: Vec<_> = doc.gateways_serving(cl).map(|g| &g.id).collect();
            assert_eq!(indexed, scanned, "{cl}");
            if let ClientId::Subsystem(sub) = cl {
                let by_sub: Vec<_> = c.gateways_serving_subsystem(sub).map(|g| &g.id).collect();
                assert_eq!(by_sub, scanned, "{cl}");
            }
        }
        for s in &services {
            assert_eq!(c.service(s).map(|s| &s.id), doc.service(s).map(|s| &s.id));
        }
        let gw1: korpu_id::GatewayId = id("AZ/GOV/1/gw1");
        let gw2: korpu_id::GatewayId = id("AZ/GOV/2/gw2");
        assert_eq!(c.gateway_by_tls_sha256("aa").map(|g| &g.id), Some(&gw1));
        assert_eq!(c.gateway_by_tls_sha256("cc").map(|g| &g.id), Some(&gw2));
        assert!(c.gateway_by_tls_sha256("dd").is_none());
        // Dereferencing reaches what is not indexed.
        assert_eq!(c.version, 7);
    }

    #[test]
    fn openapi_path_templates_are_parsed_once_per_service() {
        let c = conf();
        let mut t: Vec<&str> = c
            .path_templates(&id("AZ/GOV/2/pro/persons"))
            .iter()
            .map(PathTemplate::as_str)
            .collect();
        t.sort();
        assert_eq!(t, ["/persons/{pin}", "/x"]);
        assert!(c.path_templates(&id("AZ/GOV/2/pro/other")).is_empty());
        assert!(c.path_templates(&id("AZ/GOV/2/pro/none")).is_empty());
    }

    #[test]
    fn a_template_captures_its_parameter_where_the_path_fits_it() {
        let t = PathTemplate::new("/persons/{pin}/docs/{kind}");
        assert_eq!(
            t.capture(&["persons", "12", "docs", "x"], "pin"),
            Some("12")
        );
        assert_eq!(
            t.capture(&["persons", "12", "docs", "x"], "kind"),
            Some("x")
        );
        assert_eq!(t.capture(&["persons", "12", "docs", "x"], "other"), None);
        assert_eq!(t.capture(&["persons", "12", "files", "x"], "pin"), None);
        assert_eq!(t.capture(&["persons", "12"], "pin"), None);
        let twice = PathTemplate::new("/{id}/x/{id}");
        assert_eq!(twice.capture(&["a", "x", "b"], "id"), Some("b"));
    }
}
