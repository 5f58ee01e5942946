use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::output::write_stdout;
use crate::cli::render;

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
    let text = match args.format {
        Format::Md if args.history => {
            let mut md = render::markdown(&view, ctx.now);
            md.push_str(&render::markdown_history(&open.replica().log()));
            md
        }
        Format::Md => render::markdown(&view, ctx.now),
        Format::Json if args.history => {
            #[derive(serde::Serialize)]
            struct WithHistory<'a> {
                #[serde(flatten)]
                view: &'a crate::core::AllianceView,
                history: Vec<crate::core::LogEntry>,
            }
            let mut history = open.replica().log();
            history.reverse();
            serde_json::to_string_pretty(&WithHistory {
                view: &view,
                history,
            })
            .expect("view serialises")
        }
        Format::Json => serde_json::to_string_pretty(&view).expect("view serialises"),
    };
    match args.output {
        Some(path) => {
            std::fs::write(&path, crate::cli::output::sanitize(&text).as_bytes())
                .map_err(|e| CliError::user(format!("cannot write {}: {e}", path.display())))?;
            ctx.out.emit(
                &serde_json::json!({ "path": path.display().to_string() }),
                || format!("Exported to {}.", path.display()),
            );
        }
        None => write_stdout(&text),
    }
    Ok(())
}
