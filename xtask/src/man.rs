//! tessera(1) and tessera-radiusd(8), from the clap definitions the binaries parse with.
//!
//! One page for `tessera`, with a COMMANDS section that documents every subcommand (its
//! synopsis, its whole help and its options), rather than a page per subcommand: the commands
//! are many and small (a handful of options each), and an administrator who types
//! `man tessera` expects to find `user unlock` by searching that page, as in systemctl(1) or
//! apt(8), not to guess at a tessera-user-unlock(1).

use clap::{Arg, ArgAction, Command};
use clap_mangen::Man;
use clap_mangen::roff::{Inline, bold, italic, roman};

use crate::DistError;
use crate::page::{Page, paragraphs};
use crate::sections;

/// What every page's `.TH` line carries besides its name and section.
pub struct Stamp {
    /// The packages' version (`Tessera 0.1.0`, the footer's left part).
    pub source: String,
    /// Empty (no date, so that every build writes the same bytes) or a fixed `YYYY-MM-DD`.
    pub date: String,
}

pub const MANUAL: &str = "Tessera Manual";

/// tessera(1).
pub fn tessera(stamp: &Stamp) -> Result<String, DistError> {
    let mut cmd = tessera_cli::command();
    cmd.build();
    let head = head(&cmd, "TESSERA", "1", stamp)?;
    let mut page = Page::new();
    page.sh("SYNOPSIS");
    page.lines(vec![
        usage(&cmd, "tessera", &cmd),
        vec![bold("tessera"), roman(" "), bold("--help")],
        vec![bold("tessera"), roman(" "), bold("--version")],
    ]);
    description(&mut page, &cmd);
    page.sh("OPTIONS");
    options(&mut page, &cmd, &cmd);
    page.sh("COMMANDS");
    for sub in subcommands(&cmd) {
        page.ss(sub.get_name());
        let path = format!("tessera {}", sub.get_name());
        if !sub.has_subcommands() {
            entry(&mut page, &cmd, sub, &path);
        } else if has_own_arguments(sub, &cmd) {
            // Both forms (`audit` and `audit prune`) are entries, each with its own help.
            entry(&mut page, &cmd, sub, &path);
            leaves(&mut page, &cmd, sub, &path);
        } else {
            page.help(&whole_help(sub));
            leaves(&mut page, &cmd, sub, &path);
        }
    }
    after_help(&mut page, &cmd)?;
    assemble(&head, &page)
}

/// tessera-radiusd(8).
pub fn radiusd(stamp: &Stamp) -> Result<String, DistError> {
    let mut cmd = tessera_radiusd::command();
    cmd.build();
    let head = head(&cmd, "TESSERA-RADIUSD", "8", stamp)?;
    let mut page = Page::new();
    page.sh("SYNOPSIS");
    page.lines(vec![
        usage(&cmd, "tessera-radiusd", &cmd),
        vec![bold("tessera-radiusd"), roman(" "), bold("--help")],
        vec![bold("tessera-radiusd"), roman(" "), bold("--version")],
    ]);
    description(&mut page, &cmd);
    page.sh("OPTIONS");
    options(&mut page, &cmd, &cmd);
    after_help(&mut page, &cmd)?;
    assemble(&head, &page)
}

/// The `.TH` line and the NAME section (clap_mangen's: `name \- summary`).
fn head(cmd: &Command, title: &str, section: &str, stamp: &Stamp) -> Result<String, DistError> {
    // Written here, not by clap_mangen: its `.TH` line leaves an empty date out altogether, so
    // the version would be read as the date.
    // No hyphenation and a ragged right margin (as the hand-written pages): an option such as
    // --config is never split, and terminal lines get no stretched gaps.
    let mut out = format!(
        ".TH {title} {section} \"{}\" \"{}\" \"{MANUAL}\"\n.nh\n.ad l\n",
        stamp.date, stamp.source
    );
    let mut name = Vec::new();
    Man::new(cmd.clone()).render_name_section(&mut name)?;
    out.push_str(without_preamble(&String::from_utf8_lossy(&name)));
    Ok(out)
}

/// A page: roff's preamble (the apostrophe string the text uses), then `head`, then `body`.
fn assemble(head: &str, body: &Page) -> Result<String, DistError> {
    let body = body.render()?;
    let text = without_preamble(&body);
    let preamble = &body[..body.len() - text.len()];
    Ok(crate::page::finish(&format!("{preamble}{head}{text}")))
}

/// `piece` without the lines defining `\*(Aq` that every piece the roff crate renders starts
/// with.
fn without_preamble(piece: &str) -> &str {
    let mut rest = piece;
    while rest.starts_with(".ie \\n(.g .ds Aq") || rest.starts_with(".el .ds Aq") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest
}

/// The whole help minus its first paragraph, which the NAME line already says.
fn description(page: &mut Page, cmd: &Command) {
    page.sh("DESCRIPTION");
    let long = whole_help(cmd);
    let about = cmd.get_about().map(|s| s.to_string()).unwrap_or_default();
    let paras = paragraphs(&long);
    let skip = usize::from(
        paras
            .first()
            .is_some_and(|p| p.trim_end_matches('.') == about.trim_end_matches('.')),
    );
    for p in &paras[skip..] {
        page.paragraph(crate::page::inlines(p));
    }
}

fn after_help(page: &mut Page, cmd: &Command) -> Result<(), DistError> {
    let text = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let parsed = sections::parse(&text).map_err(|message| DistError::Help {
        command: cmd.get_name().to_string(),
        message,
    })?;
    page.sections(&parsed);
    Ok(())
}

/// The subcommands a reader may type (not clap's `help`).
fn subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// An entry for every command below `cmd` that can be run.
fn leaves(page: &mut Page, root: &Command, cmd: &Command, path: &str) {
    for sub in subcommands(cmd) {
        let path = format!("{path} {}", sub.get_name());
        if !sub.has_subcommands() || has_own_arguments(sub, root) {
            entry(page, root, sub, &path);
        }
        leaves(page, root, sub, &path);
    }
}

fn whole_help(cmd: &Command) -> String {
    cmd.get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// One command: its synopsis as the tag, its whole help, its options indented below.
fn entry(page: &mut Page, root: &Command, cmd: &Command, path: &str) {
    page.tp(usage(cmd, path, root));
    page.help(&whole_help(cmd));
    if has_own_arguments(cmd, root) {
        page.indent();
        options(page, cmd, root);
        page.outdent();
    }
}

/// The arguments of `cmd` itself: not the help and version flags clap adds, not the global
/// options `root` propagates (documented once, under OPTIONS).
fn own_arguments<'a>(cmd: &'a Command, root: &'a Command) -> impl Iterator<Item = &'a Arg> {
    let is_root = std::ptr::eq(cmd, root);
    cmd.get_arguments().filter(move |a| {
        !a.is_hide_set()
            && (is_root
                || (!is_clap_flag(a)
                    && !root
                        .get_arguments()
                        .any(|g| g.is_global_set() && g.get_id() == a.get_id())))
    })
}

fn has_own_arguments(cmd: &Command, root: &Command) -> bool {
    own_arguments(cmd, root).next().is_some()
}

fn is_clap_flag(a: &Arg) -> bool {
    matches!(
        a.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

/// `path [--opt VALUE] [--flag] NAME`, for a synopsis or an entry's tag.
fn usage(cmd: &Command, path: &str, root: &Command) -> Vec<Inline> {
    let mut line = vec![bold(path)];
    let mut positionals = Vec::new();
    for a in own_arguments(cmd, root) {
        if is_clap_flag(a) {
            continue;
        }
        if a.is_positional() {
            positionals.push(a);
            continue;
        }
        line.push(roman(" "));
        let optional = !a.is_required_set();
        if optional {
            line.push(roman("["));
        }
        line.extend(flag_and_value(a));
        if optional {
            line.push(roman("]"));
        }
    }
    for a in positionals {
        line.push(roman(" "));
        let value = value_name(a);
        if a.is_required_set() {
            line.push(italic(value));
        } else {
            line.extend([roman("["), italic(value), roman("]")]);
        }
    }
    if cmd.has_subcommands() && std::ptr::eq(cmd, root) {
        line.extend([roman(" "), italic("COMMAND"), roman(" ...")]);
    }
    line
}

/// `-s`, `--long VALUE`.
fn flag_and_value(a: &Arg) -> Vec<Inline> {
    let mut out = Vec::new();
    if let Some(s) = a.get_short() {
        out.push(bold(format!("-{s}")));
        if a.get_long().is_some() {
            out.push(roman(", "));
        }
    }
    if let Some(l) = a.get_long() {
        out.push(bold(format!("--{l}")));
    }
    if takes_value(a) {
        out.extend([roman(" "), italic(value_name(a))]);
    }
    out
}

fn takes_value(a: &Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values())
}

fn value_name(a: &Arg) -> String {
    a.get_value_names()
        .map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
}

/// A `.TP` per option and argument, with its whole help, default, values and variable.
fn options(page: &mut Page, cmd: &Command, root: &Command) {
    let (positionals, flags): (Vec<&Arg>, Vec<&Arg>) =
        own_arguments(cmd, root).partition(|a| a.is_positional());
    for a in flags.into_iter().chain(positionals) {
        let tag = if a.is_positional() {
            vec![italic(value_name(a))]
        } else {
            flag_and_value(a)
        };
        page.tp(tag);
        let help = a
            .get_long_help()
            .or(a.get_help())
            .map(|s| s.to_string())
            .unwrap_or_default();
        page.help(&help);
        let mut notes = Vec::new();
        if takes_value(a) && !a.is_hide_default_value_set() && !a.get_default_values().is_empty() {
            let values: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            notes.push(format!("Default: {}.", values.join(", ")));
        }
        let possible: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if takes_value(a) && !a.is_hide_possible_values_set() && !possible.is_empty() {
            notes.push(format!("One of: {}.", possible.join(", ")));
        }
        if let Some(env) = a.get_env().filter(|_| !a.is_hide_env_set()) {
            notes.push(format!(
                "The environment variable `{}` sets it too.",
                env.to_string_lossy()
            ));
        }
        if !notes.is_empty() {
            page.help(&notes.join(" "));
        }
    }
}
