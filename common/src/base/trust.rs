//! Files that decide who gets in, checked before they are believed.
//!
//! The PAM module runs as root inside sshd and sudo. Whoever can write its configuration, its
//! store or its key, or rename anything on the way to them, decides who logs in. A file is
//! trusted here when it and every directory from `/` down to it could have been changed only by
//! an allowed owner (root, and for some files one more account):
//!
//! - the path is resolved once, following a symbolic link only where root alone could have put
//!   it ([`resolve`]), and every directory of the resolved path is owned by an allowed owner and
//!   not writable by group or others, unless it is a root-owned sticky directory such as `/tmp`
//!   (there nobody can rename or delete an entry they do not own);
//! - the file is opened once, by its resolved path, without following a symlink and without
//!   blocking on a FIFO, and the *open* file is checked: a regular file, owned by an allowed owner,
//!   not writable by group or others, and for [`Access::OwnerOnly`] not readable by them either.
//!
//! Checking the open descriptor, under directories nobody else can change, leaves no window
//! between the check and the use.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use zeroize::Zeroizing;

/// The uid that is always an allowed owner.
pub const ROOT: u32 = 0;

/// What group and others may do with a trusted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nobody but the owner may write it (a configuration, a certificate, a database).
    OwnerWrites,
    /// Nobody but the owner may read or write it (a key, a password).
    OwnerOnly,
}

/// Who may own a trusted file and the directories above it: root, and `also` if set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    pub also: Option<u32>,
}

impl Owners {
    /// Root only.
    pub const ROOT: Owners = Owners { also: None };

    /// Root or `uid`.
    pub fn root_or(uid: u32) -> Owners {
        Owners {
            also: (uid != ROOT).then_some(uid),
        }
    }

    fn allows(&self, uid: u32) -> bool {
        uid == ROOT || self.also == Some(uid)
    }

    fn describe(&self) -> String {
        match self.also {
            None => "root".to_string(),
            Some(uid) => format!("root or uid {uid}"),
        }
    }
}

/// Why a file is not trusted. The message names the file, what it is for, and what to change.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {reason}")]
pub struct TrustError {
    pub what: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// One trusted file: what it is for, who may own it, and what others may do with it.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub what: &'static str,
    pub access: Access,
    pub owners: Owners,
}

impl Rule {
    pub const fn root(what: &'static str, access: Access) -> Rule {
        Rule {
            what,
            access,
            owners: Owners::ROOT,
        }
    }

    pub fn error(&self, path: &Path, reason: impl Into<String>) -> TrustError {
        TrustError {
            what: self.what,
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Check `path` and the directories above it; returns the resolved path, which is what the
    /// caller must open (by then nobody else can change what it names).
    pub fn check(&self, path: &Path) -> Result<PathBuf, TrustError> {
        let (resolved, file) = self.open(path)?;
        drop(file);
        Ok(resolved)
    }

    /// As [`Rule::check`] for a file that may be absent (a database's `-wal` and `-shm`):
    /// `Ok(None)` when it does not exist.
    pub fn check_if_present(&self, path: &Path) -> Result<Option<PathBuf>, TrustError> {
        let absent = || matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
        if absent() {
            return Ok(None);
        }
        match self.check(path) {
            // Gone between the look and the check (a `-journal` deleted by a commit).
            Err(_) if absent() => Ok(None),
            other => other.map(Some),
        }
    }

    /// Check a SQLite database, its `-wal`, `-shm` and `-journal`, and its directory. That directory may
    /// not be writable by anyone else even when sticky: SQLite opens a `-wal` it finds there, so
    /// whoever could put one there first could write the database. Returns the resolved path.
    pub fn check_database(&self, path: &Path) -> Result<PathBuf, TrustError> {
        let resolved = self.check(path)?;
        if let Some(dir) = resolved.parent() {
            let meta = std::fs::symlink_metadata(dir)
                .map_err(|e| self.dir_error(&resolved, dir, &io_reason(&e)))?;
            let perms = meta.mode() & 0o7777;
            if perms & 0o022 != 0 {
                return Err(self.dir_error(
                    &resolved,
                    dir,
                    &format!(
                        "is writable by group or others (mode {perms:04o}); run `chmod go-w {}`",
                        dir.display()
                    ),
                ));
            }
        }
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = resolved.clone().into_os_string();
            side.push(suffix);
            self.check_if_present(Path::new(&side))?;
        }
        Ok(resolved)
    }

    /// Open `path` once and check the open file. Returns the resolved path and the file.
    pub fn open(&self, path: &Path) -> Result<(PathBuf, File), TrustError> {
        let resolved = resolve(path).map_err(|reason| self.error(path, reason))?;
        self.check_directories(&resolved)?;
        let fd: OwnedFd = rustix::fs::open(
            &resolved,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| self.error(path, io_reason(&std::io::Error::from(e))))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| self.error(path, io_reason(&e)))?;
        if !meta.file_type().is_file() {
            return Err(self.error(path, "is not a regular file"));
        }
        self.check_owner_and_mode(&resolved, meta.uid(), meta.mode(), false)?;
        Ok((resolved, file))
    }

    /// Open and read the whole file, refusing one longer than `max_len` bytes. The buffer is
    /// wiped when dropped (the file may hold a secret).
    pub fn read(
        &self,
        path: &Path,
        max_len: u64,
    ) -> Result<(PathBuf, Zeroizing<Vec<u8>>), TrustError> {
        let (resolved, file) = self.open(path)?;
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(path, io_reason(&e)))?;
        if bytes.len() as u64 > max_len {
            return Err(self.error(path, format!("is longer than {max_len} bytes")));
        }
        Ok((resolved, bytes))
    }

    fn check_directories(&self, resolved: &Path) -> Result<(), TrustError> {
        for dir in resolved.ancestors().skip(1) {
            let meta = std::fs::symlink_metadata(dir)
                .map_err(|e| self.dir_error(resolved, dir, &io_reason(&e)))?;
            if !meta.file_type().is_dir() {
                return Err(self.dir_error(resolved, dir, "is not a directory"));
            }
            self.check_owner_and_mode(dir, meta.uid(), meta.mode(), true)
                .map_err(|e| self.dir_error(resolved, dir, &e.reason))?;
        }
        Ok(())
    }

    fn dir_error(&self, file: &Path, dir: &Path, reason: &str) -> TrustError {
        self.error(
            file,
            format!("directory {} above it {reason}", dir.display()),
        )
    }

    fn check_owner_and_mode(
        &self,
        path: &Path,
        uid: u32,
        mode: u32,
        is_dir: bool,
    ) -> Result<(), TrustError> {
        let perms = mode & 0o7777;
        if !self.owners.allows(uid) {
            return Err(self.error(
                path,
                format!("is owned by uid {uid}, not {}", self.owners.describe()),
            ));
        }
        let sticky_root_dir = is_dir && uid == ROOT && perms & 0o1000 != 0;
        if perms & 0o022 != 0 && !sticky_root_dir {
            return Err(self.error(
                path,
                format!(
                    "is writable by group or others (mode {perms:04o}); run `chmod go-w {}`",
                    path.display()
                ),
            ));
        }
        if !is_dir && self.access == Access::OwnerOnly && perms & 0o077 != 0 {
            return Err(self.error(
                path,
                format!(
                    "is readable by group or others (mode {perms:04o}); run `chmod 600 {}`",
                    path.display()
                ),
            ));
        }
        Ok(())
    }
}

/// The most symbolic links followed in one path (the kernel's limit).
const MAX_LINKS: u32 = 40;

/// Resolve `path` to an absolute path without links, following a symbolic link only where root
/// alone could have put it: a link owned by root, in a directory owned by root that group and
/// others cannot write (or a root-owned sticky one). A link another account owns or could have
/// placed is refused, wherever it points: root must not be led by it to a file of root's
/// choosing in the wrong place (another installation's store, another user's secret). The
/// last component must exist. The error is a reason, for [`TrustError`].
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    use std::collections::VecDeque;
    use std::path::Component;

    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| io_reason(&e))?
            .join(path)
    };
    let mut pending: VecDeque<std::ffi::OsString> = VecDeque::new();
    let push_front = |pending: &mut VecDeque<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            pending.push_front(c.as_os_str().to_os_string());
        }
    };
    push_front(&mut pending, &absolute);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match Path::new(&part).components().next() {
            Some(Component::RootDir) => {
                resolved = PathBuf::from("/");
                continue;
            }
            Some(Component::CurDir) | None => continue,
            Some(Component::ParentDir) => {
                resolved.pop();
                continue;
            }
            Some(Component::Normal(_)) | Some(Component::Prefix(_)) => {}
        }
        let next = resolved.join(&part);
        let meta = std::fs::symlink_metadata(&next).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if next.as_path() != absolute.as_path() => {
                format!("{} on the way to it does not exist", next.display())
            }
            _ => io_reason(&e),
        })?;
        if !meta.file_type().is_symlink() {
            resolved = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(format!(
                "more than {MAX_LINKS} symbolic links on the way to it"
            ));
        }
        let dir = std::fs::symlink_metadata(&resolved).map_err(|e| io_reason(&e))?;
        let dir_perms = dir.mode() & 0o7777;
        let dir_safe = dir.uid() == ROOT && (dir_perms & 0o022 == 0 || dir_perms & 0o1000 != 0);
        if meta.uid() != ROOT || !dir_safe {
            let who = if meta.uid() != ROOT {
                meta.uid()
            } else {
                dir.uid()
            };
            return Err(format!(
                "is reached through the symbolic link {}, which uid {who} could have placed \
                 (name the file itself, or put the link where only root can)",
                next.display()
            ));
        }
        let target = std::fs::read_link(&next).map_err(|e| io_reason(&e))?;
        push_front(&mut pending, &target);
    }
    Ok(resolved)
}

/// As [`resolve`], for a path that may not exist yet (a database `tessera init` will create):
/// the longest part that exists is resolved and the rest appended.
pub fn resolve_for_creation(path: &Path) -> Result<PathBuf, String> {
    if std::fs::symlink_metadata(path).is_ok() {
        return resolve(path);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
            Ok(resolve_for_creation(parent)?.join(name))
        }
        _ => resolve(path),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "cannot be checked: permission denied (run as root)".to_string()
        }
        _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            "is a symbolic link".to_string()
        }
        _ => format!("cannot be checked: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn running_as_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn chown(p: &Path, uid: u32) {
        std::os::unix::fs::lchown(p, Some(uid), None).unwrap();
    }

    /// A private directory of root's with a file in it, as `tessera init` leaves them.
    fn layout() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o700);
        let file = dir.path().join("f");
        std::fs::write(&file, b"data").unwrap();
        chmod(&file, 0o600);
        (dir, file)
    }

    const CONFIG: Rule = Rule::root("config file", Access::OwnerWrites);
    const KEY: Rule = Rule::root("key file", Access::OwnerOnly);

    #[test]
    fn a_root_file_in_a_root_directory_is_trusted_and_resolved() {
        if !running_as_root() {
            return;
        }
        let (dir, file) = layout();
        let link = dir.path().join("link");
        symlink(&file, &link).unwrap();
        let resolved = CONFIG.check(&link).unwrap();
        assert_eq!(resolved, std::fs::canonicalize(&file).unwrap());
        let (_, bytes) = KEY.read(&file, 16).unwrap();
        assert_eq!(&bytes[..], b"data");
    }

    #[test]
    fn a_file_someone_else_owns_or_may_write_is_refused() {
        if !running_as_root() {
            return;
        }
        let (_dir, file) = layout();
        chown(&file, 1234);
        let e = CONFIG.check(&file).unwrap_err();
        assert!(e.to_string().contains("owned by uid 1234, not root"), "{e}");
        assert!(
            Rule {
                owners: Owners::root_or(1234),
                ..CONFIG
            }
            .check(&file)
            .is_ok()
        );
        chown(&file, 0);
        chmod(&file, 0o620);
        let e = CONFIG.check(&file).unwrap_err();
        assert!(
            e.to_string()
                .contains("writable by group or others (mode 0620)"),
            "{e}"
        );
        chmod(&file, 0o640);
        assert!(CONFIG.check(&file).is_ok());
        let e = KEY.check(&file).unwrap_err();
        assert!(
            e.to_string()
                .contains("readable by group or others (mode 0640)"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_above_that_others_may_change_is_refused() {
        if !running_as_root() {
            return;
        }
        let (dir, file) = layout();
        chmod(dir.path(), 0o775);
        let e = CONFIG.check(&file).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("directory {} above it", dir.path().display())),
            "{e}"
        );
        // A root-owned sticky directory (as /tmp) is safe: nobody can rename what they do not own.
        chmod(dir.path(), 0o1777);
        assert!(CONFIG.check(&file).is_ok());
        chown(dir.path(), 1234);
        let e = CONFIG.check(&file).unwrap_err();
        assert!(e.to_string().contains("owned by uid 1234"), "{e}");
    }

    #[test]
    fn links_are_followed_only_where_root_alone_could_have_placed_them() {
        if !running_as_root() {
            return;
        }
        let (dir, file) = layout();
        // Relative targets, `..` and chains resolve as the kernel would.
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        symlink("../f", dir.path().join("sub/up")).unwrap();
        symlink("sub/up", dir.path().join("chain")).unwrap();
        let real = std::fs::canonicalize(&file).unwrap();
        assert_eq!(resolve(&dir.path().join("chain")).unwrap(), real);
        assert_eq!(resolve(&dir.path().join("sub/../f")).unwrap(), real);
        // A link another account owns, even in root's directory, is not followed.
        let theirs = dir.path().join("theirs");
        symlink(&file, &theirs).unwrap();
        chown(&theirs, 1234);
        let e = resolve(&theirs).unwrap_err();
        assert!(e.contains("which uid 1234 could have placed"), "{e}");
        // Nor a root-owned link in a directory another account controls.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        chown(&shared, 1234);
        symlink(&file, shared.join("link")).unwrap();
        let e = resolve(&shared.join("link")).unwrap_err();
        assert!(e.contains("which uid 1234 could have placed"), "{e}");
        // A loop ends.
        symlink("loop", dir.path().join("loop")).unwrap();
        assert!(
            resolve(&dir.path().join("loop"))
                .unwrap_err()
                .contains("more than 40")
        );
    }

    #[test]
    fn a_link_through_a_directory_others_own_resolves_there_and_is_refused() {
        if !running_as_root() {
            return;
        }
        let (dir, _file) = layout();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        chmod(&theirs, 0o755);
        chown(&theirs, 1234);
        let target = theirs.join("evil.toml");
        std::fs::write(&target, b"x").unwrap();
        chmod(&target, 0o644);
        let link = dir.path().join("tessera.toml");
        symlink(&target, &link).unwrap();
        let e = CONFIG.check(&link).unwrap_err();
        assert!(e.to_string().contains("owned by uid 1234"), "{e}");
    }

    #[test]
    fn fifos_devices_and_oversized_files_are_refused_without_blocking() {
        if !running_as_root() {
            return;
        }
        let (dir, file) = layout();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = CONFIG.check(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = CONFIG.read(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = CONFIG.read(&file, 3).unwrap_err();
        assert!(e.to_string().contains("longer than 3 bytes"), "{e}");
        let e = CONFIG.check(&dir.path().join("absent")).unwrap_err();
        assert!(e.to_string().ends_with("does not exist"), "{e}");
        assert!(
            CONFIG
                .check_if_present(&dir.path().join("absent"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_database_needs_a_private_directory_and_its_own_wal() {
        if !running_as_root() {
            return;
        }
        const STORE: Rule = Rule::root("store", Access::OwnerWrites);
        let (dir, file) = layout();
        assert!(STORE.check_database(&file).is_ok());
        let wal = dir.path().join("f-wal");
        std::fs::write(&wal, b"").unwrap();
        chmod(&wal, 0o600);
        assert!(STORE.check_database(&file).is_ok());
        chown(&wal, 1234);
        let e = STORE.check_database(&file).unwrap_err();
        assert!(e.to_string().contains("f-wal: is owned by uid 1234"), "{e}");
        std::fs::remove_file(&wal).unwrap();
        // Sticky is not enough for the database's own directory: a `-wal` planted there first
        // would be opened by SQLite.
        chmod(dir.path(), 0o1777);
        let e = STORE.check_database(&file).unwrap_err();
        assert!(
            e.to_string()
                .contains("is writable by group or others (mode 1777)"),
            "{e}"
        );
    }
}
