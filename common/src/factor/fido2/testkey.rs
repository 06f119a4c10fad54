//! A key that signs in memory, for the core's own tests: real P-256 and Ed25519 signatures over
//! byte-exact authenticator data.

use coset::cbor::value::Value;
use coset::iana;
use coset::{AsCborValue, CoseKeyBuilder};
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest, Sha256};

use super::verify::{FLAG_AT, FLAG_UP};
use super::{
    AssertionRequest, AssertionResponse, AttestationResponse, CoseAlg, CredentialRequest, PublicKey,
};

pub enum TestKey {
    P256(p256::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
}

impl TestKey {
    pub fn p256(seed: u8) -> TestKey {
        let mut b = [seed; 32];
        b[0] = 1;
        TestKey::P256(p256::ecdsa::SigningKey::from_slice(&b).expect("scalar"))
    }

    pub fn ed(seed: u8) -> TestKey {
        TestKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    pub fn alg(&self) -> CoseAlg {
        match self {
            TestKey::P256(_) => CoseAlg::Es256,
            TestKey::Ed(_) => CoseAlg::EdDsa,
        }
    }

    pub fn public(&self) -> PublicKey {
        match self {
            TestKey::P256(k) => {
                let point = k.verifying_key().to_sec1_point(false);
                PublicKey::from_raw(CoseAlg::Es256, point.as_bytes()).expect("point")
            }
            TestKey::Ed(k) => PublicKey::EdDsa(k.verifying_key().to_bytes()),
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            TestKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
            TestKey::Ed(k) => k.sign(msg).to_bytes().to_vec(),
        }
    }

    /// The credential public key as CBOR COSE_Key.
    pub fn cose(&self) -> Vec<u8> {
        let key = match self {
            TestKey::P256(k) => {
                let p = k.verifying_key().to_sec1_point(false);
                let b = p.as_bytes();
                CoseKeyBuilder::new_ec2_pub_key(
                    iana::EllipticCurve::P_256,
                    b[1..33].to_vec(),
                    b[33..].to_vec(),
                )
                .algorithm(iana::Algorithm::ES256)
                .build()
            }
            TestKey::Ed(k) => CoseKeyBuilder::new_okp_key()
                .param(
                    iana::OkpKeyParameter::Crv as i64,
                    Value::from(iana::EllipticCurve::Ed25519 as i64),
                )
                .param(
                    iana::OkpKeyParameter::X as i64,
                    Value::Bytes(k.verifying_key().to_bytes().to_vec()),
                )
                .algorithm(iana::Algorithm::EdDSA)
                .build(),
        };
        let mut out = Vec::new();
        coset::cbor::ser::into_writer(&key.to_cbor_value().expect("cbor"), &mut out)
            .expect("write");
        out
    }

    /// authenticatorData without attested credential data.
    pub fn auth_data(rp: &str, flags: u8, count: u32) -> Vec<u8> {
        let mut a = Sha256::digest(rp.as_bytes()).to_vec();
        a.push(flags);
        a.extend_from_slice(&count.to_be_bytes());
        a
    }

    /// authenticatorData with this key as the attested credential `id`.
    pub fn attested_data(&self, rp: &str, flags: u8, count: u32, id: &[u8]) -> Vec<u8> {
        let mut a = TestKey::auth_data(rp, flags | FLAG_AT, count);
        a.extend_from_slice(&[0xAA; 16]);
        a.extend_from_slice(&u16::try_from(id.len()).expect("len").to_be_bytes());
        a.extend_from_slice(id);
        a.extend_from_slice(&self.cose());
        a
    }

    /// A packed self attestation of credential `id` for `request`.
    pub fn attest(&self, request: &CredentialRequest, flags: u8, id: &[u8]) -> AttestationResponse {
        let auth = self.attested_data(&request.rp_id, flags | FLAG_UP, 0, id);
        let mut m = auth.clone();
        m.extend_from_slice(&super::client_data_hash(&request.challenge));
        AttestationResponse {
            format: "packed".into(),
            statement_sig: self.sign(&m),
            statement_alg: Some(self.alg().cose()),
            x5c: Vec::new(),
            auth_data: auth,
        }
    }

    /// An assertion by credential `id` over `auth` ‖ SHA-256(`challenge`).
    pub fn assert_raw(&self, id: &[u8], auth: Vec<u8>, challenge: &[u8; 32]) -> AssertionResponse {
        let mut msg = auth.clone();
        msg.extend_from_slice(&super::client_data_hash(challenge));
        AssertionResponse {
            credential_id: Some(id.to_vec()),
            signature: self.sign(&msg),
            auth_data: auth,
        }
    }

    /// An assertion answering `request`.
    pub fn assert(
        &self,
        request: &AssertionRequest,
        id: &[u8],
        flags: u8,
        count: u32,
    ) -> AssertionResponse {
        let auth = TestKey::auth_data(&request.rp_id, flags, count);
        self.assert_raw(id, auth, &request.challenge)
    }
}
