//! Turning raw TOML values into checked ones, with errors that name the file, the line and the
//! key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// A duration written as whole seconds (`900`) or as text (`"15m"`, `"1h 30m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawDuration {
    Seconds(i64),
    Text(String),
}

pub(super) struct Validator<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    /// Read the files the configuration names through the trust rules (the PAM module).
    pub(super) trust_files: bool,
    /// The file's permission bits, when it was read from disk.
    pub(super) mode: Option<u32>,
}

impl Validator<'_> {
    pub(super) fn invalid(
        &self,
        section: &str,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: locate_key(self.text, section, key).unwrap_or(1),
            key: format!("{section}.{key}"),
            message: message.into(),
        }
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        section: &str,
        key: &str,
        value: Option<i64>,
        default: T,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<T, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        if !range.contains(&v) {
            return Err(self.invalid(
                section,
                key,
                format!(
                    "{v} is out of range (allowed {}..={})",
                    range.start(),
                    range.end()
                ),
            ));
        }
        T::try_from(v).map_err(|_| self.invalid(section, key, format!("{v} is out of range")))
    }

    pub(super) fn duration(
        &self,
        section: &str,
        key: &str,
        value: Option<RawDuration>,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = match value {
            None => return Ok(default),
            Some(RawDuration::Seconds(s)) => {
                let s = u64::try_from(s).map_err(|_| {
                    self.invalid(
                        section,
                        key,
                        format!("{s} is negative; give seconds or \"15m\""),
                    )
                })?;
                Duration::from_secs(s)
            }
            Some(RawDuration::Text(t)) => humantime::parse_duration(&t).map_err(|e| {
                self.invalid(
                    section,
                    key,
                    format!("{t:?} is not a duration ({e}); write e.g. \"15m\" or 900"),
                )
            })?,
        };
        if d < min || d > max {
            return Err(self.invalid(
                section,
                key,
                format!(
                    "{} is out of range (allowed {} to {})",
                    humantime::format_duration(d),
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn path(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            let base = self.path.parent().unwrap_or(Path::new("."));
            base.join(p)
        }
    }
}

/// 1-based line of byte offset `pos` in `text`.
pub(super) fn line_of(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key (`section.key`) assigned on `line`, if that line is an assignment.
pub(super) fn key_at_line(text: &str, line: usize) -> Option<String> {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if let Some(h) = header_name(trimmed) {
            section = h;
        }
        if i + 1 == line {
            if let Some(h) = header_name(trimmed) {
                return Some(h);
            }
            let (k, _) = trimmed.split_once('=')?;
            let k = k.trim().trim_matches('"');
            if k.is_empty() {
                return None;
            }
            return Some(if section.is_empty() {
                k.to_string()
            } else {
                format!("{section}.{k}")
            });
        }
    }
    None
}

pub(super) fn header_name(line: &str) -> Option<String> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.split(']').next())
        .or_else(|| line.strip_prefix('[').and_then(|l| l.split(']').next()))?;
    Some(inner.trim().to_string())
}

/// Line on which `key` is assigned inside `[section]`.
pub(super) fn locate_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let mut section_line = None;
    for (i, l) in text.lines().enumerate() {
        let trimmed = l.trim();
        if let Some(h) = header_name(trimmed) {
            current = h;
            if current == section {
                section_line = Some(i + 1);
            }
            continue;
        }
        if current == section
            && let Some((k, _)) = trimmed.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(i + 1);
        }
    }
    section_line
}

/// The keys every channel of sent codes (`[email]`, `[sms]`) has, as read.
#[derive(Debug, Default)]
pub(super) struct RawSentCodes {
    pub(super) code_length: Option<i64>,
    pub(super) lifetime: Option<RawDuration>,
    pub(super) max_tries: Option<i64>,
    pub(super) min_interval: Option<RawDuration>,
    pub(super) max_per_day: Option<i64>,
    pub(super) timeout: Option<RawDuration>,
}

/// Those keys validated, with the defaults.
#[derive(Debug, Clone, Copy)]
pub(super) struct SentCodes {
    pub(super) code_length: u8,
    pub(super) lifetime: Duration,
    pub(super) max_tries: u32,
    pub(super) min_interval: Duration,
    pub(super) max_per_day: u32,
    pub(super) timeout: Duration,
}

impl Validator<'_> {
    /// The code rules of section `s`; `per_day` is the default and the most of `max_per_day`.
    pub(super) fn sent_codes(
        &self,
        s: &str,
        raw: RawSentCodes,
        per_day: (u32, i64),
    ) -> Result<SentCodes, ConfigError> {
        Ok(SentCodes {
            code_length: self.int(s, "code_length", raw.code_length, 6, 6..=10)?,
            lifetime: self.duration(
                s,
                "lifetime",
                raw.lifetime,
                Duration::from_secs(600),
                Duration::from_secs(1),
                Duration::from_secs(24 * 3600),
            )?,
            max_tries: self.int(s, "max_tries", raw.max_tries, 5, 1..=20)?,
            min_interval: self.duration(
                s,
                "min_interval",
                raw.min_interval,
                Duration::from_secs(60),
                Duration::ZERO,
                Duration::from_secs(3600),
            )?,
            max_per_day: self.int(s, "max_per_day", raw.max_per_day, per_day.0, 1..=per_day.1)?,
            timeout: self.duration(
                s,
                "timeout",
                raw.timeout,
                Duration::from_secs(10),
                Duration::from_millis(100),
                Duration::from_secs(120),
            )?,
        })
    }
}
