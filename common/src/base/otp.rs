//! Pure HOTP/TOTP on top of totp-rs: no clock, no I/O.
//!
//! The caller passes the time and claims the returned step in the store (replay guard).

use std::fmt;
use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use super::secret::{KeyError, Secret, random_bytes};

/// The HMAC of a TOTP factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "sha1",
            TotpAlgorithm::Sha256 => "sha256",
            TotpAlgorithm::Sha512 => "sha512",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Some(TotpAlgorithm::Sha1),
            "sha256" => Some(TotpAlgorithm::Sha256),
            "sha512" => Some(TotpAlgorithm::Sha512),
            _ => None,
        }
    }

    /// Secret length recommended for the hash (RFC 6238 reference key sizes).
    pub fn secret_len(self) -> usize {
        match self {
            TotpAlgorithm::Sha1 => 20,
            TotpAlgorithm::Sha256 => 32,
            TotpAlgorithm::Sha512 => 64,
        }
    }
}

impl fmt::Display for TotpAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a TOTP factor computes its codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: TotpAlgorithm,
    pub digits: u8,
    pub period: u32,
    /// Steps accepted before and after the current one.
    pub window: u8,
}

fn algorithm(a: TotpAlgorithm) -> Algorithm {
    match a {
        TotpAlgorithm::Sha1 => Algorithm::SHA1,
        TotpAlgorithm::Sha256 => Algorithm::SHA256,
        TotpAlgorithm::Sha512 => Algorithm::SHA512,
    }
}

fn totp(p: &TotpParams, key: &[u8]) -> Option<Totp> {
    // digits outside 6..=8 or a zero period would make totp-rs panic; refuse them here.
    if !(6..=8).contains(&p.digits) || p.period == 0 {
        return None;
    }
    // build_noncompliant: secrets imported from google-authenticator are 80 bits, below the
    // 128 bits `build` insists on. Secrets we generate are always full length.
    Some(
        Builder::new()
            .with_algorithm(algorithm(p.algorithm))
            .with_digits(p.digits)
            .with_step_duration(u64::from(p.period))
            .with_skew(u16::from(p.window))
            .with_secret(key.to_vec())
            .build_noncompliant(),
    )
}

/// Does `code` match at `unix_secs`, within the window? Returns the matched time step so the
/// caller can claim it. Codes are compared in constant time (totp-rs `Token` equality).
pub fn totp_match(p: &TotpParams, key: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    if !is_code_shaped(code, p.digits) {
        return None;
    }
    // Refuse times so far in the future that step arithmetic would overflow.
    let period = u64::from(p.period);
    let last_step = (unix_secs / period.max(1)).checked_add(u64::from(p.window) + 1)?;
    last_step.checked_mul(period)?;
    totp(p, key)?.check(code, unix_secs)
}

/// The code for the step containing `unix_secs` (tests and benches).
#[cfg(any(test, feature = "testing"))]
pub fn totp_code(p: &TotpParams, key: &[u8], unix_secs: u64) -> Option<String> {
    let t = totp(p, key)?;
    Some(t.generate(unix_secs).to_string())
}

#[cfg(test)]
/// HOTP (RFC 4226) value for `counter`: TOTP with a one-second step at time `counter`.
pub fn hotp_code(alg: TotpAlgorithm, digits: u8, key: &[u8], counter: u64) -> Option<String> {
    let p = TotpParams {
        algorithm: alg,
        digits,
        period: 1,
        window: 0,
    };
    totp_code(&p, key, counter)
}

/// Exactly `digits` ASCII digits.
pub fn is_code_shaped(code: &str, digits: u8) -> bool {
    code.len() == usize::from(digits) && code.bytes().all(|b| b.is_ascii_digit())
}

/// A fresh random TOTP secret of the length RFC 6238 uses for the hash.
pub fn generate_secret(alg: TotpAlgorithm) -> Result<Secret<Vec<u8>>, KeyError> {
    let mut bytes = vec![0u8; alg.secret_len()];
    random_bytes(&mut bytes)?;
    Ok(Secret::new(bytes))
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn to_base32(bytes: &[u8]) -> Secret<String> {
    Secret::new(base32::encode(
        base32::Alphabet::Rfc4648 { padding: false },
        bytes,
    ))
}

/// Parse base32 leniently (case, spaces, dashes and padding ignored). `None` when not base32.
pub fn from_base32(text: &str) -> Option<Secret<Vec<u8>>> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| !matches!(c, ' ' | '-' | '=' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    if cleaned.is_empty() {
        return None;
    }
    // A lone character (or three, or six) holds fewer than 8 bits: the decoder gives nothing,
    // which is not a secret either.
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &cleaned)
        .filter(|bytes| !bytes.is_empty())
        .map(Secret::new)
}

/// Characters escaped in an otpauth label or parameter.
const URI_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// The Key URI (`otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…`).
pub fn otpauth_uri(
    issuer: &str,
    account: &str,
    secret_b32: &str,
    p: &TotpParams,
) -> Secret<String> {
    let mut uri = String::with_capacity(128);
    let issuer_enc = utf8_percent_encode(issuer, URI_ESCAPE).to_string();
    let _ = write!(
        uri,
        "otpauth://totp/{issuer_enc}:{}?secret={secret_b32}&issuer={issuer_enc}&algorithm={}&digits={}&period={}",
        utf8_percent_encode(account, URI_ESCAPE),
        p.algorithm.as_str().to_ascii_uppercase(),
        p.digits,
        p.period
    );
    Secret::new(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";
    const SEED64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B: (time, SHA1, SHA256, SHA512), 8 digits.
    const RFC6238: &[(u64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];

    /// RFC 4226 Appendix D: HOTP values for counters 0..9, SHA1, 6 digits.
    const RFC4226: &[&str] = &[
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    fn p(alg: TotpAlgorithm, digits: u8) -> TotpParams {
        TotpParams {
            algorithm: alg,
            digits,
            period: 30,
            window: 1,
        }
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        for (row, &(t, sha1, sha256, sha512)) in RFC6238.iter().enumerate() {
            for (alg, seed, want) in [
                (TotpAlgorithm::Sha1, SEED20, sha1),
                (TotpAlgorithm::Sha256, SEED32, sha256),
                (TotpAlgorithm::Sha512, SEED64, sha512),
            ] {
                let got = totp_code(&p(alg, 8), seed, t).unwrap();
                assert_eq!(got, want, "RFC 6238 App. B row {row} (T={t}) {alg}");
                let step = totp_match(&p(alg, 8), seed, want, t);
                assert_eq!(step, Some(t / 30), "RFC 6238 App. B row {row} {alg} match");
            }
        }
    }

    #[test]
    fn rfc4226_appendix_d_vectors() {
        for (counter, want) in RFC4226.iter().enumerate() {
            let got = hotp_code(TotpAlgorithm::Sha1, 6, SEED20, counter as u64).unwrap();
            assert_eq!(&got, want, "RFC 4226 App. D counter {counter}");
        }
    }

    #[test]
    fn window_edges() {
        let params = p(TotpAlgorithm::Sha1, 6);
        let now = 1_700_000_000u64;
        let step = now / 30;
        let code_at = |s: u64| totp_code(&params, SEED20, s * 30).unwrap();
        assert_eq!(
            totp_match(&params, SEED20, &code_at(step - 1), now),
            Some(step - 1)
        );
        assert_eq!(
            totp_match(&params, SEED20, &code_at(step + 1), now),
            Some(step + 1)
        );
        assert_eq!(totp_match(&params, SEED20, &code_at(step - 2), now), None);
        assert_eq!(totp_match(&params, SEED20, &code_at(step + 2), now), None);
        let strict = TotpParams {
            window: 0,
            ..params
        };
        assert_eq!(totp_match(&strict, SEED20, &code_at(step - 1), now), None);
    }

    #[test]
    fn time_zero_and_far_future_do_not_panic() {
        let params = p(TotpAlgorithm::Sha1, 6);
        let c0 = totp_code(&params, SEED20, 0).unwrap();
        assert_eq!(totp_match(&params, SEED20, &c0, 0), Some(0));
        assert_eq!(totp_match(&params, SEED20, "123456", u64::MAX), None);
        assert_eq!(totp_match(&params, SEED20, "123456", u64::MAX - 30), None);
    }

    #[test]
    fn malformed_codes_never_match() {
        let params = p(TotpAlgorithm::Sha1, 6);
        let now = 1_700_000_000u64;
        let good = totp_code(&params, SEED20, now).unwrap();
        assert!(totp_match(&params, SEED20, &good, now).is_some());
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "+12345",
            " 12345",
            "１２３４５６",
        ] {
            assert_eq!(totp_match(&params, SEED20, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trip_is_lenient_on_input() {
        let b = to_base32(SEED20);
        assert_eq!(b.expose(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let spaced = "gezd gnbv-gy3t qojq gezd gnbv gy3t qojq";
        assert_eq!(from_base32(spaced).unwrap().expose().as_slice(), SEED20);
        assert!(from_base32("not base32!").is_none());
        assert!(from_base32("").is_none());
        // Found by the otpauth fuzz target: one character decoded to an empty secret.
        assert!(from_base32("M").is_none());
        assert!(from_base32("M=======").is_none());
    }

    #[test]
    fn otpauth_uri_escapes_label() {
        let params = p(TotpAlgorithm::Sha256, 8);
        let uri = otpauth_uri("My Org", "alice@host", "ABC", &params);
        assert_eq!(
            uri.expose(),
            "otpauth://totp/My%20Org:alice@host?secret=ABC&issuer=My%20Org&algorithm=SHA256&digits=8&period=30"
        );
    }

    #[test]
    fn generated_secrets_have_the_hash_length_and_differ() {
        let a = generate_secret(TotpAlgorithm::Sha1).unwrap();
        let b = generate_secret(TotpAlgorithm::Sha1).unwrap();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(
            generate_secret(TotpAlgorithm::Sha512)
                .unwrap()
                .expose()
                .len(),
            64
        );
    }
}
