//! One datagram from the socket: framing, the client, Message-Authenticator, the duplicate
//! cache, Status-Server, admission, and the hand-off to the batch decider or the workers.

use super::*;

impl Server {
    pub(super) fn datagram(self: &Arc<Self>, sock: &Arc<UdpSocket>, data: &[u8], src: SocketAddr) {
        if data.len() > codec::MAX_PACKET {
            return self.drop_packet(src, None, "oversize_datagram");
        }
        let Some(generation) = self.current() else {
            return;
        };
        let Some(client) = generation.clients.find(src.ip()).cloned() else {
            return self.drop_packet(src, None, "unknown_client");
        };
        let secret = client.secret.expose();
        let req = match codec::parse(data, secret) {
            Ok(r) => r,
            Err(e) => return self.drop_packet(src, Some(&client), &format!("malformed: {e}")),
        };
        match req.code() {
            Code::AccessRequest => {}
            Code::StatusServer => return self.status_server(sock, &client, &req, src),
            other => {
                return self.drop_packet(
                    src,
                    Some(&client),
                    &format!("unsupported_code_{}", other as u8),
                );
            }
        }
        if req.has_message_authenticator() {
            if !req.verify_message_authenticator(secret) {
                return self.drop_packet(
                    src,
                    Some(&client),
                    "bad_message_authenticator (wrong shared secret?)",
                );
            }
        } else if client.require_message_authenticator {
            return self.drop_packet(src, Some(&client), "missing_message_authenticator");
        } else if req.has(codec::EAP_MESSAGE) {
            // RFC 3579 §3.2: EAP without Message-Authenticator is discarded.
            return self.drop_packet(src, Some(&client), "eap_without_message_authenticator");
        }

        // Decided only if its answer can be sent (and kept): a reply that cannot echo the
        // Proxy-State would be lost after the code was spent, and the NAS's retransmission be
        // a replay.
        if !req.echo_fits() {
            return self.drop_too_much_proxy_state(src, &client, &req);
        }

        let key = Key {
            source: src,
            identifier: req.identifier(),
            authenticator: req.authenticator(),
        };
        let digest = cache::digest(req.raw());
        let lookup = match self.cache.lock() {
            Ok(mut c) => c.begin(key, digest, Instant::now()),
            Err(_) => return,
        };
        match lookup {
            Lookup::New => {}
            Lookup::InProgress => return,
            // Same source, Identifier and Request Authenticator as a request in the cache, other
            // bytes: not a retransmission, and never given that request's answer.
            Lookup::Conflict => {
                return self.drop_packet(
                    src,
                    Some(&client),
                    "another_request_under_a_cached_identifier_and_authenticator",
                );
            }
            Lookup::Done(response) => {
                self.log.info(&format!(
                    "retransmission answered from cache src={src} client={} id={}",
                    printable(&client.name),
                    key.identifier
                ));
                let _ = sock.try_send_to(&response, src);
                return;
            }
        }
        let permit = match self.admission.admit(&client.name) {
            Ok(p) => p,
            Err(shed) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.abandon(&key);
                }
                let why = match shed {
                    Shed::Full => format!(
                        "overloaded ({} requests in flight)",
                        self.admission.max_total()
                    ),
                    Shed::ClientFull => format!(
                        "client_overloaded ({} requests of this client in flight, its share)",
                        self.admission.per_client()
                    ),
                };
                return self.drop_packet(src, Some(&client), &why);
            }
        };

        let credential = match req.user_password() {
            Some(Ok(pw)) => Credential::Pap(pw),
            Some(Err(_)) => Credential::Undecodable,
            None if req.has(codec::CHAP_PASSWORD) => Credential::Chap,
            None if req.vendors().contains(&codec::VENDOR_MICROSOFT) => Credential::MsChap,
            None if req.has(codec::EAP_MESSAGE) => Credential::Eap,
            None => Credential::Missing,
        };
        let nas = Nas {
            ip: req.nas_ip(),
            identifier: req.text(codec::NAS_IDENTIFIER),
            calling_station: req.text(codec::CALLING_STATION_ID),
        };
        // Whether the core can key it to a place (an empty or blank one it cannot).
        if nas
            .calling_station
            .as_deref()
            .and_then(tessera_common::origin_key)
            .is_none()
        {
            self.tell_no_calling_station(&client);
        }
        let access = AccessRequest {
            client: client.clone(),
            source: src.ip(),
            user: req.user_name(),
            credential,
            state: req.bytes(codec::STATE),
            nas: nas.clone(),
        };
        let pending = Pending {
            sock: sock.clone(),
            req,
            key,
            src,
            client,
            nas,
            permit,
        };
        let handler = generation.handler.clone();
        if handler.is_quick(&access)
            && let Some(decider) = self.decider.get()
        {
            // Decided with other quick requests in one store transaction (see `decide_quick`).
            let job = Job {
                handler,
                access,
                pending,
            };
            if let Err(SendError(job)) = decider.send(job) {
                self.respond(
                    job.pending,
                    Decision::denied(job.access.user.unwrap_or_default(), "internal_error".into()),
                );
            }
            return;
        }
        // Slow work, in turns with the other clients' and within this client's share of it.
        let name = pending.client.name.clone();
        let job = Job {
            handler,
            access,
            pending,
        };
        if let Err(job) = self.slow.push(&name, job, Instant::now()) {
            let why = format!(
                "client_overloaded ({} slow requests of this client (password checks, recovery \
                 codes, mail) queued or being decided, its share)",
                self.slow.per_client()
            );
            self.abandon(job.pending, &why);
        }
    }

    pub(super) fn drop_too_much_proxy_state(
        &self,
        src: SocketAddr,
        client: &Client,
        req: &codec::Request,
    ) {
        self.drop_packet(
            src,
            Some(client),
            &format!(
                "too_much_proxy_state ({} bytes of Proxy-State to echo, at most {})",
                req.echoed_len(),
                codec::MAX_ECHO
            ),
        );
    }
}
