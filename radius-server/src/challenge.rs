//! Outstanding Access-Challenges: the State attribute we sent maps to the login in progress.
//! A State is 16 random bytes, answerable once, only by the same client from the same address
//! for the same user, and only until it expires. The table is capped; when full, new challenges
//! are refused, and a refused challenge takes nothing away. Each client has a share of the
//! table, so one NAS cannot fill it for the others. Each user has a cap of their own at each
//! client and address, so nobody can fill the table with challenges for one name: a new
//! challenge past it replaces that user's oldest there, never another user's, and never the
//! user's pending challenge at another NAS.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tessera_common::Login;
use tessera_common::{name_key, random_bytes};

pub const STATE_LEN: usize = 16;

struct Pending {
    login: Box<Login>,
    user: String,
    /// The user's canonical name, for the per-user cap (every spelling of a name is one user).
    user_key: String,
    client: String,
    /// The address the challenge was sent to (IPv4-mapped IPv6 as IPv4).
    address: IpAddr,
    expires: Instant,
}

/// Why a State could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateError {
    Unknown,
    Expired,
    WrongUser,
    WrongClient,
    /// The right client, another of its addresses (a network client).
    WrongAddress,
}

impl StateError {
    pub fn as_str(self) -> &'static str {
        match self {
            StateError::Unknown => "unknown_state",
            StateError::Expired => "expired_state",
            StateError::WrongUser => "state_of_another_user",
            StateError::WrongClient => "state_of_another_client",
            StateError::WrongAddress => "state_of_another_address",
        }
    }
}

pub struct Challenges {
    lifetime: Duration,
    max: usize,
    per_user: usize,
    per_client: usize,
    map: Mutex<HashMap<[u8; STATE_LEN], Pending>>,
}

impl Challenges {
    pub fn new(lifetime: Duration, max: usize, per_user: usize, per_client: usize) -> Challenges {
        let max = max.max(1);
        Challenges {
            lifetime,
            max,
            per_user: per_user.max(1),
            per_client: per_client.clamp(1, max),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Store `login` and return its State, or `None` when the table is full (or randomness
    /// failed): the caller rejects.
    pub fn insert(
        &self,
        login: Box<Login>,
        user: &str,
        client: &str,
        address: IpAddr,
        now: Instant,
    ) -> Option<[u8; STATE_LEN]> {
        let mut state = [0u8; STATE_LEN];
        random_bytes(&mut state).ok()?;
        let mut map = self.map.lock().ok()?;
        let user_key = name_key(user);
        let address = address.to_canonical();
        // This user's open challenges at this client and address, oldest first: the oldest go
        // to make room for this one. Counted before anything goes, so that a refusal takes
        // nothing away.
        let room = |map: &HashMap<[u8; STATE_LEN], Pending>| {
            let mut own: Vec<(Instant, [u8; STATE_LEN])> = map
                .iter()
                .filter(|(_, p)| {
                    p.user_key == user_key && p.client == client && p.address == address
                })
                .map(|(s, p)| (p.expires, *s))
                .collect();
            own.sort_unstable();
            let excess = (own.len() + 1).saturating_sub(self.per_user);
            own.truncate(excess);
            let of_client = map.values().filter(|p| p.client == client).count();
            let fits = map.len() - own.len() < self.max && of_client - own.len() < self.per_client;
            (fits, own)
        };
        let (mut fits, mut evict) = room(&map);
        if !fits {
            map.retain(|_, p| p.expires > now);
            (fits, evict) = room(&map);
        }
        if !fits {
            return None;
        }
        for (_, s) in &evict {
            map.remove(s);
        }
        map.insert(
            state,
            Pending {
                login,
                user: user.to_string(),
                user_key,
                client: client.to_string(),
                address,
                expires: now + self.lifetime,
            },
        );
        Some(state)
    }

    /// Take the login for `state`. It is removed whether or not it has expired; a State
    /// presented by another user, client or address is left in place for its owner.
    pub fn take(
        &self,
        state: &[u8],
        user: &str,
        client: &str,
        address: IpAddr,
        now: Instant,
    ) -> Result<Box<Login>, StateError> {
        let key: [u8; STATE_LEN] = state.try_into().map_err(|_| StateError::Unknown)?;
        let mut map = self.map.lock().map_err(|_| StateError::Unknown)?;
        let p = map.get(&key).ok_or(StateError::Unknown)?;
        if p.client != client {
            return Err(StateError::WrongClient);
        }
        if p.address != address.to_canonical() {
            return Err(StateError::WrongAddress);
        }
        if p.user != user {
            return Err(StateError::WrongUser);
        }
        let p = map.remove(&key).ok_or(StateError::Unknown)?;
        if p.expires <= now {
            return Err(StateError::Expired);
        }
        Ok(p.login)
    }

    /// Drop expired entries (called periodically).
    pub fn sweep(&self, now: Instant) -> usize {
        let Ok(mut map) = self.map.lock() else {
            return 0;
        };
        let before = map.len();
        map.retain(|_, p| p.expires > now);
        before - map.len()
    }
}

#[cfg(test)]
mod tests {

    use tessera_common::testing::TestCore;
    use tessera_common::{Begin, LoginRequest};

    use super::*;

    const NAS: &str = "10.0.0.1";

    fn login(core: &TestCore, user: &str) -> Box<Login> {
        match core.auth.begin(LoginRequest::code(user, "vpn")).unwrap() {
            Begin::Prompt(login, _) => login,
            Begin::Rejected(r) => panic!("rejected: {r:?}"),
            Begin::Ignore => panic!("ignored"),
        }
    }

    fn core() -> TestCore {
        TestCore::new(
            "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n",
            1_700_000_000,
            None,
        )
    }

    fn open(c: &Challenges, core: &TestCore, user: &str, at: Instant) -> [u8; STATE_LEN] {
        open_at(c, core, user, "vpn", NAS, at).unwrap()
    }

    fn open_at(
        c: &Challenges,
        core: &TestCore,
        user: &str,
        client: &str,
        nas: &str,
        at: Instant,
    ) -> Option<[u8; STATE_LEN]> {
        c.insert(login(core, user), user, client, nas.parse().unwrap(), at)
    }

    fn answerable(c: &Challenges, state: &[u8], user: &str, at: Instant) -> bool {
        c.take(state, user, "vpn", NAS.parse().unwrap(), at).is_ok()
    }

    #[test]
    fn a_user_past_their_cap_loses_their_own_oldest_challenge_only() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 100, 2, 100);
        let bob = open(&c, &core, "bob", t0);
        let first = open(&c, &core, "alice", t0);
        let second = open(&c, &core, "alice", t0 + Duration::from_secs(1));
        // Another spelling of the name is the same user.
        let third = open(&c, &core, "ALICE", t0 + Duration::from_secs(2));
        let later = t0 + Duration::from_secs(3);
        assert_eq!(
            c.take(&first, "alice", "vpn", NAS.parse().unwrap(), later)
                .err(),
            Some(StateError::Unknown),
            "the oldest made room"
        );
        assert!(answerable(&c, &second, "alice", later));
        assert!(answerable(&c, &third, "ALICE", later));
        assert!(answerable(&c, &bob, "bob", later), "another user's stays");
    }

    #[test]
    fn one_user_cannot_fill_the_table() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 4, 3, 4);
        for i in 0..20 {
            open(&c, &core, "mallory", t0 + Duration::from_millis(i));
        }
        // Three of mallory's, and room for others.
        let carol = open(&c, &core, "carol", t0);
        assert!(answerable(&c, &carol, "carol", t0));
    }

    /// Review 2h: three logins for a name at one NAS took that user's pending challenge at
    /// another.
    #[test]
    fn logins_at_one_nas_never_evict_the_users_challenge_at_another() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 100, 2, 100);
        let victim = open_at(&c, &core, "victor", "vpn", NAS, t0).unwrap();
        for i in 0..5 {
            open_at(
                &c,
                &core,
                "victor",
                "attacker",
                "10.9.9.9",
                t0 + Duration::from_millis(i),
            );
        }
        // Another address of the same (network) client is another place too.
        open_at(&c, &core, "victor", "vpn", "10.0.0.2", t0).unwrap();
        assert!(answerable(
            &c,
            &victim,
            "victor",
            t0 + Duration::from_secs(1)
        ));
    }

    /// Review 2h: one NAS could fill the whole table with made-up names.
    #[test]
    fn one_client_cannot_fill_the_table_for_the_others() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 10, 3, 5);
        let made: Vec<_> = (0..8)
            .map(|i| open_at(&c, &core, &format!("ghost{i}"), "attacker", "10.9.9.9", t0))
            .collect();
        assert_eq!(made.iter().filter(|s| s.is_some()).count(), 5, "its share");
        let carol = open_at(&c, &core, "carol", "vpn", NAS, t0).expect("room for another NAS");
        assert!(answerable(&c, &carol, "carol", t0));
    }

    /// Review 2h: a full table still evicted the user's oldest challenge before refusing.
    #[test]
    fn a_refused_challenge_takes_nothing_away() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 2, 1, 2);
        let alice = open(&c, &core, "alice", t0);
        let _bob = open(&c, &core, "bob", t0);
        // alice's new challenge would replace her old one, and fits then.
        let again = open(&c, &core, "alice", t0 + Duration::from_millis(1));
        assert!(
            !answerable(&c, &alice, "alice", t0),
            "replaced by her newer one"
        );
        assert!(answerable(&c, &again, "alice", t0));
        // A full table: carol is refused and nobody's challenge goes.
        let _alice = open(&c, &core, "alice", t0);
        let bob2 = open_at(&c, &core, "bob", "vpn", "10.0.0.3", t0);
        assert!(bob2.is_none(), "the table is full");
        assert_eq!(
            c.map.lock().unwrap().len(),
            2,
            "nothing evicted by the refusal"
        );
    }
}
