use clap::Args;

use crate::cli::context::{Context, block_on};
use crate::device::Result;

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
    // On a terminal: what arrives from the inviting device and what is being verified.
    let progress = std::sync::Arc::new(ctx.out.progress());
    let report: Option<crate::net::session::OnProgress> = progress.is_drawn().then(|| {
        let progress = progress.clone();
        std::sync::Arc::new(move |_: crate::core::DeviceId, step| {
            progress.sync("join", "the inviting device", step)
        }) as crate::net::session::OnProgress
    });
    let joined = block_on(crate::device::steps::join(
        &home,
        &net,
        &args.ticket,
        args.name.as_deref(),
        ctx.entropy.as_mut(),
        now,
        report,
    ));
    progress.finish();
    let out = joined??;
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
