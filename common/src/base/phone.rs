//! Phone numbers as Tessera accepts them: E.164 only (`+`, the country code, the subscriber
//! number; 8 to 15 digits in all), so that every gateway gets the same unambiguous form and a
//! number can never be read as a command-line option.

/// The example every message gives.
const EXAMPLE: &str = "+447700900123";

/// What is wrong with a phone number. The message says what to write instead; it never quotes
/// the number (it may be someone else's, and it lands in logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error(
        "phone number must be in E.164 form, starting with + and the country code, e.g. {EXAMPLE}"
    )]
    NoPlus,
    #[error(
        "phone number must be in E.164 form, digits only after the +, without spaces, dashes or brackets (found {found:?} at position {position}), e.g. {EXAMPLE}"
    )]
    NotADigit { found: char, position: usize },
    #[error(
        "phone number must be in E.164 form: the country code after the + cannot start with 0, e.g. {EXAMPLE}"
    )]
    LeadingZero,
    #[error(
        "phone number must be in E.164 form, 8 to 15 digits after the + (it has {0}), e.g. {EXAMPLE}"
    )]
    Length(usize),
}

/// The fewest and the most digits after the `+`.
pub const MIN_DIGITS: usize = 8;
pub const MAX_DIGITS: usize = 15;

/// `+`, then 8 to 15 ASCII digits, the first 1 to 9.
pub fn validate_phone(number: &str) -> Result<(), PhoneError> {
    let digits = number.strip_prefix('+').ok_or(PhoneError::NoPlus)?;
    if let Some((i, c)) = digits
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        // Position as a person counts it, the `+` being the first character.
        return Err(PhoneError::NotADigit {
            found: c,
            position: i + 2,
        });
    }
    if digits.starts_with('0') {
        return Err(PhoneError::LeadingZero);
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(PhoneError::Length(digits.len()));
    }
    Ok(())
}

/// `+447700900123` → `+44*******123`: the first three characters (the `+` and the start of the
/// country code) and the last three digits, enough for the user to recognise their phone, not
/// to harvest numbers. Anything shorter than seven characters is all stars.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() < 7 {
        return "***".to_string();
    }
    let (head, rest) = chars.split_at(3);
    let (middle, tail) = rest.split_at(rest.len() - 3);
    let mut out: String = head.iter().collect();
    out.extend(std::iter::repeat_n('*', middle.len()));
    out.extend(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_accepted() {
        for ok in [
            "+447700900123",
            "+12025550123",
            "+4915112345678",
            "+12345678",
            "+123456789012345",
        ] {
            assert_eq!(validate_phone(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused_saying_what_is_wrong() {
        for (bad, want) in [
            ("", PhoneError::NoPlus),
            ("447700900123", PhoneError::NoPlus),
            ("0044 7700 900123", PhoneError::NoPlus),
            ("-447700900123", PhoneError::NoPlus),
            (
                "+44 7700 900123",
                PhoneError::NotADigit {
                    found: ' ',
                    position: 4,
                },
            ),
            (
                "+44-7700",
                PhoneError::NotADigit {
                    found: '-',
                    position: 4,
                },
            ),
            (
                "+4477009001２3",
                PhoneError::NotADigit {
                    found: '２',
                    position: 12,
                },
            ),
            (
                "+447700900123\n",
                PhoneError::NotADigit {
                    found: '\n',
                    position: 14,
                },
            ),
            (
                "++447700900123",
                PhoneError::NotADigit {
                    found: '+',
                    position: 2,
                },
            ),
            ("+0447700900123", PhoneError::LeadingZero),
            ("+1234567", PhoneError::Length(7)),
            ("+1234567890123456", PhoneError::Length(16)),
            ("+", PhoneError::Length(0)),
        ] {
            assert_eq!(validate_phone(bad), Err(want.clone()), "{bad:?}");
        }
        let text = validate_phone("447700900123").unwrap_err().to_string();
        assert!(
            text.contains("E.164") && text.contains("e.g. +447700900123"),
            "{text}"
        );
        let text = validate_phone("+1234567").unwrap_err().to_string();
        assert!(
            text.contains("8 to 15 digits") && text.contains("has 7"),
            "{text}"
        );
        let text = validate_phone("+44 7700 900999").unwrap_err().to_string();
        assert!(!text.contains("900999"), "never quotes the number: {text}");
    }

    #[test]
    fn masking_keeps_the_country_prefix_and_the_last_three_digits() {
        assert_eq!(mask_phone("+447700900123"), "+44*******123");
        assert_eq!(mask_phone("+12025550123"), "+12******123");
        assert_eq!(mask_phone("+12345678"), "+12***678");
        assert_eq!(mask_phone("+123456"), "+12*456");
        assert_eq!(mask_phone("+12345"), "***");
        assert_eq!(mask_phone(""), "***");
        let masked = mask_phone("+4915112345678");
        assert!(!masked.contains("1234"), "{masked}");
        assert_eq!(masked.chars().count(), "+4915112345678".len());
    }
}
