//! Duplicate detection (RFC 5080 §2.2.2): a retransmission — same source address and port,
//! Identifier and Request Authenticator — within the window gets the response already sent,
//! and one that arrives while the first copy is still being decided is dropped. Authentication
//! runs once per request, so a retransmit can never burn a one-time code, turn an Accept into a
//! Reject, count twice toward lockout or send a second email.
//!
//! Only requests whose Message-Authenticator verified (or that legitimately lack one) reach the
//! cache. Entries in progress never expire; finished ones expire after the window, and the
//! oldest finished ones go first when the cache is full.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub source: SocketAddr,
    pub identifier: u8,
    pub authenticator: [u8; 16],
}

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// First sight: decide it, then call [`DedupCache::finish`] or [`DedupCache::abandon`].
    New,
    /// Being decided: drop this copy; the answer goes out when ready.
    InProgress,
    /// Already answered: send this again.
    Done(Arc<[u8]>),
}

enum State {
    InProgress,
    Done(Arc<[u8]>),
}

struct Entry {
    state: State,
    seq: u64,
}

pub struct DedupCache {
    window: Duration,
    max: usize,
    map: HashMap<Key, Entry>,
    /// Finished entries in the order they finished.
    order: VecDeque<(Instant, Key, u64)>,
    seq: u64,
}

impl DedupCache {
    pub fn new(window: Duration, max: usize) -> DedupCache {
        DedupCache {
            window,
            max: max.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    pub fn begin(&mut self, key: Key, now: Instant) -> Lookup {
        self.expire(now);
        match self.map.get(&key) {
            Some(Entry {
                state: State::InProgress,
                ..
            }) => Lookup::InProgress,
            Some(Entry {
                state: State::Done(r),
                ..
            }) => Lookup::Done(r.clone()),
            None => {
                while self.map.len() >= self.max && self.evict_oldest() {}
                self.seq += 1;
                self.map.insert(
                    key,
                    Entry {
                        state: State::InProgress,
                        seq: self.seq,
                    },
                );
                Lookup::New
            }
        }
    }

    /// Record the response sent for `key`.
    pub fn finish(&mut self, key: Key, response: Arc<[u8]>, now: Instant) {
        self.seq += 1;
        self.map.insert(
            key,
            Entry {
                state: State::Done(response),
                seq: self.seq,
            },
        );
        self.order.push_back((now, key, self.seq));
    }

    /// Forget a request that was not answered (load shed), so a retransmit is decided afresh.
    pub fn abandon(&mut self, key: &Key) {
        if let Some(Entry {
            state: State::InProgress,
            ..
        }) = self.map.get(key)
        {
            self.map.remove(key);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((at, _, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.window {
                break;
            }
            self.evict_oldest();
        }
    }

    /// Drop the oldest finished entry. `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((_, key, seq)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|e| e.seq == seq) {
                self.map.remove(&key);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16, id: u8) -> Key {
        Key {
            source: SocketAddr::from(([127, 0, 0, 1], port)),
            identifier: id,
            authenticator: [id; 16],
        }
    }

    fn resp(b: &[u8]) -> Arc<[u8]> {
        Arc::from(b)
    }

    #[test]
    fn retransmission_gets_the_same_response() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        assert_eq!(c.begin(key(1000, 1), t0), Lookup::New);
        assert_eq!(c.begin(key(1000, 1), t0), Lookup::InProgress);
        c.finish(key(1000, 1), resp(b"accept"), t0);
        assert_eq!(
            c.begin(key(1000, 1), t0 + Duration::from_secs(29)),
            Lookup::Done(resp(b"accept"))
        );
    }

    #[test]
    fn other_port_identifier_or_authenticator_is_a_new_request() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        assert_eq!(c.begin(key(1000, 1), t0), Lookup::New);
        c.finish(key(1000, 1), resp(b"a"), t0);
        assert_eq!(c.begin(key(1001, 1), t0), Lookup::New);
        assert_eq!(c.begin(key(1000, 2), t0), Lookup::New);
        let mut k = key(1000, 1);
        k.authenticator[0] ^= 1;
        assert_eq!(c.begin(k, t0), Lookup::New);
    }

    #[test]
    fn finished_entries_expire_after_the_window() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        c.begin(key(1000, 1), t0);
        c.finish(key(1000, 1), resp(b"a"), t0);
        assert_eq!(
            c.begin(key(1000, 1), t0 + Duration::from_secs(30)),
            Lookup::New
        );
    }

    #[test]
    fn in_progress_entries_never_expire() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(1), 100);
        c.begin(key(1000, 1), t0);
        c.begin(key(1000, 2), t0);
        c.finish(key(1000, 2), resp(b"a"), t0);
        assert_eq!(
            c.begin(key(1000, 1), t0 + Duration::from_secs(3600)),
            Lookup::InProgress
        );
        assert_eq!(c.len(), 1, "the finished one expired, the other stays");
    }

    #[test]
    fn abandoned_request_is_decided_afresh() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        c.begin(key(1000, 1), t0);
        c.abandon(&key(1000, 1));
        assert_eq!(c.begin(key(1000, 1), t0), Lookup::New);
    }

    #[test]
    fn full_cache_evicts_the_oldest_finished_entry() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 2);
        c.begin(key(1, 1), t0);
        c.finish(key(1, 1), resp(b"1"), t0);
        c.begin(key(2, 2), t0);
        c.finish(key(2, 2), resp(b"2"), t0);
        assert_eq!(c.begin(key(3, 3), t0), Lookup::New);
        assert_eq!(c.len(), 2);
        assert_eq!(c.begin(key(2, 2), t0), Lookup::Done(resp(b"2")));
    }
}
