//! The `~/.google_authenticator` file of google-authenticator-libpam.
//!
//! ```text
//! JBSWY3DPEHPK3PXP            secret (base32), first line
//! " RATE_LIMIT 3 30 …         options, one per line, after `" `
//! " WINDOW_SIZE 17
//! " DISALLOW_REUSE 5678 5679  time steps already used
//! " TOTP_AUTH                 TOTP; without it (or with HOTP_COUNTER) the file is HOTP
//! " STEP_SIZE 30
//! 12345678                    scratch codes, 8 digits, one per line
//! ```

use crate::base::secret::Secret;

#[derive(Debug)]
pub struct GoogleAuthFile {
    pub secret: Secret<Vec<u8>>,
    pub step: u32,
    /// Steps either side of the current one (`WINDOW_SIZE` n means ±(n−1)/2).
    pub window: Option<u8>,
    /// Highest time step listed under `DISALLOW_REUSE`: never accepted again.
    pub last_used_step: Option<u64>,
    pub scratch_codes: Vec<Secret<String>>,
    pub notes: Vec<String>,
}

impl GoogleAuthFile {
    /// Parse the file. The error says what is wrong without quoting the secret or codes.
    pub fn parse(text: &str) -> Result<GoogleAuthFile, String> {
        let mut lines = text.lines();
        let first = lines
            .next()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or("the file is empty")?;
        let secret =
            crate::base::otp::from_base32(first).ok_or("the first line is not a base32 secret")?;
        if secret.expose().len() < 10 {
            return Err("the secret is shorter than 80 bits".into());
        }

        let mut totp = false;
        let mut hotp = false;
        let mut step = 30u32;
        let mut window = None;
        let mut last_used_step = None;
        let mut scratch_codes = Vec::new();
        let mut notes = Vec::new();

        for (i, raw) in lines.enumerate() {
            let lineno = i + 2;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(opt) = line.strip_prefix('"') {
                let mut words = opt.split_whitespace();
                let Some(name) = words.next() else { continue };
                let args: Vec<&str> = words.collect();
                match name {
                    "TOTP_AUTH" => totp = true,
                    "HOTP_COUNTER" => hotp = true,
                    "STEP_SIZE" => {
                        step = one_number(&args, lineno, name)?;
                        if !(10..=300).contains(&step) {
                            return Err(format!(
                                "line {lineno}: STEP_SIZE {step} is outside 10..=300 seconds"
                            ));
                        }
                    }
                    "WINDOW_SIZE" => {
                        let size: u32 = one_number(&args, lineno, name)?;
                        if !(1..=21).contains(&size) {
                            return Err(format!(
                                "line {lineno}: WINDOW_SIZE {size} is outside 1..=21"
                            ));
                        }
                        window = Some(u8::try_from((size - 1) / 2).unwrap_or(10));
                    }
                    "DISALLOW_REUSE" => {
                        for a in &args {
                            let s: u64 = a.parse().map_err(|_| {
                                format!("line {lineno}: DISALLOW_REUSE lists a non-number")
                            })?;
                            last_used_step = Some(last_used_step.map_or(s, |m: u64| m.max(s)));
                        }
                    }
                    "RATE_LIMIT" => notes.push(
                        "RATE_LIMIT is not carried over: Tessera's lockout policy applies".into(),
                    ),
                    other => notes.push(format!("option {other} is not carried over")),
                }
                continue;
            }
            if line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) {
                scratch_codes.push(Secret::new(line.to_string()));
            } else {
                return Err(format!(
                    "line {lineno} is neither an option nor an 8-digit scratch code"
                ));
            }
        }

        if hotp || !totp {
            return Err(
                "this is an HOTP (counter-based) file; Tessera imports TOTP files only \
                        (enroll the user afresh with `tessera enroll totp`)"
                    .into(),
            );
        }
        Ok(GoogleAuthFile {
            secret,
            step,
            window,
            last_used_step,
            scratch_codes,
            notes,
        })
    }
}

fn one_number(args: &[&str], lineno: usize, name: &str) -> Result<u32, String> {
    match args {
        [v] => v
            .parse()
            .map_err(|_| format!("line {lineno}: {name} needs a number")),
        _ => Err(format!("line {lineno}: {name} needs exactly one number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1700000000\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666 56666667\n\" TOTP_AUTH\n12345678\n87654321\n";

    #[test]
    fn parses_a_totp_file() {
        let f = GoogleAuthFile::parse(FILE).unwrap();
        assert_eq!(f.secret.expose().as_slice(), b"Hello!\xde\xad\xbe\xef");
        assert_eq!(f.step, 30);
        assert_eq!(f.window, Some(8));
        assert_eq!(f.last_used_step, Some(56_666_667));
        assert_eq!(f.scratch_codes.len(), 2);
        assert_eq!(f.scratch_codes[1].expose(), "87654321");
        assert_eq!(f.notes.len(), 1);
    }

    #[test]
    fn refuses_hotp_files() {
        let e =
            GoogleAuthFile::parse("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n12345678\n").unwrap_err();
        assert!(e.contains("HOTP"), "{e}");
        let e = GoogleAuthFile::parse("JBSWY3DPEHPK3PXP\n12345678\n").unwrap_err();
        assert!(e.contains("HOTP"), "{e}");
    }

    #[test]
    fn errors_never_quote_the_secret_or_codes() {
        let e = GoogleAuthFile::parse("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n1234567x\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        assert!(!e.contains("1234567x") && !e.contains("JBSW"), "{e}");
        assert!(GoogleAuthFile::parse("").is_err());
        assert!(GoogleAuthFile::parse("not base32!\n\" TOTP_AUTH\n").is_err());
        assert!(
            GoogleAuthFile::parse("JBSWY3DP\n\" TOTP_AUTH\n").is_err(),
            "40-bit secret"
        );
    }
}
