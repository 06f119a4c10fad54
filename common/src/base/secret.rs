//! Secrets in memory and at rest.
//!
//! [`Secret`] redacts its `Debug` and zeroizes on drop. [`MasterKey`] is the 32-byte key file
//! written by `tessera init`; from it we derive one key per purpose (sealing TOTP secrets,
//! peppering recovery-code hashes). A sealed TOTP secret is XChaCha20-Poly1305 with the user id and
//! factor id as associated data, so a row copied to another user or factor does not decrypt.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Problems with the key file that seals TOTP secrets, or with the system's randomness.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path} does not exist (run `tessera init` to create it)")]
    Missing { path: PathBuf },
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} must hold exactly 32 bytes, found {len}")]
    BadLength { path: PathBuf, len: u64 },
    #[error(
        "key file {path} is readable or writable by other users (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot create key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A value that must not be printed and is wiped when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Fill a buffer from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf).map_err(|e| KeyError::Random(e.to_string()))
}

const KEY_LEN: usize = 32;
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The installation's root key, read from the key file.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    seal: [u8; KEY_LEN],
    pepper: [u8; KEY_LEN],
    email: [u8; KEY_LEN],
    invite: [u8; KEY_LEN],
    binding: [u8; KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let MasterKey {
            seal: _,
            pepper: _,
            email: _,
            invite: _,
            binding: _,
        } = self;
        f.write_str("MasterKey(<redacted>)")
    }
}

/// What a sealed secret is bound to.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    pub purpose: &'a str,
    pub user_id: i64,
    pub factor_id: i64,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + self.purpose.len());
        aad.extend_from_slice(b"tessera/v1/");
        aad.extend_from_slice(self.purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&self.user_id.to_be_bytes());
        aad.extend_from_slice(&self.factor_id.to_be_bytes());
        aad
    }
}

impl MasterKey {
    pub fn from_bytes(root: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey {
            seal: derive(root, b"tessera seal v1"),
            pepper: derive(root, b"tessera recovery pepper v1"),
            email: derive(root, b"tessera email code v1"),
            invite: derive(root, b"tessera invite v1"),
            binding: derive(root, b"tessera store binding v1"),
        }
    }

    /// Read the key file. It must hold exactly 32 bytes and must not be accessible by "other"
    /// (group read is allowed so a service account can share it with root).
    pub fn load(path: &Path) -> Result<MasterKey, KeyError> {
        // Not through a link at the key itself: one swapped in, in a directory another account
        // owns, would hand root another installation's key.
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => KeyError::Missing {
                    path: path.to_path_buf(),
                },
                _ => KeyError::Read {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        let meta = f.metadata().map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o007 != 0 || mode & 0o020 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        if meta.len() != KEY_LEN as u64 {
            return Err(KeyError::BadLength {
                path: path.to_path_buf(),
                len: meta.len(),
            });
        }
        let mut root = Zeroizing::new([0u8; KEY_LEN]);
        f.read_exact(root.as_mut())
            .map_err(|source| KeyError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(MasterKey::from_bytes(&root))
    }

    /// Create a new key file with mode 0600. Never overwrites: returns `Ok(false)` when the file
    /// already exists.
    pub fn create(path: &Path) -> Result<bool, KeyError> {
        let err = |source| KeyError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(err)?;
        }
        let mut root = Zeroizing::new([0u8; KEY_LEN]);
        random_bytes(root.as_mut())?;
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(err(e)),
        };
        let written = f.write_all(root.as_ref()).and_then(|_| f.sync_all());
        if let Err(e) = written {
            // Never leave a half-written key behind.
            let _ = std::fs::remove_file(path);
            return Err(err(e));
        }
        Ok(true)
    }

    /// Encrypt `plain` bound to `ctx`. Output: version ‖ nonce ‖ ciphertext+tag.
    pub fn seal(&self, ctx: SealContext<'_>, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let cipher = XChaCha20Poly1305::new((&self.seal).into());
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let aad = ctx.aad();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Random("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypt a value made by [`MasterKey::seal`] with the same context. `None` when the key, the
    /// context or the bytes do not match.
    pub fn unseal(&self, ctx: SealContext<'_>, sealed: &[u8]) -> Option<Secret<Vec<u8>>> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEAL_VERSION || rest.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let cipher = XChaCha20Poly1305::new((&self.seal).into());
        let aad = ctx.aad();
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
            .ok()
            .map(Secret::new)
    }

    /// The pepper mixed into recovery-code hashes (Argon2's secret input), so the database alone
    /// cannot be brute-forced.
    /// A value that names this key without revealing it (one-way), kept in the store whose
    /// secrets it seals: a store and a key that do not belong together are told apart.
    pub fn binding(&self) -> &[u8] {
        &self.binding
    }

    /// Whether `stored` (a store's or a backup's binding) is this key's, compared in constant
    /// time.
    pub fn is_binding(&self, stored: &[u8]) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            stored,
            self.binding.as_slice(),
        ))
    }

    pub fn recovery_pepper(&self) -> &[u8] {
        &self.pepper
    }

    /// The HMAC key for e-mailed code hashes.
    pub fn email_code_key(&self) -> &[u8] {
        &self.email
    }

    /// The HMAC key for invitation hashes.
    pub fn invite_key(&self) -> &[u8] {
        &self.invite
    }
}

fn derive(root: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(root) else {
        // HMAC accepts keys of any length; this branch cannot be taken.
        return [0u8; KEY_LEN];
    };
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// Create `dir` (and parents) with mode 0700 if it does not exist. An existing directory is left
/// as it is: the administrator may have chosen its mode on purpose.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32])
    }

    fn ctx(user_id: i64, factor_id: i64) -> SealContext<'static> {
        SealContext {
            purpose: "totp",
            user_id,
            factor_id,
        }
    }

    #[test]
    fn seal_round_trips_under_the_same_context() {
        let k = key();
        let sealed = k.seal(ctx(1, 2), b"secret bytes").unwrap();
        assert_ne!(&sealed[1 + NONCE_LEN..], b"secret bytes");
        let plain = k.unseal(ctx(1, 2), &sealed).unwrap();
        assert_eq!(plain.expose().as_slice(), b"secret bytes");
    }

    #[test]
    fn sealed_secret_moved_to_another_user_or_factor_does_not_decrypt() {
        let k = key();
        let sealed = k.seal(ctx(1, 2), b"secret").unwrap();
        assert!(k.unseal(ctx(3, 2), &sealed).is_none());
        assert!(k.unseal(ctx(1, 3), &sealed).is_none());
    }

    #[test]
    fn another_key_does_not_decrypt() {
        let sealed = key().seal(ctx(1, 2), b"secret").unwrap();
        let other = MasterKey::from_bytes(&[8u8; 32]);
        assert!(other.unseal(ctx(1, 2), &sealed).is_none());
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let k = key();
        let mut sealed = k.seal(ctx(1, 2), b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(k.unseal(ctx(1, 2), &sealed).is_none());
        assert!(k.unseal(ctx(1, 2), &[]).is_none());
        assert!(k.unseal(ctx(1, 2), &[1, 2, 3]).is_none());
    }

    #[test]
    fn key_file_is_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tessera.key");
        assert!(MasterKey::create(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let before = std::fs::read(&path).unwrap();
        assert!(!MasterKey::create(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        MasterKey::load(&path).unwrap();
    }

    #[test]
    fn key_file_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(matches!(
            MasterKey::load(&path),
            Err(KeyError::Missing { .. })
        ));
        std::fs::write(&path, b"short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = MasterKey::load(&path).unwrap_err();
        assert!(e.to_string().contains("exactly 32 bytes"), "{e}");
        std::fs::write(&path, [0u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = MasterKey::load(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
