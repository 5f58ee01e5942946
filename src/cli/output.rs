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

pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    if !text.ends_with('\n') && !text.is_empty() {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// A plain-text table with aligned columns (widths in characters).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i + 1 < n {
                let pad = widths[i] - cell.chars().count() + 2;
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
