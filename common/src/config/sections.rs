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

/// A section left out could not be blanked safely: the scan ended inside one of its values.
#[derive(Debug, PartialEq, Eq)]
pub struct Unterminated {
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Str {
    #[default]
    None,
    MultiBasic,
    MultiLiteral,
}

/// Where a scan stands at the end of a line: inside a multi-line string, and how deep inside
/// arrays and inline tables (which TOML 1.1 lets span lines).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Scan {
    string: Str,
    depth: u32,
}

impl Scan {
    /// Between values: where a new key or header may start.
    fn at_rest(&self) -> bool {
        self.string == Str::None && self.depth == 0
    }
}

/// `text` with the tables whose first key is `table` (`[table]`, `[table.x]`, `[[table.x]]`,
/// quoted or escaped spellings included) and top-level `table = …` / `table.x = …` keys (with
/// their multi-line values) replaced by empty lines. A byte-order mark is dropped.
pub fn without_table(text: &str, table: &str) -> Result<String, Unterminated> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut state = Scan::default();
    let mut dropping = false;
    // Where a value that started in a dropped line began.
    let mut dropped_value_from: Option<usize> = None;
    let mut at_top_level = true;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let lineno = i + 1;
        if state.at_rest() {
            let trimmed = line.trim_start();
            if let Some(name) = header_first_key(trimmed) {
                at_top_level = false;
                dropping = name == table;
            } else if at_top_level {
                // Before any header, each key (with its value) stands alone.
                dropping = key_first_key(trimmed).as_deref() == Some(table);
            }
        }
        let was_at_rest = state.at_rest();
        state = scan(line, state);
        if dropping {
            if was_at_rest && !state.at_rest() {
                dropped_value_from = Some(lineno);
            }
            // Keep the line break so line numbers stay the same.
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
        if state.at_rest() {
            dropped_value_from = None;
        }
    }
    match dropped_value_from {
        Some(line) if !state.at_rest() => Err(Unterminated { line }),
        _ => Ok(out),
    }
}

/// The first key of the table header `line` (left-trimmed) names, decoded as TOML decodes it
/// (`[ "r\u0061dius" . x ]` is `radius`), if it is one.
fn header_first_key(line: &str) -> Option<String> {
    if !line.starts_with('[') {
        return None;
    }
    // The header alone is a TOML document: let the real parser decode its keys.
    let doc: toml::Table = toml::from_str(line.trim_end()).ok()?;
    doc.keys().next().cloned()
}

/// The first key of a top-level `key = value` line, decoded, if it is one.
fn key_first_key(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    // Try the longest prefix ending at an `=` that parses as `KEY = 0`: the key is decoded
    // by the real parser, whatever its quoting.
    for (at, _) in trimmed.match_indices('=') {
        let doc: Result<toml::Table, _> = toml::from_str(&format!("{} = 0", &trimmed[..at]));
        if let Ok(doc) = doc {
            return doc.keys().next().cloned();
        }
    }
    None
}

/// Scan one line starting in `state`; returns the state at its end. Single-line strings end
/// with their line (TOML forbids a newline in them), comments too.
fn scan(line: &str, mut state: Scan) -> Scan {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match state.string {
            Str::MultiBasic => {
                if b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                if b[i..].starts_with(b"\"\"\"") {
                    state.string = Str::None;
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
                    state.string = Str::None;
                    i += 3;
                    while i < b.len() && b[i] == b'\'' {
                        i += 1;
                    }
                    continue;
                }
                i += 1;
            }
            Str::None => match b[i] {
                b'#' => return state,
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    state.string = Str::MultiBasic;
                    i += 3;
                }
                b'\'' if b[i..].starts_with(b"'''") => {
                    state.string = Str::MultiLiteral;
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
                b'[' | b'{' => {
                    state.depth += 1;
                    i += 1;
                }
                b']' | b'}' => {
                    state.depth = state.depth.saturating_sub(1);
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
    fn escaped_and_quoted_spellings_a_bom_and_multi_line_values_are_handled() {
        let text = "\u{feff}[\"r\\u0061dius\"]\nlisten = 1\n[store]\npath = 'p'\n";
        let out = without_table(text, "radius").unwrap();
        assert_eq!(out, "\n\n[store]\npath = 'p'\n");
        // A value spanning lines, with lines that start with `[`, in a dropped table and at
        // the top level.
        let text = "radius = {\n  listen = 1,\n}\n[radius]\nclients = [\n[1, 2],\n]\n[store]\npath = 'p'\n";
        let out = without_table(text, "radius").unwrap();
        assert_eq!(out, "\n\n\n\n\n\n\n[store]\npath = 'p'\n");
        // In a kept table, brackets inside values are not headers either.
        let text = "[email]\nx = [\n[radius]\n]\n";
        assert_eq!(without_table(text, "radius").unwrap(), text);
    }

    #[test]
    fn an_unterminated_string_in_a_dropped_table_is_an_error_not_a_silent_loss() {
        let text = "[radius]\nsecret = '''oops\n[policy]\nmax_failures = 1\n";
        assert_eq!(without_table(text, "radius"), Err(Unterminated { line: 2 }));
    }
}
