//! Splitting a combined "password followed by a code" answer, for clients that can show only one
//! prompt (PAM `forward_pass` / `use_first_pass`, RADIUS PAP in append mode).
//!
//! Pure text handling: nothing here checks a password or a code. The caller says which code
//! shapes to look for at the end, in order; the first that matches wins. Both parts are returned
//! in zeroizing buffers.

use zeroize::Zeroizing;

use crate::recovery;

/// How a code at the end of a combined answer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeShape {
    /// Exactly this many ASCII digits (a TOTP or email code).
    Digits(usize),
    /// A recovery code written with its dashes, as shown at enrollment: `xxxx-xxxx-xxxx`
    /// (case-insensitive, letters of the recovery alphabet and the look-alikes it accepts).
    DashedRecovery,
}

impl CodeShape {
    /// Length in bytes of a suffix of this shape.
    fn len(self) -> usize {
        match self {
            CodeShape::Digits(n) => n,
            // 12 characters in three groups of four.
            CodeShape::DashedRecovery => recovery::CODE_LEN + 2,
        }
    }

    fn matches(self, suffix: &[u8]) -> bool {
        match self {
            CodeShape::Digits(n) => n > 0 && suffix.iter().all(u8::is_ascii_digit),
            CodeShape::DashedRecovery => suffix.iter().enumerate().all(|(i, &b)| {
                if i % 5 == 4 {
                    b == b'-'
                } else {
                    b.is_ascii_alphanumeric()
                }
            }),
        }
    }
}

/// A combined answer taken apart.
pub struct Combined {
    /// Everything before the code (may be empty).
    pub password: Zeroizing<String>,
    pub code: Zeroizing<String>,
    pub shape: CodeShape,
}

impl std::fmt::Debug for Combined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Combined {
            password: _,
            code: _,
            shape,
        } = self;
        f.debug_struct("Combined")
            .field("password", &"<redacted>")
            .field("code", &"<redacted>")
            .field("shape", shape)
            .finish()
    }
}

/// Split `input` into the password and the code at its end, trying `shapes` in order. `None`
/// when no shape matches the end of `input`.
pub fn split(input: &str, shapes: &[CodeShape]) -> Option<Combined> {
    let bytes = input.as_bytes();
    for &shape in shapes {
        let n = shape.len();
        if n == 0 || bytes.len() < n {
            continue;
        }
        let at = bytes.len() - n;
        // The suffix is ASCII when it matches, so `at` is then a char boundary.
        if !shape.matches(&bytes[at..]) || !input.is_char_boundary(at) {
            continue;
        }
        let (password, code) = input.split_at(at);
        return Some(Combined {
            password: Zeroizing::new(password.to_string()),
            code: Zeroizing::new(code.to_string()),
            shape,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTP_THEN_RECOVERY: &[CodeShape] = &[CodeShape::DashedRecovery, CodeShape::Digits(6)];

    fn parts(input: &str, shapes: &[CodeShape]) -> Option<(String, String)> {
        split(input, shapes).map(|c| (c.password.to_string(), c.code.to_string()))
    }

    #[test]
    fn splits_password_and_six_digits() {
        assert_eq!(
            parts("hunter2123456", &[CodeShape::Digits(6)]),
            Some(("hunter2".into(), "123456".into()))
        );
    }

    #[test]
    fn a_bare_code_has_an_empty_password() {
        assert_eq!(
            parts("123456", &[CodeShape::Digits(6)]),
            Some((String::new(), "123456".into()))
        );
    }

    #[test]
    fn too_short_or_non_digit_suffix_is_not_split() {
        assert_eq!(parts("12345", &[CodeShape::Digits(6)]), None);
        assert_eq!(parts("password12345x", &[CodeShape::Digits(6)]), None);
        assert_eq!(parts("", &[CodeShape::Digits(6)]), None);
        assert_eq!(parts("abc", &[CodeShape::Digits(0)]), None);
    }

    #[test]
    fn first_matching_shape_wins() {
        // Eight trailing digits: the caller's order decides between 8 and 6.
        assert_eq!(
            parts("pw12345678", &[CodeShape::Digits(8), CodeShape::Digits(6)]),
            Some(("pw".into(), "12345678".into()))
        );
        assert_eq!(
            parts("pw12345678", &[CodeShape::Digits(6), CodeShape::Digits(8)]),
            Some(("pw12".into(), "345678".into()))
        );
    }

    #[test]
    fn dashed_recovery_code_is_split_off() {
        assert_eq!(
            parts("s3cret k7qd-3mzp-x8tf", TOTP_THEN_RECOVERY),
            Some(("s3cret ".into(), "k7qd-3mzp-x8tf".into()))
        );
        assert_eq!(
            parts("K7QD-3MZP-X8TF", TOTP_THEN_RECOVERY),
            Some((String::new(), "K7QD-3MZP-X8TF".into()))
        );
        // Dashes in the wrong places: not a recovery code, and not digits either.
        assert_eq!(parts("pwk7qd3-mzp-x8tf", TOTP_THEN_RECOVERY), None);
    }

    #[test]
    fn multibyte_passwords_split_on_char_boundaries() {
        assert_eq!(
            parts("pässwörd€654321", &[CodeShape::Digits(6)]),
            Some(("pässwörd€".into(), "654321".into()))
        );
        // A suffix that would cut a character is never produced: digits are ASCII.
        assert_eq!(parts("€€", &[CodeShape::Digits(2)]), None);
    }

    #[test]
    fn debug_redacts_both_parts() {
        let c = split("hunter2123456", &[CodeShape::Digits(6)]).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(!d.contains("123456"), "{d}");
    }
}
