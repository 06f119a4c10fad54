//! Layer 0: pure building blocks that import nothing of this crate outside `base/` (checked by
//! `lib.rs`'s `layers` test). Each has its own error type.
//!
//! - [`clock`]: time as a parameter;
//! - [`secret`]: secrets in memory, the key file, sealing (`KeyError`);
//! - [`otp`]: HOTP/TOTP, pure;
//! - [`kdf`]: Argon2id, counted (`KdfError`);
//! - [`names`]: user names and their canonical key (`NameError`);
//! - [`address`]: e-mail addresses (`AddressError`);
//! - [`phone`]: phone numbers, E.164 (`PhoneError`);
//! - [`origin`]: where a login comes from, one key per place;
//! - [`fido2`]: what a stored FIDO2 credential is (algorithm, public key, options);
//! - [`qr`]: QR codes for a terminal;
//! - [`text`]: untrusted text made printable, templates filled;
//! - [`trust`]: files only root could have written, checked before they are believed.

pub mod address;
pub mod clock;
pub mod fido2;
pub mod kdf;
pub mod names;
pub mod origin;
pub mod otp;
pub mod phone;
pub mod qr;
pub mod secret;
pub mod text;
pub mod trust;
