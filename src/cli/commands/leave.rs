use clap::Args;

use crate::cli::context::{Context, report};
use crate::device::Result;

/// Leave the alliance: your devices stop syncing it with the others, and your past changes keep
/// your name. Final (to come back, ask an admin for a new invite). Your copy stays on this
/// device until `alliance forget`.
#[derive(Debug, Args)]
pub struct LeaveArgs {
    /// Do not ask first (for scripts).
    #[arg(long)]
    pub yes: bool,
}

pub fn run(ctx: &mut Context, args: LeaveArgs) -> Result<()> {
    let (open, identity) = (ctx.read()?, ctx.identity()?);
    crate::device::steps::me(&open, &identity)?;
    let title = open.replica().roster().title;
    drop(open);
    if !args.yes {
        let question = format!(
            "You will leave \"{title}\": your devices will no longer sync it, and only a new invite brings you back."
        );
        ctx.confirm(
            &question,
            "Leave?",
            "Nothing changed; pass --yes to do it",
            "you are still a member",
        )?;
    }
    let aid = ctx.alliance_id()?;
    let mut open = ctx.home.open(&aid, crate::store::LockMode::Exclusive)?;
    let edited = crate::device::steps::leave(&mut open, &identity, ctx.entropy.as_mut(), ctx.now)?;
    report(ctx, &edited);
    Ok(())
}
