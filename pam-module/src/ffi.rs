//! The PAM boundary: the exported `pam_sm_*` hooks (through pamsm's macro) and the few calls
//! into libpam that pamsm does not make safely. The only `unsafe` code of the module is here.
//!
//! Every hook runs its body inside `catch_unwind`: a panic becomes PAM_AUTH_ERR and a syslog
//! line, never an abort of sshd or sudo. The panic hook installed here belongs to this module's
//! own copy of std (the cdylib links its own), so it changes nothing in the host.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};

use pamsm::{Pam, PamError, PamFlags, PamLibExt, PamServiceModule, pam_module};
use tessera_common::{AuditSink, Severity, SyslogSink};
use zeroize::{Zeroize, Zeroizing};

use crate::conv::{ConvError, PamConversation, Style};
use crate::flow::{self, Session, Unprivileged};

/// The ident of this module's syslog lines.
pub const SYSLOG_IDENT: &str = "pam_tessera";

pub struct PamTessera;

pam_module!(PamTessera);

impl PamServiceModule for PamTessera {
    fn authenticate(pamh: Pam, flags: PamFlags, args: Vec<String>) -> PamError {
        guarded(|| authenticate(&pamh, flags, &args))
    }

    /// Tessera issues no credentials; authentication already decided.
    fn setcred(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        guarded(|| PamError::SUCCESS)
    }

    /// No account policy here (a lock is enforced when authenticating): step aside.
    fn acct_mgmt(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        guarded(|| PamError::IGNORE)
    }

    fn open_session(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        guarded(|| PamError::IGNORE)
    }

    fn close_session(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        guarded(|| PamError::IGNORE)
    }

    /// Second factors are managed with the `tessera` CLI, not `passwd`.
    fn chauthtok(_: Pam, _: PamFlags, _: Vec<String>) -> PamError {
        guarded(|| PamError::IGNORE)
    }
}

/// Run a hook body; a panic becomes PAM_AUTH_ERR (the panic hook has logged it).
pub(crate) fn guarded(body: impl FnOnce() -> PamError) -> PamError {
    install_panic_hook();
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(PamError::AUTH_ERR)
}

static PANIC_HOOK: Once = Once::new();

/// Send panic messages to syslog instead of the user's terminal. Installed once per process
/// (a `Once` survives fork intact: it is either done or not).
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        // Unit tests share the process with the test harness: keep its report too.
        #[cfg(test)]
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            #[cfg(test)]
            previous(info);
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            SyslogSink::new(SYSLOG_IDENT).message(
                Severity::Error,
                &format!("internal error (panic at {at}: {what}); authentication denied"),
            );
        }));
    });
}

fn authenticate(pamh: &Pam, flags: PamFlags, args: &[String]) -> PamError {
    let sink: Arc<dyn AuditSink> = Arc::new(SyslogSink::new(SYSLOG_IDENT));
    let user = match pamh.get_user(None) {
        Ok(Some(u)) => match u.to_str() {
            Ok(u) => Some(u.to_string()),
            Err(_) => None,
        },
        Ok(None) | Err(_) => {
            sink.message(Severity::Error, "cannot get the user name from PAM");
            return PamError::AUTH_ERR;
        }
    };
    let item = |v: Result<Option<&CStr>, PamError>| {
        v.ok()
            .flatten()
            .map(|s| String::from_utf8_lossy(s.to_bytes()).into_owned())
            .filter(|s| !s.is_empty())
    };
    let (account, passwd_failed) = match user.as_deref().map(crate::passwd::lookup) {
        Some(Ok(account)) => (account, false),
        Some(Err(e)) => {
            sink.message(
                Severity::Warning,
                &format!("cannot look the user up in the passwd database: {e}"),
            );
            (crate::passwd::Account::default(), true)
        }
        None => (crate::passwd::Account::default(), false),
    };
    let session = Session {
        user,
        passwd_name: account.other_name,
        user_uid: account.uid,
        passwd_failed,
        service: item(pamh.get_service()).unwrap_or_else(|| "unknown".to_string()),
        rhost: item(pamh.get_rhost()),
        caller_uid: nix::unistd::getuid().as_raw(),
        unprivileged: unprivileged(),
        silent: flags.contains(PamFlags::SILENT),
        ssh_auth_info: item(pamh.getenv("SSH_AUTH_INFO_0")),
        tty: tty(pamh),
    };
    let mut conv = PamConversation { pamh };
    let decision = flow::authenticate(args, &session, &mut conv, sink);
    flow::pam_code(&decision)
}

/// The caller's ids and capabilities when it does not run as root (nothing is read for root's
/// logins, which are nearly all of them).
fn unprivileged() -> Option<Unprivileged> {
    let euid = nix::unistd::geteuid().as_raw();
    (euid != 0).then(|| Unprivileged {
        euid,
        // Unknown is treated as "can go back": the step-aside never applies then.
        saved_uid: nix::unistd::getresuid().map_or(u32::MAX, |ids| ids.saved.as_raw()),
        // All three group ids one (else a setgid program's group would be the password's alone).
        gids_one: nix::unistd::getresgid()
            .is_ok_and(|g| g.real == g.effective && g.effective == g.saved),
        has_capabilities: has_capabilities(),
    })
}

/// Whether this thread holds, or could raise, any capability: its permitted, effective or
/// ambient set is not empty (/proc/thread-self/status: capabilities are per thread); true when
/// that cannot be read.
fn has_capabilities() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/thread-self/status") else {
        return true;
    };
    ["CapPrm:", "CapEff:", "CapAmb:"].iter().any(|set| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(set))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_none_or(|caps| caps != 0)
    })
}

// ---------------------------------------------------------------------------------------------
// Raw libpam calls. pamsm's own `conv` neither frees nor wipes the reply and does not check it
// for NULL, so the conversation is called here directly.

/// `struct pam_message`.
#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

/// `struct pam_response`.
#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = unsafe extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

/// `struct pam_conv`.
#[repr(C)]
struct PamConv {
    conv: Option<ConvFn>,
    appdata_ptr: *mut c_void,
}

const PAM_TTY: c_int = 3;
const PAM_CONV: c_int = 5;
const PAM_SUCCESS: c_int = 0;

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_get_item(pamh: *const c_void, item_type: c_int, item: *mut *const c_void) -> c_int;
}

unsafe extern "C" {
    /// libc's `free`: the application allocated the reply with `malloc`.
    fn free(ptr: *mut c_void);
}

// `pamsm::Pam` must stay a bare handle pointer for `raw_handle` to be sound.
const _: () = assert!(std::mem::size_of::<Pam>() == std::mem::size_of::<*const c_void>());

fn raw_handle(pamh: &Pam) -> *const c_void {
    // SAFETY: pamsm 0.5.5 (pinned with `=` in Cargo.toml) declares `#[repr(transparent)] pub
    // struct Pam(PamHandle)` with `PamHandle = *const c_void`, so a reference to a `Pam` points
    // at an initialised handle pointer of the same layout; we only read it.
    unsafe { *std::ptr::from_ref(pamh).cast::<*const c_void>() }
}

/// PAM_TTY, when set and text (pamsm has no call for it).
fn tty(pamh: &Pam) -> Option<String> {
    let handle = raw_handle(pamh);
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: `handle` is the live handle PAM passed to this hook; `item` is a valid out
    // pointer. PAM_TTY yields a NUL-terminated string owned by PAM, or NULL.
    let rc = unsafe { pam_get_item(handle, PAM_TTY, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return None;
    }
    // SAFETY: a non-NULL PAM_TTY item is a C string PAM keeps for the transaction; it is
    // copied out at once.
    let text = unsafe { CStr::from_ptr(item.cast::<c_char>()) };
    text.to_str()
        .ok()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Send one message; for a prompt, return the reply. The reply is copied into a zeroizing
/// buffer, then PAM's copy is wiped and freed, whatever the conversation returned.
pub(crate) fn converse(
    pamh: &Pam,
    style: Style,
    text: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>, ConvError> {
    let handle = raw_handle(pamh);
    let mut item: *const c_void = std::ptr::null();
    // SAFETY: `handle` is the live handle PAM passed to this hook; `item` is a valid out
    // pointer. PAM_CONV yields a pointer to the application's `struct pam_conv` or NULL.
    let rc = unsafe { pam_get_item(handle, PAM_CONV, &mut item) };
    if rc != PAM_SUCCESS {
        return Err(ConvError::Failed(rc));
    }
    if item.is_null() {
        return Err(ConvError::NoConversation);
    }
    // SAFETY: a non-NULL PAM_CONV item is a `struct pam_conv` owned by the application, valid
    // for the whole transaction (pam_start copies it); `PamConv` has its C layout.
    let pconv = unsafe { &*item.cast::<PamConv>() };
    let Some(conv_fn) = pconv.conv else {
        return Err(ConvError::NoConversation);
    };
    let ctext = CString::new(text).map_err(|_| ConvError::Nul)?;
    let message = PamMessage {
        msg_style: style as c_int,
        msg: ctext.as_ptr(),
    };
    let mut messages: *const PamMessage = &message;
    let mut resp: *mut PamResponse = std::ptr::null_mut();
    // SAFETY: we pass one valid message (its text outlives the call) and a valid out pointer
    // for the responses, as pam_conv(3) requires; `appdata_ptr` is the application's own.
    let rc = unsafe { conv_fn(1, &mut messages, &mut resp, pconv.appdata_ptr) };
    let reply = take_reply(resp);
    if rc != PAM_SUCCESS {
        return Err(ConvError::Failed(rc));
    }
    Ok(reply)
}

/// Copy the first reply out of a `pam_response` array, wipe and free everything.
fn take_reply(resp: *mut PamResponse) -> Option<Zeroizing<Vec<u8>>> {
    if resp.is_null() {
        return None;
    }
    // SAFETY: a non-NULL `resp` is an array of (at least) one `struct pam_response` that the
    // conversation allocated with malloc for our one message; we own it from here on.
    let text = unsafe { (*resp).resp };
    let reply = if text.is_null() {
        None
    } else {
        // SAFETY: `text` is a NUL-terminated string the conversation allocated with malloc.
        let len = unsafe { CStr::from_ptr(text) }.to_bytes().len();
        // SAFETY: `text` points at `len` initialised bytes that we own exclusively.
        let bytes = unsafe { std::slice::from_raw_parts_mut(text.cast::<u8>(), len) };
        let copy = Zeroizing::new(bytes.to_vec());
        bytes.zeroize();
        // SAFETY: malloc'd by the application, freed once, not used after.
        unsafe { free(text.cast()) };
        Some(copy)
    };
    // SAFETY: the array was malloc'd by the application; freed once, not used after.
    unsafe { free(resp.cast()) };
    reply
}

/// PAM_AUTHTOK as left by an earlier module, copied into a zeroizing buffer.
pub(crate) fn authtok(pamh: &Pam) -> Option<Zeroizing<Vec<u8>>> {
    match pamh.get_cached_authtok() {
        Ok(Some(tok)) => Some(Zeroizing::new(tok.to_bytes().to_vec())),
        Ok(None) | Err(_) => None,
    }
}

/// Replace PAM_AUTHTOK (libpam keeps its own copy); our temporary copy is wiped.
pub(crate) fn set_authtok(pamh: &Pam, value: &str) -> Result<(), ConvError> {
    let mut c = CString::new(value.as_bytes().to_vec()).map_err(|e| {
        let _ = Zeroizing::new(e.into_vec());
        ConvError::Nul
    })?;
    let result = pamh
        .set_authtok(&c)
        .map_err(|e| ConvError::SetItem(e as i32));
    let mut bytes = std::mem::take(&mut c).into_bytes();
    bytes.zeroize();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_hook_body_denies() {
        assert_eq!(guarded(|| panic!("boom")), PamError::AUTH_ERR);
        // And the module keeps working afterwards.
        assert_eq!(guarded(|| PamError::SUCCESS), PamError::SUCCESS);
    }

    #[test]
    fn a_missing_reply_array_yields_no_answer() {
        assert!(take_reply(std::ptr::null_mut()).is_none());
    }
}
