//! Duplicate detection (RFC 5080 §2.2.2): a retransmission — same source address and port,
//! Identifier and Request Authenticator — within the window gets the response already sent,
//! and one that arrives while the first copy is still being decided is dropped. Authentication
//! runs once per request, so a retransmit can never burn a one-time code, turn an Accept into a
//! Reject, count twice toward lockout or send a second email.
//!
//! A retransmission is the same bytes: each entry keeps a keyed digest of the whole request,
//! and another packet under a cached key (another user, another password, the same Identifier
//! and Request Authenticator) is never answered from the cache: it is a [`Lookup::Conflict`],
//! dropped by the caller, while the retransmissions of the first still get their answer.
//!
//! Only requests whose Message-Authenticator verified (or that legitimately lack one) reach the
//! cache. Entries in progress never expire; finished ones expire after the window, and the
//! oldest finished ones go first when the cache is full: past its count of entries, or past
//! [`MAX_BYTES`] of responses kept (each counted with [`ENTRY_OVERHEAD`]), so that requests
//! echoing long Proxy-States cannot make it hold hundreds of megabytes.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Most bytes the cache keeps (responses and the bookkeeping of each entry).
pub const MAX_BYTES: usize = 64 << 20;
/// What an entry costs beside its response: key, digest, map and queue slots (a round figure).
pub const ENTRY_OVERHEAD: usize = 160;

/// A 128-bit keyed digest of a request's bytes (as far as its header's length).
pub type Digest = u128;

/// The digest of `request`, to tell a retransmission from another packet under the same key.
///
/// std's keyed hasher (`RandomState`: a key drawn at random once per process; SipHash-1-3 today,
/// and whatever std uses is built to resist an attacker who does not know the key) over the
/// request tagged 0 and tagged 1: 128 bits. Whoever can send packets (with the secret, or to a
/// client that needs no Message-Authenticator) still cannot make another packet with the same
/// digest without the key. It replaced SHA-256, 4 % of a request's instructions.
pub fn digest(request: &[u8]) -> Digest {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let key = KEY.get_or_init(RandomState::new);
    (u128::from(key.hash_one((0u8, request))) << 64) | u128::from(key.hash_one((1u8, request)))
}

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
    /// Another packet under the key of one in the cache (being decided or answered): not a
    /// retransmission. Drop it; the cached entry stays for the first packet's retransmissions.
    Conflict,
}

enum State {
    InProgress,
    Done(Arc<[u8]>),
}

struct Entry {
    state: State,
    /// What the request's bytes hash to: only the same bytes are its retransmission.
    digest: Digest,
    seq: u64,
}

pub struct DedupCache {
    window: Duration,
    max: usize,
    max_bytes: usize,
    /// What the entries cost now (see [`DedupCache::cost`]).
    bytes: usize,
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
            max_bytes: MAX_BYTES,
            bytes: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
            seq: 0,
        }
    }

    /// Keep at most `max_bytes` (instead of [`MAX_BYTES`]).
    #[cfg(test)]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> DedupCache {
        self.max_bytes = max_bytes;
        self
    }

    /// What `e` costs: its response and [`ENTRY_OVERHEAD`].
    fn cost(e: &Entry) -> usize {
        ENTRY_OVERHEAD
            + match &e.state {
                State::InProgress => 0,
                State::Done(r) => r.len(),
            }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(Self::cost(&e));
        }
    }

    /// Look up the request `digest` hashes to under `key`.
    pub fn begin(&mut self, key: Key, digest: Digest, now: Instant) -> Lookup {
        self.expire(now);
        match self.map.get(&key) {
            Some(e) if e.digest != digest => Lookup::Conflict,
            Some(Entry {
                state: State::InProgress,
                ..
            }) => Lookup::InProgress,
            Some(Entry {
                state: State::Done(r),
                ..
            }) => Lookup::Done(r.clone()),
            None => {
                while (self.map.len() >= self.max || self.bytes + ENTRY_OVERHEAD > self.max_bytes)
                    && self.evict_oldest()
                {}
                self.seq += 1;
                self.bytes += ENTRY_OVERHEAD;
                self.map.insert(
                    key,
                    Entry {
                        state: State::InProgress,
                        digest,
                        seq: self.seq,
                    },
                );
                Lookup::New
            }
        }
    }

    /// Record the response sent for `key` (begun with [`DedupCache::begin`]).
    pub fn finish(&mut self, key: Key, response: Arc<[u8]>, now: Instant) {
        self.seq += 1;
        let seq = self.seq;
        // An entry that was never begun is not invented: without the request's digest it
        // would answer any packet under the key.
        if let Some(e) = self.map.get_mut(&key) {
            let before = Self::cost(e);
            e.state = State::Done(response);
            e.seq = seq;
            let after = Self::cost(e);
            self.bytes = self.bytes.saturating_sub(before) + after;
            self.order.push_back((now, key, seq));
            // Past the bytes kept, the oldest answers go (this one too, at worst: a
            // retransmission is then decided afresh, as past the window).
            while self.bytes > self.max_bytes && self.evict_oldest() {}
        }
    }

    /// Forget a request that was not answered (load shed), so a retransmit is decided afresh.
    pub fn abandon(&mut self, key: &Key) {
        if let Some(Entry {
            state: State::InProgress,
            ..
        }) = self.map.get(key)
        {
            self.remove(key);
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
                self.remove(&key);
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

    /// The digest of request number `n`.
    fn dg(n: u8) -> Digest {
        digest(&[n; 20])
    }

    fn resp(b: &[u8]) -> Arc<[u8]> {
        Arc::from(b)
    }

    #[test]
    fn retransmission_gets_the_same_response() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        assert_eq!(c.begin(key(1000, 1), dg(1), t0), Lookup::New);
        assert_eq!(c.begin(key(1000, 1), dg(1), t0), Lookup::InProgress);
        c.finish(key(1000, 1), resp(b"accept"), t0);
        assert_eq!(
            c.begin(key(1000, 1), dg(1), t0 + Duration::from_secs(29)),
            Lookup::Done(resp(b"accept"))
        );
    }

    #[test]
    fn other_port_identifier_or_authenticator_is_a_new_request() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        assert_eq!(c.begin(key(1000, 1), dg(1), t0), Lookup::New);
        c.finish(key(1000, 1), resp(b"a"), t0);
        assert_eq!(c.begin(key(1001, 1), dg(1), t0), Lookup::New);
        assert_eq!(c.begin(key(1000, 2), dg(2), t0), Lookup::New);
        let mut k = key(1000, 1);
        k.authenticator[0] ^= 1;
        assert_eq!(c.begin(k, dg(1), t0), Lookup::New);
    }

    #[test]
    fn finished_entries_expire_after_the_window() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        c.begin(key(1000, 1), dg(1), t0);
        c.finish(key(1000, 1), resp(b"a"), t0);
        assert_eq!(
            c.begin(key(1000, 1), dg(1), t0 + Duration::from_secs(30)),
            Lookup::New
        );
    }

    #[test]
    fn in_progress_entries_never_expire() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(1), 100);
        c.begin(key(1000, 1), dg(1), t0);
        c.begin(key(1000, 2), dg(2), t0);
        c.finish(key(1000, 2), resp(b"a"), t0);
        assert_eq!(
            c.begin(key(1000, 1), dg(1), t0 + Duration::from_secs(3600)),
            Lookup::InProgress
        );
        assert_eq!(c.len(), 1, "the finished one expired, the other stays");
    }

    #[test]
    fn abandoned_request_is_decided_afresh() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        c.begin(key(1000, 1), dg(1), t0);
        c.abandon(&key(1000, 1));
        assert_eq!(c.begin(key(1000, 1), dg(1), t0), Lookup::New);
    }

    #[test]
    fn full_cache_evicts_the_oldest_finished_entry() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 2);
        c.begin(key(1, 1), dg(1), t0);
        c.finish(key(1, 1), resp(b"1"), t0);
        c.begin(key(2, 2), dg(2), t0);
        c.finish(key(2, 2), resp(b"2"), t0);
        assert_eq!(c.begin(key(3, 3), dg(3), t0), Lookup::New);
        assert_eq!(c.len(), 2);
        assert_eq!(c.begin(key(2, 2), dg(2), t0), Lookup::Done(resp(b"2")));
    }

    #[test]
    fn another_packet_under_a_cached_key_is_never_answered_from_the_cache() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        let alice = digest(b"id 1, authenticator A, User-Name alice");
        let bob = digest(b"id 1, authenticator A, User-Name bob");
        assert_eq!(c.begin(key(1000, 1), alice, t0), Lookup::New);
        assert_eq!(c.begin(key(1000, 1), bob, t0), Lookup::Conflict);
        c.finish(key(1000, 1), resp(b"accept for alice"), t0);
        assert_eq!(c.begin(key(1000, 1), bob, t0), Lookup::Conflict);
        // The first packet's retransmissions still get its answer.
        assert_eq!(
            c.begin(key(1000, 1), alice, t0),
            Lookup::Done(resp(b"accept for alice"))
        );
    }

    #[test]
    fn finishing_a_request_never_begun_caches_nothing() {
        let t0 = Instant::now();
        let mut c = DedupCache::new(Duration::from_secs(30), 100);
        c.finish(key(1000, 1), resp(b"accept"), t0);
        assert_eq!(c.len(), 0);
        assert_eq!(c.begin(key(1000, 1), dg(1), t0), Lookup::New);
    }

    /// Review 2h: 200 000 answers echoing 3 KB of Proxy-State each took 746 MB.
    #[test]
    fn the_responses_kept_are_bounded_in_bytes_oldest_first() {
        let t0 = Instant::now();
        let big = vec![0u8; 1000];
        // Room for four such answers.
        let mut c = DedupCache::new(Duration::from_secs(30), 100)
            .with_max_bytes(4 * (1000 + ENTRY_OVERHEAD));
        for i in 0..10u8 {
            assert_eq!(c.begin(key(1000, i), dg(i), t0), Lookup::New);
            c.finish(key(1000, i), resp(&big), t0);
            assert!(c.bytes <= 4 * (1000 + ENTRY_OVERHEAD), "{}", c.bytes);
        }
        assert_eq!(c.len(), 4);
        // The newest are kept, the oldest went (a retransmission of those is decided afresh).
        assert_eq!(c.begin(key(1000, 9), dg(9), t0), Lookup::Done(resp(&big)));
        assert_eq!(c.begin(key(1000, 0), dg(0), t0), Lookup::New);
        // Everything forgotten is given back.
        c.abandon(&key(1000, 0));
        let expired = t0 + Duration::from_secs(31);
        c.begin(key(2000, 1), dg(1), expired);
        assert_eq!(c.len(), 1);
        assert_eq!(c.bytes, ENTRY_OVERHEAD);
    }
}
