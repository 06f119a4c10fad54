//! Shell completions for `tessera`, from the clap definitions (clap_complete).

use clap_complete::{Generator, Shell};

/// The shells completed, each with the file name its packages look for (bash-completion
/// installs the bash one under the command's name; the packaging renames it).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// `(file name, script)` for every shell in [`SHELLS`].
pub fn tessera() -> Vec<(String, Vec<u8>)> {
    let mut cmd = tessera_cli::command();
    SHELLS
        .iter()
        .map(|shell| {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "tessera", &mut script);
            (shell.file_name("tessera"), script)
        })
        .collect()
}
