//! The first-factor password (RADIUS `first_factor = "password"`): an Argon2id PHC string in the
//! store, set with `tessera user passwd`.

use crate::base::kdf::{self, Argon2Config};
use crate::error::CoreError;

/// Hash a new password.
pub fn hash(password: &str, params: &Argon2Config) -> Result<String, CoreError> {
    Ok(kdf::phc_hash(password, params)?)
}

/// Which of `candidates` (ways of reading one input: the whole of it, or the part before a code)
/// is the user's password, if any. Every candidate is checked (no early exit), and dummy
/// evaluations make up the difference to `evaluations`: the work is the same for an unknown
/// user, a user without a password, a wrong password and a right one. A malformed stored hash
/// is an error (a corrupt row), never a match.
pub fn check(
    phc: Option<&str>,
    candidates: &[&str],
    evaluations: usize,
    params: &Argon2Config,
) -> Result<Option<usize>, CoreError> {
    let mut found = None;
    let mut spent = 0;
    for (i, candidate) in candidates.iter().enumerate() {
        spent += 1;
        let Some(phc) = phc else {
            kdf::dummy(candidate.as_bytes(), params);
            continue;
        };
        let ok = kdf::phc_verify(candidate, phc)
            .map_err(|e| CoreError::Corrupt(format!("stored password hash: {e}")))?;
        if ok && found.is_none() {
            found = Some(i);
        }
    }
    for _ in spent..evaluations {
        kdf::dummy(b"", params);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::kdf::FAST;

    #[test]
    fn finds_the_candidate_that_is_the_password() {
        let phc = hash("hunter2", &FAST).unwrap();
        let c = |cands: &[&str]| check(Some(&phc), cands, 2, &FAST).unwrap();
        assert_eq!(c(&["hunter2123456", "hunter2"]), Some(1));
        assert_eq!(c(&["hunter2"]), Some(0));
        assert_eq!(c(&["nope", "hunter"]), None);
        assert!(check(Some("garbage"), &["x"], 1, &FAST).is_err());
    }

    #[test]
    fn every_case_costs_the_same_evaluations() {
        let phc = hash("hunter2", &FAST).unwrap();
        let cost = |phc: Option<&str>, cands: &[&str]| {
            let before = kdf::evaluations();
            check(phc, cands, 2, &FAST).unwrap();
            kdf::evaluations() - before
        };
        assert_eq!(cost(Some(&phc), &["hunter2"]), 2);
        assert_eq!(cost(Some(&phc), &["a", "hunter2"]), 2);
        assert_eq!(cost(Some(&phc), &["a", "b"]), 2);
        assert_eq!(cost(None, &["a", "b"]), 2);
        assert_eq!(cost(None, &["a"]), 2);
    }
}
