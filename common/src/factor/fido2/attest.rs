//! Reading a new credential from a key's attestation: the attested credential data in
//! authenticatorData (the credential id and its COSE public key), and the attestation
//! statement's signature.
//!
//! The statement is checked for what it can prove without a list of trusted vendors: a `packed`
//! self attestation is signed by the new credential itself; a `packed` or `fido-u2f` statement
//! with certificates is signed by the leaf certificate's key. Whose key that is (the vendor) is
//! not judged: Tessera trusts the administrator who plugged the key in.

use coset::cbor::value::Value;
use coset::iana::{self, EnumI64};
use coset::{AsCborValue, CoseKey, KeyType, Label};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x509_cert::der::Decode;

use super::verify::{
    AUTH_DATA_MIN, FLAG_AT, FLAG_BE, FLAG_BS, FLAG_ED, FLAG_UP, FLAG_UV, check_signature,
    parse_auth_data,
};
use super::{AttestationResponse, CoseAlg, CredentialRequest, PublicKey};

/// A credential the key made, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    pub public_key: PublicKey,
    pub user_verified: bool,
    /// Backup eligibility and state (BE, BS).
    pub backup: (bool, bool),
    pub sign_count: u32,
    pub aaguid: [u8; 16],
}

/// Why a key's answer at enrollment is not a credential Tessera can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("the key's answer is truncated or malformed ({0})")]
    Malformed(&'static str),
    #[error("the key answered for another relying party")]
    RpIdMismatch,
    #[error("the key did not register a touch")]
    NoPresence,
    #[error("the key did not verify its user (PIN or fingerprint), which was required")]
    NoVerification,
    #[error("the key made a {0} credential; Tessera takes ES256 and EdDSA (Ed25519)")]
    UnsupportedAlgorithm(String),
    #[error("the credential's public key is not a valid {0} key")]
    BadKey(&'static str),
    /// The key's format name, escaped and cut ([`crate::base::text::printable`]): it is the
    /// key's own text, shown to the administrator.
    #[error("attestation format \"{0}\" is not supported (packed, fido-u2f and none are)")]
    UnsupportedFormat(String),
    #[error("the attestation signature does not verify ({0})")]
    BadStatement(&'static str),
}

/// Check a key's answer to `request` and read the credential from it.
pub fn read_attestation(
    request: &CredentialRequest,
    response: &AttestationResponse,
) -> Result<NewCredential, AttestationError> {
    use AttestationError as E;
    let data = &response.auth_data;
    let auth = parse_auth_data(data).ok_or(E::Malformed("authenticator data"))?;
    let rp_hash: [u8; 32] = Sha256::digest(request.rp_id.as_bytes()).into();
    if !bool::from(rp_hash.ct_eq(&auth.rp_id_hash)) {
        return Err(E::RpIdMismatch);
    }
    if auth.flags & FLAG_UP == 0 {
        return Err(E::NoPresence);
    }
    let user_verified = auth.flags & FLAG_UV != 0;
    if request.verification && !user_verified {
        return Err(E::NoVerification);
    }
    if auth.flags & FLAG_AT == 0 {
        return Err(E::Malformed("no attested credential data"));
    }
    let rest = &data[AUTH_DATA_MIN..];
    let aaguid: [u8; 16] = rest
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or(E::Malformed("AAGUID"))?;
    let id_len = rest
        .get(16..18)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(E::Malformed("credential id length"))?;
    let credential_id = rest
        .get(18..18 + id_len)
        .ok_or(E::Malformed("credential id"))?
        .to_vec();
    if credential_id.is_empty() {
        return Err(E::Malformed("empty credential id"));
    }
    // The decoder advances the slice past the one CBOR item it read.
    let mut after_key: &[u8] = &rest[18 + id_len..];
    let value: Value =
        coset::cbor::de::from_reader(&mut after_key).map_err(|_| E::Malformed("COSE key"))?;
    // Only extensions may follow the key, and only when the ED flag says so.
    if !after_key.is_empty() && auth.flags & FLAG_ED == 0 {
        return Err(E::Malformed("bytes after the credential's key"));
    }
    let public_key = cose_public_key(value)?;
    if !request.algorithms.contains(&public_key.alg()) {
        return Err(E::UnsupportedAlgorithm(
            public_key.alg().as_str().to_string(),
        ));
    }
    check_statement(request, response, &credential_id, &public_key)?;
    Ok(NewCredential {
        credential_id,
        public_key,
        user_verified,
        backup: (auth.flags & FLAG_BE != 0, auth.flags & FLAG_BS != 0),
        sign_count: auth.sign_count,
        aaguid,
    })
}

fn param(key: &CoseKey, label: i64) -> Option<&Value> {
    key.params
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

fn bytes_param(key: &CoseKey, label: i64) -> Option<&[u8]> {
    match param(key, label)? {
        Value::Bytes(b) => Some(b),
        _ => None,
    }
}

/// ES256 (EC2 on P-256) or EdDSA (OKP on Ed25519), from a COSE_Key.
pub fn cose_public_key(value: Value) -> Result<PublicKey, AttestationError> {
    use AttestationError as E;
    let key = CoseKey::from_cbor_value(value).map_err(|_| E::Malformed("COSE key"))?;
    let alg = match &key.alg {
        Some(coset::Algorithm::Assigned(a)) => a.to_i64(),
        Some(_) | None => return Err(E::UnsupportedAlgorithm("an unnamed".into())),
    };
    let crv = match param(&key, iana::Ec2KeyParameter::Crv.to_i64()) {
        Some(Value::Integer(i)) => i64::try_from(*i).ok(),
        _ => None,
    };
    match (CoseAlg::from_cose(alg), &key.kty) {
        (Some(CoseAlg::Es256), KeyType::Assigned(iana::KeyType::EC2))
            if crv == Some(iana::EllipticCurve::P_256.to_i64()) =>
        {
            let x = bytes_param(&key, iana::Ec2KeyParameter::X.to_i64());
            let y = bytes_param(&key, iana::Ec2KeyParameter::Y.to_i64());
            let (Some(x), Some(y)) = (x, y) else {
                return Err(E::BadKey("P-256"));
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(E::BadKey("P-256"));
            }
            let mut raw = [0u8; 64];
            raw[..32].copy_from_slice(x);
            raw[32..].copy_from_slice(y);
            PublicKey::from_raw(CoseAlg::Es256, &raw).ok_or(E::BadKey("P-256"))
        }
        (Some(CoseAlg::EdDsa), KeyType::Assigned(iana::KeyType::OKP))
            if crv == Some(iana::EllipticCurve::Ed25519.to_i64()) =>
        {
            let x = bytes_param(&key, iana::OkpKeyParameter::X.to_i64());
            x.and_then(|x| PublicKey::from_raw(CoseAlg::EdDsa, x))
                .ok_or(E::BadKey("Ed25519"))
        }
        _ => Err(E::UnsupportedAlgorithm(format!("COSE algorithm {alg}"))),
    }
}

/// The P-256 key of a DER certificate (attestation certificates are P-256 in practice).
fn certificate_key(der: &[u8]) -> Result<PublicKey, AttestationError> {
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|_| AttestationError::BadStatement("unreadable certificate"))?;
    let spki = &cert.tbs_certificate().subject_public_key_info();
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or(AttestationError::BadStatement("certificate key"))?;
    PublicKey::from_raw(CoseAlg::Es256, point).ok_or(AttestationError::BadStatement(
        "certificate key is not P-256",
    ))
}

fn check_statement(
    request: &CredentialRequest,
    response: &AttestationResponse,
    credential_id: &[u8],
    public_key: &PublicKey,
) -> Result<(), AttestationError> {
    use AttestationError as E;
    let signed = |key: &PublicKey, message: &[u8]| {
        check_signature(key, message, &response.statement_sig)
            .map_err(|_| E::BadStatement("signature"))
    };
    let cdh = super::client_data_hash(&request.challenge);
    let mut message = response.auth_data.clone();
    message.extend_from_slice(&cdh);
    match response.format.as_str() {
        "none" => Ok(()),
        "packed" => match response.x5c.first() {
            None => {
                // Self attestation: signed by the new credential, with its algorithm.
                if response.statement_alg != Some(public_key.alg().cose()) {
                    return Err(E::BadStatement("alg is not the credential's"));
                }
                signed(public_key, &message)
            }
            Some(leaf) => {
                if response.statement_alg != Some(CoseAlg::Es256.cose()) {
                    return Err(E::BadStatement("certificate algorithm"));
                }
                signed(&certificate_key(leaf)?, &message)
            }
        },
        "fido-u2f" => {
            let PublicKey::Es256(point) = public_key else {
                return Err(E::BadStatement("fido-u2f needs a P-256 credential"));
            };
            let leaf = response
                .x5c
                .first()
                .ok_or(E::BadStatement("no certificate"))?;
            let mut m = vec![0u8];
            m.extend_from_slice(&response.auth_data[..32]);
            m.extend_from_slice(&cdh);
            m.extend_from_slice(credential_id);
            m.extend_from_slice(point);
            signed(&certificate_key(leaf)?, &m)
        }
        other => Err(E::UnsupportedFormat(crate::base::text::printable(other))),
    }
}

#[cfg(test)]
#[path = "attest_tests.rs"]
mod tests;
