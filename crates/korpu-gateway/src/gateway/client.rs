//! The client side of an exchange: a local information system's request, checked against the
//! global configuration, signed, sent to a provider's gateway, its signed answer verified and
//! recorded. The checks that need no socket are in [`super::steps`].

use super::*;

impl Gateway {
    /// Handles a request from a local information system.
    /// `client_cert` is the SHA-256 of the certificate an information system presented on the
    /// TLS client side, `None` on the plain-HTTP side.
    pub async fn handle_client<B: InBody>(
        self: Arc<Self>,
        req: Request<B>,
        remote: SocketAddr,
        client_cert: Option<String>,
    ) -> Response<OutBody> {
        let started = Instant::now();
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let form = p::ErrorForm::from_accept(req.headers());
        // Plain HTTP is authenticated by network; TLS by the pinned certificate, below.
        if client_cert.is_none() && !self.networks.iter().any(|n| n.contains(remote.ip())) {
            let e = XRoadError::new(
                ErrorKind::UnknownClient,
                format!("{} is not in this gateway's client_networks", remote.ip()),
            );
            self.metrics.inc_error(e.kind.as_str());
            return err_response(&e, "", form);
        }
        match path.split('?').next().unwrap_or("") {
            "/metrics" => {
                let text = self.metrics.render(|s| {
                    self.signature_metrics(s);
                    self.recorder.metrics(s);
                });
                let mut r = Response::new(OutBody::full(text));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
                );
                return r;
            }
            "/health" => return self.health(),
            "/listClients" => return self.list_clients(form),
            _ => {}
        }
        // Before anything of this request can reach the HTTP/2 connection that all callers
        // share to a provider gateway (issue 13, item 9).
        if let Err(m) = crate::limits::check_headers(
            req.headers(),
            self.cfg.max_header_bytes,
            self.cfg.max_header_count,
        ) {
            let e = XRoadError::new(ErrorKind::BadRequest, m.to_string());
            self.metrics.inc_error(e.kind.as_str());
            self.metrics
                .observe("client", e.status(), started.elapsed());
            tracing::warn!(error_type = e.kind.as_str(), error = %e.message, role = "client", "exchange refused");
            return err_response(&e, "", form);
        }
        let mut message_id = String::new();
        let result = self
            .client_exchange(req, &path, &mut message_id, client_cert.as_deref())
            .await;
        let elapsed = started.elapsed();
        match result {
            Ok((resp, rec)) => {
                self.metrics
                    .observe("client", resp.status().as_u16(), elapsed);
                tracing::info!(message_id = %rec.message_id, client = %rec.client, service = %rec.service, role = "client",
                    status = resp.status().as_u16(), ms = elapsed.as_millis() as u64, error = rec.error.as_deref().unwrap_or(""), "exchange");
                resp
            }
            Err(e) => {
                self.metrics.inc_error(e.kind.as_str());
                self.metrics.observe("client", e.status(), elapsed);
                tracing::warn!(message_id = %message_id, error_type = e.kind.as_str(), error = %e.message, role = "client", "exchange refused");
                err_response(&e, &message_id, form)
            }
        }
    }

    pub(super) async fn client_exchange<B: InBody>(
        &self,
        req: Request<B>,
        path: &str,
        message_id: &mut String,
        client_cert: Option<&str>,
    ) -> Result<(Response<OutBody>, ExchangeRecord), XRoadError> {
        let t0 = Instant::now();
        let _in_flight = self.signer.enter();
        let target = p::parse_target(path)?;
        let xh = p::parse_headers(req.headers(), p::new_message_id)?;
        *message_id = xh.message_id.clone();
        if let Some(s) = &xh.service_header {
            if s != &target.service {
                return Err(XRoadError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "X-Road-Service {s} disagrees with the service in the path, {}",
                        target.service
                    ),
                ));
            }
        }
        steps::authenticate_client(
            self.cfg.client_certificates.get(&xh.client_text),
            client_cert,
            &xh.client,
        )?;
        let loaded = self.current_conf(ErrorKind::OutdatedConf)?;
        let conf = &loaded.conf;
        if !conf.gateways_serving(&xh.client).any(|g| g.id == self.id) {
            return Err(XRoadError::new(ErrorKind::UnknownClient, format!("{} is not a client of gateway {}: register it with `korpu central gateway add-client`", xh.client, self.id)));
        }
        if conf.service(&target.service).is_none() {
            if let Some(resp) = self.metaservice(conf, &target, &xh) {
                let rec = self.local_record(&xh, &target.service);
                return Ok((resp?, rec));
            }
            return Err(XRoadError::new(
                ErrorKind::UnknownService,
                format!(
                    "service {} is not in the global configuration",
                    target.service
                ),
            ));
        }
        let service = conf.service(&target.service).expect("checked above");
        // Checked early here to spare the network; the provider's gateway decides.
        authorise(conf, &xh, service, ErrorKind::AccessDenied)?;
        let gateways =
            steps::provider_gateways(conf, &target.service, xh.security_server.as_ref())?;
        // Waited for before the body is read, by a client the configuration knows: a client
        // over its share waits alone (issue 13, item 7).
        let _permit = self.client_limits.enter(&xh.client_text).await;
        let (parts, req_body) = req.into_parts();
        let method = parts.method;
        let in_headers = parts.headers;
        let body = self
            .receive(
                req_body,
                "request",
                ErrorKind::TooLarge,
                ErrorKind::BadRequest,
                false,
            )
            .await?;
        self.metrics.add_bytes("request", body.len);

        // What goes to the provider is what is signed: every forwarded header is covered
        // (protocol's module doc), the X-Road ones as this gateway sets them.
        let mut out_headers = steps::outgoing_headers(&in_headers, &xh, &target.service_text);
        // The data subject as the provider's gateway will find it, signed so that its record
        // can show it was (the provider recomputes it from what it receives).
        let subject = service.data_subject.as_ref().and_then(|loc| {
            find_subject(loc, &out_headers, &target, conf.path_templates(&service.id))
        });
        let created_ms = now_ms();
        let (covered, base) = steps::request_signature_base(
            method.as_str(),
            &target,
            &xh,
            &out_headers,
            &body.sha256,
            subject.as_deref(),
            created_ms,
        );
        let request_hash = p::request_hash(&base);
        let digest_bytes: [u8; 32] = Sha256::digest(base.as_bytes()).into();
        let digest = hex::encode(digest_bytes);
        let signature = self
            .signer
            .sign(base.as_bytes().to_vec(), digest_bytes)
            .await;
        tracing::debug!(phase = "signed", us = t0.elapsed().as_micros() as u64);

        p::set_unique(&mut out_headers, p::H_SIG, &signature);
        p::set_unique(&mut out_headers, p::H_CREATED, &created_ms.to_string());
        // The list repeats from message to message: HPACK may keep it.
        p::set(&mut out_headers, p::H_COVERED, &covered);
        self.staple_headers(&mut out_headers);

        // Try the provider's gateways in order until one answers (X-Road's failover).
        let mut body = Some(body);
        let mut last_err = None;
        let mut answered = None;
        for gw in &gateways {
            let peer = match self.peer(&loaded, gw).await {
                Ok(p) => p,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let mut rb = Request::builder()
                .method(method.clone())
                .uri(format!("https://{}{}", gw.address, path));
            // Every way out of this attempt below ends the loop: the headers go with it.
            *rb.headers_mut().expect("builder") = std::mem::take(&mut out_headers);
            let Some(b) = body.take() else { break };
            let out = rb
                .body(b.into_body())
                .map_err(|e| XRoadError::new(ErrorKind::BadRequest, e.to_string()))?;
            let wait =
                Duration::from_secs(self.cfg.provider_timeout_secs + self.cfg.connect_timeout_secs);
            match tokio::time::timeout(wait, peer.send(out)).await {
                Ok(Ok(resp)) => {
                    answered = Some((resp, peer, (*gw).clone()));
                    break;
                }
                Ok(Err(e)) => {
                    self.peers.forget(&peer);
                    last_err = Some(XRoadError::new(
                        ErrorKind::CpNetwork,
                        format!("gateway {} at {} failed: {e}", gw.id, gw.address),
                    ));
                    break; // the body is consumed; no retry
                }
                Err(_) => {
                    last_err = Some(XRoadError::new(
                        ErrorKind::CpNetwork,
                        format!(
                            "gateway {} did not answer within {} s",
                            gw.id,
                            wait.as_secs()
                        ),
                    ));
                    break;
                }
            }
        }
        let Some((resp, peer, gw)) = answered else {
            return Err(last_err.unwrap_or_else(|| {
                XRoadError::new(ErrorKind::CpNetwork, "no provider gateway could be reached")
            }));
        };

        tracing::debug!(
            phase = "provider answered",
            us = t0.elapsed().as_micros() as u64
        );
        // The provider gateway's answer: check who sent it and that it is intact.
        let (parts, rbody) = resp.into_parts();
        self.check_staple(
            &loaded,
            &peer.cert,
            header(&parts.headers, p::H_TLS_OCSP),
            "provider gateway TLS",
        )
        .map_err(|e| XRoadError::new(ErrorKind::CpSsl, e.to_string()))?;
        let mut rbody = self
            .receive(
                rbody,
                "response",
                ErrorKind::CpInternal,
                ErrorKind::CpNetwork,
                false,
            )
            .await?;
        self.metrics.add_bytes("response", rbody.len);
        // The answer is in: what remains before its record is a few checks, so the ledger's
        // group commit can wait for it (answers arrive in bursts, each a moment after another).
        let announced = self.recorder.announce();
        let status = parts.status.as_u16();
        let error_type = header(&parts.headers, p::H_ERROR).map(str::to_owned);
        let Some(rsig) = header(&parts.headers, p::H_SIG) else {
            return Err(unsigned_answer(
                &gw.id,
                status,
                error_type.as_deref(),
                &mut rbody,
            ));
        };
        let provider_member = &gw.id.member;
        let signer = self
            .check_signer(
                &loaded,
                header(&parts.headers, p::H_SIGNER),
                header(&parts.headers, p::H_SIGNER_OCSP),
                provider_member,
            )
            .map_err(|e| {
                XRoadError::new(
                    ErrorKind::CpSignature,
                    format!("the response from {}: {e}", gw.id),
                )
            })?;
        // Every header passed on to the information system must be covered; the X-Road ones
        // this gateway sets itself (and X-Road-Error is a field of the base).
        let rcovered = header(&parts.headers, p::H_COVERED).unwrap_or("");
        let rbase = steps::response_signature_base(
            &parts.headers,
            rcovered,
            &digest,
            status,
            error_type.as_deref(),
            &rbody.sha256,
            &gw.id,
        )?;
        let rdigest: [u8; 32] = Sha256::digest(rbase.as_bytes()).into();
        let rsig = rsig.to_owned();
        self.verifier
            .verify(&signer, rbase.as_bytes(), &rdigest, &rsig)
            .await
            .map_err(|_| {
                XRoadError::new(
                    ErrorKind::CpSignature,
                    format!(
                        "the response from {} does not match its signature: it was altered in \
                         transit, or answers another request",
                        gw.id
                    ),
                )
            })?;
        // The response's signature base names this request's digest: the answer is bound to
        // this request, whose X-Road-Request-Hash the information system gets.

        tracing::debug!(
            phase = "response verified",
            us = t0.elapsed().as_micros() as u64
        );
        let rec = ExchangeRecord {
            request_digest: digest,
            response_digest: Some(hex::encode(rdigest)),
            response_status: Some(status),
            request_signature: signature,
            request_signer_cert_sha256: self.sign_cert.sha256_fingerprint_hex(),
            response_signature: Some(rsig),
            response_signer_cert_sha256: Some(signer.sha256_fingerprint_hex()),
            error: error_type.clone(),
            request_body_sha256: None,
            response_body_sha256: None,
            request_signed: Some(base),
            response_signed: Some(rbase),
            ..steps::new_record(
                &self.id_text,
                Role::Client,
                &xh,
                target.service_text.clone(),
            )
        };
        self.recorder
            .record_announced(announced, &rec)
            .await
            .map_err(|e| XRoadError::new(ErrorKind::CpDatabase, e.to_string()))?;
        tracing::debug!(phase = "recorded", us = t0.elapsed().as_micros() as u64);

        let mut out = Response::new(rbody.into_body());
        *out.status_mut() = parts.status;
        let mut h = p::passthrough_headers(&parts.headers);
        p::strip_xroad_response_headers(&mut h);
        if !rcovered.split(' ').any(|n| n == "date") {
            h.remove(hyper::header::DATE);
        }
        p::set(&mut h, p::H_ID, &xh.message_id);
        p::set(&mut h, p::H_CLIENT, &xh.client_text);
        p::set(&mut h, p::H_SERVICE, &target.service_text);
        if let Some(t) = &error_type {
            p::set(&mut h, p::H_ERROR, t);
        } else {
            p::set(&mut h, p::H_REQUEST_HASH, &request_hash);
        }
        *out.headers_mut() = h;
        Ok((out, rec))
    }

    /// Receives a request or response body under the configured limits; `too_large` and
    /// `broken` are the error types for this side of the exchange.
    pub(super) async fn receive<B: InBody>(
        &self,
        body: B,
        what: &str,
        too_large: ErrorKind,
        broken: ErrorKind,
        sha512: bool,
    ) -> Result<Spooled, XRoadError> {
        // A whole body within `body_timeout_secs`: a sender trickling bytes must not hold an
        // exchange's place (and a spool file) for as long as it likes.
        let limit = Duration::from_secs(self.cfg.body_timeout_secs);
        let (max, memory) = (self.cfg.max_body_bytes, self.cfg.memory_spool_bytes);
        let receive = async move {
            if what == "request" {
                Spooled::receive_request(body, max, memory, sha512).await
            } else {
                Spooled::receive(body, max, memory, sha512).await
            }
        };
        let received = tokio::time::timeout(limit, receive).await.map_err(|_| {
            XRoadError::new(
                broken,
                format!(
                    "the {what} body did not arrive within {} s (body_timeout_secs)",
                    limit.as_secs()
                ),
            )
        })?;
        received.map_err(|e| match e {
            SpoolError::TooLarge { limit } => XRoadError::new(
                too_large,
                format!("the {what} body is larger than {limit} bytes (max_body_bytes)"),
            ),
            SpoolError::Io(m) => {
                XRoadError::new(broken, format!("receiving the {what} failed: {m}"))
            }
        })
    }

    /// A connection to a provider gateway (HTTP/2 over mutual TLS), reused while it lives.
    /// Connecting (TCP, TLS, HTTP/2 handshakes, all within `connect_timeout_secs`) happens
    /// outside the pool's lock, one attempt per peer connection at a time ([`crate::peers`]).
    pub(super) async fn peer(
        &self,
        loaded: &Loaded,
        gw: &GatewayInfo,
    ) -> Result<Arc<Peer>, XRoadError> {
        // A few connections per peer, used in turn: one HTTP/2 connection is driven by one task
        // on each side, which would put every exchange's TLS and framing work on one core.
        let slot = self
            .peer_turn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.peer_connections;
        let key = peer_key(gw, slot);
        let own = OwnTls {
            chain: loaded.own_chain.clone(),
            key: self.tls_key.clone(),
        };
        let roots = loaded.roots.clone();
        let gw = gw.clone();
        let timeout = Duration::from_secs(self.cfg.connect_timeout_secs);
        self.peers
            .get(
                &key,
                |p| !p.is_closed(),
                move || async move {
                    let (id, address) = (gw.id.clone(), gw.address.clone());
                    tokio::time::timeout(timeout, connect_peer(own, roots, gw))
                        .await
                        .unwrap_or_else(|_| {
                            Err(XRoadError::new(
                                ErrorKind::CpNetwork,
                                format!(
                                    "connecting to gateway {id} at {address} took longer than {} s (connect_timeout_secs)",
                                    timeout.as_secs()
                                ),
                            ))
                        })
                },
            )
            .await
    }

    pub(super) fn local_record(&self, xh: &XRoadHeaders, service: &ServiceId) -> ExchangeRecord {
        ExchangeRecord {
            response_status: Some(200),
            ..steps::new_record(&self.id_text, Role::Client, xh, service.to_string())
        }
    }

    // ----- server side --------------------------------------------------------------------
}

/// Connects to a provider gateway: TCP, TLS 1.3 with its pinned certificate, HTTP/2. Owns what
/// it needs, since it runs in a task of its own (see [`crate::peers`]); the caller bounds it.
async fn connect_peer(
    own: OwnTls,
    roots: Vec<Certificate>,
    gw: GatewayInfo,
) -> Result<Arc<Peer>, XRoadError> {
    let fail = |m: String| XRoadError::new(ErrorKind::CpNetwork, m);
    let cfg = tls::client_config(&own, &roots, gw.tls_cert_sha256.clone())
        .map_err(|e| XRoadError::new(ErrorKind::CpInternal, e.to_string()))?;
    let host = gw
        .address
        .rsplit_once(':')
        .map_or(gw.address.as_str(), |(h, _)| h)
        .trim_matches(['[', ']']);
    let server_name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
        fail(format!(
            "gateway {} has an unusable address {}",
            gw.id, gw.address
        ))
    })?;
    let connect = tokio::net::TcpStream::connect(&gw.address);
    let tcp = connect.await.map_err(|e| {
        fail(format!(
            "cannot connect to gateway {} at {}: {e}",
            gw.id, gw.address
        ))
    })?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            XRoadError::new(
                ErrorKind::CpSsl,
                format!("TLS with gateway {} failed: {e}", gw.id),
            )
        })?;
    let cert_der = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| {
            XRoadError::new(
                ErrorKind::CpSsl,
                "the provider gateway presented no certificate",
            )
        })?;
    let cert = Certificate::from_der(cert_der.as_ref())
        .map_err(|e| XRoadError::new(ErrorKind::CpSsl, e.to_string()))?;
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .header_table_size(HPACK_TABLE_BYTES)
        .max_header_list_size(crate::limits::PEER_HEADER_LIST_BYTES as u32)
        .handshake(TokioIo::new(tls))
        .await
        .map_err(|e| fail(format!("HTTP/2 with gateway {} failed: {e}", gw.id)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "gateway connection closed");
        }
    });
    Ok(Arc::new(Peer {
        link: Link::H2(sender),
        cert,
    }))
}

/// A peer connection's place in the pool: the gateway as the configuration describes it (a
/// changed address or pin makes a new connection), and which of its connections.
fn peer_key(gw: &GatewayInfo, slot: usize) -> String {
    format!(
        "{}|{}|{}|{slot}",
        gw.id,
        gw.address,
        gw.tls_cert_sha256.join(",")
    )
}

impl Gateway {
    /// Sends the requests for `provider` to `provider_side`, the provider gateway's service in
    /// this same process, instead of over a connection: for tests of a whole exchange without
    /// sockets, and for embedding two gateways in one program. `provider_tls` is the TLS
    /// certificate the provider is taken to have presented (its pin and staple are checked as
    /// for any connection).
    pub fn reach_in_process(
        &self,
        provider: &GatewayInfo,
        provider_side: crate::service::GatewayService,
        provider_tls: Certificate,
    ) {
        let peer = Arc::new(Peer {
            link: Link::InProcess(provider_side),
            cert: provider_tls,
        });
        for slot in 0..self.peer_connections {
            self.peers.insert(&peer_key(provider, slot), peer.clone());
        }
    }
}
