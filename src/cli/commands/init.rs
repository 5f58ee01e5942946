use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::device::Result;

/// Set up this device: create its key and record your name.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Your name as the other members will see it.
    #[arg(long)]
    pub name: String,
}

#[derive(Serialize)]
struct Out {
    name: String,
    device: String,
    created: bool,
}

pub fn run(ctx: &mut Context, args: InitArgs) -> Result<()> {
    let (identity, created) =
        crate::device::steps::init(&ctx.home, &args.name, ctx.entropy.as_mut())?;
    let out = Out {
        name: identity.name.clone(),
        device: identity.key.device_id().to_hex(),
        created,
    };
    ctx.out.emit(&out, || {
        if created {
            format!(
                "This device is set up for {}.\nDevice key: {}\nNext: create an alliance with `alliance new TITLE`.",
                out.name, out.device
            )
        } else {
            format!(
                "This device is already set up for {} (device {}); nothing changed.",
                out.name, out.device
            )
        }
    });
    Ok(())
}
