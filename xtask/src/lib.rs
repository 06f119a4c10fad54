//! Build chores for the packages: `cargo run -p xtask -- dist DIR` writes the man pages and the
//! shell completions into DIR, from the clap definitions the binaries parse with (so that
//! `--help`, the pages and the completions never disagree) and the pages written by hand in
//! packaging/man.
#![forbid(unsafe_code)]

mod completions;
mod handwritten;
mod man;
mod page;
mod sections;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rendering a page: {0}")]
    Io(#[from] std::io::Error),
    #[error("{command}: the help text after the options (after_long_help): {message}")]
    Help { command: String, message: String },
    #[error("{path}:{line}: {message}")]
    Page {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("SOURCE_DATE_EPOCH={0:?} is not a number of seconds")]
    SourceDate(String),
}

/// Where the hand-written pages are.
pub fn handwritten_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/man")
}

/// Write `out/man/*` (tessera.1, tessera-radiusd.8 and a copy of every page in packaging/man)
/// and `out/completions/*` (bash, zsh, fish); returns the files written.
///
/// The pages carry the version and no date, so two builds of one version write the same
/// bytes, unless `SOURCE_DATE_EPOCH` is set (as Debian's build tools set it): then its day.
/// A hand-written page keeps a date of its own.
pub fn dist(out: &Path) -> Result<Vec<PathBuf>, DistError> {
    let stamp = man::Stamp {
        source: format!("Tessera {}", env!("CARGO_PKG_VERSION")),
        date: source_date()?,
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![
        (
            out.join("man/tessera.1"),
            man::tessera(&stamp)?.into_bytes(),
        ),
        (
            out.join("man/tessera-radiusd.8"),
            man::radiusd(&stamp)?.into_bytes(),
        ),
    ];
    let dir = handwritten_dir();
    for path in handwritten_pages(&dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| DistError::File {
            path: path.clone(),
            source,
        })?;
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        files.push((
            out.join("man").join(name),
            handwritten::stamp(&path, &text, &stamp)?.into_bytes(),
        ));
    }
    for (name, script) in completions::tessera() {
        files.push((out.join("completions").join(name), script));
    }
    for (path, bytes) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DistError::File {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(path, bytes).map_err(|source| DistError::File {
            path: path.clone(),
            source,
        })?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Every `NAME.N` page (N a section, 1 to 8) in `dir`, sorted.
fn handwritten_pages(dir: &Path) -> Result<Vec<PathBuf>, DistError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DistError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut pages = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| DistError::File {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let is_page = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8"));
        if is_page && path.is_file() {
            pages.push(path);
        }
    }
    pages.sort();
    Ok(pages)
}

/// `SOURCE_DATE_EPOCH` as `YYYY-MM-DD` (UTC), or "" when it is not set.
fn source_date() -> Result<String, DistError> {
    let Some(raw) = std::env::var_os("SOURCE_DATE_EPOCH") else {
        return Ok(String::new());
    };
    let text = raw.to_string_lossy().into_owned();
    let secs: u64 = text
        .trim()
        .parse()
        .map_err(|_| DistError::SourceDate(text.clone()))?;
    Ok(civil_date(secs / 86_400))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_edges() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(59), "1970-03-01");
        // 2000-02-29 (a leap day in a year divisible by 400), 2100-03-01 (no leap day).
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(47_541), "2100-03-01");
        assert_eq!(civil_date(20_788), "2026-12-01");
    }
}
