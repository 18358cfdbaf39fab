//! Reading a document: its fenced code blocks and sections, the commands of a shell block (with
//! their continuations and what their comments expect), and how a document starts the server.

use std::path::Path;

/// A fenced code block: its language and first line (1-based, in the document) and its lines.
#[derive(Debug)]
pub(crate) struct Block {
    pub(crate) lang: String,
    pub(crate) line: usize,
    pub(crate) lines: Vec<String>,
}

/// The fenced code blocks of `markdown` (the part between `from` and `to`, 0-based line numbers).
pub(crate) fn blocks(markdown: &str, from: usize, to: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate().take(to).skip(from) {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    lang: info.split_whitespace().next().unwrap_or("").to_owned(),
                    line: i + 2,
                    lines: Vec::new(),
                });
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => b.lines.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unterminated code block");
    out
}

/// The 0-based line range of the section under the level-2 heading `title`.
pub(crate) fn section(markdown: &str, title: &str) -> (usize, usize) {
    let lines: Vec<&str> = markdown.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("## {title}"))
        .unwrap_or_else(|| panic!("no \"## {title}\" section"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |n| start + 1 + n);
    (start + 1, end)
}

pub(crate) fn is_shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "shell")
}

/// What a comment says to expect.
#[derive(Debug, Default, Clone)]
pub(crate) struct Expect {
    pub(crate) status: Option<u16>,
    /// Error codes and `"field": value` fragments that must appear in the output.
    pub(crate) texts: Vec<String>,
}

impl Expect {
    pub(crate) fn parse(comment: &str) -> Expect {
        let mut e = Expect::default();
        let first = comment.split_whitespace().next().unwrap_or("");
        let digits: String = first.chars().take_while(char::is_ascii_digit).collect();
        if digits.len() == 3 && first[3..].chars().all(|c| !c.is_alphanumeric()) {
            e.status = digits.parse().ok();
        }
        for word in comment.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let code = word.contains('_')
                && word.starts_with(|c: char| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !word.ends_with('_');
            if code {
                e.texts.push(word.to_owned());
            }
        }
        // `"field": value`, compared without spaces.
        let mut rest = comment;
        while let Some(at) = rest.find('"') {
            let tail = &rest[at..];
            let Some(colon) = tail.find("\": ") else {
                break;
            };
            let value_end = tail[colon + 3..]
                .find([' ', ',', ')', ';'])
                .map_or(tail.len(), |n| colon + 3 + n);
            e.texts.push(tail[..value_end].replace(' ', ""));
            rest = &tail[value_end..];
        }
        e
    }
}

/// One command of a document: the exact text (with its continuations) and what it expects.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) line: usize,
    pub(crate) text: String,
    /// On one line, continuations joined, comment removed.
    pub(crate) flat: String,
    pub(crate) expect: Expect,
}

/// Where the comment of a shell line starts (a `#` outside quotes, at a word's start).
pub(crate) fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if c == '#' && !single && !double && prev_blank {
            return Some(i);
        }
        prev_blank = c.is_whitespace();
    }
    None
}

/// The commands of a shell block: blank and comment-only lines dropped, continuations joined.
pub(crate) fn steps(block: &Block) -> Vec<Step> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < block.lines.len() {
        let first = i;
        while block.lines[i].trim_end().ends_with('\\') && i + 1 < block.lines.len() {
            i += 1;
        }
        let lines = &block.lines[first..=i];
        i += 1;
        let last = lines.last().expect("one line at least");
        let (code_end, comment) = match comment_start(last) {
            Some(at) => (at, last[at + 1..].trim()),
            None => (last.len(), ""),
        };
        let mut flat: Vec<&str> = lines[..lines.len() - 1]
            .iter()
            .map(|l| l.trim_end().trim_end_matches('\\').trim())
            .collect();
        flat.push(last[..code_end].trim());
        let flat = flat.join(" ").trim().to_owned();
        if flat.is_empty() {
            continue;
        }
        out.push(Step {
            line: block.line + first,
            text: lines.join("\n"),
            flat,
            expect: Expect::parse(comment),
        });
    }
    out
}

/// Splits a shell command into words (quotes and backslashes as the shell reads them; enough for
/// the documents' server lines).
pub(crate) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).extend(chars.next()),
            c if c.is_whitespace() => out.extend(cur.take()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

/// How a document starts the server: `NAME=value ... cargo run --release -- serve &` or
/// `NAME=value ... bouncer serve &`.
#[derive(Debug)]
pub(crate) struct Launch {
    pub(crate) line: usize,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) args: Vec<String>,
}

pub(crate) fn launch(step: &Step) -> Option<Launch> {
    let cmd = step.flat.strip_suffix('&')?.trim();
    let words = words(cmd);
    let mut env = Vec::new();
    let mut rest = words.as_slice();
    while let Some((w, tail)) = rest.split_first() {
        let Some((name, value)) = w.split_once('=') else {
            break;
        };
        env.push((name.to_owned(), value.to_owned()));
        rest = tail;
    }
    let args = match rest {
        [cargo, run, tail @ ..] if cargo == "cargo" && run == "run" => {
            let dashes = tail.iter().position(|w| w == "--")?;
            tail[dashes + 1..].to_vec()
        }
        [bin, tail @ ..] if Path::new(bin).file_name()? == "bouncer" => tail.to_vec(),
        _ => return None,
    };
    args.iter().any(|a| a == "serve").then_some(Launch {
        line: step.line,
        env,
        args,
    })
}

/// The name a command assigns (`NAME=...`) or the function it defines (`name() {`).
pub(crate) fn defines(flat: &str) -> Option<(bool, &str)> {
    let end = flat
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(flat.len());
    let name = &flat[..end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = &flat[end..];
    if rest.starts_with('=') && !flat.contains(" serve") {
        Some((false, name))
    } else if rest.starts_with("()") {
        Some((true, name))
    } else {
        None
    }
}
