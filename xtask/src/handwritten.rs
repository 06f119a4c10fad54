//! The pages written by hand (packaging/man): pam_tessera(8), tessera.toml(5).
//!
//! Each is a complete page as it stands, its `.TH` line saying `"Tessera"` where the version
//! goes and the date of its last real change; the copy in the output gets the version (and,
//! with no date of its own, the generated pages' date).

use std::path::Path;

use crate::DistError;
use crate::man::{MANUAL, Stamp};

/// `text` (the page at `path`) with the version and date of `stamp` in its `.TH` line.
pub fn stamp(path: &Path, text: &str, stamp: &Stamp) -> Result<String, DistError> {
    let bad = |line: usize, message: String| DistError::Page {
        path: path.to_path_buf(),
        line,
        message,
    };
    let (index, th) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with(".TH "))
        .ok_or_else(|| bad(1, "has no .TH line".into()))?;
    let args = macro_args(&th[4..]);
    let [title, section, date, source, manual] = args.as_slice() else {
        return Err(bad(
            index + 1,
            format!(
                "the .TH line has {} arguments, not 5 (title section date source manual)",
                args.len()
            ),
        ));
    };
    if source != "Tessera" || manual != MANUAL {
        return Err(bad(
            index + 1,
            format!("the .TH line must end in \"Tessera\" \"{MANUAL}\" (the version is filled in)"),
        ));
    }
    // The page's own date (of its last real change) stays; a page without one gets the
    // generated pages' date.
    let date = if date.is_empty() { &stamp.date } else { date };
    let new_th = format!(
        ".TH {title} {section} \"{date}\" \"{}\" \"{MANUAL}\"",
        stamp.source
    );
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.lines().enumerate() {
        out.push_str(if i == index { &new_th } else { line });
        out.push('\n');
    }
    Ok(out)
}

/// The arguments of a macro line: words, or "quoted words" ("" is an empty one).
fn macro_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                arg.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Stamp {
        Stamp {
            source: "Tessera 9.9.9".into(),
            date: String::new(),
        }
    }

    #[test]
    fn the_version_goes_into_the_th_line_and_nothing_else_changes() {
        let page = ".\\\" comment\n.TH PAM_TESSERA 8 2026-12-01 \"Tessera\" \"Tessera Manual\"\n.SH NAME\n";
        let out = stamp(Path::new("p.8"), page, &s()).unwrap();
        assert_eq!(
            out,
            ".\\\" comment\n.TH PAM_TESSERA 8 \"2026-12-01\" \"Tessera 9.9.9\" \"Tessera Manual\"\n.SH NAME\n"
        );
        // Without a date of its own it gets the stamp's.
        let page = ".TH X 5 \"\" Tessera \"Tessera Manual\"\n";
        let out = stamp(Path::new("x.5"), page, &s()).unwrap();
        assert_eq!(out, ".TH X 5 \"\" \"Tessera 9.9.9\" \"Tessera Manual\"\n");
    }

    #[test]
    fn a_th_line_that_is_not_the_houses_is_refused_with_its_line() {
        for (page, says) in [
            (".SH NAME\n", "p.8:1: has no .TH line"),
            (".TH X 8\n", "p.8:1: the .TH line has 2 arguments"),
            (
                "\n.TH X 8 \"\" \"Tessera 0.1.0\" \"Tessera Manual\"\n",
                "p.8:2: the .TH line must end in",
            ),
        ] {
            let e = stamp(Path::new("p.8"), page, &s()).unwrap_err().to_string();
            assert!(e.starts_with(says), "{page:?}: {e}");
        }
    }
}
