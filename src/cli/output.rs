//! The one output layer: every command hands its result here, as data plus a human rendering.
//! With `--json` the data is printed as JSON; otherwise the human text. A closed pipe
//! (`alliance log | head`) is not an error.

use std::io::Write;

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human()` as text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        let text = if self.json {
            serde_json::to_string_pretty(value).expect("output serialises")
        } else {
            human()
        };
        write_stdout(&text);
    }
}

/// Makes text from the document safe to show on a terminal: control characters other than
/// newline and tab (escape sequences, carriage returns that redraw a line) and bidirectional
/// controls (which can make a line read backwards) are shown escaped, visibly, as `\u{202e}`.
/// Any member can write any text, so a name or summary must not be able to restyle or overwrite
/// what is printed around it (a "verified" beside a change that failed, say).
pub fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    use crate::core::text::is_unsafe;
    if !text.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// How many terminal columns `text` takes once sanitized (a wide character such as an emoji or
/// a CJK character takes two).
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(sanitize(text).as_ref())
}

/// One line of document text for a table cell or a list line: line breaks shown as spaces.
pub fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

pub fn write_stdout(text: &str) {
    let text = sanitize(text);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') && !text.is_empty() {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// A plain-text table with aligned columns (widths in terminal columns, as displayed).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(width(cell));
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i + 1 < n {
                let pad = widths[i] - width(cell) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
