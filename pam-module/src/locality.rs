//! Is this login happening at this machine? Only then may a security key plugged into it be
//! asked: whoever sits here must never be asked to touch a key for someone else's login (a
//! `sudo` typed in an SSH session), and a key left plugged in must never sign for a stranger.
//!
//! PAM_RHOST alone does not tell: sshd sets it, but `sudo` and `su` run inside an SSH session do
//! not. systemd-logind does: the process belongs to a session (its cgroup
//! `…/session-N.scope`), and logind's record of it (`/run/systemd/sessions/N`) says whether it
//! is remote and at which seat. Without a session, only root's `login` under the getty of the
//! virtual console that PAM_TTY names (`getty@tty1.service`, `/dev/tty1`) is local: PAM_TTY alone
//! is whatever the application says. Anything else is not known to be local, and no key is
//! asked unless the stack says so (`fido_any_session`).

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
    let unit = unit_of(&cgroup);
    let record = match &unit {
        Unit::Session(id) => {
            std::fs::read_to_string(Path::new("/run/systemd/sessions").join(id)).ok()
        }
        Unit::Getty(_) | Unit::Other => None,
    };
    decide(rhost, tty, &unit, record.as_deref(), caller)
}

/// The systemd unit a process runs in, as far as locality goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    /// A logind session's scope: `session-ID.scope`.
    Session(String),
    /// A console's getty (`getty@ttyN.service`, `autovt@ttyN.service`): the console's `login`
    /// before pam_systemd made its session.
    Getty(String),
    /// Anything else, or unknown.
    Other,
}

/// The decision, from what was read: `record` is logind's file of the process's session.
pub fn decide(
    rhost: Option<&str>,
    tty: Option<&str>,
    unit: &Unit,
    record: Option<&str>,
    caller: u32,
) -> Locality {
    if rhost.is_some_and(|h| !h.is_empty()) {
        return Locality::Remote;
    }
    match unit {
        Unit::Session(_) => match record {
            Some(r) if session_is_local(r, caller) => Locality::Local,
            Some(_) => Locality::Remote,
            None => Locality::Unknown,
        },
        // root's `login` on the very console its getty was started for.
        Unit::Getty(console) => {
            let tty = tty.map(|t| t.strip_prefix("/dev/").unwrap_or(t));
            if caller == 0 && tty == Some(console.as_str()) {
                Locality::Local
            } else {
                Locality::Unknown
            }
        }
        Unit::Other => Locality::Unknown,
    }
}

/// The unit of the process in `/proc/self/cgroup`, by systemd's own rule (`cg_path_get_session`,
/// `cg_path_get_unit`): the first path component that is not a slice, on the `name=systemd`
/// line (legacy and hybrid hosts) and on the unified one (`0::`). Where both name a unit they
/// must agree; a line that names none (`0::/` beside a legacy hierarchy) is passed over.
/// Anything under `user@UID.service` is `Other`: that subtree is the user's own, and a cgroup
/// the user names `session-5.scope` there is not logind's session 5.
pub fn unit_of(cgroup: &str) -> Unit {
    let unit_on = |want: &dyn Fn(&str) -> bool| {
        cgroup.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            if !want(controllers) {
                return None;
            }
            path.split('/')
                .filter(|c| !c.is_empty())
                .find(|c| !c.ends_with(".slice"))
        })
    };
    let named = unit_on(&|c| c == "name=systemd");
    let unified = unit_on(&|c| c.is_empty());
    let unit = match (named, unified) {
        (Some(a), Some(b)) if a != b => return Unit::Other,
        (Some(u), _) | (None, Some(u)) => u,
        (None, None) => return Unit::Other,
    };
    let plain = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if let Some(id) = unit
        .strip_prefix("session-")
        .and_then(|u| u.strip_suffix(".scope"))
    {
        return if plain(id) {
            Unit::Session(id.to_string())
        } else {
            Unit::Other
        };
    }
    let getty = unit
        .strip_prefix("getty@")
        .or_else(|| unit.strip_prefix("autovt@"))
        .and_then(|u| u.strip_suffix(".service"));
    match getty {
        Some(tty) if is_virtual_console(tty) => Unit::Getty(tty.to_string()),
        Some(_) | None => Unit::Other,
    }
}

/// The logind session id of `cgroup` ([`unit_of`]), if the process is in a session's scope.
pub fn session_id(cgroup: &str) -> Option<String> {
    match unit_of(cgroup) {
        Unit::Session(id) => Some(id),
        Unit::Getty(_) | Unit::Other => None,
    }
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

    fn session(id: &str) -> Unit {
        Unit::Session(id.to_string())
    }

    #[test]
    fn the_unit_of_a_process_is_read_from_its_cgroup() {
        assert_eq!(
            unit_of("0::/user.slice/user-1000.slice/session-3.scope\n"),
            session("3")
        );
        assert_eq!(
            unit_of("12:pids:/x\n0::/user.slice/user-0.slice/session-c2.scope\n"),
            session("c2")
        );
        // Legacy and hybrid hosts: the name=systemd line, wherever it is, whatever `0::` says.
        let legacy = "9:name=systemd:/user.slice/user-1000.slice/session-4.scope\n3:cpu:/\n";
        assert_eq!(unit_of(legacy), session("4"));
        let beside = "1:name=systemd:/user.slice/user-1000.slice/session-4.scope\n0::/\n";
        assert_eq!(unit_of(beside), session("4"));
        // A unified host with an empty foreign name=systemd hierarchy.
        let foreign = "1:name=systemd:/\n0::/user.slice/user-1000.slice/session-4.scope\n";
        assert_eq!(unit_of(foreign), session("4"));
        // Two lines naming different units: not known.
        let split = "1:name=systemd:/user.slice/u.slice/session-4.scope\n0::/user.slice/u.slice/session-5.scope\n";
        assert_eq!(unit_of(split), Unit::Other);
        assert_eq!(
            unit_of("0::/system.slice/getty@tty1.service\n"),
            Unit::Getty("tty1".into())
        );
        assert_eq!(
            unit_of("0::/system.slice/getty@ttyS0.service\n"),
            Unit::Other
        );
        assert_eq!(unit_of("0::/system.slice/sshd.service\n"), Unit::Other);
        assert_eq!(unit_of("0::/user.slice/session-../x.scope\n"), Unit::Other);
        assert_eq!(unit_of("0::/session-.scope\n"), Unit::Other);
        assert_eq!(unit_of(""), Unit::Other);
        assert_eq!(session_id(legacy).as_deref(), Some("4"));
    }

    #[test]
    fn a_cgroup_the_user_named_after_a_session_is_no_session() {
        // The user's own subtree (systemd-run --user, a desktop terminal's app scope).
        for path in [
            "0::/user.slice/user-1001.slice/user@1001.service/session-5.scope\n",
            "0::/user.slice/user-1001.slice/user@1001.service/app.slice/run-x.service/session-5.scope\n",
            "0::/user.slice/user-1001.slice/user@1001.service/app.slice/app-gnome-vte-1.scope\n",
            "0::/user.slice/user-1001.slice/user@1001.service/getty@tty1.service\n",
            // Another hierarchy's line first, a user-made group there.
            "4:memory:/session-5.scope\n9:name=systemd:/user.slice/user-1001.slice/user@1001.service/x\n",
            "4:memory:/session-5.scope\n",
        ] {
            assert_eq!(unit_of(path), Unit::Other, "{path}");
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
        let s = session("3");
        assert_eq!(
            decide(None, Some("/dev/pts/0"), &s, Some(REMOTE), 1000),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/tty1"), &s, Some(REMOTE), 1000),
            Locality::Remote
        );
        assert_eq!(
            decide(None, Some("/dev/pts/1"), &s, Some(LOCAL), 1000),
            Locality::Local
        );
        assert_eq!(
            decide(Some("192.0.2.1"), None, &s, Some(LOCAL), 1000),
            Locality::Remote
        );
        assert_eq!(decide(None, None, &s, None, 1000), Locality::Unknown);
    }

    #[test]
    fn without_a_session_only_roots_login_on_its_gettys_console_is_local() {
        let getty = Unit::Getty("tty2".into());
        assert_eq!(
            decide(None, Some("/dev/tty2"), &getty, None, 0),
            Locality::Local
        );
        assert_eq!(decide(None, Some("tty2"), &getty, None, 0), Locality::Local);
        assert_eq!(
            decide(None, Some("/dev/tty3"), &getty, None, 0),
            Locality::Unknown
        );
        assert_eq!(
            decide(None, Some("/dev/tty2"), &getty, None, 1000),
            Locality::Unknown
        );
        // PAM_TTY alone is whatever the application says (doas < /dev/tty1 from elsewhere).
        for tty in ["/dev/tty1", "tty1", "/dev/pts/3", "/dev/ttyS0"] {
            assert_eq!(
                decide(None, Some(tty), &Unit::Other, None, 1000),
                Locality::Unknown
            );
            assert_eq!(
                decide(None, Some(tty), &Unit::Other, None, 0),
                Locality::Unknown
            );
        }
        assert_eq!(
            decide(Some(""), Some("tty2"), &getty, None, 0),
            Locality::Local
        );
        assert_eq!(
            decide(Some("h"), Some("tty2"), &getty, None, 0),
            Locality::Remote
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
        assert!(is_virtual_console("/dev/tty63") && is_virtual_console("tty1"));
    }
}
