//! Untrusted text made safe for a message or a log line.

/// A form of untrusted text that is safe to put in a message or a log line: control characters
/// escaped, long input cut.
pub fn printable(s: &str) -> String {
    Printable::new(s).to_string()
}

/// [`printable`] without the allocation, for `format!`/`write!` (log lines).
pub struct Printable<'a> {
    text: &'a str,
    max_chars: usize,
}

impl<'a> Printable<'a> {
    /// Cut after 64 characters (names, addresses, anything a client sent).
    pub fn new(text: &'a str) -> Printable<'a> {
        Printable {
            text,
            max_chars: 64,
        }
    }

    /// Cut after `max_chars` (our own longer texts that may quote untrusted input, such as an
    /// error naming a user and a path).
    pub fn upto(text: &'a str, max_chars: usize) -> Printable<'a> {
        Printable { text, max_chars }
    }
}

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, max) = (self.text, self.max_chars);
        // Short plain ASCII, the usual case: nothing to escape or cut.
        if s.len() <= max
            && s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'\'' | b'"'))
        {
            return f.write_str(s);
        }
        for c in s.chars().take(max) {
            std::fmt::Display::fmt(&c.escape_debug(), f)?;
        }
        if s.chars().nth(max).is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_controls_and_truncates() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert!(printable(&"x".repeat(100)).ends_with('…'));
        // The plain-ASCII fast path and the escaping path agree with escape_debug.
        for s in [
            "alice",
            "a\"b",
            "a\\b",
            "it's",
            "tab\there",
            "ünï",
            "\u{1b}[31m",
            &"y".repeat(64),
        ] {
            let expected: String = s.chars().flat_map(char::escape_debug).collect();
            assert_eq!(printable(s), expected, "{s:?}");
        }
        assert_eq!(printable(&"z".repeat(65)), format!("{}…", "z".repeat(64)));
        assert_eq!(format!("[{}]", Printable::new("a\rb")), "[a\\rb]");
        assert_eq!(
            Printable::upto(&"w".repeat(100), 100).to_string(),
            "w".repeat(100)
        );
        assert_eq!(Printable::upto("abcdef", 3).to_string(), "abc…");
    }
}
