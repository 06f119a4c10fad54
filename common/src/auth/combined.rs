//! Reading a "password followed by code" answer for a login (RADIUS `append` and `auto`).
//!
//! The core decides where the password ends, so every front-end splits the same way, and never
//! by trying a second first-factor password: at most one Argon2 evaluation of the password per
//! request follows from what is decided here.

use zeroize::Zeroizing;

use super::{Authenticator, Login, is_usable};
use crate::combined::{is_printed_recovery_code, parse_scrv1, split_combined};
use crate::error::CoreError;
use crate::store::FactorKind;

/// How a combined answer reads.
pub enum Combined {
    PasswordAndCode {
        password: Zeroizing<String>,
        code: Zeroizing<String>,
    },
    /// No code found (or, under `require_current_code`, none that is valid now): all of it is
    /// the password.
    PasswordOnly(Zeroizing<String>),
}

impl std::fmt::Debug for Combined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Combined::PasswordAndCode { .. } => f.write_str("PasswordAndCode(<redacted>)"),
            Combined::PasswordOnly(_) => f.write_str("PasswordOnly(<redacted>)"),
        }
    }
}

impl Authenticator {
    /// Code lengths this login accepts, preferred factor first (the configured length for a user
    /// without factors, so unknown users split like known ones).
    pub fn code_lengths(&self, login: &Login) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::new();
        if let Some(data) = &login.data {
            for t in data
                .factors
                .iter()
                .filter(|f| is_usable(f))
                .filter_map(|f| f.totp.as_ref())
            {
                if !out.contains(&t.digits) {
                    out.push(t.digits);
                }
            }
        }
        if let (Some(data), Some(email)) = (&login.data, &self.config.email)
            && data
                .factors
                .iter()
                .any(|f| is_usable(f) && f.kind == FactorKind::Email)
            && !out.contains(&email.code_length)
        {
            out.push(email.code_length);
        }
        if out.is_empty() {
            out.push(self.config.totp.digits);
        }
        out
    }

    /// Read `input` as a password followed by a code (see [`crate::combined`] for the split).
    /// An OpenVPN static-challenge string (`SCRV1:…`) always reads as password and code.
    ///
    /// With `require_current_code` (RADIUS `auto`), a digit suffix counts as a code only when it
    /// is a TOTP code of the user's that matches now. That check is read-only — nothing is
    /// claimed or counted, and the caller must not reveal its result; the code is then checked
    /// for real by [`Authenticator::answer`]. A printed recovery code always counts. Otherwise
    /// the whole input is the password (the caller challenges for the code).
    pub fn read_combined(
        &self,
        login: &Login,
        input: &str,
        separator: Option<&str>,
        require_current_code: bool,
    ) -> Result<Combined, CoreError> {
        if let Some((password, code)) = parse_scrv1(input) {
            return Ok(Combined::PasswordAndCode { password, code });
        }
        let lengths = self.code_lengths(login);
        let Some(split) = split_combined(input, separator, &lengths) else {
            return Ok(Combined::PasswordOnly(Zeroizing::new(input.to_string())));
        };
        let take = !require_current_code
            || is_printed_recovery_code(split.code.trim())
            || self.is_current_totp(login, split.code.trim())?
            || self.is_current_email_code(login, split.code.trim())?;
        Ok(if take {
            Combined::PasswordAndCode {
                password: Zeroizing::new(split.password.to_string()),
                code: Zeroizing::new(split.code.to_string()),
            }
        } else {
            Combined::PasswordOnly(Zeroizing::new(input.to_string()))
        })
    }

    /// Is `code` the user's outstanding e-mailed code (unspent, unexpired)? Read-only.
    fn is_current_email_code(&self, login: &Login, code: &str) -> Result<bool, CoreError> {
        let Some(data) = &login.data else {
            return Ok(false);
        };
        let Some(outstanding) = self.store.email_code(data.user.id)? else {
            return Ok(false);
        };
        if outstanding.tries_left == 0 || outstanding.expires_at <= self.clock.now() {
            return Ok(false);
        }
        let hash = crate::email_code::hash_code(self.key.email_code_key(), data.user.id, code);
        Ok(crate::email_code::hashes_equal(&hash, &outstanding.hash))
    }

    /// Does `code` match one of the login's TOTP factors now (replay not considered)? Read-only.
    fn is_current_totp(&self, login: &Login, code: &str) -> Result<bool, CoreError> {
        let Some(data) = &login.data else {
            return Ok(false);
        };
        let now = self.clock.now();
        for f in data.factors.iter().filter(|f| is_usable(f)) {
            let Some(t) = &f.totp else { continue };
            if code.len() != usize::from(t.digits) {
                continue;
            }
            let matched = super::match_totp_factor(
                &self.key,
                self.config.totp.window,
                &data.user,
                f.id,
                t,
                code,
                now,
            )?;
            if matched.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::TotpOptions;
    use crate::auth::{Begin, LoginRequest};
    use crate::base::otp::{TotpParams, totp_code};
    use crate::testing::TestCore;

    const T0: u64 = 1_700_000_010;

    struct Env {
        /// Keeps the installation (its temporary directory) alive.
        _core: TestCore,
        auth: std::sync::Arc<Authenticator>,
        secret: Vec<u8>,
        recovery: Vec<String>,
    }

    fn env() -> Env {
        let text = "[store]\npath = \"t.db\"\nkey_file = \"t.key\"\n[argon2]\nmemory_kib = 64\niterations = 1\n";
        let core = TestCore::new(text, T0, None);
        let en = core.enroll_totp(
            "alice",
            &TotpOptions {
                digits: Some(8),
                ..TotpOptions::activated()
            },
        );
        Env {
            auth: core.auth.clone(),
            _core: core,
            secret: en.secret,
            recovery: en.recovery,
        }
    }

    fn login(e: &Env, user: &str) -> Box<Login> {
        let r = LoginRequest {
            user: user.into(),
            service: "test".into(),
            source: None,
            allow_unenrolled: false,
            max_tries: 1,
            auto_send: false,
        };
        match e.auth.begin(r).unwrap() {
            Begin::Prompt(l, _) => l,
            other => panic!("{other:?}"),
        }
    }

    fn code(e: &Env) -> String {
        let p = TotpParams {
            algorithm: crate::config::TotpAlgorithm::Sha1,
            digits: 8,
            period: 30,
            window: 0,
        };
        totp_code(&p, &e.secret, T0).unwrap()
    }

    fn halves(c: Combined) -> (String, Option<String>) {
        match c {
            Combined::PasswordAndCode { password, code } => {
                (password.to_string(), Some(code.to_string()))
            }
            Combined::PasswordOnly(p) => (p.to_string(), None),
        }
    }

    #[test]
    fn code_lengths_follow_the_users_factors() {
        let e = env();
        assert_eq!(e.auth.code_lengths(&login(&e, "alice")), vec![8]);
        assert_eq!(e.auth.code_lengths(&login(&e, "nobody")), vec![6]);
    }

    #[test]
    fn append_splits_by_shape_alone() {
        let e = env();
        let l = login(&e, "alice");
        let r = e
            .auth
            .read_combined(&l, "hunter2|00000000", None, false)
            .unwrap();
        assert_eq!(
            halves(r),
            ("hunter2|".to_string(), Some("00000000".to_string()))
        );
        let r = e.auth.read_combined(&l, "hunter2", None, false).unwrap();
        assert_eq!(halves(r), ("hunter2".to_string(), None));
    }

    #[test]
    fn auto_takes_the_split_only_for_a_current_code() {
        let e = env();
        let l = login(&e, "alice");
        let c = code(&e);
        let r = e
            .auth
            .read_combined(&l, &format!("pw{c}"), None, true)
            .unwrap();
        assert_eq!(halves(r), ("pw".to_string(), Some(c.clone())));
        // A password that merely ends in digits is all password: the caller challenges.
        let wrong = if c == "12345678" {
            "87654321"
        } else {
            "12345678"
        };
        let r = e
            .auth
            .read_combined(&l, &format!("pw{wrong}"), None, true)
            .unwrap();
        assert_eq!(halves(r), (format!("pw{wrong}"), None));
    }

    #[test]
    fn auto_takes_a_printed_recovery_code() {
        let e = env();
        let l = login(&e, "alice");
        let rc = e.recovery[0].clone();
        let r = e
            .auth
            .read_combined(&l, &format!("pw{rc}"), None, true)
            .unwrap();
        assert_eq!(halves(r), ("pw".to_string(), Some(rc)));
    }

    #[test]
    fn unknown_user_never_has_a_current_code() {
        let e = env();
        let l = login(&e, "nobody");
        let r = e.auth.read_combined(&l, "pw123456", None, true).unwrap();
        assert_eq!(halves(r), ("pw123456".to_string(), None));
    }

    #[test]
    fn scrv1_reads_as_password_and_code() {
        let e = env();
        let l = login(&e, "alice");
        let r = e
            .auth
            .read_combined(&l, "SCRV1:aHVudGVyMg==:MTIzNDU2", None, true)
            .unwrap();
        assert_eq!(
            halves(r),
            ("hunter2".to_string(), Some("123456".to_string()))
        );
    }

    #[test]
    fn peeking_consumes_nothing() {
        let e = env();
        let mut l = login(&e, "alice");
        let c = code(&e);
        for _ in 0..3 {
            let r = e
                .auth
                .read_combined(&l, &format!("pw{c}"), None, true)
                .unwrap();
            assert!(matches!(r, Combined::PasswordAndCode { .. }));
        }
        let o = e.auth.answer(&mut l, &c).unwrap();
        assert!(matches!(o, crate::auth::Outcome::Accepted(_)), "{o:?}");
    }
}
