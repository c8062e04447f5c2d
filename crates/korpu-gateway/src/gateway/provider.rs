//! The provider side of an exchange: another gateway's signed request, authenticated by its
//! pinned TLS certificate and staple, verified, authorised, passed to the provider's
//! information system (or answered from the evidence ledger), the answer signed and recorded.

use super::*;

impl Gateway {
    /// Handles a request from another gateway whose TLS certificate is `peer_cert`.
    pub async fn handle_peer<B: InBody>(
        self: Arc<Self>,
        req: Request<B>,
        peer_cert: Arc<Certificate>,
    ) -> Response<OutBody> {
        let started = Instant::now();
        let message_id = header(req.headers(), p::H_ID).unwrap_or("").to_owned();
        let form = p::ErrorForm::from_accept(req.headers());
        let mut verified = None;
        let result = self.provider_exchange(req, &peer_cert, &mut verified).await;
        let elapsed = started.elapsed();
        let (resp, rec) = match result {
            Ok(r) => r,
            Err(e) => {
                self.metrics.inc_error(e.kind.as_str());
                tracing::warn!(%message_id, error_type = e.kind.as_str(), error = %e.message, role = "provider", "exchange refused");
                let mut r = err_response(&e, &message_id, form);
                // A refusal is signed, so the caller's gateway can tell it from one forged in
                // transit — but only over a request digest this gateway computed from a request
                // whose signature it verified: signing for a peer not yet authenticated would
                // give anyone a signature over a digest of their choosing.
                if let Some(digest) = verified {
                    let (body, _) = e.render(&message_id, form);
                    let covered = "content-type";
                    let base = p::response_signature_base(
                        &digest,
                        e.status(),
                        Some(e.kind.as_str()),
                        &p::covered_sha256(
                            None,
                            covered,
                            r.headers(),
                            &Sha256::digest(&body).into(),
                        ),
                    );
                    let bdigest: [u8; 32] = Sha256::digest(base.as_bytes()).into();
                    let sig = self.signer.sign(base.into_bytes(), bdigest).await;
                    p::set_unique(r.headers_mut(), p::H_SIG, &sig);
                    p::set(r.headers_mut(), p::H_COVERED, covered);
                }
                self.staple_headers(r.headers_mut());
                self.metrics.observe("provider", e.status(), elapsed);
                return r;
            }
        };
        self.metrics
            .observe("provider", resp.status().as_u16(), elapsed);
        tracing::info!(message_id = %rec.message_id, client = %rec.client, service = %rec.service, role = "provider",
            status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, subject_present = rec.data_subject.is_some(), "exchange");
        resp
    }

    /// `verified` is set to the request's digest once its signature is verified: from then on
    /// the peer is authenticated and a refusal may be signed.
    pub(super) async fn provider_exchange<B: InBody>(
        &self,
        req: Request<B>,
        peer_cert: &Certificate,
        verified: &mut Option<String>,
    ) -> Result<(Response<OutBody>, ExchangeRecord), XRoadError> {
        let t0 = Instant::now();
        let _in_flight = self.signer.enter();
        let loaded = self.current_conf(ErrorKind::SpOutdatedConf)?;
        let conf = &loaded.conf;
        let fingerprint = peer_cert.sha256_fingerprint_hex();
        let peer_gw = conf
            .gateway_by_tls_sha256(&fingerprint)
            .ok_or_else(|| XRoadError::new(ErrorKind::SpSsl, format!("the calling gateway's certificate (SHA-256 {fingerprint}) is not pinned for any gateway in the global configuration")))?;
        self.check_staple(
            &loaded,
            peer_cert,
            header(req.headers(), p::H_TLS_OCSP),
            "calling gateway TLS",
        )
        .map_err(|e| XRoadError::new(ErrorKind::SpSsl, e.to_string()))?;
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let target = p::parse_target(&path)
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.message))?;
        let xh = p::parse_headers(req.headers(), String::new)
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.message))?;
        if !conf
            .gateways_serving(&xh.client)
            .any(|g| g.id == peer_gw.id)
        {
            return Err(XRoadError::new(
                ErrorKind::SpAccessDenied,
                format!("gateway {} does not serve client {}", peer_gw.id, xh.client),
            ));
        }
        // Per calling gateway, so one peer's load leaves room for the others'.
        let _permit = self.provider_limits.enter(&peer_gw.id.to_string()).await;
        let (parts, req_body) = req.into_parts();
        let method = parts.method;
        let in_headers = parts.headers;
        // Everything this side forwards or reads must be covered by the signature: a header
        // the sender did not list was added on the way (see protocol's module doc).
        let covered = header(&in_headers, p::H_COVERED).unwrap_or("");
        if let Some(n) = p::uncovered_header(&in_headers, covered, &[]) {
            return Err(XRoadError::new(
                ErrorKind::SpSignature,
                format!("the request carries the header {n}, which its signature does not cover"),
            ));
        }
        let created_ms: u64 = header(&in_headers, p::H_CREATED)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorKind::SpSignature,
                    "the request carries no signed creation time",
                )
            })?;
        let mut body = self
            .receive(
                req_body,
                "request",
                ErrorKind::TooLarge,
                ErrorKind::SpBadRequest,
                false,
            )
            .await?;
        let declared = conf.service(&target.service);
        // Found in covered headers, path or query only, and a field of the signature base.
        let data_subject = declared.and_then(|s| {
            s.data_subject
                .as_ref()
                .and_then(|loc| find_subject(loc, &in_headers, &target, conf.path_templates(&s.id)))
        });
        let base = p::SignedRequest {
            service: &target.service_text,
            headers: &xh,
            created_ms,
            subject: data_subject.as_deref(),
            covered_sha256: p::covered_sha256(
                Some((method.as_str(), &target.path, target.query.as_deref())),
                covered,
                &in_headers,
                &body.sha256,
            ),
        }
        .signature_base();
        let signer = self
            .check_signer(
                &loaded,
                header(&in_headers, p::H_SIGNER),
                header(&in_headers, p::H_SIGNER_OCSP),
                xh.client.member(),
            )
            .map_err(|e| XRoadError::new(ErrorKind::SpSignature, e.to_string()))?;
        let signature = header(&in_headers, p::H_SIG).unwrap_or("").to_owned();
        let digest_bytes: [u8; 32] = Sha256::digest(base.as_bytes()).into();
        self.verifier
            .verify(&signer, base.as_bytes(), &digest_bytes, &signature)
            .await
            .map_err(|_| {
                XRoadError::new(
                    ErrorKind::SpSignature,
                    "the request does not match its signature: it was altered in transit",
                )
            })?;
        let digest = hex::encode(digest_bytes);
        *verified = Some(digest.clone());
        // After the signature (else anyone could burn another client's ids), before anything
        // is forwarded or recorded.
        self.replay
            .accept(
                &xh.client_text,
                &xh.message_id,
                created_ms,
                now_ms(),
                Instant::now(),
            )
            .map_err(|e| {
                let kind = match e {
                    crate::replay::Refused::Replayed(_) => ErrorKind::SpReplayed,
                    _ => ErrorKind::SpStale,
                };
                XRoadError::new(kind, e.to_string())
            })?;
        tracing::debug!(
            phase = "request verified",
            us = t0.elapsed().as_micros() as u64
        );
        let service = conf
            .service(&target.service)
            .filter(|_| {
                conf.gateways_serving_subsystem(&target.service.subsystem)
                    .any(|g| g.id == self.id)
            })
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorKind::SpUnknownService,
                    format!(
                        "service {} is not provided through gateway {}",
                        target.service, self.id
                    ),
                )
            })?;
        let backend = self.backends.get(&target.service).ok_or_else(|| {
            XRoadError::new(
                ErrorKind::SpUnknownService,
                format!(
                    "service {} has no information system configured on gateway {}",
                    target.service, self.id
                ),
            )
        })?;
        authorise(conf, &xh, service, ErrorKind::SpAccessDenied)?;

        // Bodies are kept only for the services this gateway's configuration names.
        let keeper = self
            .bodies
            .as_ref()
            .filter(|_| self.keep_bodies.contains(&target.service));
        let request_body_sha256 = match keeper {
            Some(store) => Some(self.keep_body(store, &mut body, "request").await?),
            None => None,
        };
        let (status_code, rh_in, mut rbody) =
            if backend == SUBJECT_ACCESSES_BACKEND || backend == SUBJECT_ACCESSES_AUDIT_BACKEND {
                let auditor = backend == SUBJECT_ACCESSES_AUDIT_BACKEND;
                self.subject_accesses(&xh, &target, data_subject.as_deref(), auditor)
                    .await?
            } else {
                self.call_system(backend, method.clone(), &in_headers, &xh, &target, body)
                    .await?
            };
        tracing::debug!(
            phase = "system answered",
            us = t0.elapsed().as_micros() as u64
        );
        let response_body_sha256 = match keeper {
            Some(store) => Some(self.keep_body(store, &mut rbody, "response").await?),
            None => None,
        };
        let status = status_code.as_u16();
        let mut rh = p::passthrough_headers(&rh_in);
        p::strip_xroad_response_headers(&mut rh);
        // Every header the client's gateway will pass on is covered.
        let rcovered = p::covered_names(&rh);
        let rbase = p::response_signature_base(
            &digest,
            status,
            None,
            &p::covered_sha256(None, &rcovered, &rh, &rbody.sha256),
        );
        let rdigest: [u8; 32] = Sha256::digest(rbase.as_bytes()).into();
        let rsig = self.signer.sign(rbase.as_bytes().to_vec(), rdigest).await;
        tracing::debug!(
            phase = "response signed",
            us = t0.elapsed().as_micros() as u64
        );
        let rec = ExchangeRecord {
            data_subject,
            request_digest: digest,
            response_digest: Some(hex::encode(rdigest)),
            response_status: Some(status),
            request_signature: signature,
            request_signer_cert_sha256: signer.sha256_fingerprint_hex(),
            response_signature: Some(rsig.clone()),
            response_signer_cert_sha256: Some(self.sign_cert.sha256_fingerprint_hex()),
            error: None,
            request_body_sha256,
            response_body_sha256,
            request_signed: Some(base),
            response_signed: Some(rbase),
            ..steps::new_record(
                &self.id_text,
                Role::Provider,
                &xh,
                target.service_text.clone(),
            )
        };
        self.recorder
            .record(&rec)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::SpDatabase, e.to_string()))?;
        tracing::debug!(
            phase = "provider recorded",
            us = t0.elapsed().as_micros() as u64
        );
        p::set_unique(&mut rh, p::H_ID, &xh.message_id);
        p::set(&mut rh, p::H_CLIENT, &xh.client_text);
        p::set(&mut rh, p::H_SERVICE, &target.service_text);
        p::set_unique(&mut rh, p::H_SIG, &rsig);
        p::set(&mut rh, p::H_COVERED, &rcovered);
        self.staple_headers(&mut rh);
        let mut out = Response::new(rbody.into_body());
        *out.status_mut() = status_code;
        *out.headers_mut() = rh;
        Ok((out, rec))
    }

    /// Keeps `body` encrypted in `store`, durably, and returns its hex SHA-256 (its name there).
    pub(super) async fn keep_body(
        &self,
        store: &Arc<crate::bodystore::BodyStore>,
        body: &mut Spooled,
        what: &str,
    ) -> Result<String, XRoadError> {
        if body.len > self.cfg.keep_bodies_max_bytes {
            return Err(XRoadError::new(
                ErrorKind::SpTooLarge,
                format!(
                    "the {what} body ({} bytes) is larger than this service keeps (keep_bodies_max_bytes = {})",
                    body.len, self.cfg.keep_bodies_max_bytes
                ),
            ));
        }
        let failed = |e: String| {
            XRoadError::new(
                ErrorKind::SpDatabase,
                format!("keeping the {what} body failed: {e}"),
            )
        };
        let bytes = body.to_bytes().map_err(|e| failed(e.to_string()))?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.put(&bytes))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))
    }

    /// Calls the provider's information system at `backend` with the verified request.
    pub(super) async fn call_system(
        &self,
        backend: &str,
        method: hyper::Method,
        in_headers: &HeaderMap,
        xh: &XRoadHeaders,
        target: &p::Target,
        body: Spooled,
    ) -> Result<(hyper::StatusCode, HeaderMap, Spooled), XRoadError> {
        let mut uri = format!("{backend}{}", target.path);
        if let Some(q) = &target.query {
            uri.push('?');
            uri.push_str(q);
        }
        let mut rb = Request::builder().method(method.clone()).uri(&uri);
        let mut h = p::passthrough_headers(in_headers);
        for (n, v) in [
            (p::H_CLIENT, Some(xh.client_text.as_str())),
            (p::H_SERVICE, Some(target.service_text.as_str())),
            (p::H_ID, Some(xh.message_id.as_str())),
            (p::H_USER, xh.user_id.as_deref()),
            (p::H_ISSUE, xh.issue.as_deref()),
            (p::H_PURPOSE, xh.purpose.as_deref()),
            (p::H_REPRESENTED, xh.represented_party.as_deref()),
        ] {
            if let Some(v) = v {
                p::set(&mut h, n, v);
            }
        }
        *rb.headers_mut().expect("builder") = h;
        let out = rb
            .body(body.into_body())
            .map_err(|e| XRoadError::new(ErrorKind::SpBadRequest, e.to_string()))?;
        let wait = Duration::from_secs(self.cfg.provider_timeout_secs);
        let resp = match tokio::time::timeout(wait, self.provider_http.request(out)).await {
            Err(_) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceTimeout,
                    format!(
                        "the information system behind {} did not answer within {} s",
                        target.service,
                        wait.as_secs()
                    ),
                ))
            }
            Ok(Err(e)) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceFailed,
                    format!(
                        "the information system behind {} failed: {e}",
                        target.service
                    ),
                ))
            }
            Ok(Ok(r)) => r,
        };
        let (parts, rbody) = resp.into_parts();
        // The answer goes back on the connection the calling gateway shares among its callers:
        // headers it would refuse must stop here (issue 13, item 9).
        crate::limits::check_headers(
            &parts.headers,
            self.cfg.max_header_bytes,
            self.cfg.max_header_count,
        )
        .map_err(|m| {
            XRoadError::new(
                ErrorKind::SpServiceFailed,
                format!(
                    "the information system behind {}: {}",
                    target.service,
                    m.to_string().replacen("the request", "its response", 1)
                ),
            )
        })?;
        let rbody = match tokio::time::timeout(
            wait,
            Spooled::receive(
                rbody,
                self.cfg.max_body_bytes,
                self.cfg.memory_spool_bytes,
                false,
            ),
        )
        .await
        {
            Err(_) => {
                return Err(XRoadError::new(
                    ErrorKind::SpServiceTimeout,
                    "the information system's response body did not arrive in time",
                ))
            }
            Ok(Err(SpoolError::TooLarge { limit })) => {
                return Err(XRoadError::new(
                    ErrorKind::SpTooLarge,
                    format!("the response body is larger than {limit} bytes"),
                ))
            }
            Ok(Err(SpoolError::Io(m))) => {
                return Err(XRoadError::new(ErrorKind::SpServiceFailed, m))
            }
            Ok(Ok(b)) => b,
        };
        Ok((parts.status, parts.headers, rbody))
    }

    /// The built-in `korpu:subject-accesses` backend: a data subject's accesses from this
    /// gateway's evidence ledger, newest first, each with its inclusion proof — the portal's
    /// data tracker. Only the subject themself may ask (`X-Road-UserId` = the subject); the
    /// service's access rights decide which client subsystem (the portal) may relay the
    /// question, and the exchange is recorded like any other.
    pub(super) async fn subject_accesses(
        &self,
        xh: &XRoadHeaders,
        target: &p::Target,
        subject: Option<&str>,
        auditor: bool,
    ) -> Result<(hyper::StatusCode, HeaderMap, Spooled), XRoadError> {
        let subject = subject.filter(|s| !s.is_empty()).ok_or_else(|| {
            XRoadError::new(
                ErrorKind::SpBadRequest,
                format!("{} needs the data subject's id where the service declares it (e.g. ?subject=ID)", target.service),
            )
        })?;
        if auditor {
            // An audit is on the record as someone's act: it must say whose.
            if xh.user_id.as_deref().is_none_or(|u| u.trim().is_empty()) {
                return Err(XRoadError::new(
                    ErrorKind::SpAccessDenied,
                    "an audit of a subject's accesses must name the auditor in X-Road-UserId",
                ));
            }
        } else if xh.user_id.as_deref() != Some(subject) {
            return Err(XRoadError::new(
                ErrorKind::SpAccessDenied,
                "only the data subject may read their own accesses: X-Road-UserId must be the subject's id",
            ));
        }
        let query = |name: &str| {
            target
                .query
                .as_deref()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k == name).then(|| v.to_owned())
                })
        };
        let number = |name: &str| -> Result<Option<u64>, XRoadError> {
            query(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        XRoadError::new(
                            ErrorKind::SpBadRequest,
                            format!("{name}={v:?} is not a whole number"),
                        )
                    })
                })
                .transpose()
        };
        let limit = number("limit")?
            .unwrap_or(SUBJECT_PAGE_DEFAULT)
            .clamp(1, SUBJECT_PAGE_MAX) as usize;
        let cursor = number("cursor")?;
        let page = self
            .recorder
            .subject_accesses(subject, cursor, limit)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::SpDatabase, e.to_string()))?;
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let bytes = serde_json::to_vec(&page).expect("json");
        Ok((hyper::StatusCode::OK, h, Spooled::from_bytes(bytes.into())))
    }

    // ----- metaservices and monitoring ----------------------------------------------------
}
