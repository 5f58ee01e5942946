use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::render;

/// What needs your attention: conflicts, expectations to agree to, a due check-in, members
/// without needs, and changes by others since you last ran `alliance seen`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

pub fn run(ctx: &mut Context, _args: StatusArgs) -> Result<()> {
    let identity = ctx.identity()?;
    let open = ctx.read()?;
    let me = crate::ops::me(&open, &identity)?;
    let status = crate::ops::status(&open, &me, ctx.now)?;
    ctx.out.emit(&status, || render::status_text(&status));
    Ok(())
}
