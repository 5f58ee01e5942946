use clap::Args;

use crate::cli::context::{Context, block_on};
use crate::cli::error::Result;

/// Join an alliance with a ticket from `alliance invite` (the inviting device must be serving).
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The ticket, one line starting with "alliance".
    pub ticket: String,
    /// Your name as the others will see it (also sets up this device if it is new).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(ctx: &mut Context, args: JoinArgs) -> Result<()> {
    let net = ctx.net.clone();
    let (home, now) = (ctx.home.clone(), ctx.now);
    let out = block_on(crate::ops::join(
        &home,
        &net,
        &args.ticket,
        args.name.as_deref(),
        ctx.entropy.as_mut(),
        now,
    ))??;
    ctx.out.emit(&out, || {
        format!(
            "Joined \"{}\" ({}) as {}; received {} verified changes.\nRun `alliance serve` to stay in sync, or `alliance sync` now and then.",
            out.title,
            &out.alliance[..12],
            out.name,
            out.received
        )
    });
    Ok(())
}
