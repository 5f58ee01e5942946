use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::output::write_stdout;
use crate::device::{DeviceError, Result};

/// Export the alliance as a printable Markdown document or as JSON.
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Md,
    Json,
}

pub fn run(ctx: &mut Context, args: ExportArgs) -> Result<()> {
    let open = ctx.read()?;
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
