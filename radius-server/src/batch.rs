//! Quick requests decided in batches. A code alone (an `otp-only` client, the answer to a
//! challenge) that is not a recovery code or a request for mail needs no Argon2 and no SMTP: its
//! cost is the store. One thread decides such requests, taking every one waiting (up to
//! [`MAX_BATCH`]) into one store transaction ([`Handler::decide_batch`]): under load one commit
//! covers many logins and one connection's page cache stays warm; when idle a batch is one
//! request, decided at once. A second thread encodes, sends and logs the replies of each decided
//! batch, so deciding and answering run side by side.
//!
//! Everything else (password checks, recovery codes, mail) goes to the blocking pool as before.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SendError, Sender, channel};

use crate::handler::{AccessRequest, Decision, Handler};
use crate::server::{Pending, Server};

/// Most quick requests decided in one store transaction (the write lock is held that long:
/// about 20 µs each).
pub const MAX_BATCH: usize = 64;

pub struct Job {
    pub handler: Arc<Handler>,
    pub access: AccessRequest,
    pub pending: Pending,
}

/// Start the decider and reply threads; returns where to send jobs.
pub fn start(server: Arc<Server>) -> std::io::Result<Sender<Job>> {
    let (jobs, waiting) = channel::<Job>();
    let (answered, replies) = channel::<Vec<(Pending, Decision)>>();
    let s = server.clone();
    std::thread::Builder::new()
        .name("radius-replies".into())
        .spawn(move || reply(&s, replies))?;
    std::thread::Builder::new()
        .name("radius-decider".into())
        .spawn(move || decide(&server, waiting, answered))?;
    Ok(jobs)
}

fn decide(server: &Server, jobs: Receiver<Job>, answered: Sender<Vec<(Pending, Decision)>>) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match jobs.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        while waiting.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        // One batch per store: after a reload, jobs of the old and new generation differ.
        let Some(handler) = waiting.front().map(|j| j.handler.clone()) else {
            continue;
        };
        let n = waiting
            .iter()
            .take_while(|j| Arc::ptr_eq(&j.handler, &handler))
            .count();
        let (accesses, pendings): (Vec<_>, Vec<_>) =
            waiting.drain(..n).map(|j| (j.access, j.pending)).unzip();
        let decisions = handler.decide_batch(accesses);
        let batch: Vec<(Pending, Decision)> = pendings.into_iter().zip(decisions).collect();
        if let Err(SendError(batch)) = answered.send(batch) {
            // The reply thread is gone: answer here.
            for (pending, decision) in batch {
                server.respond(pending, decision);
            }
        }
    }
}

fn reply(server: &Server, replies: Receiver<Vec<(Pending, Decision)>>) {
    while let Ok(batch) = replies.recv() {
        let mut lines = String::new();
        for (pending, decision) in batch {
            server.respond_logged(pending, decision, &mut lines);
        }
        server.log().lines(&lines);
    }
}
