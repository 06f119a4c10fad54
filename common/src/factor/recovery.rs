//! Recovery codes: generation, normalisation and hashing.
//!
//! A code is 12 characters of Crockford's base32 (60 bits), shown as `k7qd-3mzp-x8tf`. Input is
//! normalised (case, spaces, dashes; `i`/`l` read as `1`, `o` as `0`). A user's batch shares one
//! random salt, so checking an answer costs one Argon2id evaluation whatever the number of codes
//! left; the hash is then compared with every unused code in constant time. The installation's
//! pepper (derived from the key file) is Argon2's secret input, so the database alone cannot be
//! brute-forced.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::base::kdf::{self, Argon2Config};
use crate::base::secret::KeyError;
use crate::base::secret::MasterKey;
use crate::base::secret::{Secret, random_bytes};
use crate::error::CoreError;
use crate::store::{RecoveryBatch, RecoveryStore, UserId};

pub(crate) const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters in a generated code.
pub const CODE_LEN: usize = 12;
/// Shortest and longest normalised input treated as a recovery code (8-digit google-authenticator
/// scratch codes up to our own 12-character codes, with room to spare).
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 16;
pub const HASH_LEN: usize = 32;
pub const SALT_LEN: usize = 16;

/// Fresh codes, formatted for display.
pub fn generate_codes(count: u32) -> Result<Vec<Secret<String>>, KeyError> {
    (0..count).map(|_| random_grouped(CODE_LEN)).collect()
}

/// `len` random characters of [`ALPHABET`], in groups of four joined by dashes.
pub(crate) fn random_grouped(len: usize) -> Result<Secret<String>, KeyError> {
    let mut raw = Zeroizing::new(vec![0u8; len]);
    random_bytes(raw.as_mut())?;
    let mut code = String::with_capacity(len + len / 4);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    Ok(Secret::new(code))
}

/// Length of a recovery code as printed (`xxxx-xxxx-xxxx`).
pub const PRINTED_LEN: usize = CODE_LEN + 2;

/// `xxxx-xxxx-xxxx` with recovery-code characters (case and look-alikes as [`normalize`] reads
/// them): the form a code may take at the end of a password.
pub fn is_printed(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == PRINTED_LEN
        && b[4] == b'-'
        && b[9] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 9 || c.is_ascii_alphanumeric())
        && normalize(s).is_some()
}

/// A fresh batch salt.
pub fn generate_salt() -> Result<[u8; SALT_LEN], KeyError> {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt)?;
    Ok(salt)
}

/// Canonical form of typed input, or `None` if it cannot be a recovery code.
pub fn normalize(input: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(input.len()));
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' | '\t' => continue,
            'i' | 'l' => '1',
            'o' => '0',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (MIN_LEN..=MAX_LEN).contains(&out.len()).then_some(out)
}

/// Argon2id(normalised code, batch salt) with the pepper as secret input.
pub fn hash_code(
    normalized: &str,
    salt: &[u8],
    pepper: &[u8],
    params: &Argon2Config,
) -> Result<Zeroizing<[u8; HASH_LEN]>, CoreError> {
    Ok(kdf::raw_hash(normalized.as_bytes(), salt, pepper, params)?)
}

/// A new batch for `codes`: its salt and Argon2 parameters, and each code's hash, to hand to
/// [`RecoveryStore::replace_recovery`](crate::store::RecoveryStore::replace_recovery).
pub fn new_batch(
    codes: &[Secret<String>],
    key: &MasterKey,
    params: &Argon2Config,
    now: u64,
    origin: &str,
) -> Result<(RecoveryBatch, Vec<[u8; HASH_LEN]>), CoreError> {
    let salt = generate_salt()?;
    let mut hashes = Vec::with_capacity(codes.len());
    for c in codes {
        let norm = normalize(c.expose()).ok_or_else(|| {
            crate::error::InputError::Code("a recovery code has an unexpected form".into())
        })?;
        hashes.push(*hash_code(&norm, &salt, key.recovery_pepper(), params)?);
    }
    let n = u32::try_from(codes.len()).unwrap_or(u32::MAX);
    let batch = RecoveryBatch {
        salt: salt.to_vec(),
        m_cost: params.memory_kib,
        t_cost: params.iterations,
        p_cost: params.parallelism,
        created_at: now,
        origin: origin.to_string(),
        total: n,
        unused: n,
    };
    Ok((batch, hashes))
}

/// A recovery code that matched: its id (to claim) and how many unused codes remain after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub code_id: i64,
    pub remaining: u32,
}

/// What a recovery-shaped answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// One of the user's unused codes.
    Unused(Matched),
    /// One of the user's codes that was used already.
    Used,
}

/// The one check of a recovery code. Costs exactly one Argon2 evaluation whatever the user's
/// state (unknown, unenrolled, no codes left, codes left): with the batch's salt and parameters
/// when the user has a batch (compared with the unused codes, then the used ones, so a code
/// used already is told and not counted), otherwise a dummy one with the configured
/// parameters, so time tells nothing.
pub fn check(
    store: &dyn RecoveryStore,
    key: &MasterKey,
    configured: &Argon2Config,
    user: Option<(UserId, &RecoveryBatch)>,
    normalized: &str,
) -> Result<Option<Checked>, CoreError> {
    let params = |b: &RecoveryBatch| Argon2Config {
        memory_kib: b.m_cost,
        iterations: b.t_cost,
        parallelism: b.p_cost,
    };
    match user {
        Some((user_id, batch)) => {
            let hash = hash_code(
                normalized,
                &batch.salt,
                key.recovery_pepper(),
                &params(batch),
            )?;
            let unused = store.recovery_hashes(user_id)?;
            if let Some(code_id) = find_match(hash.as_ref(), &unused) {
                return Ok(Some(Checked::Unused(Matched {
                    code_id,
                    remaining: u32::try_from(unused.len())
                        .unwrap_or(u32::MAX)
                        .saturating_sub(1),
                })));
            }
            let used = store.used_recovery_hashes(user_id)?;
            Ok(find_match(hash.as_ref(), &used).map(|_| Checked::Used))
        }
        None => {
            kdf::dummy(normalized.as_bytes(), configured);
            Ok(None)
        }
    }
}

/// The id of the stored hash equal to `candidate`, comparing against every entry in constant
/// time so the position of a match does not show in the timing.
pub fn find_match(candidate: &[u8], stored: &[(i64, Vec<u8>)]) -> Option<i64> {
    let mut found: Option<i64> = None;
    for (id, hash) in stored {
        let eq: bool = hash.as_slice().ct_eq(candidate).into();
        if eq && found.is_none() {
            found = Some(*id);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::kdf::FAST;

    #[test]
    fn generated_codes_have_60_bits_in_three_groups() {
        let codes = generate_codes(10).unwrap();
        assert_eq!(codes.len(), 10);
        for c in &codes {
            let s = c.expose();
            assert_eq!(s.len(), 14, "{s}");
            let groups: Vec<&str> = s.split('-').collect();
            assert_eq!(groups.len(), 3);
            assert!(groups.iter().all(|g| g.len() == 4));
            assert!(normalize(s).is_some());
        }
        let unique: std::collections::HashSet<&String> = codes.iter().map(|c| c.expose()).collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn normalisation_ignores_case_spaces_dashes_and_lookalikes() {
        let want = normalize("k7qd-3mzp-x8tf").unwrap();
        assert_eq!(want.as_str(), "k7qd3mzpx8tf");
        for typed in ["K7QD 3MZP X8TF", "k7qd3mzpx8tf", " k7qd - 3mzp - x8tf "] {
            assert_eq!(normalize(typed).unwrap().as_str(), want.as_str(), "{typed}");
        }
        assert_eq!(
            normalize("1o1l-abcd-efgh").unwrap().as_str(),
            "1011abcdefgh"
        );
        assert!(
            normalize("k7qd-3mzp-x8tu").is_none(),
            "u is not in the alphabet"
        );
        assert!(normalize("123456").is_none(), "too short");
        assert!(normalize("12345678").is_some(), "scratch code");
        assert!(normalize("k7qd-3mzp-x8tf-k7qd-3").is_none(), "too long");
        assert!(is_printed("0000-1111-2222"));
        assert!(is_printed("K7QD-3MZP-X8TF"));
        assert!(!is_printed("000011112222"));
        assert!(!is_printed("0000-1111-222"));
        assert!(!is_printed("k7qd-3mzp-x8tu"), "u is not in the alphabet");
    }

    #[test]
    fn hash_matches_only_the_same_code_salt_and_pepper() {
        let salt = [1u8; SALT_LEN];
        let h = hash_code("k7qd3mzpx8tf", &salt, b"pepper", &FAST).unwrap();
        let again = hash_code("k7qd3mzpx8tf", &salt, b"pepper", &FAST).unwrap();
        assert_eq!(*h, *again);
        assert_ne!(
            *h,
            *hash_code("k7qd3mzpx8tg", &salt, b"pepper", &FAST).unwrap()
        );
        assert_ne!(
            *h,
            *hash_code("k7qd3mzpx8tf", &[2u8; SALT_LEN], b"pepper", &FAST).unwrap()
        );
        assert_ne!(
            *h,
            *hash_code("k7qd3mzpx8tf", &salt, b"other", &FAST).unwrap()
        );
    }

    #[test]
    fn find_match_returns_the_matching_id() {
        let stored = vec![(1, vec![1u8; 32]), (2, vec![2u8; 32]), (3, vec![3u8; 32])];
        assert_eq!(find_match(&[2u8; 32], &stored), Some(2));
        assert_eq!(find_match(&[4u8; 32], &stored), None);
        assert_eq!(find_match(&[2u8; 31], &stored), None);
    }
}
