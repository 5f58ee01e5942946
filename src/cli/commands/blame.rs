use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::render;

/// Who wrote which part of the current vision, line by line, from verified changes.
#[derive(Debug, Args)]
pub struct BlameArgs {
    /// What to attribute (the shared vision).
    #[arg(value_enum)]
    pub what: BlameTarget,
    /// Show every run of characters with its author, instead of lines.
    #[arg(long)]
    pub detail: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BlameTarget {
    Vision,
}

pub fn run(ctx: &mut Context, args: BlameArgs) -> Result<()> {
    let BlameTarget::Vision = args.what;
    let open = ctx.read()?;
    let index = open.change_index();
    let blame = crate::core::history::Blame::by_line(open.replica().blame_vision(&index));
    let detail = args.detail;
    ctx.out.emit(&blame, || {
        if detail {
            render::blame_spans_text(&blame.spans)
        } else {
            render::blame_text(&blame)
        }
    });
    Ok(())
}
