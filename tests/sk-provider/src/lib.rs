//! # tessera-sk-provider: a SOFTWARE security key for TESTS. NEVER FOR REAL USE.
//!
//! **This library gives no security at all.** The private key of every "security key" it makes
//! is written, unencrypted, into the key handle, which OpenSSH stores in the private key file
//! (`id_ed25519_sk`): whoever reads that file has the key. No touch, no PIN, no hardware. It
//! exists so that the end-to-end tests can have a real `ssh-keygen` make real `sk-*` keys and a
//! real `ssh` sign with them, and a real `sshd` verify those signatures, on a machine with no
//! authenticator (see tests/tests/e2e/ssh_sk.rs). It is never packaged or installed.
//!
//! It implements OpenSSH's SecurityKeyProvider interface (sk-api.h, API version 10 as in
//! OpenSSH 8.9–9.x, Debian 12's 9.2p1 included), loaded with `ssh-keygen -w PATH`,
//! `ssh -o SecurityKeyProvider=PATH` or `SSH_SK_PROVIDER=PATH`:
//!
//! - `sk_enroll`: a new Ed25519 or P-256 key; no attestation (empty certificate and signature).
//! - `sk_sign`: signs PROTOCOL.u2f's `SHA-256(application) ‖ flags ‖ counter ‖ SHA-256(message)`
//!   with the user-presence flag set and the clock (seconds) as the counter: no state file.
//! - `sk_load_resident_keys`: unsupported (no resident keys), as are PIN-protected
//!   (verify-required) keys and any option marked required.
//!
//! The keys and signatures are in `soft.rs`, in safe code. This file is the C boundary, the one
//! place in the workspace where `unsafe` is allowed: every block says why it is sound, every
//! entry point runs under `catch_unwind` (a panic becomes `SSH_SK_ERR_GENERAL`), and everything
//! handed to OpenSSH is allocated with the C allocator, since OpenSSH releases it with `free`.

// The workspace denies unsafe code; a C ABI library cannot be written without it. Each unsafe
// operation sits in its own block with a SAFETY comment, even inside unsafe functions.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod soft;

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use soft::{Alg, SoftError};

/// sk-api.h `SSH_SK_VERSION_MAJOR` of OpenSSH 8.9 to 9.x (9.2p1's value).
const SSH_SK_VERSION_MAJOR: u32 = 0x000a_0000;
const SSH_SK_ERR_GENERAL: c_int = -1;
const SSH_SK_ERR_UNSUPPORTED: c_int = -2;

/// sk-api.h `struct sk_enroll_response`.
#[repr(C)]
pub struct SkEnrollResponse {
    flags: u8,
    public_key: *mut u8,
    public_key_len: usize,
    key_handle: *mut u8,
    key_handle_len: usize,
    signature: *mut u8,
    signature_len: usize,
    attestation_cert: *mut u8,
    attestation_cert_len: usize,
    authdata: *mut u8,
    authdata_len: usize,
}

/// sk-api.h `struct sk_sign_response`.
#[repr(C)]
pub struct SkSignResponse {
    flags: u8,
    counter: u32,
    sig_r: *mut u8,
    sig_r_len: usize,
    sig_s: *mut u8,
    sig_s_len: usize,
}

/// sk-api.h `struct sk_option`.
#[repr(C)]
pub struct SkOption {
    name: *mut c_char,
    value: *mut c_char,
    required: u8,
}

/// sk-api.h `struct sk_resident_key`: never built here (no resident keys), so opaque.
#[repr(C)]
pub struct SkResidentKey {
    _private: [u8; 0],
}

/// The API version this provider implements.
#[unsafe(no_mangle)]
pub extern "C" fn sk_api_version() -> u32 {
    SSH_SK_VERSION_MAJOR
}

/// Make a new key (sk-api.h `sk_enroll`).
///
/// # Safety
///
/// The caller (OpenSSH) passes a NUL-terminated `application`, `challenge` pointing to
/// `challenge_len` bytes, `options` null or a null-terminated array of valid options, and a
/// writable `enroll_response`; it releases what is written there with `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_enroll(
    alg: u32,
    challenge: *const u8,
    challenge_len: usize,
    application: *const c_char,
    flags: u8,
    _pin: *const c_char,
    options: *mut *mut SkOption,
    enroll_response: *mut *mut SkEnrollResponse,
) -> c_int {
    guarded(|| {
        let alg = Alg::from_api(alg)?;
        soft::check_flags(flags)?;
        // SAFETY: the caller's contract above.
        unsafe { check_options(options)? };
        // SAFETY: as above; the challenge is only checked to be there (no attestation is made).
        unsafe { bytes(challenge, challenge_len)? };
        // SAFETY: as above.
        let application = unsafe { c_str(application)? };
        if enroll_response.is_null() {
            return Err(SoftError::General);
        }
        let key = soft::enroll(alg, application)?;
        let public_key = CBuf::copy(&key.public_key)?;
        let key_handle = CBuf::copy(&key.key_handle)?;
        let (public_key, public_key_len) = public_key.into_raw();
        let (key_handle, key_handle_len) = key_handle.into_raw();
        let response = SkEnrollResponse {
            // OpenSSH keeps these as the key's flags: touch required for every signature.
            flags,
            public_key,
            public_key_len,
            key_handle,
            key_handle_len,
            signature: std::ptr::null_mut(),
            signature_len: 0,
            attestation_cert: std::ptr::null_mut(),
            attestation_cert_len: 0,
            authdata: std::ptr::null_mut(),
            authdata_len: 0,
        };
        let Some(boxed) = c_box(response) else {
            // SAFETY: the two buffers were just allocated by CBuf::copy with these lengths and
            // were not handed to anyone.
            unsafe {
                release(public_key, public_key_len);
                release(key_handle, key_handle_len);
            }
            return Err(SoftError::General);
        };
        // SAFETY: checked non-null above; the caller gave it for writing.
        unsafe { *enroll_response = boxed };
        Ok(())
    })
}

/// Sign `data` with the key in `key_handle` (sk-api.h `sk_sign`).
///
/// # Safety
///
/// The caller (OpenSSH) passes `data` pointing to `data_len` bytes, `key_handle` to
/// `key_handle_len` bytes, a NUL-terminated `application`, `options` null or a null-terminated
/// array of valid options, and a writable `sign_response`, which it releases with `free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_sign(
    alg: u32,
    data: *const u8,
    data_len: usize,
    application: *const c_char,
    key_handle: *const u8,
    key_handle_len: usize,
    flags: u8,
    _pin: *const c_char,
    options: *mut *mut SkOption,
    sign_response: *mut *mut SkSignResponse,
) -> c_int {
    guarded(|| {
        let alg = Alg::from_api(alg)?;
        soft::check_flags(flags)?;
        // SAFETY: the caller's contract above, for each pointer.
        let (message, handle, application) = unsafe {
            check_options(options)?;
            (
                bytes(data, data_len)?,
                bytes(key_handle, key_handle_len)?,
                c_str(application)?,
            )
        };
        if sign_response.is_null() {
            return Err(SoftError::General);
        }
        let signed = soft::sign(alg, application, handle, message, soft::clock_counter())?;
        let sig_r = CBuf::copy(&signed.sig_r)?;
        let sig_s = match &signed.sig_s {
            Some(s) => Some(CBuf::copy(s)?),
            None => None,
        };
        let (sig_r, sig_r_len) = sig_r.into_raw();
        let (sig_s, sig_s_len) = sig_s.map_or((std::ptr::null_mut(), 0), CBuf::into_raw);
        let response = SkSignResponse {
            flags: signed.flags,
            counter: signed.counter,
            sig_r,
            sig_r_len,
            sig_s,
            sig_s_len,
        };
        let Some(boxed) = c_box(response) else {
            // SAFETY: allocated just above by CBuf::copy (or null), never handed over.
            unsafe {
                release(sig_r, sig_r_len);
                release(sig_s, sig_s_len);
            }
            return Err(SoftError::General);
        };
        // SAFETY: checked non-null above; the caller gave it for writing.
        unsafe { *sign_response = boxed };
        Ok(())
    })
}

/// List the keys stored on the device (sk-api.h `sk_load_resident_keys`): this provider stores
/// none, so `ssh-keygen -K` is told the operation is unsupported.
///
/// # Safety
///
/// `rks` and `nrks` are null or writable, as OpenSSH passes them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_load_resident_keys(
    _pin: *const c_char,
    _options: *mut *mut SkOption,
    rks: *mut *mut *mut SkResidentKey,
    nrks: *mut usize,
) -> c_int {
    guarded(|| {
        // SAFETY: each pointer is checked for null; the caller gave them for writing.
        unsafe {
            if !rks.is_null() {
                *rks = std::ptr::null_mut();
            }
            if !nrks.is_null() {
                *nrks = 0;
            }
        }
        Err(SoftError::Unsupported)
    })
}

/// Run an entry point's body: its error as an sk-api code, a panic as `SSH_SK_ERR_GENERAL`
/// (never an unwind into OpenSSH).
fn guarded(body: impl FnOnce() -> Result<(), SoftError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(SoftError::Unsupported)) => SSH_SK_ERR_UNSUPPORTED,
        Ok(Err(SoftError::General)) | Err(_) => SSH_SK_ERR_GENERAL,
    }
}

/// `len` bytes at `ptr`; an empty slice when `len` is 0 (whatever `ptr`).
///
/// # Safety
///
/// When `len > 0` and `ptr` is not null, `ptr` points to `len` readable bytes that stay valid
/// and unchanged for the lifetime `'a` (the duration of the call OpenSSH made).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], SoftError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(SoftError::General);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes for 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The bytes of a C string, without its NUL; an error when null or empty.
///
/// # Safety
///
/// `ptr` is null or points to a NUL-terminated string valid for `'a`.
unsafe fn c_str<'a>(ptr: *const c_char) -> Result<&'a [u8], SoftError> {
    if ptr.is_null() {
        return Err(SoftError::General);
    }
    // SAFETY: non-null and NUL-terminated, by the caller's guarantee.
    let s = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    if s.is_empty() {
        return Err(SoftError::General);
    }
    Ok(s)
}

/// sk-api options: unknown ones may be ignored unless marked required, and this provider knows
/// none it could honour ("device" and "user" name hardware and FIDO2 user ids it has not got).
///
/// # Safety
///
/// `options` is null or a null-terminated array of pointers to valid `SkOption`s.
unsafe fn check_options(options: *mut *mut SkOption) -> Result<(), SoftError> {
    if options.is_null() {
        return Ok(());
    }
    let mut i = 0;
    loop {
        // SAFETY: the array is null-terminated and we stop at the terminator, so index i is
        // within it.
        let option = unsafe { *options.add(i) };
        if option.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null entry points to a valid option.
        if unsafe { (*option).required } != 0 {
            return Err(SoftError::Unsupported);
        }
        i += 1;
    }
}

/// A copy of some bytes in C-allocated memory, zeroed and freed on drop unless handed over to
/// OpenSSH with [`CBuf::into_raw`].
struct CBuf {
    ptr: *mut u8,
    len: usize,
}

impl CBuf {
    fn copy(bytes: &[u8]) -> Result<CBuf, SoftError> {
        // SAFETY: malloc has no preconditions; at least one byte so that a null return always
        // means failure.
        let ptr = unsafe { libc::malloc(bytes.len().max(1)) }.cast::<u8>();
        if ptr.is_null() {
            return Err(SoftError::General);
        }
        // SAFETY: `ptr` is a fresh allocation of at least `bytes.len()` bytes, which cannot
        // overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        Ok(CBuf {
            ptr,
            len: bytes.len(),
        })
    }

    /// Give up ownership: the caller (OpenSSH) frees it.
    fn into_raw(self) -> (*mut u8, usize) {
        let out = (self.ptr, self.len);
        std::mem::forget(self);
        out
    }
}

impl Drop for CBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from CBuf::copy and have not been handed over (into_raw
        // forgets the value, so this never runs for those).
        unsafe { release(self.ptr, self.len) };
    }
}

/// Zero and free a buffer of ours; nothing when null.
///
/// # Safety
///
/// `ptr` is null or was returned by `libc::malloc` for at least `len` bytes, and is not used
/// again.
unsafe fn release(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    for i in 0..len {
        // SAFETY: `i < len` writable bytes at `ptr`, by the contract; volatile so that the
        // zeroing of key material is not optimised away before the free.
        unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
    }
    // SAFETY: allocated by malloc and not used again, by the contract.
    unsafe { libc::free(ptr.cast()) };
}

/// Move a response struct into C-allocated memory, for OpenSSH to `free`. `None` when out of
/// memory (the value is then dropped; its pointers stay the caller's to release).
fn c_box<T>(value: T) -> Option<*mut T> {
    // malloc's memory is aligned for any fundamental type; the response structs need 8.
    if std::mem::align_of::<T>() > 16 {
        return None;
    }
    // SAFETY: calloc has no preconditions.
    let ptr = unsafe { libc::calloc(1, std::mem::size_of::<T>().max(1)) }.cast::<T>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: fresh, large enough and suitably aligned (checked above) for a T.
    unsafe { ptr.write(value) };
    Some(ptr)
}
