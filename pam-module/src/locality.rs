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

/// The login of this process, with PAM_RHOST and PAM_TTY.
pub fn of_this_process(rhost: Option<&str>, tty: Option<&str>) -> Locality {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let record = session_id(&cgroup)
        .and_then(|id| std::fs::read_to_string(Path::new("/run/systemd/sessions").join(id)).ok());
    decide(rhost, tty, record.as_deref())
}

/// The decision, from what was read: `record` is logind's file of the process's session.
pub fn decide(rhost: Option<&str>, tty: Option<&str>, record: Option<&str>) -> Locality {
    if rhost.is_some_and(|h| !h.is_empty()) {
        return Locality::Remote;
    }
    match record.map(session_is_local) {
        Some(true) => Locality::Local,
        Some(false) => Locality::Remote,
        None if tty.is_some_and(is_virtual_console) => Locality::Local,
        None => Locality::Unknown,
    }
}

/// The logind session id in `/proc/self/cgroup` (`0::/user.slice/user-1000.slice/session-3.scope`).
/// A user cannot move a process into another session's scope: those cgroups are root's.
pub fn session_id(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let scope = path.rsplit('/').next()?;
        let id = scope.strip_prefix("session-")?.strip_suffix(".scope")?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(id)
    })
}

/// A logind session record that says: not remote, at a seat.
pub fn session_is_local(record: &str) -> bool {
    let value = |key: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    value("REMOTE") == Some("0") && value("SEAT").is_some_and(|s| !s.is_empty())
}

/// `/dev/ttyN` or `ttyN`, N from 1 to 63: a virtual console of this machine (not a serial line,
/// not a pseudo-terminal).
pub fn is_virtual_console(tty: &str) -> bool {
    let name = tty.strip_prefix("/dev/").unwrap_or(tty);
    name.strip_prefix("tty")
        .and_then(|n| n.parse::<u8>().ok().filter(|_| !n.starts_with('0')))
        .is_some_and(|n| (1..=63).contains(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "UID=1000\nUSER=alice\nACTIVE=1\nREMOTE=0\nTYPE=wayland\nSEAT=seat0\n";
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
        assert_eq!(session_id("0::/system.slice/getty@tty1.service\n"), None);
        assert_eq!(session_id("0::/user.slice/session-../x.scope\n"), None);
        assert_eq!(session_id("0::/session-.scope\n"), None);
        assert_eq!(session_id(""), None);
    }

    #[test]
    fn only_a_session_at_a_seat_that_is_not_remote_is_local() {
        assert!(session_is_local(LOCAL));
        assert!(!session_is_local(REMOTE));
        // Not remote, but at no seat (a cron or ssh-less service session).
        assert!(!session_is_local("REMOTE=0\nTYPE=unspecified\n"));
        assert!(!session_is_local("SEAT=seat0\n"));
        assert!(!session_is_local("REMOTE=0\nSEAT=\n"));
    }

    #[test]
    fn sudo_in_an_ssh_session_is_remote_even_without_rhost() {
        assert_eq!(
            decide(None, Some("/dev/pts/0"), Some(REMOTE)),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/tty1"), Some(REMOTE)),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/pts/1"), Some(LOCAL)),
            Locality::Local
        );
        assert_eq!(
            decide(Some("192.0.2.1"), None, Some(LOCAL)),
            Locality::Remote
        );
    }

    #[test]
    fn without_a_session_only_a_virtual_console_is_local() {
        assert_eq!(decide(None, Some("/dev/tty2"), None), Locality::Local);
        assert_eq!(decide(None, Some("tty1"), None), Locality::Local);
        assert_eq!(decide(None, Some("/dev/pts/3"), None), Locality::Unknown);
        assert_eq!(decide(None, Some("/dev/ttyS0"), None), Locality::Unknown);
        assert_eq!(decide(None, Some("ssh"), None), Locality::Unknown);
        assert_eq!(decide(None, None, None), Locality::Unknown);
        assert_eq!(decide(Some(""), Some("/dev/tty1"), None), Locality::Local);
        for not in ["tty0", "tty64", "tty01", "/dev/tty", "ttyx", "/dev/console"] {
            assert!(!is_virtual_console(not), "{not}");
        }
    }
}
