use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::device::Result;
use crate::store::LockMode;

/// Remove an alliance from this device. The other members keep theirs; to stop being a member,
/// ask an admin to remove you first.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The alliance: its title, or its ID (at least 4 characters), as `alliance list` shows.
    pub alliance: String,
    /// Do not ask first (for scripts).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Serialize)]
struct Out {
    alliance: String,
    title: String,
}

pub fn run(ctx: &mut Context, args: ForgetArgs) -> Result<()> {
    let id = ctx.select(&args.alliance)?;
    let title = ctx.home.open(&id, LockMode::Shared)?.replica().view().title;
    if !args.yes {
        let question = format!(
            "This removes \"{title}\" ({}) and everything about it from this device; the other members keep their copies.",
            id.short()
        );
        ctx.confirm(
            &question,
            "Remove it?",
            "Nothing was removed; pass --yes to do it",
            "nothing was removed",
        )?;
    }
    ctx.home.forget_alliance(&id)?;
    let out = Out {
        alliance: id.to_string(),
        title,
    };
    ctx.out.emit(&out, || {
        format!(
            "Removed \"{}\" ({}) from this device.",
            out.title,
            id.short()
        )
    });
    Ok(())
}
