//! Untrusted text made safe for a message or a log line; templates filled in one pass.

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

/// `template` with every `{name}` that `value` knows replaced, in one pass (replacement text is
/// never scanned again); unknown `{...}` stay as written.
pub fn fill_template<'v>(template: &str, value: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after
            .find('}')
            .and_then(|end| Some((end, value(&after[..end])?)))
        {
            Some((end, v)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A lifetime as a message says it, in whole minutes rounded up: `1 minute`, `10 minutes`.
pub fn minutes(d: std::time::Duration) -> String {
    match d.as_secs().div_ceil(60) {
        1 => "1 minute".to_string(),
        n => format!("{n} minutes"),
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

    #[test]
    fn templates_fill_in_one_pass() {
        let v = |n: &str| match n {
            "a" => Some("{b}"),
            "b" => Some("B"),
            _ => None,
        };
        assert_eq!(fill_template("x{a}y{b}{z}{", v), "x{b}yB{z}{");
    }

    #[test]
    fn lifetimes_read_in_whole_minutes() {
        use std::time::Duration;
        assert_eq!(minutes(Duration::from_secs(600)), "10 minutes");
        assert_eq!(minutes(Duration::from_secs(61)), "2 minutes");
        assert_eq!(minutes(Duration::from_secs(60)), "1 minute");
        assert_eq!(minutes(Duration::from_secs(1)), "1 minute");
    }
}
