//! A password and a one-time code typed into one field (RADIUS `append` and `auto`, OpenVPN
//! static challenges, PAM `forward_pass`, `try_first_pass` and `use_first_pass`). Pure functions;
//! no I/O, no policy: the login flow decides what to do with the halves.
//!
//! The split is deterministic, never a guess checked by trying several first-factor passwords:
//! - with a separator configured, the code is what follows its last occurrence;
//! - otherwise the code is a suffix of a known shape: a recovery code in its printed form
//!   (`k7qd-3mzp-x8tf`), else exactly `digits` ASCII digits (the first length in `digits` whose
//!   suffix is all digits wins, so the caller lists the preferred factor's length first).

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

use crate::factor::recovery;

/// The two halves of a combined answer, borrowed from the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    pub password: &'a str,
    pub code: &'a str,
}

impl std::fmt::Debug for Split<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Split(<redacted>)")
    }
}

/// Split `input` into password and code (see the module docs). `None` when no code is found.
pub fn split_combined<'a>(
    input: &'a str,
    separator: Option<&str>,
    digits: &[u8],
) -> Option<Split<'a>> {
    if let Some(sep) = separator.filter(|s| !s.is_empty()) {
        let (password, code) = input.rsplit_once(sep)?;
        return (!code.is_empty()).then_some(Split { password, code });
    }
    if let Some(cut) = input.len().checked_sub(recovery::PRINTED_LEN)
        && input.is_char_boundary(cut)
        && recovery::is_printed(&input[cut..])
    {
        return Some(Split {
            password: &input[..cut],
            code: &input[cut..],
        });
    }
    for &n in digits {
        let Some(cut) = input.len().checked_sub(usize::from(n)) else {
            continue;
        };
        if n > 0 && input.is_char_boundary(cut) && input[cut..].bytes().all(|b| b.is_ascii_digit())
        {
            return Some(Split {
                password: &input[..cut],
                code: &input[cut..],
            });
        }
    }
    None
}

/// Every way `input` may end in a code, whoever types it: a printed recovery code, or the last
/// 8, 7 or 6 digits (longest first). For answers taken before the first factor is proven, where
/// the user's own code lengths must not decide (they would tell who is enrolled).
pub fn split_candidates(input: &str) -> Vec<Split<'_>> {
    let mut out = Vec::new();
    if let Some(cut) = input.len().checked_sub(recovery::PRINTED_LEN)
        && input.is_char_boundary(cut)
        && recovery::is_printed(&input[cut..])
    {
        out.push(Split {
            password: &input[..cut],
            code: &input[cut..],
        });
    }
    for n in [8usize, 7, 6] {
        let Some(cut) = input.len().checked_sub(n) else {
            continue;
        };
        if input.is_char_boundary(cut) && input[cut..].bytes().all(|b| b.is_ascii_digit()) {
            out.push(Split {
                password: &input[..cut],
                code: &input[cut..],
            });
        }
    }
    out
}

/// OpenVPN's static-challenge password, `SCRV1:<base64 password>:<base64 response>`, decoded
/// into (password, response). `None` when `input` is not in that form.
pub fn parse_scrv1(input: &str) -> Option<(Zeroizing<String>, Zeroizing<String>)> {
    let rest = input.strip_prefix("SCRV1:")?;
    let (p, r) = rest.split_once(':')?;
    let decode = |s: &str| -> Option<Zeroizing<String>> {
        let bytes = Zeroizing::new(Base64::decode_vec(s).ok()?);
        let text = std::str::from_utf8(&bytes).ok()?;
        Some(Zeroizing::new(text.to_string()))
    };
    Some((decode(p)?, decode(r)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split<'a>(input: &'a str, sep: Option<&str>, digits: &[u8]) -> Option<(&'a str, &'a str)> {
        split_combined(input, sep, digits).map(|s| (s.password, s.code))
    }

    #[test]
    fn digit_suffix_of_the_code_length() {
        assert_eq!(
            split("hunter2123456", None, &[6]),
            Some(("hunter2", "123456"))
        );
        assert_eq!(
            split("hunter212345678", None, &[8]),
            Some(("hunter2", "12345678"))
        );
        // The first length that fits wins: the caller lists the preferred factor first.
        assert_eq!(split("pw12345678", None, &[6, 8]), Some(("pw12", "345678")));
        assert_eq!(split("pw12345678", None, &[8, 6]), Some(("pw", "12345678")));
    }

    #[test]
    fn a_code_alone_has_an_empty_password() {
        assert_eq!(split("123456", None, &[6]), Some(("", "123456")));
    }

    #[test]
    fn no_code_shaped_suffix_is_none() {
        assert_eq!(split("hunter2", None, &[6]), None);
        assert_eq!(split("pass12345", None, &[6]), None);
        assert_eq!(split("12345", None, &[6]), None);
        assert_eq!(split("", None, &[6]), None);
        assert_eq!(split("abc123456", None, &[]), None);
    }

    #[test]
    fn multibyte_input_never_splits_inside_a_character() {
        assert_eq!(split("pässwörd", None, &[6]), None);
        assert_eq!(split("é123456", None, &[6]), Some(("é", "123456")));
        assert_eq!(split("€12345", None, &[6]), None);
    }

    #[test]
    fn separator_splits_at_its_last_occurrence() {
        assert_eq!(
            split("pa,ss,123456", Some(","), &[6]),
            Some(("pa,ss", "123456"))
        );
        assert_eq!(split("password", Some(","), &[6]), None);
        assert_eq!(split("password,", Some(","), &[6]), None);
        // With a separator, a bare digit suffix is not a code.
        assert_eq!(split("password123456", Some(","), &[6]), None);
        assert_eq!(
            split("pw::k7qd-3mzp-x8tf", Some("::"), &[6]),
            Some(("pw", "k7qd-3mzp-x8tf"))
        );
    }

    #[test]
    fn printed_recovery_code_suffix() {
        assert_eq!(
            split("hunter2k7qd-3mzp-x8tf", None, &[6]),
            Some(("hunter2", "k7qd-3mzp-x8tf"))
        );
        assert_eq!(
            split("hunter2K7QD-3MZP-X8TF", None, &[6]),
            Some(("hunter2", "K7QD-3MZP-X8TF"))
        );
        // 'u' is not a recovery-code character.
        assert_eq!(split("hunter2k7qd-3mzp-x8tu", None, &[6]), None);
    }

    #[test]
    fn scrv1_decodes_password_and_response() {
        // printf 'hunter2' | base64 ; printf '123456' | base64
        let (p, r) = parse_scrv1("SCRV1:aHVudGVyMg==:MTIzNDU2").unwrap();
        assert_eq!(p.as_str(), "hunter2");
        assert_eq!(r.as_str(), "123456");
        let (p, r) = parse_scrv1("SCRV1::MTIzNDU2").unwrap();
        assert_eq!(p.as_str(), "");
        assert_eq!(r.as_str(), "123456");
    }

    #[test]
    fn scrv1_rejects_other_shapes() {
        assert!(parse_scrv1("hunter2123456").is_none());
        assert!(parse_scrv1("SCRV1:aHVudGVyMg==").is_none());
        assert!(parse_scrv1("SCRV1:!!!:MTIzNDU2").is_none());
        assert!(parse_scrv1("SCRV1:/w==:MTIzNDU2").is_none(), "not UTF-8");
    }

    #[test]
    fn candidates_are_every_split_a_code_could_make() {
        let c = |input: &str| -> Vec<(String, String)> {
            split_candidates(input)
                .iter()
                .map(|s| (s.password.to_string(), s.code.to_string()))
                .collect()
        };
        assert_eq!(
            c("pw12345678"),
            [("pw", "12345678"), ("pw1", "2345678"), ("pw12", "345678")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(c("pw1234567").len(), 2);
        assert_eq!(c("pw123456").len(), 1);
        assert!(c("pw12345").is_empty());
        assert_eq!(
            c("pwk7qd-3mzp-x8tf"),
            [("pw".to_string(), "k7qd-3mzp-x8tf".to_string())]
        );
        assert!(c("é").is_empty());
    }

    #[test]
    fn debug_never_shows_the_halves() {
        let s = split_combined("hunter2123456", None, &[6]).unwrap();
        assert_eq!(format!("{s:?}"), "Split(<redacted>)");
    }
}
