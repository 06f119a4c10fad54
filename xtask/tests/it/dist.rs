//! `xtask::dist` writes every page and completion the packages install, from the clap
//! definitions, in roff that groff reads without a warning.

use std::path::Path;
use std::process::Command;

const PAGES: [&str; 4] = [
    "man/tessera.1",
    "man/tessera-radiusd.8",
    "man/pam_tessera.8",
    "man/tessera.toml.5",
];
const COMPLETIONS: [&str; 3] = [
    "completions/tessera.bash",
    "completions/_tessera",
    "completions/tessera.fish",
];

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A command name as roff writes it in text (every `-` a `\-`).
fn roff(name: &str) -> String {
    name.replace('-', "\\-")
}

/// Every command below `cmd` that has no subcommands, as `tessera user add`.
fn leaf_paths(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        let path = format!("{path} {}", sub.get_name());
        if sub.has_subcommands() {
            leaf_paths(sub, &path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn dist_writes_every_page_and_completion_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let written = xtask::dist(dir.path()).unwrap();
    for file in PAGES.iter().chain(&COMPLETIONS) {
        let path = dir.path().join(file);
        assert!(written.contains(&path), "{file} not reported: {written:?}");
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .len();
        assert!(len > 0, "{file} is empty");
    }
    assert_eq!(
        written.len(),
        PAGES.len() + COMPLETIONS.len(),
        "{written:?}"
    );
}

#[test]
fn tessera_1_documents_every_command_of_the_real_grammar() {
    let dir = tempfile::tempdir().unwrap();
    xtask::dist(dir.path()).unwrap();
    let page = read(dir.path(), "man/tessera.1");
    let cmd = tessera_cli::command();
    let top: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
    assert!(top.len() >= 10, "{top:?}");
    for name in &top {
        assert!(
            page.contains(&format!("\n.SS {name}\n")),
            "tessera.1 has no section for {name}"
        );
    }
    let mut paths = Vec::new();
    leaf_paths(&cmd, "tessera", &mut paths);
    assert!(paths.len() >= 25, "{paths:?}");
    for path in paths {
        assert!(
            page.contains(&format!("\\fB{}\\fR", roff(&path))),
            "tessera.1 documents no `{path}`"
        );
    }
    // Every option of every command, by its long name.
    let mut built = tessera_cli::command();
    built.build();
    let mut stack = vec![&built];
    while let Some(c) = stack.pop() {
        for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = a.get_long() {
                let flag = format!("\\fB{}\\fR", roff(&format!("--{long}")));
                assert!(
                    page.contains(&flag),
                    "tessera.1 lacks --{long} of {}",
                    c.get_name()
                );
            }
        }
        stack.extend(c.get_subcommands());
    }
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "EXIT STATUS",
    ] {
        assert!(
            page.contains(&format!(".SH {section}\n"))
                || page.contains(&format!(".SH \"{section}\"\n")),
            "no {section}"
        );
    }
    assert!(
        page.contains("\ntessera \\- "),
        "NAME is `tessera \\- summary`"
    );
}

#[test]
fn completions_offer_every_top_level_command() {
    let dir = tempfile::tempdir().unwrap();
    xtask::dist(dir.path()).unwrap();
    let cmd = tessera_cli::command();
    for file in COMPLETIONS {
        let script = read(dir.path(), file);
        for sub in cmd.get_subcommands() {
            assert!(
                script.contains(sub.get_name()),
                "{file} lacks {}",
                sub.get_name()
            );
        }
    }
}

#[test]
fn pages_carry_the_version_and_two_runs_write_the_same_bytes() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    xtask::dist(a.path()).unwrap();
    xtask::dist(b.path()).unwrap();
    let version = format!("\"Tessera {}\"", env!("CARGO_PKG_VERSION"));
    for file in PAGES.iter().chain(&COMPLETIONS) {
        assert_eq!(read(a.path(), file), read(b.path(), file), "{file} differs");
    }
    for file in PAGES {
        let page = read(a.path(), file);
        let th = page.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert!(th.contains(&version), "{file}: {th}");
        assert!(
            page.is_ascii(),
            "{file} holds non-ASCII text (groff reads it as Latin-1)"
        );
    }
}

#[test]
fn groff_reads_every_page_without_a_warning() {
    if Command::new("groff").arg("--version").output().is_err() {
        eprintln!("groff is not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    xtask::dist(dir.path()).unwrap();
    for file in PAGES {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z", "-Tutf8"])
            .arg(dir.path().join(file))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{file}:\n{stderr}"
        );
    }
}
