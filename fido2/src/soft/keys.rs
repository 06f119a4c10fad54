//! A software key's cryptography: its credentials' key pairs, the CTAP2 authenticatorData it
//! builds, and its signatures.

use coset::cbor::value::Value;
use coset::{CborSerializable, CoseKeyBuilder, iana};
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};
use tessera_common::fido2::PublicKey;
use zeroize::Zeroizing;

use super::state::{SoftAlg, SoftCredential};
use crate::DeviceError;

/// The AAGUID in every software key's attested credential data.
pub const AAGUID: [u8; 16] = *b"tessera-softkey!";

/// authenticatorData flags.
pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;

/// A credential's private key.
pub enum CredentialKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl CredentialKey {
    /// A new random key, and its private bytes for the state file.
    pub fn generate(alg: SoftAlg) -> Result<(CredentialKey, Zeroizing<Vec<u8>>), DeviceError> {
        loop {
            let secret = Zeroizing::new(random::<32>()?.to_vec());
            // A P-256 scalar must be below the group order (and not 0): almost always.
            if let Ok(key) = CredentialKey::from_private(alg, &secret) {
                return Ok((key, secret));
            }
        }
    }

    pub fn from_credential(credential: &SoftCredential) -> Result<CredentialKey, DeviceError> {
        CredentialKey::from_private(credential.alg, &credential.private_key)
    }

    fn from_private(alg: SoftAlg, secret: &[u8]) -> Result<CredentialKey, DeviceError> {
        let bad = || DeviceError::Io("a software credential's private key is malformed".into());
        match alg {
            SoftAlg::Es256 => p256::ecdsa::SigningKey::from_slice(secret)
                .map(CredentialKey::Es256)
                .map_err(|_| bad()),
            SoftAlg::Eddsa => {
                let seed: &[u8; 32] = secret.try_into().map_err(|_| bad())?;
                Ok(CredentialKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(
                    seed,
                )))
            }
        }
    }

    /// The public key in the store's raw form.
    pub fn public_key(&self) -> PublicKey {
        match self {
            CredentialKey::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let mut raw = [0u8; 65];
                raw.copy_from_slice(point.as_bytes());
                PublicKey::Es256(raw)
            }
            CredentialKey::EdDsa(key) => PublicKey::EdDsa(key.verifying_key().to_bytes()),
        }
    }

    /// The credentialPublicKey of attested credential data: a CBOR COSE_Key (EC2 P-256 with
    /// alg -7, or OKP Ed25519 with alg -8).
    pub fn cose_key(&self) -> Result<Vec<u8>, DeviceError> {
        let key = match self.public_key() {
            PublicKey::Es256(point) => CoseKeyBuilder::new_ec2_pub_key(
                iana::EllipticCurve::P_256,
                point[1..33].to_vec(),
                point[33..].to_vec(),
            )
            .algorithm(iana::Algorithm::ES256),
            PublicKey::EdDsa(x) => CoseKeyBuilder::new_okp_key()
                .param(
                    iana::OkpKeyParameter::Crv as i64,
                    Value::from(iana::EllipticCurve::Ed25519 as u64),
                )
                .param(iana::OkpKeyParameter::X as i64, Value::Bytes(x.to_vec()))
                .algorithm(iana::Algorithm::EdDSA),
        };
        key.build()
            .to_vec()
            .map_err(|e| DeviceError::Io(format!("cannot encode a COSE key: {e}")))
    }

    /// The signature over `message`: ES256 as DER (SHA-256 inside ECDSA), EdDSA as the raw 64
    /// bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            CredentialKey::Es256(key) => {
                let signature: p256::ecdsa::DerSignature = key.sign(message);
                signature.as_ref().to_vec()
            }
            CredentialKey::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
        }
    }
}

/// authenticatorData without attested credential data: rpIdHash (32) ‖ flags (1) ‖ signCount
/// (4, big-endian).
pub fn auth_data(rp_id: &str, flags: u8, sign_count: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(37);
    data.extend_from_slice(&Sha256::digest(rp_id.as_bytes()));
    data.push(flags);
    data.extend_from_slice(&sign_count.to_be_bytes());
    data
}

/// Attested credential data: AAGUID (16) ‖ credentialIdLength (2, big-endian) ‖ credentialId ‖
/// credentialPublicKey.
pub fn attested_credential_data(
    credential_id: &[u8],
    cose_key: &[u8],
) -> Result<Vec<u8>, DeviceError> {
    let id_len = u16::try_from(credential_id.len())
        .map_err(|_| DeviceError::Io("credential id too long".into()))?;
    let mut data = Vec::with_capacity(18 + credential_id.len() + cose_key.len());
    data.extend_from_slice(&AAGUID);
    data.extend_from_slice(&id_len.to_be_bytes());
    data.extend_from_slice(credential_id);
    data.extend_from_slice(cose_key);
    Ok(data)
}

/// `N` bytes from the system's random source.
pub fn random<const N: usize>() -> Result<[u8; N], DeviceError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| DeviceError::Io(format!("no random bytes for the software key: {e}")))?;
    Ok(bytes)
}
