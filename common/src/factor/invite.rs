//! Invitations to enroll at login (`tessera user invite`): generation, hashing and the check.
//!
//! An invitation is 16 characters of the recovery codes' alphabet (80 bits), shown as
//! `k7qd-3mzp-x8tf-2nvb` and read as leniently (case, spaces, dashes, look-alikes). It is stored
//! as HMAC-SHA256 under a key derived from the key file, bound to the user: the database alone
//! reveals nothing usable, and a guess costs what any wrong code costs (it counts against the
//! user's lockout).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::recovery;
use crate::base::secret::{KeyError, MasterKey, Secret};
use crate::store::{Invite, UserId};

/// Characters in an invitation (without the dashes).
pub const CODE_LEN: usize = 16;
pub const HASH_LEN: usize = 32;

/// A fresh invitation, formatted for display.
pub fn generate() -> Result<Secret<String>, KeyError> {
    recovery::random_grouped(CODE_LEN)
}

/// The canonical form of typed input, or `None` when it cannot be an invitation.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    recovery::normalize(input).filter(|n| n.len() == CODE_LEN)
}

/// HMAC-SHA256(invite key, user id ‖ normalised code).
pub fn hash(key: &MasterKey, user_id: UserId, normalized: &str) -> [u8; HASH_LEN] {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key.invite_key()) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return [0u8; HASH_LEN];
    };
    mac.update(&user_id.to_be_bytes());
    mac.update(normalized.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What an answer is against the user's invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// It is the pending invitation: claim it with this hash when the enrollment completes.
    Matches { hash: [u8; HASH_LEN] },
    /// It is the invitation, but it was used or has expired (only its holder can know it: told,
    /// not counted).
    Stale,
    /// Not the invitation (or not shaped like one).
    Wrong,
}

/// Check `answer` against `invite` (read-only; the enrollment claims it). Compared in constant
/// time; the same work whether or not the answer is shaped like an invitation.
pub fn check(
    key: &MasterKey,
    user_id: UserId,
    invite: Option<&Invite>,
    answer: &str,
    now: u64,
) -> Checked {
    let normalized = normalize(answer);
    let h = hash(
        key,
        user_id,
        normalized.as_deref().map_or("", |n| n.as_str()),
    );
    let Some(invite) = invite else {
        return Checked::Wrong;
    };
    let is_it = bool::from(h.ct_eq(invite.hash.as_slice())) && normalized.is_some();
    match (is_it, invite.is_pending(now)) {
        (true, true) => Checked::Matches { hash: h },
        (true, false) => Checked::Stale,
        (false, _) => Checked::Wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(key: &MasterKey, code: &str, expires_at: u64, used: bool) -> Invite {
        Invite {
            hash: hash(key, 7, &normalize(code).unwrap()).to_vec(),
            created_at: 0,
            expires_at,
            used_at: used.then_some(5),
        }
    }

    #[test]
    fn generated_codes_are_read_back_leniently() {
        let code = generate().unwrap();
        let c = code.expose();
        assert_eq!(c.len(), CODE_LEN + 3);
        assert_eq!(c.matches('-').count(), 3);
        let n = normalize(c).unwrap();
        assert_eq!(n.len(), CODE_LEN);
        assert_eq!(normalize(&c.to_uppercase().replace('-', " ")).unwrap(), n);
        assert_ne!(generate().unwrap().expose(), c);
        // A recovery code (12 characters) is not an invitation.
        assert!(normalize("k7qd-3mzp-x8tf").is_none());
        assert!(
            normalize("k7qd-3mzp-x8tf-2nvu").is_none(),
            "u is not in the alphabet"
        );
    }

    #[test]
    fn check_tells_pending_stale_and_wrong() {
        let key = MasterKey::from_bytes(&[9u8; 32]);
        let code = "k7qd-3mzp-x8tf-2nvb";
        let live = invite(&key, code, 100, false);
        assert!(matches!(
            check(&key, 7, Some(&live), "K7QD 3MZP X8TF 2NVB", 50),
            Checked::Matches { .. }
        ));
        assert_eq!(check(&key, 7, Some(&live), code, 100), Checked::Stale);
        assert_eq!(
            check(&key, 7, Some(&invite(&key, code, 100, true)), code, 50),
            Checked::Stale
        );
        assert_eq!(
            check(&key, 7, Some(&live), "k7qd-3mzp-x8tf-2nvc", 50),
            Checked::Wrong
        );
        assert_eq!(
            check(&key, 8, Some(&live), code, 50),
            Checked::Wrong,
            "another user's"
        );
        assert_eq!(check(&key, 7, None, code, 50), Checked::Wrong);
        assert_eq!(check(&key, 7, Some(&live), "", 50), Checked::Wrong);
        let other = MasterKey::from_bytes(&[8u8; 32]);
        assert_eq!(check(&other, 7, Some(&live), code, 50), Checked::Wrong);
    }
}
