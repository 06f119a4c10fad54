//! What a stored FIDO2 credential is: its algorithm, public key and options. Pure data (and
//! the check that a key is a key), below the store that keeps it and the checks in
//! `factor::fido2` that use it.

use std::fmt;

/// COSE algorithm identifiers (RFC 9053) the verifier knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoseAlg {
    /// ECDSA over P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
}

impl CoseAlg {
    pub fn cose(self) -> i64 {
        match self {
            CoseAlg::Es256 => -7,
            CoseAlg::EdDsa => -8,
        }
    }

    pub fn from_cose(v: i64) -> Option<CoseAlg> {
        match v {
            -7 => Some(CoseAlg::Es256),
            -8 => Some(CoseAlg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CoseAlg::Es256 => "es256",
            CoseAlg::EdDsa => "eddsa",
        }
    }
}

/// A credential's public key, in the raw form the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// The uncompressed SEC1 point `04 ‖ x ‖ y`.
    Es256([u8; 65]),
    /// The 32-byte Ed25519 key.
    EdDsa([u8; 32]),
}

impl PublicKey {
    pub fn alg(&self) -> CoseAlg {
        match self {
            PublicKey::Es256(_) => CoseAlg::Es256,
            PublicKey::EdDsa(_) => CoseAlg::EdDsa,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Es256(k) => k,
            PublicKey::EdDsa(k) => k,
        }
    }

    /// From the raw bytes of `alg`: ES256 as `04 ‖ x ‖ y` (65 bytes) or `x ‖ y` (64 bytes, as
    /// pam_u2f stores it), EdDSA as 32 bytes. `None` when the bytes are not such a key (the
    /// point must be on the curve).
    pub fn from_raw(alg: CoseAlg, raw: &[u8]) -> Option<PublicKey> {
        match alg {
            CoseAlg::Es256 => {
                let mut point = [0u8; 65];
                match raw.len() {
                    65 if raw[0] == 0x04 => point.copy_from_slice(raw),
                    64 => {
                        point[0] = 0x04;
                        point[1..].copy_from_slice(raw);
                    }
                    _ => return None,
                }
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).ok()?;
                Some(PublicKey::Es256(point))
            }
            CoseAlg::EdDsa => {
                let key: [u8; 32] = raw.try_into().ok()?;
                ed25519_dalek::VerifyingKey::from_bytes(&key).ok()?;
                Some(PublicKey::EdDsa(key))
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.alg().as_str())
    }
}

/// Whether a credential asks the key to verify its user (PIN or biometric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    /// Always: an assertion without the UV flag is refused.
    Required,
    /// When the key can: asked for, and not refused without it unless the policy requires it.
    Preferred,
    /// Never asked for.
    Discouraged,
}

impl UserVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
            UserVerification::Discouraged => "discouraged",
        }
    }

    pub fn parse(s: &str) -> Option<UserVerification> {
        match s {
            "required" => Some(UserVerification::Required),
            "preferred" => Some(UserVerification::Preferred),
            "discouraged" => Some(UserVerification::Discouraged),
            _ => None,
        }
    }
}

/// Where a credential came from: what it signs over and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Made by `tessera enroll fido2` on a key plugged into this machine.
    Enrolled,
    /// Brought over from a pam_u2f mapping file.
    PamU2f,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Enrolled => "enrolled",
            Origin::PamU2f => "pam_u2f",
        }
    }

    pub fn parse(s: &str) -> Option<Origin> {
        match s {
            "enrolled" => Some(Origin::Enrolled),
            "pam_u2f" => Some(Origin::PamU2f),
            _ => None,
        }
    }
}

/// A stored FIDO2 credential, as the checks need it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The key handle; empty for a resident (discoverable) credential imported with pam_u2f's
    /// `*`, which the key finds by rp id alone.
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
    /// The relying party id it was made for (`pam://host`), kept so a renamed host or a changed
    /// `[fido2] rp_id` does not silently break it.
    pub rp_id: String,
    /// User presence (a touch) required. Always for Tessera's own credentials; pam_u2f's
    /// credentials without `+presence` (made with `pamu2fcfg -P`) leave it off.
    pub presence: bool,
    pub verification: UserVerification,
    /// The key's PIN is asked for (pam_u2f `+pin`, `tessera enroll fido2 --pin`).
    pub pin: bool,
    /// Made as a resident (discoverable) credential.
    pub resident: bool,
    /// The backup eligibility and state flags (BE, BS) at enrollment; `None` when not known
    /// (imported). A change of BE is refused; BS may change only on a key that is eligible.
    pub backup: Option<(bool, bool)>,
    /// The last signature counter accepted (0: the key keeps none, or none seen yet).
    pub sign_count: u32,
    pub origin: Origin,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Credential {
            credential_id,
            public_key,
            rp_id,
            presence,
            verification,
            pin,
            resident,
            backup,
            sign_count,
            origin,
        } = self;
        f.debug_struct("Credential")
            .field("credential_id_len", &credential_id.len())
            .field("public_key", public_key)
            .field("rp_id", rp_id)
            .field("presence", presence)
            .field("verification", verification)
            .field("pin", pin)
            .field("resident", resident)
            .field("backup", backup)
            .field("sign_count", sign_count)
            .field("origin", origin)
            .finish()
    }
}
