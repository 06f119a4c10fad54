//! Outstanding Access-Challenges: the State attribute we sent maps to the login in progress.
//! A State is 16 random bytes, answerable once, only by the same client from the same address
//! for the same user, and only until it expires. The table is capped; when full, new challenges
//! are refused. Each user has a cap of their own, so nobody can fill the table with challenges
//! for one name: a new challenge past it replaces that user's oldest, never another user's.

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
    map: Mutex<HashMap<[u8; STATE_LEN], Pending>>,
}

impl Challenges {
    pub fn new(lifetime: Duration, max: usize, per_user: usize) -> Challenges {
        Challenges {
            lifetime,
            max: max.max(1),
            per_user: per_user.max(1),
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
        // This user's open challenges, oldest first; the oldest go until there is room.
        let mut open: Vec<(Instant, [u8; STATE_LEN])> = map
            .iter()
            .filter(|(_, p)| p.user_key == user_key)
            .map(|(s, p)| (p.expires, *s))
            .collect();
        open.sort_unstable();
        let excess = (open.len() + 1).saturating_sub(self.per_user);
        for (_, s) in open.iter().take(excess) {
            map.remove(s);
        }
        if map.len() >= self.max {
            map.retain(|_, p| p.expires > now);
            if map.len() >= self.max {
                return None;
            }
        }
        map.insert(
            state,
            Pending {
                login,
                user: user.to_string(),
                user_key,
                client: client.to_string(),
                address: address.to_canonical(),
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
    use std::net::IpAddr;

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
        let nas: IpAddr = NAS.parse().unwrap();
        c.insert(login(core, user), user, "vpn", nas, at).unwrap()
    }

    fn answerable(c: &Challenges, state: &[u8], user: &str, at: Instant) -> bool {
        c.take(state, user, "vpn", NAS.parse().unwrap(), at).is_ok()
    }

    #[test]
    fn a_user_past_their_cap_loses_their_own_oldest_challenge_only() {
        let core = core();
        let t0 = Instant::now();
        let c = Challenges::new(Duration::from_secs(60), 100, 2);
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
        let c = Challenges::new(Duration::from_secs(60), 4, 3);
        for i in 0..20 {
            open(&c, &core, "mallory", t0 + Duration::from_millis(i));
        }
        // Three of mallory's, and room for others.
        let carol = open(&c, &core, "carol", t0);
        assert!(answerable(&c, &carol, "carol", t0));
    }
}
