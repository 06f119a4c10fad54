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
    /// A column of a table: quoted when it holds whitespace or is empty.
    field: bool,
}

/// Characters that print as nothing in most terminals and fonts without being whitespace (Hangul
/// fillers, the Braille blank): escaped, so that a name made of them is not shown as blank.
fn is_blank_looking(c: char) -> bool {
    matches!(
        c,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
    )
}

impl<'a> Printable<'a> {
    /// Cut after 64 characters (names, addresses, anything a client sent).
    pub fn new(text: &'a str) -> Printable<'a> {
        Printable {
            text,
            max_chars: 64,
            field: false,
        }
    }

    /// As [`Printable::new`], for a column of a table: in double quotes when it holds
    /// whitespace or is empty, so that `alice bob` reads as one field and not two.
    pub fn field(text: &'a str) -> Printable<'a> {
        Printable {
            field: true,
            ..Printable::new(text)
        }
    }

    /// Cut after `max_chars` (our own longer texts that may quote untrusted input, such as an
    /// error naming a user and a path).
    pub fn upto(text: &'a str, max_chars: usize) -> Printable<'a> {
        Printable {
            text,
            max_chars,
            field: false,
        }
    }
}

impl std::fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, max) = (self.text, self.max_chars);
        let quoted = self.field && (s.is_empty() || s.chars().any(char::is_whitespace));
        // Short plain ASCII, the usual case: nothing to escape or cut.
        if !quoted
            && s.len() <= max
            && s.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'\'' | b'"'))
        {
            return f.write_str(s);
        }
        if quoted {
            f.write_str("\"")?;
        }
        for c in s.chars().take(max) {
            if is_blank_looking(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                std::fmt::Display::fmt(&c.escape_debug(), f)?;
            }
        }
        if s.chars().nth(max).is_some() {
            f.write_str("…")?;
        }
        if quoted {
            f.write_str("\"")?;
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

    #[test]
    fn blank_looking_characters_are_escaped_and_table_fields_with_spaces_quoted() {
        assert_eq!(printable("\u{3164}"), "\\u{3164}");
        assert_eq!(
            printable("a\u{2800}\u{115F}\u{1160}\u{FFA0}"),
            "a\\u{2800}\\u{115f}\\u{1160}\\u{ffa0}"
        );
        assert_eq!(Printable::field("alice bob").to_string(), "\"alice bob\"");
        assert_eq!(Printable::field("").to_string(), "\"\"");
        assert_eq!(
            Printable::field("a\u{3000}b").to_string(),
            "\"a\\u{3000}b\""
        );
        assert_eq!(Printable::field("alice").to_string(), "alice");
        assert_eq!(Printable::new("alice bob").to_string(), "alice bob");
    }
}
