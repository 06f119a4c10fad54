//! The slow requests (Argon2 password and recovery-code checks, mail) are taken in turns: one
//! queue per client, served round-robin by the worker threads, so a NAS that sends hundreds of
//! password checks delays another NAS's by one check per worker, not by hundreds. A client may
//! have at most its share of slow requests queued or being decided (past it they are shed, and
//! the NAS retransmits); a request that waited longer than a NAS waits for an answer is dropped
//! instead of decided ([`MAX_WAIT`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Slow requests of one client queued or being decided, per worker thread.
pub const PER_WORKER: usize = 8;

/// How long a slow request may wait for a worker: longer than a NAS waits before retransmitting
/// or giving up (a few seconds), so its answer would be thrown away.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

struct State<T> {
    queues: HashMap<String, VecDeque<(Instant, T)>>,
    /// Clients with queued work, the next to be served first.
    turns: VecDeque<String>,
    /// Requests queued or being decided, per client.
    held: HashMap<String, usize>,
}

/// Round-robin queues of slow work, one per client.
pub struct Fair<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    per_client: usize,
}

/// A job taken from the queue: its client's place is held until this is dropped (the job is
/// decided and answered).
pub struct Slot<'a, T> {
    fair: &'a Fair<T>,
    client: String,
}

impl<T> Drop for Slot<'_, T> {
    fn drop(&mut self) {
        let mut state = self.fair.lock();
        if let Some(n) = state.held.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.held.remove(&self.client);
            }
        }
    }
}

impl<T> Fair<T> {
    /// At most `per_client` requests of one client queued or being decided (at least 1).
    pub fn new(per_client: usize) -> Fair<T> {
        Fair {
            state: Mutex::new(State {
                queues: HashMap::new(),
                turns: VecDeque::new(),
                held: HashMap::new(),
            }),
            ready: Condvar::new(),
            per_client: per_client.max(1),
        }
    }

    pub fn per_client(&self) -> usize {
        self.per_client
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock left nothing half done that matters here (counts
        // only): go on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `job` for `client`, or hand it back when the client holds its share.
    pub fn push(&self, client: &str, job: T, now: Instant) -> Result<(), T> {
        let mut state = self.lock();
        let held = state.held.get(client).copied().unwrap_or(0);
        if held >= self.per_client {
            return Err(job);
        }
        state.held.insert(client.to_string(), held + 1);
        let queue = state.queues.entry(client.to_string()).or_default();
        queue.push_back((now, job));
        if queue.len() == 1 {
            state.turns.push_back(client.to_string());
        }
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, from the client whose turn it is (waiting for one), with when it was
    /// queued.
    pub fn next(&self) -> (T, Instant, Slot<'_, T>) {
        let mut state = self.lock();
        loop {
            if let Some(taken) = Self::take(&mut state) {
                let (client, queued, job) = taken;
                return (job, queued, Slot { fair: self, client });
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// [`Fair::next`] without waiting.
    #[cfg(test)]
    pub fn try_next(&self) -> Option<(T, Instant, Slot<'_, T>)> {
        let mut state = self.lock();
        let (client, queued, job) = Self::take(&mut state)?;
        Some((job, queued, Slot { fair: self, client }))
    }

    fn take(state: &mut State<T>) -> Option<(String, Instant, T)> {
        while let Some(client) = state.turns.pop_front() {
            let Some(queue) = state.queues.get_mut(&client) else {
                continue;
            };
            let Some((queued, job)) = queue.pop_front() else {
                state.queues.remove(&client);
                continue;
            };
            if queue.is_empty() {
                state.queues.remove(&client);
            } else {
                // Back of the line: every other client with work goes first.
                state.turns.push_back(client.clone());
            }
            return Some((client, queued, job));
        }
        None
    }
}

/// One client's share of the slow work: [`PER_WORKER`] requests per worker thread, and never
/// more than three quarters of its places in flight (`per_client`), so that its quick requests
/// (codes alone) keep places however many of its password checks wait.
pub fn share(workers: usize, per_client: usize) -> usize {
    (PER_WORKER * workers)
        .min(per_client - per_client / 4)
        .max(1)
}

/// Whether a job queued at `queued` waited too long to be worth deciding at `now`.
pub fn is_stale(queued: Instant, now: Instant) -> bool {
    now.saturating_duration_since(queued) > MAX_WAIT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(fair: &Fair<(&'static str, u32)>) -> Vec<(&'static str, u32)> {
        let mut out = Vec::new();
        while let Some((job, _, _slot)) = fair.try_next() {
            out.push(job);
        }
        out
    }

    #[test]
    fn clients_are_served_in_turns_whatever_one_of_them_queued() {
        let fair = Fair::new(100);
        let t0 = Instant::now();
        for i in 0..5 {
            fair.push("busy", ("busy", i), t0).unwrap();
        }
        fair.push("quiet", ("quiet", 0), t0).unwrap();
        fair.push("other", ("other", 0), t0).unwrap();
        let served = order(&fair);
        assert_eq!(
            &served[..3],
            &[("busy", 0), ("quiet", 0), ("other", 0)],
            "{served:?}"
        );
        assert_eq!(served.len(), 7);
        // Within a client, first come first served.
        let busy: Vec<u32> = served
            .iter()
            .filter(|(c, _)| *c == "busy")
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(busy, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_client_past_its_share_is_refused_until_one_of_its_requests_is_done() {
        let fair = Fair::new(2);
        let t0 = Instant::now();
        fair.push("busy", 1, t0).unwrap();
        fair.push("busy", 2, t0).unwrap();
        assert_eq!(fair.push("busy", 3, t0), Err(3));
        assert!(fair.push("quiet", 4, t0).is_ok(), "another client's share");
        // Taken is still held while it is being decided.
        let (job, _, slot) = fair.try_next().unwrap();
        assert_eq!(job, 1);
        assert_eq!(fair.push("busy", 5, t0), Err(5));
        drop(slot);
        assert!(fair.push("busy", 6, t0).is_ok(), "its place came back");
    }

    #[test]
    fn a_clients_slow_share_leaves_places_for_its_codes() {
        assert_eq!(share(2, 512), 16, "the default share: eight per worker");
        assert_eq!(share(2, 4), 3, "a quarter of its places kept");
        assert_eq!(share(4, 1), 1);
    }

    #[test]
    fn a_request_that_waited_past_what_a_nas_waits_is_stale() {
        let t0 = Instant::now();
        assert!(!is_stale(t0, t0));
        assert!(!is_stale(t0, t0 + MAX_WAIT));
        assert!(is_stale(t0, t0 + MAX_WAIT + Duration::from_millis(1)));
        // A clock read before the queueing (another thread) is not stale.
        assert!(!is_stale(t0 + Duration::from_secs(1), t0));
    }
}
