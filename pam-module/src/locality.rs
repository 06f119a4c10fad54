//! Is this login happening at this machine? Only then may a security key plugged into it be
//! asked: whoever sits here must never be asked to touch a key for someone else's login (a
//! `sudo` typed in an SSH session), and a key left plugged in must never sign for a stranger.
//!
//! PAM_RHOST alone does not tell: sshd sets it, but `sudo` and `su` run inside an SSH session do
//! not. systemd-logind does: the process belongs to a session (its cgroup
//! `…/session-N.scope`), and logind's record of it (`/run/systemd/sessions/N`) says whether it
//! is remote and at which seat. Without a session (the console's `login`, before pam_systemd
//! made one) a virtual console as PAM_TTY (`/dev/tty1`) is local. Anything else is not known to
//! be local, and no key is asked unless the stack says so (`fido_any_session`).

use std::path::Path;

/// Where a login is, as far as the module can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locality {
    /// At this machine.
    Local,
    /// Elsewhere (PAM_RHOST set, or a remote logind session).
    Remote,
    /// Not known (no logind session, not a virtual console).
    Unknown,
}

/// The login of this process, with PAM_RHOST and PAM_TTY. The session must be the caller's
/// (the real uid: who typed `sudo` or `su`).
pub fn of_this_process(rhost: Option<&str>, tty: Option<&str>, caller: u32) -> Locality {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let record = session_id(&cgroup)
        .and_then(|id| std::fs::read_to_string(Path::new("/run/systemd/sessions").join(id)).ok());
    decide(rhost, tty, record.as_deref(), caller)
}

/// The decision, from what was read: `record` is logind's file of the process's session.
pub fn decide(
    rhost: Option<&str>,
    tty: Option<&str>,
    record: Option<&str>,
    caller: u32,
) -> Locality {
    if rhost.is_some_and(|h| !h.is_empty()) {
        return Locality::Remote;
    }
    match record.map(|r| session_is_local(r, caller)) {
        Some(true) => Locality::Local,
        Some(false) => Locality::Remote,
        None if tty.is_some_and(is_virtual_console) => Locality::Local,
        None => Locality::Unknown,
    }
}

/// The logind session id in `/proc/self/cgroup`, by systemd's own rule (`cg_path_get_session`):
/// on the `name=systemd` line (legacy and hybrid hosts), else the unified one (`0::`), the first path
/// component that is not a slice must be `session-ID.scope`
/// (`0::/user.slice/user-1000.slice/session-3.scope`). Anything under `user@UID.service` is in
/// no session: that subtree is the user's own, and a cgroup the user names `session-5.scope`
/// there is not logind's session 5.
pub fn session_id(cgroup: &str) -> Option<&str> {
    let path_of = |want: &dyn Fn(&str) -> bool| {
        cgroup.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            want(controllers).then_some(path)
        })
    };
    // A legacy or hybrid host tracks units on the name=systemd line (its `0::` line may just
    // say `/`); a unified host has only `0::`.
    let path = path_of(&|c| c == "name=systemd").or_else(|| path_of(&|c| c.is_empty()))?;
    let unit = path
        .split('/')
        .filter(|c| !c.is_empty())
        .find(|c| !c.ends_with(".slice"))?;
    let id = unit.strip_prefix("session-")?.strip_suffix(".scope")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
}

/// A logind session record that says: the caller's (any session for root: a display manager's
/// worker runs as root in the greeter's session), active, not remote, at a seat.
pub fn session_is_local(record: &str, uid: u32) -> bool {
    let value = |key: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    value("REMOTE") == Some("0")
        && value("SEAT").is_some_and(|s| !s.is_empty())
        && value("STATE") == Some("active")
        && (uid == 0 || value("UID") == Some(uid.to_string().as_str()))
}

/// `/dev/ttyN` or `ttyN`, N from 1 to 63: a virtual console of this machine (not a serial line,
/// not a pseudo-terminal).
pub fn is_virtual_console(tty: &str) -> bool {
    let name = tty.strip_prefix("/dev/").unwrap_or(tty);
    name.strip_prefix("tty")
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'))
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| (1..=63).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str =
        "UID=1000\nUSER=alice\nACTIVE=1\nSTATE=active\nREMOTE=0\nTYPE=wayland\nSEAT=seat0\n";
    const REMOTE: &str =
        "UID=1000\nUSER=alice\nREMOTE=1\nTYPE=tty\nREMOTE_HOST=203.0.113.9\nSERVICE=sshd\n";

    #[test]
    fn the_session_of_a_process_is_read_from_its_cgroup() {
        assert_eq!(
            session_id("0::/user.slice/user-1000.slice/session-3.scope\n"),
            Some("3")
        );
        assert_eq!(
            session_id("12:pids:/x\n0::/user.slice/user-0.slice/session-c2.scope\n"),
            Some("c2")
        );
        // cgroup v1 / hybrid: the name=systemd line, wherever it is, whatever `0::` says.
        assert_eq!(
            session_id("9:name=systemd:/user.slice/user-1000.slice/session-4.scope\n3:cpu:/\n"),
            Some("4")
        );
        assert_eq!(
            session_id("9:name=systemd:/user.slice/user-1000.slice/session-4.scope\n0::/\n"),
            Some("4")
        );
        assert_eq!(session_id("0::/system.slice/getty@tty1.service\n"), None);
        assert_eq!(session_id("0::/user.slice/session-../x.scope\n"), None);
        assert_eq!(session_id("0::/session-.scope\n"), None);
        assert_eq!(session_id(""), None);
    }

    #[test]
    fn a_cgroup_the_user_named_after_a_session_is_no_session() {
        // The user's own subtree (systemd-run --user, a desktop terminal's app scope).
        for path in [
            "0::/user.slice/user-1001.slice/user@1001.service/session-5.scope\n",
            "0::/user.slice/user-1001.slice/user@1001.service/app.slice/run-x.service/session-5.scope\n",
            "0::/user.slice/user-1001.slice/user@1001.service/app.slice/app-gnome-vte-1.scope\n",
            // Another hierarchy's line first, a user-made group there.
            "4:memory:/session-5.scope\n9:name=systemd:/user.slice/user-1001.slice/user@1001.service/x\n",
            "4:memory:/session-5.scope\n",
        ] {
            assert_eq!(session_id(path), None, "{path}");
        }
    }

    #[test]
    fn only_the_callers_active_session_at_a_seat_that_is_not_remote_is_local() {
        assert!(session_is_local(LOCAL, 1000));
        assert!(!session_is_local(LOCAL, 1001), "someone else's session");
        assert!(
            session_is_local(LOCAL, 0),
            "root's worker in the greeter's session"
        );
        assert!(!session_is_local(REMOTE, 1000));
        assert!(!session_is_local(
            &LOCAL.replace("STATE=active", "STATE=closing"),
            1000
        ));
        // Not remote, but at no seat (a cron or ssh-less service session).
        assert!(!session_is_local(
            "UID=1\nSTATE=active\nREMOTE=0\nTYPE=unspecified\n",
            1
        ));
        assert!(!session_is_local("UID=1\nSTATE=active\nSEAT=seat0\n", 1));
        assert!(!session_is_local(
            "UID=1\nSTATE=active\nREMOTE=0\nSEAT=\n",
            1
        ));
    }

    #[test]
    fn sudo_in_an_ssh_session_is_remote_even_without_rhost() {
        assert_eq!(
            decide(None, Some("/dev/pts/0"), Some(REMOTE), 1000),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/tty1"), Some(REMOTE), 1000),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/pts/1"), Some(LOCAL), 1000),
            Locality::Local
        );
        assert_eq!(
            decide(Some("192.0.2.1"), None, Some(LOCAL), 1000),
            Locality::Remote
        );
    }

    #[test]
    fn without_a_session_only_a_virtual_console_is_local() {
        assert_eq!(decide(None, Some("/dev/tty2"), None, 0), Locality::Local);
        assert_eq!(decide(None, Some("tty1"), None, 0), Locality::Local);
        assert_eq!(decide(None, Some("/dev/pts/3"), None, 0), Locality::Unknown);
        assert_eq!(decide(None, Some("/dev/ttyS0"), None, 0), Locality::Unknown);
        assert_eq!(decide(None, Some("ssh"), None, 0), Locality::Unknown);
        assert_eq!(decide(None, None, None, 0), Locality::Unknown);
        assert_eq!(
            decide(Some(""), Some("/dev/tty1"), None, 0),
            Locality::Local
        );
        for not in [
            "tty0",
            "tty64",
            "tty01",
            "/dev/tty",
            "ttyx",
            "/dev/console",
            "tty+5",
            "tty-1",
        ] {
            assert!(!is_virtual_console(not), "{not}");
        }
    }
}
