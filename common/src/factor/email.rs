//! E-mailed one-time codes: generation, keyed hashing, masking of addresses, message text.
//!
//! A code is `code_length` random digits from the OS CSPRNG. It is stored as HMAC-SHA256 under a
//! key derived from the key file, bound to the user, so the database alone cannot be
//! brute-forced (a 6-digit code has only 20 bits). Single use, limited tries, an expiry.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::sent::{CodeRules, send_code};
pub use crate::base::address::mask_address;
use crate::base::otp::is_code_shaped;
use crate::base::secret::KeyError;
use crate::base::secret::{MasterKey, Secret, random_bytes};
use crate::base::text::{Printable, fill_template, minutes};
use crate::config::EmailConfig;
use crate::error::CoreError;
use crate::mail::Mailer;
use crate::store::{EmailCodeStore, FactorId, Store, UserId};

pub const HASH_LEN: usize = 32;

/// `length` uniformly random digits.
pub fn generate_code(length: u8) -> Result<Secret<String>, KeyError> {
    let mut code = String::with_capacity(usize::from(length));
    while code.len() < usize::from(length) {
        let mut b = Zeroizing::new([0u8; 16]);
        random_bytes(b.as_mut())?;
        for &x in b.iter() {
            // Rejection sampling: 250 = 25 × 10 keeps the digits uniform.
            if x < 250 && code.len() < usize::from(length) {
                code.push(char::from(b'0' + x % 10));
            }
        }
    }
    Ok(Secret::new(code))
}

/// HMAC-SHA256(key, user id ‖ code).
pub fn hash_code(key: &[u8], user_id: i64, code: &str) -> [u8; HASH_LEN] {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return [0u8; HASH_LEN];
    };
    mac.update(&user_id.to_be_bytes());
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `answer` has the shape of an e-mailed code.
pub fn is_shaped(cfg: &EmailConfig, answer: &str) -> bool {
    is_code_shaped(answer, cfg.code_length)
}

/// What an answer is against the user's outstanding e-mailed code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// It is the code: claim it with this hash.
    Matches {
        hash: [u8; HASH_LEN],
        factor_id: FactorId,
    },
    /// A wrong answer against a live code: it spends one of the code's tries.
    Wrong,
    /// It is the code, and it expired.
    Expired,
    /// It is the code, and it was used (or died of wrong tries).
    Spent,
    /// No live code (never sent), or a wrong answer against a dead one.
    Nothing,
}

/// The one check of an answer against the user's outstanding code (read-only: the caller claims
/// or spends it in the transaction that decides). Compared in constant time.
pub fn check(
    store: &dyn EmailCodeStore,
    key: &MasterKey,
    user_id: UserId,
    answer: &str,
    now: u64,
) -> Result<Checked, CoreError> {
    let Some(outstanding) = store.email_code(user_id)? else {
        return Ok(Checked::Nothing);
    };
    let hash = hash_code(key.email_code_key(), user_id, answer);
    let is_it = hashes_equal(&hash, &outstanding.hash);
    let live = outstanding.tries_left > 0;
    Ok(match (is_it, live, outstanding.expires_at <= now) {
        // The code itself, but no longer usable: nobody guesses a real code, so it is told,
        // never counted.
        (true, false, _) => Checked::Spent,
        (true, true, true) => Checked::Expired,
        (true, true, false) => Checked::Matches {
            hash,
            factor_id: outstanding.factor_id,
        },
        (false, true, false) => Checked::Wrong,
        (false, _, _) => Checked::Nothing,
    })
}

/// Confirm a pending e-mail factor with the code mailed to it: consumed when it matches,
/// otherwise one of its tries is spent. `true` when it matched.
pub fn confirm(
    store: &dyn EmailCodeStore,
    key: &MasterKey,
    user_id: UserId,
    factor_id: FactorId,
    answer: &str,
    now: u64,
) -> Result<bool, CoreError> {
    let hash = hash_code(key.email_code_key(), user_id, answer);
    Ok(store.confirm_email_code(user_id, factor_id, &hash, now)?)
}

/// What the templates may mention about the login.
#[derive(Debug, Clone)]
pub struct MessageContext<'a> {
    pub user: &'a str,
    pub service: &'a str,
    pub source: Option<&'a str>,
}

/// The subject and body with the placeholders filled in.
pub fn render(
    cfg: &EmailConfig,
    ctx: &MessageContext<'_>,
    code: &str,
) -> (String, Zeroizing<String>) {
    let expiry = minutes(cfg.lifetime);
    // What a client sent (Calling-Station-Id, PAM_RHOST, the name typed) is escaped and cut
    // (it must not add lines, headers-looking text or megabytes to the mail), and the
    // template is filled in one pass: a value that looks like a placeholder stays text.
    let user = Printable::new(ctx.user).to_string();
    let service = Printable::new(ctx.service).to_string();
    let source = ctx.source.map_or_else(
        || "an unknown address".to_string(),
        |s| Printable::new(s).to_string(),
    );
    let fill = |t: &str, with_code: bool| {
        fill_template(t, |name| match name {
            "user" => Some(user.as_str()),
            "host" => Some(cfg.hostname.as_str()),
            "service" => Some(service.as_str()),
            "expiry" => Some(expiry.as_str()),
            "source" => Some(source.as_str()),
            // The subject never carries the code (it shows in notification previews and logs).
            "code" => Some(if with_code { code } else { "" }),
            _ => None,
        })
    };
    (
        fill(&cfg.subject, false),
        Zeroizing::new(fill(&cfg.body, true)),
    )
}

/// Everything a send needs.
pub struct Sender<'a> {
    pub config: &'a EmailConfig,
    pub store: &'a dyn Store,
    pub key: &'a MasterKey,
    pub mailer: &'a dyn Mailer,
    pub now: u64,
}

pub use super::sent::{Delivery, SendError};

impl Sender<'_> {
    /// Make a code for `factor_id`, store its hash (rate limit checked atomically), and mail it.
    /// A failed send withdraws the code.
    pub fn send(
        &self,
        user_id: UserId,
        factor_id: FactorId,
        address: &str,
        ctx: &MessageContext<'_>,
    ) -> Result<Delivery, CoreError> {
        let c = self.config;
        let rules = CodeRules::of_email(c);
        send_code(
            self.store,
            self.key,
            &rules,
            self.now,
            user_id,
            factor_id,
            mask_address(address),
            &|code| {
                let (subject, body) = render(c, ctx, code);
                self.mailer
                    .send(address, &subject, &body)
                    .map_err(SendError::from)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_requested_length() {
        for len in [6u8, 8, 10] {
            let c = generate_code(len).unwrap();
            assert_eq!(c.expose().len(), usize::from(len));
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        let a = generate_code(10).unwrap();
        let b = generate_code(10).unwrap();
        assert_ne!(a.expose(), b.expose());
    }

    fn config() -> EmailConfig {
        let c = crate::config::Config::parse(
            std::path::Path::new("/etc/tessera/tessera.toml"),
            "[email]\nsmtp_host = \"localhost\"\nfrom = \"t@example.com\"\nhostname = \"bastion\"\n",
        );
        c.unwrap().email.unwrap()
    }

    #[test]
    fn mail_escapes_and_cuts_what_the_client_sent() {
        let cfg = config();
        let hostile = format!(
            "10.0.0.1\r\n\r\nYour new code is 999999{{code}}\u{1b}[2J{}",
            "x".repeat(10_000)
        );
        let (subject, body) = render(
            &EmailConfig {
                subject: "Code for {user} from {source}".into(),
                ..cfg
            },
            &MessageContext {
                user: "alice\nBcc: eve",
                service: "sshd",
                source: Some(&hostile),
            },
            "123456",
        );
        let source_line = body.lines().find(|l| l.contains("came from")).unwrap();
        assert!(source_line.contains("10.0.0.1\\r\\n"), "{source_line}");
        assert!(!body.contains('\u{1b}') && !body.contains('\r'), "{body:?}");
        assert!(!body.contains("Your new code is 999999\n"), "{body:?}");
        // The placeholder-looking text stays text: the code appears once, where the template
        // put it.
        assert_eq!(body.matches("123456").count(), 1, "{body:?}");
        assert!(
            body.len() < 600,
            "cut to a sane length: {} bytes",
            body.len()
        );
        assert!(
            !subject.contains('\n') && !subject.contains("123456"),
            "{subject:?}"
        );
        assert!(subject.contains("alice\\nBcc: eve"), "{subject:?}");
    }

    #[test]
    fn hash_binds_user_and_key() {
        let h = hash_code(b"k", 1, "123456");
        assert!(hashes_equal(&h, &hash_code(b"k", 1, "123456")));
        assert!(!hashes_equal(&h, &hash_code(b"k", 2, "123456")));
        assert!(!hashes_equal(&h, &hash_code(b"j", 1, "123456")));
        assert!(!hashes_equal(&h, &hash_code(b"k", 1, "123457")));
    }
}
