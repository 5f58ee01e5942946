use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::device::Result;
use crate::store::LockMode;

/// Choose the alliance commands use when this device holds several and none is named.
#[derive(Debug, Args)]
pub struct UseArgs {
    /// The alliance: its title, or its ID (at least 4 characters), as `alliance list` shows.
    pub alliance: String,
}

#[derive(Serialize)]
struct Out {
    alliance: String,
    title: String,
}

pub fn run(ctx: &mut Context, args: UseArgs) -> Result<()> {
    let id = ctx.select(&args.alliance)?;
    ctx.home.set_default_alliance(&id)?;
    let title = ctx.home.open(&id, LockMode::Shared)?.replica().view().title;
    let out = Out {
        alliance: id.to_string(),
        title,
    };
    ctx.out.emit(&out, || {
        format!(
            "Commands now use \"{}\" ({}) unless you name another with --alliance.",
            out.title,
            id.short()
        )
    });
    Ok(())
}
