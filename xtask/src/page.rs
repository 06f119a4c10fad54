//! A man page being written: the man(7) macros this generator uses, and help text turned into
//! roff (escaping is the `roff` crate's, the one clap_mangen writes with).

use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::sections::{Item, Section};

/// Where the next paragraph goes: right after a heading or a `.TP` tag no macro is needed; in a
/// `.TP` body later paragraphs keep its indent (`.IP`); elsewhere `.PP`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    Heading,
    TagFirst,
    TagBody,
    Body,
}

pub struct Page {
    roff: Roff,
    at: At,
}

impl Page {
    pub fn new() -> Page {
        Page {
            roff: Roff::new(),
            at: At::Heading,
        }
    }

    pub fn sh(&mut self, title: &str) {
        self.roff.control("SH", [title]);
        self.at = At::Heading;
    }

    pub fn ss(&mut self, title: &str) {
        self.roff.control("SS", [title]);
        self.at = At::Heading;
    }

    /// A tagged paragraph: `tag` on its own line, what follows indented.
    pub fn tp(&mut self, tag: Vec<Inline>) {
        self.roff.control("TP", []);
        self.roff.text(tag);
        self.at = At::TagFirst;
    }

    pub fn paragraph(&mut self, text: Vec<Inline>) {
        match self.at {
            At::Heading | At::TagFirst => {}
            At::TagBody => {
                self.roff.control("IP", []);
            }
            At::Body => {
                self.roff.control("PP", []);
            }
        }
        self.roff.text(text);
        self.at = match self.at {
            At::TagFirst | At::TagBody => At::TagBody,
            At::Heading | At::Body => At::Body,
        };
    }

    /// Every paragraph of clap's help text `text`.
    pub fn help(&mut self, text: &str) {
        for p in paragraphs(text) {
            self.paragraph(inlines(&p));
        }
    }

    /// Lines that go together, one under the other (a synopsis).
    pub fn lines(&mut self, lines: Vec<Vec<Inline>>) {
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                self.roff.control("br", []);
            }
            self.roff.text(line);
        }
        self.at = At::Body;
    }

    /// Indent what follows (until [`Page::outdent`]) to the current tag's body.
    pub fn indent(&mut self) {
        self.roff.control("RS", []);
        self.at = At::Heading;
    }

    pub fn outdent(&mut self) {
        self.roff.control("RE", []);
        self.at = At::Body;
    }

    /// Lines kept as they are (no filling), indented: examples. `.nf` rather than `.EX`,
    /// whose `.EE` turns hyphenation back on.
    pub fn example(&mut self, lines: &[String]) {
        if self.at != At::Heading {
            self.roff.control("PP", []);
        }
        self.roff.control("RS", ["4"]);
        self.roff.control("nf", []);
        for l in lines {
            self.roff.text([roman(l.as_str())]);
        }
        self.roff.control("fi", []);
        self.roff.control("RE", []);
        self.at = At::Body;
    }

    /// Sections read from the after-help text.
    pub fn sections(&mut self, sections: &[Section]) {
        for s in sections {
            self.sh(&s.title);
            for item in &s.items {
                match item {
                    Item::Paragraph(p) => self.paragraph(inlines(p)),
                    Item::Entry { term, text } => {
                        // File names in italics, everything else (statuses, variables, signals)
                        // in bold, as man-pages(7) has it.
                        let tag = if s.title == "FILES" {
                            italic(term.as_str())
                        } else {
                            bold(term.as_str())
                        };
                        self.tp(vec![tag]);
                        self.paragraph(inlines(text));
                    }
                    Item::Lines(lines) => self.example(lines),
                }
            }
        }
    }

    pub fn render(&self) -> Result<String, std::io::Error> {
        let mut out = Vec::new();
        self.roff.to_writer(&mut out)?;
        String::from_utf8(out).map_err(std::io::Error::other)
    }
}

/// Rendered roff made portable and tidy: every character outside ASCII as a groff escape
/// (groff reads its input as Latin-1 unless preconv runs first; `man` runs it, `groff -man`
/// does not), and filled text lines wrapped at word breaks to at most [`WIDTH`] bytes (what
/// mandoc's lint asks for; in fill mode a line break is a space).
pub fn finish(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len() + roff.len() / 16);
    let mut filling = true;
    // The line after `.TP` is the tag: one input line, whatever its length.
    let mut is_tag = false;
    for line in roff.lines() {
        let line = ascii(line);
        if line.starts_with('.') || line.starts_with('\'') {
            if line.starts_with(".nf") || line.starts_with(".EX") {
                filling = false;
            } else if line.starts_with(".fi") || line.starts_with(".EE") {
                filling = true;
            }
            is_tag = line.starts_with(".TP");
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        if !filling || std::mem::take(&mut is_tag) || line.len() <= WIDTH {
            out.push_str(&line);
            out.push('\n');
            continue;
        }
        let mut current = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
                out.push_str(&current);
                out.push('\n');
                current.clear();
            }
            if current.is_empty() {
                // A word that starts a line must not read as a request.
                if word.starts_with('.') || word.starts_with('\'') {
                    current.push_str("\\&");
                }
            } else {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}

/// The longest filled text line [`finish`] leaves.
pub const WIDTH: usize = 80;

fn ascii(line: &str) -> String {
    if line.is_ascii() {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            c if c.is_ascii() => out.push(c),
            '\u{2014}' => out.push_str("\\(em"),
            '\u{2013}' => out.push_str("\\(en"),
            '\u{2192}' => out.push_str("\\(->"),
            '\u{d7}' => out.push_str("\\(mu"),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// Help text's paragraphs (blank-line separated), each on one line.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Help text as roff: `code` and --options in bold, references such as tessera.toml(5) with
/// the name in bold, and a line break after each sentence (man(7) style: a new sentence starts
/// a new line, which also gives the wider space after its full stop).
pub fn inlines(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, out: &mut Vec<Inline>| {
        if !plain.is_empty() {
            out.push(roman(break_sentences(plain)));
            plain.clear();
        }
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at_word_start = i == 0 || matches!(chars[i - 1], ' ' | '(' | '[' | '/');
        if c == '`'
            && let Some(len) = chars[i + 1..].iter().position(|&c| c == '`')
        {
            flush(&mut plain, &mut out);
            out.push(bold(chars[i + 1..i + 1 + len].iter().collect::<String>()));
            i += len + 2;
            continue;
        }
        if c == '-' && at_word_start && chars.get(i + 1) == Some(&'-') {
            let len = chars[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '-')
                .count();
            if len > 0 {
                flush(&mut plain, &mut out);
                out.push(bold(chars[i..i + 2 + len].iter().collect::<String>()));
                i += 2 + len;
                continue;
            }
        }
        if c == '('
            && matches!(chars.get(i + 1), Some('1'..='8'))
            && chars.get(i + 2) == Some(&')')
            && let Some(name) = reference_name(&plain)
        {
            let name = name.to_string();
            plain.truncate(plain.len() - name.len());
            flush(&mut plain, &mut out);
            out.push(bold(name));
            plain.push_str(&chars[i..i + 3].iter().collect::<String>());
            i += 3;
            continue;
        }
        plain.push(c);
        i += 1;
    }
    flush(&mut plain, &mut out);
    out
}

/// The page name that `plain` ends with, if a reference's `(N)` may follow it.
fn reference_name(plain: &str) -> Option<&str> {
    let start = plain
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map_or(0, |at| at + 1);
    let name = &plain[start..];
    (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphabetic())).then_some(name)
}

fn break_sentences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(". ") {
        let (head, tail) = rest.split_at(at + 1);
        out.push_str(head);
        let tail = &tail[1..];
        if tail.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push('\n');
        } else {
            out.push(' ');
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roff_of(text: &str) -> String {
        let mut r = Roff::new();
        r.text(inlines(text));
        r.to_roff()
    }

    #[test]
    fn code_options_and_references_are_marked_up() {
        assert_eq!(
            roff_of("Run `tessera init` with --new-store; see tessera.toml(5)."),
            "Run \\fBtessera init\\fR with \\fB\\-\\-new\\-store\\fR; see \\fBtessera.toml\\fR(5).\n"
        );
        // A dash inside a word, a lone backtick and a parenthesis that is no reference stay.
        assert_eq!(
            roff_of("e-mail `x (1 to 5) f(x)"),
            "e\\-mail `x (1 to 5) f(x)\n"
        );
    }

    #[test]
    fn each_sentence_starts_a_line() {
        assert_eq!(
            roff_of("One. Two, e.g. three. .dot"),
            "One.\nTwo, e.g. three. .dot\n"
        );
    }

    #[test]
    fn finish_wraps_filled_text_escapes_non_ascii_and_keeps_examples() {
        let long = format!(
            "{} .x {}",
            "word ".repeat(16).trim(),
            "more ".repeat(5).trim()
        );
        let page = format!(".SH A\n{long}\n.nf\n{long}\n.fi\nem\u{2014}dash \u{e9}\n");
        let out = finish(&page);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], ".SH A");
        assert!(
            lines[1].len() <= WIDTH && lines[2].starts_with("\\&.x"),
            "{out}"
        );
        assert_eq!(lines[4], long, "an example line is never wrapped");
        assert_eq!(lines[6], "em\\(emdash \\[u00E9]");
        // A tag stays one line.
        let out = finish(&format!(".TP\n{long}\n"));
        assert_eq!(out.lines().nth(1), Some(long.as_str()));
        // Wrapping only moves line breaks between words.
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            words(&lines[1..3].join(" ")),
            words(&long.replace(" .x", " \\&.x"))
        );
    }

    #[test]
    fn paragraphs_are_joined_lines() {
        assert_eq!(paragraphs("a\nb\n\n\nc  d\n"), vec!["a b", "c d"]);
    }
}
