//! User names: what Tessera accepts, and the one canonical form the store is keyed by.
//!
//! Password modules accept many spellings of one account (SSSD and Active Directory ignore case,
//! a terminal may send full-width letters or a stray zero-width space), so a spelling that differs
//! from the enrolled one must never read as "not enrolled". Every lookup goes through
//! [`name_key`]: Unicode NFKC, full case folding, default-ignorable code points removed, outer
//! white space trimmed (Unicode's NFKC_Casefold, plus the trim). `ALICE`, ` alice`, `ａlice` and
//! `alice\u{200b}` all have the key `alice`.

use unicode_normalization::UnicodeNormalization;

use super::text::printable;

/// Longest accepted user name, in bytes.
pub const MAX_USER_NAME: usize = 256;

/// A name refused before any lookup; says why without echoing control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user name {name:?}: {why}")]
pub struct NameError {
    pub name: String,
    pub why: &'static str,
}

/// Check a name as presented at a login: non-empty, at most 256 bytes, no control characters,
/// no `/`, and a non-empty canonical form.
pub fn validate_user_name(name: &str) -> Result<(), NameError> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_USER_NAME {
        "it is longer than 256 bytes"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else if name.contains('/') {
        "it contains '/'"
    } else if name_key(name).is_empty() {
        "it has no visible characters"
    } else {
        return Ok(());
    };
    Err(NameError {
        name: printable(name),
        why,
    })
}

/// Check a name an administrator gives to a new user: [`validate_user_name`], and no outer white
/// space or invisible characters (they would make two accounts that look alike).
pub fn validate_new_user_name(name: &str) -> Result<(), NameError> {
    validate_user_name(name)?;
    let why = if name.trim() != name {
        "it starts or ends with white space"
    } else if name.chars().any(is_default_ignorable) {
        "it contains an invisible character"
    } else {
        return Ok(());
    };
    Err(NameError {
        name: printable(name),
        why,
    })
}

/// The canonical key of a name (see the module docs). Two names with the same key are the same
/// user.
pub fn name_key(name: &str) -> String {
    // ASCII is its own NFKC, has no default-ignorable characters, and case-folds to lower case:
    // the key of an ASCII name is the name trimmed and lowered. Most names are ASCII, and a
    // login computes a few keys (one of the RADIUS server's largest costs per request before
    // this shortcut).
    if name.is_ascii() {
        return name.trim().to_ascii_lowercase();
    }
    unicode_key(name)
}

/// [`name_key`] for any name: ignorable characters out, NFKC, case fold, NFKC, trimmed.
fn unicode_key(name: &str) -> String {
    let visible: String = name.chars().filter(|c| !is_default_ignorable(*c)).collect();
    let composed: String = visible.trim().nfkc().collect();
    let folded = caseless::default_case_fold_str(&composed);
    let key: String = folded.nfkc().collect();
    key.trim().to_string()
}

/// The canonical key of the account a realm-qualified name names: `alice@EXAMPLE.COM`,
/// `EXAMPLE\alice` (and their full-width spellings) → `alice`; other names, their key. Active
/// Directory and winbind take these forms for the account `alice`, so they must find her (and
/// count against her) too.
pub fn account_key(name: &str) -> String {
    let key = name_key(name);
    let after_domain = key.rsplit_once('\\').map_or(key.as_str(), |(_, l)| l);
    let local = after_domain
        .split_once('@')
        .map_or(after_domain, |(l, _)| l)
        .trim();
    if local.is_empty() {
        key.clone()
    } else {
        local.to_string()
    }
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that render as
/// nothing (zero-width spaces and joiners, bidirectional controls, variation selectors, tags).
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// This machine's name (for the account part of an `otpauth://` URI), `localhost` when it has
/// none that is text.
pub fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_shortcut_gives_the_unicode_key() {
        // Every ASCII string of one or two characters, and each inside spaces, tabs and
        // vertical tabs (which `trim` and Unicode's White_Space both count).
        let chars: Vec<char> = (0u8..128).map(char::from).collect();
        let mut names: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        for a in &chars {
            for b in &chars {
                names.push(format!("{a}{b}"));
            }
        }
        for n in names.clone() {
            names.push(format!(" \t{n}\x0b "));
            names.push(format!("Al{n}Ice"));
        }
        for n in &names {
            assert_eq!(name_key(n), unicode_key(n), "{n:?}");
        }
    }

    #[test]
    fn a_realm_form_names_its_account() {
        for (name, account) in [
            ("alice@EXAMPLE.COM", "alice"),
            ("EXAMPLE\\alice", "alice"),
            ("example\\ALICE@corp", "alice"),
            ("ａlice＠example.com", "alice"),
            ("alice", "alice"),
            ("@example.com", "@example.com"),
            ("EXAMPLE\\", "example\\"),
        ] {
            assert_eq!(account_key(name), account, "{name:?}");
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "alice",
            "bob.smith",
            "DOMAIN\\carol",
            "dave@example.com",
            "ünïcode",
        ] {
            validate_user_name(n).unwrap();
            validate_new_user_name(n).unwrap();
        }
        validate_user_name(&"a".repeat(256)).unwrap();
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("a/b", "'/'"),
            ("a\nb", "control"),
            ("a\u{7f}", "control"),
            ("\u{200b}", "no visible"),
            ("   ", "no visible"),
        ];
        for (n, why) in cases {
            let e = validate_user_name(n).unwrap_err().to_string();
            assert!(e.contains(why), "{n:?}: {e}");
        }
        let long = "a".repeat(257);
        assert!(
            validate_user_name(&long)
                .unwrap_err()
                .to_string()
                .contains("256")
        );
    }

    #[test]
    fn new_names_may_not_hide_white_space_or_invisible_characters() {
        for (n, why) in [
            (" alice", "white space"),
            ("alice ", "white space"),
            ("ali\u{200b}ce", "invisible"),
        ] {
            validate_user_name(n).unwrap();
            let e = validate_new_user_name(n).unwrap_err().to_string();
            assert!(e.contains(why), "{n:?}: {e}");
        }
    }

    #[test]
    fn spellings_of_one_name_share_its_key() {
        for variant in [
            "alice",
            "ALICE",
            "Alice",
            "alice ",
            " alice",
            "\talice\u{3000}",
            "\u{ff41}lice",
            "\u{ff21}\u{ff2c}\u{ff29}\u{ff23}\u{ff25}",
            "alice\u{200b}",
            "al\u{200d}ice",
            "\u{feff}alice",
            "alic\u{0065}\u{034f}",
        ] {
            assert_eq!(name_key(variant), "alice", "{variant:?}");
        }
        // Composed and decomposed accents, and compatibility forms, meet too.
        assert_eq!(name_key("Jos\u{e9}"), name_key("jose\u{301}"));
        assert_eq!(name_key("\u{fb01}sh"), "fish");
        assert_eq!(name_key("Stra\u{df}e"), "strasse");
        // Different names stay different.
        assert_ne!(name_key("alice"), name_key("alicia"));
        assert_ne!(name_key("alice"), name_key("ali ce"));
    }
}
