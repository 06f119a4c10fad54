//! E-mail addresses as Tessera accepts them.

use super::text::printable;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid e-mail address {0:?}")]
pub struct AddressError(pub String);

/// A plausible single address: `local@domain`, no spaces or controls, at most 254 bytes.
pub fn validate_email(addr: &str) -> Result<(), AddressError> {
    let ok = addr.len() <= 254
        && !addr.chars().any(|c| c.is_control() || c.is_whitespace())
        && addr.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(AddressError(printable(addr)))
    }
}

/// `alice@example.com` → `a***@example.com`: enough for the user to recognise, not to harvest.
pub fn mask_address(addr: &str) -> String {
    match addr.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_validation() {
        for ok in ["a@example.com", "first.last+tag@sub.example.org"] {
            validate_email(ok).unwrap();
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@example.com\n",
            "a@.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masking() {
        assert_eq!(mask_address("alice@example.com"), "a***@example.com");
        assert_eq!(mask_address("x@y.org"), "x***@y.org");
        assert_eq!(mask_address("nonsense"), "***");
    }
}
