//! Places among the requests in flight: `max_in_flight` in all, and at most
//! `max_in_flight_per_client` for any one client, so one busy NAS is shed at its share while the
//! others are still served. A request holds its [`Place`] until it is answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request found no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Every place is taken.
    Full,
    /// Its client has taken its share.
    ClientFull,
}

/// A request's place; dropping it frees the place.
#[derive(Debug)]
pub struct Place {
    _total: OwnedSemaphorePermit,
    _client: OwnedSemaphorePermit,
}

pub struct Admission {
    total: Arc<Semaphore>,
    max_total: usize,
    per_client: usize,
    /// One semaphore per client name, kept across reloads (a renamed client starts afresh).
    clients: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Admission {
    pub fn new(max_total: usize, per_client: usize) -> Admission {
        let max_total = max_total.max(1);
        Admission {
            total: Arc::new(Semaphore::new(max_total)),
            max_total,
            per_client: per_client.clamp(1, max_total),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_total(&self) -> usize {
        self.max_total
    }

    pub fn per_client(&self) -> usize {
        self.per_client
    }

    /// A place for a request of `client`, or why there is none.
    pub fn admit(&self, client: &str) -> Result<Place, Shed> {
        let share = {
            let Ok(mut clients) = self.clients.lock() else {
                return Err(Shed::Full);
            };
            clients
                .entry(client.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
                .clone()
        };
        let client = share.try_acquire_owned().map_err(|_| Shed::ClientFull)?;
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Shed::Full)?;
        Ok(Place {
            _total: total,
            _client: client,
        })
    }

    /// Wait until every place is free again, or `deadline` passes.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let n = u32::try_from(self.max_total).unwrap_or(u32::MAX);
        tokio::time::timeout(deadline, self.total.acquire_many(n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_share_is_shed_while_another_is_served() {
        let a = Admission::new(4, 2);
        let busy: Vec<Place> = (0..2).map(|_| a.admit("busy-nas").unwrap()).collect();
        assert_eq!(a.admit("busy-nas").unwrap_err(), Shed::ClientFull);
        let other = a.admit("quiet-nas").unwrap();
        drop(busy);
        assert!(a.admit("busy-nas").is_ok(), "its places came back");
        drop(other);
    }

    #[test]
    fn the_whole_bounds_every_client_together() {
        let a = Admission::new(3, 2);
        let _held: Vec<Place> = ["a", "a", "b"]
            .iter()
            .map(|c| a.admit(c).unwrap())
            .collect();
        assert_eq!(a.admit("c").unwrap_err(), Shed::Full);
        // A refusal for the whole gives the client's place back.
        let _b = a.admit("b");
        assert_eq!(a.admit("b").unwrap_err(), Shed::Full);
    }

    #[test]
    fn a_share_is_never_more_than_the_whole() {
        let a = Admission::new(2, 10);
        assert_eq!(a.per_client(), 2);
        assert_eq!(a.max_total(), 2);
    }
}
