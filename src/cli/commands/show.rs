use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::render;

/// Show the whole alliance: members, needs, plan, vision, expectations, check-ins.
#[derive(Debug, Args)]
pub struct ShowArgs {}

pub fn run(ctx: &mut Context, _args: ShowArgs) -> Result<()> {
    let open = ctx.read()?;
    let view = open.replica().view();
    ctx.out
        .emit(&view, || render::show(&view, open.replica().len()));
    Ok(())
}
