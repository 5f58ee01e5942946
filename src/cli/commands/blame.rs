use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::render;

/// Who wrote which part of the current vision, character by character, from verified changes.
#[derive(Debug, Args)]
pub struct BlameArgs {
    /// What to attribute (the shared vision).
    #[arg(value_enum)]
    pub what: BlameTarget,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BlameTarget {
    Vision,
}

pub fn run(ctx: &mut Context, args: BlameArgs) -> Result<()> {
    let BlameTarget::Vision = args.what;
    let open = ctx.read()?;
    let index = open.change_index();
    let spans = open.replica().blame_vision(&index);
    ctx.out.emit(&spans, || render::blame_text(&spans));
    Ok(())
}
