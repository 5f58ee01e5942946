//! The one output layer: every command hands its result here, as data plus a human rendering.
//! With `--json` the data is printed as JSON; otherwise the human text. A closed pipe
//! (`alliance log | head`) is not an error.
//!
//! Colour, where it helps ([`paint`]): decided once a run ([`init_color`]) by anstream's rules,
//! so it is off with `NO_COLOR`, when stdout is not a terminal (`CLICOLOR_FORCE` turns it on
//! anyway), and always with `--json`.

use std::io::Write;

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    /// `-q`: no progress bars.
    pub quiet: bool,
}

impl Output {
    /// Prints `value` as JSON, or `human()` as text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            write_json(&to_json(value, true));
        } else {
            write_stdout(&human());
        }
    }

    /// Progress for long work, drawn on stderr only when stderr is a terminal and neither
    /// `--json` nor `-q` was given: pipes and scripts get nothing extra.
    pub fn progress(&self) -> Progress {
        use std::io::IsTerminal;
        let on = !self.json && !self.quiet && std::io::stderr().is_terminal();
        Progress {
            multi: on.then(indicatif::MultiProgress::new),
            lines: Default::default(),
        }
    }
}

/// Progress bars on the terminal (indicatif), one line per piece of work (a peer being synced,
/// a bundle being imported), cleared when the work is done, so that only the result stays.
/// Everything is a no-op when [`Output::progress`] decided not to draw.
pub struct Progress {
    multi: Option<indicatif::MultiProgress>,
    lines: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Progress {
    /// Whether anything is drawn at all.
    pub fn is_drawn(&self) -> bool {
        self.multi.is_some()
    }

    fn line(&self, key: &str, update: impl FnOnce(&indicatif::ProgressBar)) {
        let Some(multi) = &self.multi else {
            return;
        };
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let bar = lines.entry(key.to_string()).or_insert_with(|| {
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        update(bar);
    }

    /// Work whose end is not known: a spinner and what is happening, in words.
    pub fn working(&self, key: &str, words: String) {
        self.line(key, |bar| {
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_message(words);
            bar.tick();
        });
    }

    /// Bytes of a known total arriving: a bar, how much and how fast.
    pub fn bytes(&self, key: &str, words: String, done: u64, total: u64) {
        self.line(key, |bar| {
            if bar.length() != Some(total) {
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_length(total);
                bar.set_message(words);
            }
            bar.set_position(done);
        });
    }

    /// How a sync with `who` is going (what `join` and `sync` show).
    pub fn sync(&self, key: &str, who: &str, step: crate::net::session::SyncProgress) {
        use crate::net::session::SyncProgress::*;
        match step {
            Arriving { bytes, of } => self.bytes(
                key,
                format!("Receiving from {who}"),
                bytes as u64,
                of as u64,
            ),
            Checking { received, checking } => self.working(
                key,
                format!(
                    "Verifying {} change(s) from {who} ({} received so far)",
                    thousands(checking),
                    thousands(received)
                ),
            ),
            Received { received } => self.working(
                key,
                format!(
                    "Received {} verified change(s) from {who}",
                    thousands(received)
                ),
            ),
        }
    }

    /// Clears every line: the work is done and its result is printed next.
    pub fn finish(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        for (_, bar) in lines.drain() {
            bar.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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

/// `value` as JSON that shows on a terminal as it is stored: the characters [`sanitize`] would
/// escape (serde_json leaves DEL, the C1 controls and the bidirectional controls as they are)
/// are written as JSON escapes (`\u202e`), which every JSON reader reads back as the character
/// itself. Always valid JSON; what `--json` prints.
pub fn to_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> String {
    let json = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .expect("output serialises");
    json_safe(&json)
}

/// JSON text with the characters [`sanitize`] would escape written as JSON escapes. Such
/// characters can only stand inside JSON strings, where `\uXXXX` means the same character (all
/// of them are in the Basic Multilingual Plane).
pub fn json_safe(json: &str) -> String {
    use crate::core::text::is_unsafe;
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_unsafe(c) && (c as u32) <= 0xffff {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints JSON made by [`to_json`] (already terminal-safe) as it is.
pub fn write_json(json: &str) {
    write_raw(json);
}

/// How many terminal columns `text` takes once sanitized (a wide character such as an emoji or
/// a CJK character takes two).
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(sanitize(&unmarked(text)).as_ref())
}

/// One line of document text for a table cell or a list line: line breaks shown as spaces.
pub fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The colours of the command line: what [`paint`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Verified, all is well.
    Good,
    /// Failed verification, an equivocation, a quarantine: something is wrong.
    Bad,
    /// A heading for something that waits for the person (a conflict, an agreement).
    Attention,
    /// A heading that only informs.
    Heading,
}

impl Paint {
    fn style(self) -> anstyle::Style {
        use anstyle::{AnsiColor, Style};
        match self {
            Paint::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Paint::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            Paint::Attention => Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
            Paint::Heading => Style::new().bold(),
        }
    }

    const ALL: [Paint; 4] = [Paint::Good, Paint::Bad, Paint::Attention, Paint::Heading];
}

/// Whether this run colours stdout, and the secret that marks a painted span in the text until
/// [`write_stdout`] turns it into escape codes. The document's text is sanitized (its escape
/// codes shown escaped) before it is printed; the marks survive that only because they carry a
/// random nonce the document cannot know, so no name or summary can paint itself "verified".
struct Color {
    nonce: String,
}

static COLOR: std::sync::OnceLock<Option<Color>> = std::sync::OnceLock::new();

/// Decides, once, whether this run colours stdout: never with `--json`; otherwise as anstream
/// decides for stdout (`NO_COLOR` off, `CLICOLOR_FORCE` on, a terminal on, a pipe off).
/// Without a call (the library, the page) nothing is painted.
pub fn init_color(json: bool) {
    let on =
        !json && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    let _ = COLOR.get_or_init(|| {
        on.then(|| {
            let mut bytes = [0u8; 12];
            getrandom::fill(&mut bytes).expect("system randomness");
            Color {
                nonce: hex::encode(bytes),
            }
        })
    });
}

fn color() -> Option<&'static Color> {
    COLOR.get().and_then(Option::as_ref)
}

/// `text` in a colour when this run colours stdout ([`init_color`]); unchanged otherwise (in
/// pipes, with `NO_COLOR`, with `--json`). Only for text the program wrote, never to mark
/// document text as anything.
pub fn paint(paint: Paint, text: &str) -> String {
    match color() {
        None => text.to_string(),
        Some(c) => format!(
            "\u{1}{}{}\u{2}{text}\u{1}{}-\u{2}",
            c.nonce, paint as u8, c.nonce
        ),
    }
}

/// `text` with painted spans' marks removed (for widths and for uncoloured output).
fn unmarked(text: &str) -> std::borrow::Cow<'_, str> {
    match color() {
        Some(c) if text.contains(&c.nonce) => std::borrow::Cow::Owned(to_terminal(text, c, false)),
        _ => std::borrow::Cow::Borrowed(text),
    }
}

/// Sanitizes `text` between the marks of painted spans, and turns the marks into escape codes
/// (`codes`) or nothing.
fn to_terminal(text: &str, c: &Color, codes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&format!("\u{1}{}", c.nonce)) {
        out.push_str(&sanitize(&rest[..at]));
        let after = &rest[at + 1 + c.nonce.len()..];
        let Some(end) = after.find('\u{2}') else {
            rest = &rest[at..];
            break;
        };
        let code = &after[..end];
        if codes {
            let style = match code {
                "-" => None,
                n => Paint::ALL.into_iter().find(|p| (*p as u8).to_string() == n),
            };
            match style {
                Some(p) => out.push_str(&p.style().render().to_string()),
                None => out.push_str(&anstyle::Reset.render().to_string()),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(&sanitize(rest));
    out
}

pub fn write_stdout(text: &str) {
    let text = match color() {
        Some(c) if text.contains(&c.nonce) => std::borrow::Cow::Owned(to_terminal(text, c, true)),
        _ => sanitize(text),
    };
    write_raw(&text);
}

fn write_raw(text: &str) {
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

/// The ticket as a QR code in text, for the terminal: two rows of modules a line, in block
/// characters, with the standard quiet zone. Drawn for a dark terminal, as `qrencode -t UTF8`
/// draws it: the light modules (and the border) are the characters' ink, the dark ones the
/// terminal's background. Error correction L, as the page's SVG (`app::views::ticket`). `None`
/// if the ticket does not fit in a QR code.
pub fn ticket_qr_text(ticket: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code =
        qrcode::QrCode::with_error_correction_level(ticket.as_bytes(), qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// What `invite --qr` and `device link --qr` put after the ticket line: a blank line and the QR
/// code, or a word that the ticket is too long for one.
pub fn ticket_qr_block(ticket: &str) -> String {
    match ticket_qr_text(ticket) {
        Some(qr) => format!("\n\n{qr}"),
        None => "\n\n(the ticket is too long for a QR code)".into(),
    }
}
