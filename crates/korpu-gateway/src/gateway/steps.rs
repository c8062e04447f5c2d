//! The steps of an exchange that need no socket, as functions of their inputs: authorising a
//! call against the indexed configuration, finding the data subject in a request. Each has
//! unit tests here.

use super::*;

pub(super) fn authorise(
    conf: &IndexedConf,
    xh: &XRoadHeaders,
    service: &korpu_conf::ServiceInfo,
    denied: ErrorKind,
) -> Result<(), XRoadError> {
    if !conf.is_allowed(&xh.client, &service.id) {
        return Err(XRoadError::new(
            denied,
            format!("{} has no access right to {}", xh.client, service.id),
        ));
    }
    if service.purpose_required && xh.purpose.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(XRoadError::new(
            ErrorKind::PurposeRequired,
            format!(
                "service {} requires a purpose: send X-Korpu-Purpose",
                service.id
            ),
        ));
    }
    Ok(())
}

/// Finds the data subject's id in a request, where the service says it is. A path parameter
/// is matched against the service's OpenAPI path templates (`/persons/{pin}`); without a
/// matching template it is the last path segment. `templates` are the OpenAPI description's
/// path templates ([`IndexedConf::path_templates`]).
pub fn find_subject(
    loc: &SubjectLocation,
    headers: &HeaderMap,
    target: &p::Target,
    templates: &[String],
) -> Option<String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    match loc {
        SubjectLocation::Header(name) => HeaderName::from_bytes(name.as_bytes())
            .ok()
            .and_then(|n| header(headers, n.as_str()).map(str::to_owned)),
        SubjectLocation::Query(name) => target.query.as_deref()?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k) == *name).then(|| decode(v))
        }),
        SubjectLocation::Path(name) => {
            let segs: Vec<&str> = target.path.split('/').filter(|s| !s.is_empty()).collect();
            let placeholder = format!("{{{name}}}");
            for t in templates {
                let tsegs: Vec<&str> = t.split('/').filter(|s| !s.is_empty()).collect();
                if tsegs.len() != segs.len() {
                    continue;
                }
                let mut value = None;
                let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
                    if *t == placeholder {
                        value = Some(decode(s));
                        true
                    } else {
                        t.starts_with('{') || t == s
                    }
                });
                if fits && value.is_some() {
                    return value;
                }
            }
            segs.last().map(|s| decode(s))
        }
    }
}
