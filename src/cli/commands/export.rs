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
        Format::Md => render::markdown(&view, ctx.now),
        Format::Json => serde_json::to_string_pretty(&view).expect("view serialises"),
    };
    match args.output {
        Some(path) => {
            std::fs::write(&path, &text)
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
