//! The text `--help` shows after the options (`after_long_help`), read as man-page sections.
//!
//! The layout (also described beside the text, in cli/src/args.rs): a section is a `TITLE:`
//! line at the margin, its lines indented four spaces. In a section, `TERM  text` (two spaces)
//! or a `TERM` line followed by lines indented eight spaces is an entry; lines indented deeper
//! than four continue the entry before them; other lines are paragraphs, a blank line ending
//! one. An EXAMPLES section is kept line by line.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Paragraph(String),
    Entry {
        term: String,
        text: String,
    },
    /// Lines kept as they are (examples).
    Lines(Vec<String>),
}

/// The sections of `text`, or what in it does not follow the layout.
pub fn parse(text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    // Whether the item being built may take more lines: a paragraph (at indent four) or an
    // entry (deeper), and nothing after a blank line.
    let mut open = false;
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if indent == 0 {
            let title = body
                .strip_suffix(':')
                .filter(|t| !t.is_empty() && !t.chars().any(|c| c.is_ascii_lowercase()))
                .ok_or_else(|| format!("line {n}: {body:?} is not a section title (TITLE:)"))?;
            sections.push(Section {
                title: title.to_string(),
                items: Vec::new(),
            });
            open = false;
            continue;
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| format!("line {n}: text before the first section title"))?;
        if section.title == "EXAMPLES" {
            let kept = line.get(4..).unwrap_or(body).to_string();
            match section.items.last_mut() {
                Some(Item::Lines(l)) if open => l.push(kept),
                _ => section.items.push(Item::Lines(vec![kept])),
            }
            open = true;
            continue;
        }
        if indent < 4 {
            return Err(format!(
                "line {n}: indented {indent} spaces, not four or more"
            ));
        }
        if indent > 4 {
            match section.items.last_mut() {
                Some(Item::Entry { text, .. }) if open => join(text, body),
                _ => {
                    return Err(format!(
                        "line {n}: indented text that continues no entry: {body:?}"
                    ));
                }
            }
            continue;
        }
        let next_is_deeper = lines
            .get(i + 1)
            .is_some_and(|l| !l.trim().is_empty() && l.len() - l.trim_start().len() >= 8);
        if let Some((term, text)) = body.split_once("  ") {
            section.items.push(Item::Entry {
                term: term.trim().to_string(),
                text: text.trim().to_string(),
            });
        } else if next_is_deeper {
            section.items.push(Item::Entry {
                term: body.to_string(),
                text: String::new(),
            });
        } else {
            match section.items.last_mut() {
                Some(Item::Paragraph(p)) if open => join(p, body),
                _ => section.items.push(Item::Paragraph(body.to_string())),
            }
        }
        open = true;
    }
    if let Some(s) = sections.iter().find(|s| s.items.is_empty()) {
        return Err(format!("section {} is empty", s.title));
    }
    Ok(sections)
}

fn join(to: &mut String, more: &str) {
    if !to.is_empty() {
        to.push(' ');
    }
    to.push_str(more);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: &str, text: &str) -> Item {
        Item::Entry {
            term: term.into(),
            text: text.into(),
        }
    }

    #[test]
    fn entries_paragraphs_and_examples_are_told_apart() {
        let text = "\
EXIT STATUS:
    0  success
    3  error: nothing was changed, or
       nothing could be decided

FILES:
    /etc/x.toml
        The configuration,
        read once.
    A paragraph
    over two lines.

    Another one.

EXAMPLES:
    tessera init
    tessera user add alice  --email a@example.com";
        let sections = parse(text).unwrap();
        assert_eq!(
            sections,
            vec![
                Section {
                    title: "EXIT STATUS".into(),
                    items: vec![
                        entry("0", "success"),
                        entry(
                            "3",
                            "error: nothing was changed, or nothing could be decided"
                        ),
                    ],
                },
                Section {
                    title: "FILES".into(),
                    items: vec![
                        entry("/etc/x.toml", "The configuration, read once."),
                        Item::Paragraph("A paragraph over two lines.".into()),
                        Item::Paragraph("Another one.".into()),
                    ],
                },
                Section {
                    title: "EXAMPLES".into(),
                    items: vec![Item::Lines(vec![
                        "tessera init".into(),
                        "tessera user add alice  --email a@example.com".into(),
                    ])],
                },
            ]
        );
    }

    #[test]
    fn text_off_the_layout_is_refused_with_its_line() {
        for (text, says) in [
            (
                "    orphan text",
                "line 1: text before the first section title",
            ),
            ("Files:\n    x", "line 1: \"Files:\" is not a section title"),
            ("FILES:\n  x", "line 2: indented 2 spaces"),
            (
                "FILES:\n    para\n\n        deeper",
                "line 4: indented text",
            ),
            ("FILES:\n\nSEE ALSO:\n    x(1)", "section FILES is empty"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn the_real_help_texts_follow_the_layout() {
        for cmd in [tessera_cli::command(), tessera_radiusd::command()] {
            let text = cmd.get_after_long_help().unwrap().to_string();
            let sections = parse(&text).unwrap();
            assert!(sections.iter().any(|s| s.title == "EXIT STATUS"));
        }
    }
}
