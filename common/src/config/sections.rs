//! Reading only the sections a front-end uses.
//!
//! One file configures the PAM module, the CLI and the RADIUS server. A mistake in `[radius]`
//! (a duplicated block, a client's `secret_file` that exists only while the service runs) must
//! not fail every SSH and sudo login, so the PAM module reads the file with the `[radius]` tables
//! blanked out before TOML sees it. Blanking keeps every other line where it was, so messages
//! still name the right line.
//!
//! The scan knows just enough TOML to find table headers: it skips comments and strings
//! (multi-line ones included), so a `[radius]` inside a string is not a header.

/// A section left out could not be blanked safely: the scan ended inside one of its strings.
#[derive(Debug, PartialEq, Eq)]
pub struct Unterminated {
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Str {
    None,
    MultiBasic,
    MultiLiteral,
}

/// `text` with the tables whose first key is `table` (`[table]`, `[table.x]`, `[[table.x]]`)
/// and top-level `table = …` / `table.x = …` lines replaced by empty lines.
pub fn without_table(text: &str, table: &str) -> Result<String, Unterminated> {
    let mut out = String::with_capacity(text.len());
    let mut state = Str::None;
    let mut dropping = false;
    // Where a string that started in a dropped line began.
    let mut dropped_string_from: Option<usize> = None;
    let mut at_top_level = true;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let lineno = i + 1;
        let starts_in_string = state != Str::None;
        if !starts_in_string {
            let trimmed = line.trim_start();
            if let Some(name) = header_name(trimmed) {
                at_top_level = false;
                dropping = first_key(name) == table;
            } else if at_top_level {
                // Before any header, each key line (with its strings) stands alone.
                dropping = first_key(trimmed.split('=').next().unwrap_or("")) == table;
            }
        }
        let before = state;
        state = scan(line, state);
        if dropping {
            if before == Str::None && state != Str::None {
                dropped_string_from = Some(lineno);
            }
            // Keep the line break so line numbers stay the same.
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
        if state == Str::None {
            dropped_string_from = None;
        }
    }
    match dropped_string_from {
        Some(line) if state != Str::None => Err(Unterminated { line }),
        _ => Ok(out),
    }
}

/// The name inside `[name]` or `[[name]]`, if `line` (left-trimmed) is a table header.
fn header_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    let end = rest.find(']')?;
    Some(&rest[..end])
}

/// The first segment of a dotted key, unquoted and trimmed.
fn first_key(key: &str) -> &str {
    let key = key.trim_start();
    let segment = if let Some(q) = key.strip_prefix('"') {
        q.split('"').next().unwrap_or("")
    } else if let Some(q) = key.strip_prefix('\'') {
        q.split('\'').next().unwrap_or("")
    } else {
        key.split('.').next().unwrap_or("")
    };
    segment.trim()
}

/// Scan one line starting in `state`; returns the state at its end. Single-line strings end
/// with their line (TOML forbids a newline in them), comments too.
fn scan(line: &str, mut state: Str) -> Str {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match state {
            Str::MultiBasic => {
                if b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i..].starts_with(b"\"\"\"") {
                    state = Str::None;
                    i += 3;
                    // Up to two more quotes belong to the string's content.
                    while i < b.len() && b[i] == b'"' {
                        i += 1;
                    }
                    continue;
                }
                i += 1;
            }
            Str::MultiLiteral => {
                if b[i..].starts_with(b"'''") {
                    state = Str::None;
                    i += 3;
                    while i < b.len() && b[i] == b'\'' {
                        i += 1;
                    }
                    continue;
                }
                i += 1;
            }
            Str::None => match b[i] {
                b'#' => return Str::None,
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    state = Str::MultiBasic;
                    i += 3;
                }
                b'\'' if b[i..].starts_with(b"'''") => {
                    state = Str::MultiLiteral;
                    i += 3;
                }
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'\'' => {
                    i += 1;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                }
                _ => i += 1,
            },
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_tables_are_blanked_and_lines_kept() {
        let text = "[store]\npath = \"/x\"\n[radius]\nlisten = 1\n[radius]\nlisten = 2\n\
                    [[radius.clients]]\nname = \"a\"\n[policy]\nmax_failures = 3\n";
        let out = without_table(text, "radius").unwrap();
        assert_eq!(
            out,
            "[store]\npath = \"/x\"\n\n\n\n\n\n\n[policy]\nmax_failures = 3\n"
        );
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn headers_inside_strings_and_comments_are_not_headers() {
        let text = "[email]\nbody = \"\"\"\n[radius]\nx\"\"\"\nfrom = '[radius]' # [radius]\n\
                    [ \"radius\" . clients ]\nsecret = \"\"\"a\n[store]\npath = 'evil'\"\"\"\n\
                    [store]\npath = 'good'\n";
        let out = without_table(text, "radius").unwrap();
        assert!(out.contains("body = \"\"\"\n[radius]\nx\"\"\""), "{out}");
        assert!(out.contains("from = '[radius]'"), "{out}");
        assert!(!out.contains("evil"), "{out}");
        assert!(out.contains("path = 'good'"), "{out}");
    }

    #[test]
    fn top_level_keys_of_the_table_are_blanked() {
        let text = "radius.listen = \"x\"\nradius = { a = 1 }\nother = 1\n[store]\n";
        assert_eq!(
            without_table(text, "radius").unwrap(),
            "\n\nother = 1\n[store]\n"
        );
    }

    #[test]
    fn an_unterminated_string_in_a_dropped_table_is_an_error_not_a_silent_loss() {
        let text = "[radius]\nsecret = '''oops\n[policy]\nmax_failures = 1\n";
        assert_eq!(without_table(text, "radius"), Err(Unterminated { line: 2 }));
    }
}
