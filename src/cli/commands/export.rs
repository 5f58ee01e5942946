use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::output::write_stdout;
use crate::device::{DeviceError, Result};

/// Export the alliance: a printable Markdown document, JSON, a calendar (ics), or the whole
/// history as a standard Automerge document (with its signatures, for any other program).
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Add every change: who made it, when, and whether it verified (an appendix in
    /// Markdown, a `history` list in JSON, oldest first).
    #[arg(long)]
    pub history: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A printable document.
    Md,
    /// Everything, as data.
    Json,
    /// An iCalendar file (RFC 5545): the design sessions and the check-in cadence.
    Ics,
    /// The whole history as a standard Automerge document (binary; needs `--output`
    /// unless standard output is a file or a pipe).
    Automerge,
    /// The signatures this device keeps, as JSON, to check the Automerge document's changes
    /// (docs/schema.md, "Reading the alliance elsewhere").
    Signatures,
}

pub fn run(ctx: &mut Context, args: ExportArgs) -> Result<()> {
    let open = ctx.read()?;
    if let Some(bytes) = open_format(ctx, &open, &args)? {
        return write_bytes(ctx, &args, &bytes);
    }
    let view = open.replica().view();
    let index = open.change_index();
    let conflicts = open.replica().conflicts(Some(&index));
    #[derive(serde::Serialize)]
    struct Exported<'a> {
        #[serde(flatten)]
        view: &'a crate::core::AllianceView,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        conflicts: &'a [crate::core::conflicts::Conflict],
        #[serde(skip_serializing_if = "Option::is_none")]
        history: Option<Vec<crate::core::LogEntry>>,
    }
    let text = match args.format {
        Format::Md => {
            let mut md = crate::device::export::markdown(&view, ctx.now);
            md.push_str(&crate::device::export::markdown_conflicts(&conflicts));
            if args.history {
                md.push_str(&crate::device::export::markdown_history(
                    &open.replica().log(),
                ));
            }
            md
        }
        Format::Json => {
            let history = args.history.then(|| {
                let mut history = open.replica().log();
                history.reverse();
                history
            });
            crate::cli::output::to_json(
                &Exported {
                    view: &view,
                    conflicts: &conflicts,
                    history,
                },
                true,
            )
        }
        Format::Ics | Format::Automerge | Format::Signatures => unreachable!("written above"),
    };
    match args.output {
        Some(path) => {
            std::fs::write(&path, crate::cli::output::sanitize(&text).as_bytes())
                .map_err(|e| DeviceError::user(format!("cannot write {}: {e}", path.display())))?;
            ctx.out.emit(
                &serde_json::json!({ "path": path.display().to_string() }),
                || format!("Exported to {}.", path.display()),
            );
        }
        None => write_stdout(&text),
    }
    Ok(())
}

/// The formats written as they are (no terminal sanitizing: a calendar's CRLF line ends, the
/// Automerge document's bytes): their bytes, or `None` for Markdown and JSON.
fn open_format(
    ctx: &Context,
    open: &crate::store::OpenAlliance,
    args: &ExportArgs,
) -> Result<Option<Vec<u8>>> {
    Ok(match args.format {
        Format::Md | Format::Json => None,
        Format::Ics => {
            let cal = crate::device::calendar::ics(&open.replica().view(), ctx.now);
            for u in &cal.unplaced {
                eprintln!(
                    "note: design session {} is not in the calendar: \"{}\" names no day it can read (write a date like 2026-12-12 19:00, or a weekday like Saturday 10am: `alliance plan edit {} --when ...`)",
                    u.id,
                    crate::cli::output::sanitize(&u.when),
                    u.id
                );
            }
            Some(cal.ics.into_bytes())
        }
        Format::Automerge => {
            if args.output.is_none() && std::io::stdout().is_terminal() {
                return Err(DeviceError::user(
                    "the Automerge document is binary; write it to a file with --output FILE (or pipe it)",
                ));
            }
            Some(crate::device::open_export::automerge(open.replica()))
        }
        Format::Signatures => Some(
            crate::cli::output::to_json(
                &crate::device::open_export::signatures(open.replica()),
                true,
            )
            .into_bytes(),
        ),
    })
}

fn write_bytes(ctx: &mut Context, args: &ExportArgs, bytes: &[u8]) -> Result<()> {
    match &args.output {
        Some(path) => {
            std::fs::write(path, bytes)
                .map_err(|e| DeviceError::user(format!("cannot write {}: {e}", path.display())))?;
            ctx.out.emit(
                &serde_json::json!({ "path": path.display().to_string() }),
                || format!("Exported to {}.", path.display()),
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .map_err(|e| DeviceError::user(format!("cannot write the export: {e}")))?;
        }
    }
    Ok(())
}
