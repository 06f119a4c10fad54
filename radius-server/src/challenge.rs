//! Outstanding Access-Challenges: the State attribute we sent maps to the login in progress.
//! A State is 16 random bytes, answerable once, only by the same client from the same address
//! for the same user, and only until it expires. The table is capped; when full, new challenges
//! are refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tessera_common::Login;
use tessera_common::random_bytes;

pub const STATE_LEN: usize = 16;

struct Pending {
    login: Box<Login>,
    user: String,
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
    map: Mutex<HashMap<[u8; STATE_LEN], Pending>>,
}

impl Challenges {
    pub fn new(lifetime: Duration, max: usize) -> Challenges {
        Challenges {
            lifetime,
            max: max.max(1),
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
