//! The UDP loop. Cheap work happens on the loop (framing, client lookup, Message-Authenticator,
//! duplicate detection, Status-Server); deciding a request goes to the batch decider when it is a
//! quick one (a code alone, see [`crate::batch`]) and to the worker threads otherwise (Argon2,
//! mail), which take the clients in turns ([`crate::slow`]). At most `workers` mails are being
//! sent at once ([`crate::mail`]) and there are [`NO_MAIL_THREADS`] more workers, so a hung SMTP
//! server never takes the thread a password or a code needs. Both paths are bounded by
//! [`crate::admission`]: past `max_in_flight` requests, or past its client's share, requests are
//! shed with a log line rather than queued without limit; a client's slow requests have a
//! smaller share of their own. A slow request (Argon2, SMTP) never delays a quick one or a
//! health check.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{SendError, Sender};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use radius::core::code::Code;
use tessera_common::Authenticator;
use tessera_common::{Config, RadiusConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::admission::{Admission, Place, Shed};
use crate::batch::Job;
use crate::cache::{self, DedupCache, Key, Lookup};
use crate::challenge::Challenges;
use crate::clients::{Client, Clients};
use crate::codec::{self, ReplyAttr};
use crate::handler::{AccessRequest, Credential, Decision, Handler, Nas, Reply};
use crate::log::{Admit, LINES_PER_SECOND, Log, PREFIX, Printable, RateLimit, printable};
use crate::slow::{self, Fair};

mod receive;

/// Worker threads beyond `workers`: at most `workers` mails are being sent at once, so however
/// long SMTP servers hang, a password or a code still finds a thread.
pub const NO_MAIL_THREADS: usize = 1;

/// Most finished responses kept for duplicate detection.
const DEDUP_MAX: usize = 200_000;
/// Socket receive buffer asked for, so a burst of requests is not dropped by the kernel.
const RECV_BUFFER: usize = 8 << 20;

/// What a reload replaces: configuration, clients and the core built from them.
pub struct Generation {
    pub config: Arc<Config>,
    pub clients: Clients,
    pub handler: Arc<Handler>,
}

pub struct Server {
    path: PathBuf,
    generation: RwLock<Arc<Generation>>,
    cache: Mutex<DedupCache>,
    admission: Admission,
    /// Slow requests (Argon2, mail), one queue per client, for the worker threads.
    slow: Fair<Job>,
    workers: usize,
    /// Places for mails being sent (`workers` of them), kept across reloads.
    mail_places: Arc<crate::mail::Places>,
    challenges: Arc<Challenges>,
    log: Arc<Log>,
    /// Where quick requests go (see [`Server::start_decider`]); unset, everything goes to the
    /// blocking pool.
    decider: OnceLock<Sender<Job>>,
    drop_lines: RateLimit,
    /// Clients told about once for sending no Calling-Station-Id.
    without_calling_station: Mutex<std::collections::HashSet<String>>,
}

/// What answering a request needs once it is decided.
pub struct Pending {
    sock: Arc<UdpSocket>,
    req: codec::Request,
    key: Key,
    src: SocketAddr,
    client: Arc<Client>,
    nas: Nas,
    permit: Place,
}

impl Server {
    /// Open the store and build the first generation. Blocking (SQLite, key file).
    pub fn new(path: PathBuf, config: Config, log: Arc<Log>) -> anyhow::Result<Server> {
        let r = &config.radius;
        let challenges = Arc::new(Challenges::new(
            r.state_lifetime,
            r.max_challenges,
            r.max_challenges_per_user,
            r.max_challenges_per_client,
        ));
        let admission = Admission::new(r.max_in_flight, r.max_in_flight_per_client);
        let workers = workers(r);
        let slow = Fair::new(slow::share(workers, admission.per_client()));
        let mail_places = Arc::new(crate::mail::Places::new(workers));
        let cache = DedupCache::new(r.dedup_window, DEDUP_MAX);
        let generation = build(config, &challenges, &mail_places, &log)?;
        Ok(Server {
            path,
            generation: RwLock::new(Arc::new(generation)),
            cache: Mutex::new(cache),
            admission,
            slow,
            workers,
            mail_places,
            challenges,
            log,
            decider: OnceLock::new(),
            drop_lines: RateLimit::new(Instant::now()),
            without_calling_station: Mutex::new(std::collections::HashSet::new()),
        })
    }

    pub fn current(&self) -> Option<Arc<Generation>> {
        self.generation.read().ok().map(|g| g.clone())
    }

    /// Re-read the configuration (SIGHUP). A bad file keeps the running configuration.
    pub fn reload(&self) {
        let old = self.current();
        let config = match Config::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                self.log.error(&format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
                return;
            }
        };
        if let Some(old) = &old {
            let (o, n) = (&old.config.radius, &config.radius);
            if o.listen != n.listen
                || o.workers != n.workers
                || o.max_in_flight != n.max_in_flight
                || o.max_in_flight_per_client != n.max_in_flight_per_client
                || o.max_challenges_per_user != n.max_challenges_per_user
                || o.dedup_window != n.dedup_window
                || o.state_lifetime != n.state_lifetime
                || o.max_challenges != n.max_challenges
                || o.max_challenges_per_client != n.max_challenges_per_client
            {
                self.log.warn(
                    "listen, workers, max_in_flight, max_in_flight_per_client, dedup_window, \
                     state_lifetime, max_challenges, max_challenges_per_user and \
                     max_challenges_per_client take effect at the next restart",
                );
            }
        }
        match build(config, &self.challenges, &self.mail_places, &self.log) {
            Ok(g) => {
                let n = g.clients.len();
                if let Ok(mut w) = self.generation.write() {
                    *w = Arc::new(g);
                }
                self.log
                    .info(&format!("configuration reloaded ({n} clients)"));
            }
            Err(e) => self.log.error(&format!(
                "reload failed, keeping the running configuration: {e:#}"
            )),
        }
    }

    /// Store housekeeping (WAL checkpoint); run on the blocking pool about once a second.
    pub fn maintain(&self) {
        if let Some(g) = self.current()
            && let Err(e) = g.handler.auth().maintain()
        {
            self.log.warn(&format!("store maintenance failed: {e}"));
        }
    }

    /// Forget throttle counters that ran out (once a minute, on the maintenance thread).
    pub fn prune(&self) {
        if let Some(g) = self.current()
            && let Err(e) = g.handler.auth().prune(10_000)
        {
            self.log.warn(&format!("pruning throttle rows failed: {e}"));
        }
    }

    /// Wait until every request in flight has been answered, or `deadline` passes.
    pub async fn drain(&self, deadline: Duration) -> bool {
        self.admission.drain(deadline).await
    }

    /// Periodic: forget expired challenges; tell dropped-packet lines a flood left untold.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.challenges.sweep(now);
        self.tell_suppressed(self.drop_lines.take_suppressed(now));
    }

    /// Receive until shutdown.
    pub async fn serve(self: Arc<Self>, sock: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
        // One byte more than the largest packet, to tell an oversize datagram from a full one.
        let mut buf = vec![0u8; codec::MAX_PACKET + 1];
        loop {
            tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, src)) => self.datagram(&sock, &buf[..n], src),
                    Err(e) => self.log.warn(&format!("receive failed: {e}")),
                },
                _ = stop.changed() => break,
            }
        }
    }

    /// Log a dropped packet, at most [`LINES_PER_SECOND`] such lines a second (anyone can send
    /// junk); the rest are counted and told in one line.
    fn drop_packet(&self, src: SocketAddr, client: Option<&Client>, why: &str) {
        let Admit::Yes { suppressed } = self.drop_lines.admit(Instant::now()) else {
            return;
        };
        self.tell_suppressed(suppressed);
        let name = client.map(|c| c.name.as_str()).unwrap_or("-");
        self.log.warn(&format!(
            "dropped packet src={src} client={} reason={why}",
            printable(name)
        ));
    }

    /// Once per client: without a Calling-Station-Id (or with an empty one) every request of
    /// the client comes from the same place, so wrong passwords throttle the name for everyone
    /// behind that NAS (and behind every other client that sends none).
    fn tell_no_calling_station(&self, client: &Client) {
        let first = self
            .without_calling_station
            .lock()
            .is_ok_and(|mut s| s.insert(client.name.clone()));
        if first {
            self.log.warn(&format!(
                "client {} sends no Calling-Station-Id: wrong passwords are throttled per user \
                 for everyone behind it (and behind any client that sends none), not per \
                 address (configure the NAS to send it; see docs/radius.md)",
                printable(&client.name)
            ));
        }
    }

    fn tell_suppressed(&self, suppressed: u64) {
        if suppressed > 0 {
            self.log.warn(&format!(
                "{suppressed} more dropped-packet lines not written (at most {LINES_PER_SECOND} a second)"
            ));
        }
    }

    /// Drop a request admitted but never decided: forget it in the cache (a retransmission is
    /// decided afresh), free its place, log why.
    fn abandon(&self, pending: Pending, why: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.abandon(&pending.key);
        }
        self.drop_packet(pending.src, Some(&pending.client), why);
        drop(pending);
    }

    /// Start the worker threads that decide slow requests, in turns across clients.
    pub fn start_workers(self: &Arc<Self>) -> std::io::Result<()> {
        for i in 0..self.workers + NO_MAIL_THREADS {
            let server = self.clone();
            std::thread::Builder::new()
                .name(format!("radius-worker-{i}"))
                .spawn(move || server.work())?;
        }
        Ok(())
    }

    /// A worker: decide the next slow request in turn and answer it, for ever. One that waited
    /// past what a NAS waits is dropped instead (the NAS has retransmitted or given up).
    fn work(&self) {
        loop {
            let (job, queued, slot) = self.slow.next();
            let Job {
                handler,
                access,
                pending,
            } = job;
            if slow::is_stale(queued, Instant::now()) {
                let why = format!(
                    "waited_too_long (over {} s queued for a worker)",
                    slow::MAX_WAIT.as_secs()
                );
                self.abandon(pending, &why);
                continue;
            }
            let user = access.user.clone();
            let decided =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.decide(access)));
            let decision = decided.unwrap_or_else(|_| {
                // The panic hook has written what happened.
                Decision::denied(user.unwrap_or_default(), "internal_error".into())
            });
            // Decided: its share is free before the NAS sees the answer (and sends the next).
            drop(slot);
            // A panic while answering must not cost the server this thread (the workers are
            // never restarted): the panic hook has written what happened, and the NAS
            // retransmits.
            let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.respond(pending, decision)
            }));
            drop(answered);
        }
    }

    /// Send the reply for a decided request, remember it for retransmissions, log the decision
    /// and release its place among the requests in flight.
    pub fn respond(&self, pending: Pending, decision: Decision) {
        let mut line = String::new();
        self.respond_logged(pending, decision, &mut line);
        self.log.lines(&line);
    }

    /// [`Server::respond`], with the decision's log line appended to `lines`.
    pub fn respond_logged(&self, pending: Pending, decision: Decision, lines: &mut String) {
        let Pending {
            sock,
            req,
            key,
            src,
            client,
            nas,
            permit,
        } = pending;
        let (code, attrs) = reply_packet(&decision.reply);
        match codec::encode_response(&req, code, &attrs, client.secret.expose()) {
            Ok(bytes) => {
                let bytes: Arc<[u8]> = Arc::from(bytes);
                if let Ok(mut c) = self.cache.lock() {
                    c.finish(key, bytes.clone(), Instant::now());
                }
                // Answered (a retransmission gets the cached copy): the place is free before
                // the NAS sees the answer and sends its next request.
                drop(permit);
                // A full send buffer loses this copy only: the NAS retransmits and gets the
                // cached response.
                if let Err(e) = sock.try_send_to(&bytes, src) {
                    self.log.warn(&format!("cannot send to {src}: {e}"));
                }
            }
            Err(e) => {
                if let Ok(mut c) = self.cache.lock() {
                    c.abandon(&key);
                }
                self.log
                    .error(&format!("cannot encode a response to {src}: {e}"));
            }
        }
        decision_line(lines, &client, src, &nas, &decision);
    }

    /// Start deciding quick requests in batches (see [`crate::batch`]).
    pub fn start_decider(self: &Arc<Self>) -> std::io::Result<()> {
        let sender = crate::batch::start(self.clone())?;
        let _ = self.decider.set(sender);
        Ok(())
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    /// RFC 5997: Status-Server must carry a valid Message-Authenticator; answered on the loop
    /// with an Access-Accept, so health checks stay fast under load.
    fn status_server(
        &self,
        sock: &UdpSocket,
        client: &Client,
        req: &codec::Request,
        src: SocketAddr,
    ) {
        if !req.verify_message_authenticator(client.secret.expose()) {
            return self.drop_packet(
                src,
                Some(client),
                "status_server_without_valid_message_authenticator",
            );
        }
        if !req.echo_fits() {
            return self.drop_too_much_proxy_state(src, client, req);
        }
        let attrs = [ReplyAttr::Text(
            codec::REPLY_MESSAGE,
            "Tessera RADIUS server is up".into(),
        )];
        match codec::encode_response(req, Code::AccessAccept, &attrs, client.secret.expose()) {
            Ok(bytes) => {
                let _ = sock.try_send_to(&bytes, src);
            }
            // Anyone with the secret can send these: logged like any dropped packet.
            Err(e) => self.drop_packet(src, Some(client), &format!("cannot_encode_response: {e}")),
        }
    }
}

fn build(
    config: Config,
    challenges: &Arc<Challenges>,
    mail_places: &Arc<crate::mail::Places>,
    log: &Arc<Log>,
) -> anyhow::Result<Generation> {
    for w in &config.radius.warnings {
        log.warn(w);
    }
    if config.radius.clients.is_empty() {
        log.warn("no [[radius.clients]] configured: every request will be dropped");
    }
    let config = Arc::new(config);
    let sink: Arc<Log> = log.clone();
    let mut auth = Authenticator::from_config(config.clone(), sink)?;
    // A mail place is taken around the SMTP send only, and none waits for one.
    if let Some(mailer) = auth.mailer() {
        auth = auth.with_mailer(Arc::new(crate::mail::Bounded::new(
            mailer,
            mail_places.clone(),
        )));
    }
    if let Some(texter) = auth.texter() {
        auth = auth.with_texter(Arc::new(crate::mail::BoundedTexter::new(
            texter,
            mail_places.clone(),
        )));
    }
    // WAL checkpoints (and their fsync) run on the maintenance tick, not inside a request.
    auth.defer_maintenance();
    let clients = Clients::from_config(&config.radius);
    let handler = Arc::new(Handler::new(Arc::new(auth), challenges.clone()));
    Ok(Generation {
        config,
        clients,
        handler,
    })
}

/// Append the decision's log line to `lines`.
/// The packet code and attributes that answer `reply`.
pub(crate) fn reply_packet(reply: &Reply) -> (Code, Vec<ReplyAttr>) {
    match reply {
        Reply::Accept(attrs) => (Code::AccessAccept, attrs.clone()),
        Reply::Reject { message } => (
            Code::AccessReject,
            vec![ReplyAttr::Text(codec::REPLY_MESSAGE, message.clone())],
        ),
        Reply::Challenge { state, message } => (
            Code::AccessChallenge,
            vec![
                ReplyAttr::Text(codec::REPLY_MESSAGE, message.clone()),
                ReplyAttr::Bytes(codec::STATE, state.to_vec()),
            ],
        ),
    }
}

fn decision_line(lines: &mut String, client: &Client, src: SocketAddr, nas: &Nas, d: &Decision) {
    use std::fmt::Write;
    fn field(v: &Option<String>) -> Printable<'_> {
        Printable::new(v.as_deref().unwrap_or("-"))
    }
    let _ = writeln!(
        lines,
        "{PREFIX}decision client={} src={src} nas_ip={} nas_id={} calling_station={} user={} result={} reason={}",
        Printable::new(&client.name),
        field(&nas.ip),
        field(&nas.identifier),
        field(&nas.calling_station),
        Printable::new(&d.user),
        d.result(),
        // Ours, but may quote a user name or a path (errors): escaped, cut later.
        Printable::upto(&d.reason, 300),
    );
}

/// A UDP socket with a large receive buffer; IPv6 sockets are IPv6-only so that `0.0.0.0` and
/// `[::]` can both be listed.
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // The kernel caps this at net.core.rmem_max; a smaller buffer still works.
    let _ = s.set_recv_buffer_size(RECV_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// Mails sent at once and the worker threads' count less [`NO_MAIL_THREADS`]: `workers`, or one
/// per CPU.
pub fn workers(r: &RadiusConfig) -> usize {
    if r.workers > 0 {
        return r.workers;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}
