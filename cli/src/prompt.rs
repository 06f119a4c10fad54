//! Reading answers from a person: codes without echo at a terminal, plain lines otherwise.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Ask for a secret answer: without echo on a terminal, else one line from stdin. `None` at end
/// of input.
pub fn secret(prompt: &str) -> Result<Option<Zeroizing<String>>> {
    if stdin_is_terminal() {
        let answer = rpassword::prompt_password(prompt).context("cannot read from the terminal")?;
        return Ok(Some(Zeroizing::new(answer)));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    line()
}

/// Ask for a visible answer on stderr.
pub fn visible(prompt: &str) -> Result<Option<Zeroizing<String>>> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    line()
}

/// One line from stdin without its line ending; `None` at end of input.
pub fn line() -> Result<Option<Zeroizing<String>>> {
    let mut buf = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .lock()
        .read_line(&mut buf)
        .context("cannot read stdin")?;
    if n == 0 {
        return Ok(None);
    }
    let trimmed = buf.trim_end_matches(['\n', '\r']).len();
    buf.truncate(trimmed);
    Ok(Some(buf))
}

/// A new password, twice at a terminal, or one line from stdin with `from_stdin`.
pub fn new_password(from_stdin: bool) -> Result<Zeroizing<String>> {
    if from_stdin {
        return line()?.context("no password on stdin");
    }
    if !stdin_is_terminal() {
        bail!("stdin is not a terminal: use --password-stdin to pipe the password");
    }
    let first = Zeroizing::new(rpassword::prompt_password("New password: ")?);
    let again = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?);
    if *first != *again {
        bail!("the passwords do not match; nothing was changed");
    }
    Ok(first)
}
