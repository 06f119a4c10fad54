//! `gateway = "command"`: a program of root's in [`crate::config::SMS_COMMAND_DIR`], run with
//! the number as its only argument and the message on its standard input.
//!
//! The PAM module runs it as root, from inside sshd or sudo, so before each run the directory
//! (and every one above it) and the file must be root's and writable by nobody else, the file a
//! regular executable and not a link. Under such directories nobody but root can swap the file
//! between the check and the exec.
//!
//! The run: an empty environment but for `PATH` and `LANG`, `/` as working directory, its own
//! process group, the message in an in-memory file as standard input (a pipe would raise
//! SIGPIPE in the host process when the command does not read it), standard output and error
//! read and cut. At `[sms] timeout` the whole group is killed and the command reaped; when it
//! ends by itself, whatever it left running in its group is killed too.

use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::{Exit, SmsError, Texter, check_input, first_line};
use crate::base::trust::{ROOT, resolve};
use crate::config::CommandGateway;

/// The command's whole environment.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// What is kept of each of its standard output and error.
const CAPTURE: usize = 4096;
/// How often a running command is looked at.
const TICK: Duration = Duration::from_millis(20);

pub struct CommandTexter {
    dir: PathBuf,
    name: String,
    timeout: Duration,
}

impl CommandTexter {
    /// Refused at once when the command cannot be used (it is checked again at each send).
    pub fn new(gateway: &CommandGateway, timeout: Duration) -> Result<CommandTexter, SmsError> {
        let texter = CommandTexter {
            dir: gateway.dir.clone(),
            name: gateway.name.clone(),
            timeout,
        };
        texter.usable()?;
        Ok(texter)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The command's resolved path, if root alone could have put it there.
    fn usable(&self) -> Result<PathBuf, SmsError> {
        usable(&self.dir, &self.name).map_err(|why| SmsError::Unusable {
            path: self.path(),
            why,
        })
    }
}

impl Texter for CommandTexter {
    fn send(&self, number: &str, message: &str) -> Result<(), SmsError> {
        check_input(number, message)?;
        let program = self.usable()?;
        let spawn_error = |e: std::io::Error| SmsError::Spawn {
            path: self.path(),
            why: e.to_string(),
        };
        let stdin = message_file(message).map_err(spawn_error)?;
        let mut child = Command::new(&program)
            .arg(number)
            .env_clear()
            .env("PATH", PATH)
            .env("LANG", "C")
            .current_dir("/")
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        let deadline = Instant::now() + self.timeout;
        let ended = watch(&mut child, deadline);
        match ended {
            Ended::TimedOut => {
                // Not reaped yet: the group id is still this command's.
                kill_group(&child);
                let _ = child.wait();
                Err(SmsError::Timeout {
                    gateway: self.path().display().to_string(),
                    timeout: self.timeout,
                })
            }
            Ended::Exited { output, reaped } => {
                let status = if reaped { None } else { child.wait().ok() };
                let exit = match status {
                    Some(s) if s.success() => return Ok(()),
                    Some(s) => match (s.code(), s.signal()) {
                        (Some(c), _) => Exit::Code(c),
                        (None, Some(sig)) => Exit::Signal(sig),
                        (None, None) => Exit::Unknown,
                    },
                    None => Exit::Unknown,
                };
                let said = match first_line(&output.stderr) {
                    s if s.is_empty() => first_line(&output.stdout),
                    s => s,
                };
                Err(SmsError::CommandFailed {
                    path: self.path(),
                    exit,
                    stderr: said,
                })
            }
        }
    }
}

/// The message, and a line end, in an anonymous in-memory file read from its start.
fn message_file(message: &str) -> std::io::Result<std::fs::File> {
    let fd = rustix::fs::memfd_create("tessera-sms", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(message.as_bytes())?;
    if !message.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    file.rewind()?;
    Ok(file)
}

#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum Ended {
    TimedOut,
    /// `reaped`: someone else reaped it (the host ignores SIGCHLD); its status is lost.
    Exited {
        output: Output,
        reaped: bool,
    },
}

/// Read the command's output until it exits or the deadline passes. It is left unreaped (a
/// zombie at worst), so its process group cannot be another's when it is killed.
fn watch(child: &mut Child, deadline: Instant) -> Ended {
    let mut out = Stream::new(child.stdout.take());
    let mut err = Stream::new(child.stderr.take());
    let pid = Pid::from_raw(child.id().cast_signed());
    loop {
        let exited = match pid {
            Some(pid) => rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ),
            None => Err(rustix::io::Errno::CHILD),
        };
        match exited {
            Ok(None) => {}
            Ok(Some(_)) => {
                // Anything it left behind in its group goes with it; the pipes then close.
                kill_group(child);
                drain(&mut out, &mut err, deadline);
                return Ended::Exited {
                    output: Output {
                        stdout: out.kept,
                        stderr: err.kept,
                    },
                    reaped: false,
                };
            }
            Err(_) => {
                // Reaped behind our back: its group id may be free, so it is not killed.
                drain(&mut out, &mut err, deadline);
                return Ended::Exited {
                    output: Output {
                        stdout: out.kept,
                        stderr: err.kept,
                    },
                    reaped: true,
                };
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ended::TimedOut;
        }
        wait_for_output(&mut out, &mut err, TICK.min(deadline - now));
    }
}

fn kill_group(child: &Child) {
    if let Some(pid) = Pid::from_raw(child.id().cast_signed()) {
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    }
}

/// Read both streams to their end, or until the deadline (a process that left the group may
/// hold them open).
fn drain(out: &mut Stream<ChildStdout>, err: &mut Stream<ChildStderr>, deadline: Instant) {
    while out.is_open() || err.is_open() {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        wait_for_output(out, err, TICK.min(deadline - now));
    }
}

/// Wait up to `wait` for output on either stream, and read what came.
fn wait_for_output(out: &mut Stream<ChildStdout>, err: &mut Stream<ChildStderr>, wait: Duration) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let (out_ready, err_ready) = match (out.fd(), err.fd()) {
        (None, None) => {
            std::thread::sleep(wait);
            return;
        }
        (o, e) => {
            let mut fds: Vec<PollFd<'_>> = o
                .iter()
                .chain(e.iter())
                .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
                .collect();
            if rustix::event::poll(&mut fds, Timespec::try_from(wait).ok().as_ref()).is_err() {
                return;
            }
            let mut revents = fds.iter().map(|fd| !fd.revents().is_empty());
            let out_ready = o.is_some() && revents.next().unwrap_or(false);
            let err_ready = e.is_some() && revents.next().unwrap_or(false);
            (out_ready, err_ready)
        }
    };
    if out_ready {
        out.read_some();
    }
    if err_ready {
        err.read_some();
    }
}

/// One of the command's output pipes: what is kept of it, until it closes.
struct Stream<R> {
    pipe: Option<R>,
    kept: Vec<u8>,
}

impl<R: Read + AsFd> Stream<R> {
    fn new(pipe: Option<R>) -> Stream<R> {
        let pipe = pipe.filter(|p| {
            rustix::fs::fcntl_getfl(p)
                .and_then(|flags| rustix::fs::fcntl_setfl(p, flags | rustix::fs::OFlags::NONBLOCK))
                .is_ok()
        });
        Stream {
            pipe,
            kept: Vec::new(),
        }
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pipe.as_ref().map(AsFd::as_fd)
    }

    /// Read what is there; past [`CAPTURE`] bytes it is read and dropped, so the command never
    /// blocks on a full pipe.
    fn read_some(&mut self) {
        let Some(pipe) = &mut self.pipe else { return };
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.pipe = None;
                    return;
                }
                Ok(n) => {
                    let room = CAPTURE.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.pipe = None;
                    return;
                }
            }
        }
    }
}

/// Whether root alone could have put `name` in `dir`: the directory (resolved through links
/// only root could have placed) and every one above it root's and not writable by group or
/// others (a root-owned sticky one above it, as `/tmp`, is fine; the directory itself must not
/// be sticky-shared), and the file a regular executable file of root's that nobody else may
/// write, not a link. Returns the path to run; the error is a reason.
pub(super) fn usable(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let resolved = resolve(dir).map_err(|why| format!("its directory {}: {why}", dir.display()))?;
    for (i, d) in resolved.ancestors().enumerate() {
        let meta =
            std::fs::symlink_metadata(d).map_err(|e| format!("directory {}: {e}", d.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", d.display()));
        }
        if meta.uid() != ROOT {
            return Err(format!(
                "directory {} is owned by uid {}, not root",
                d.display(),
                meta.uid()
            ));
        }
        let perms = meta.mode() & 0o7777;
        let shared_sticky = i > 0 && perms & 0o1000 != 0;
        if perms & 0o022 != 0 && !shared_sticky {
            return Err(format!(
                "directory {} is writable by group or others (mode {perms:04o}); run `chmod go-w {}`",
                d.display(),
                d.display()
            ));
        }
    }
    let file = resolved.join(name);
    let meta = std::fs::symlink_metadata(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        _ => format!("cannot be checked: {e}"),
    })?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link: put the program itself in the directory".to_string());
    }
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    if meta.uid() != ROOT {
        return Err(format!("is owned by uid {}, not root", meta.uid()));
    }
    let perms = meta.mode() & 0o7777;
    if perms & 0o022 != 0 {
        return Err(format!(
            "is writable by group or others (mode {perms:04o}); run `chmod go-w {}`",
            file.display()
        ));
    }
    if perms & 0o100 == 0 {
        return Err(format!(
            "is not executable (mode {perms:04o}); run `chmod 755 {}`",
            file.display()
        ));
    }
    Ok(file)
}
