use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::device::Result;

/// Show your name and this device's public key.
#[derive(Debug, Args)]
pub struct WhoamiArgs {}

#[derive(Serialize)]
struct Out {
    name: String,
    device: String,
    home: String,
}

pub fn run(ctx: &mut Context, _args: WhoamiArgs) -> Result<()> {
    let identity = ctx.identity()?;
    let out = Out {
        name: identity.name.clone(),
        device: identity.key.device_id().to_hex(),
        home: ctx.home.root().display().to_string(),
    };
    ctx.out.emit(&out, || {
        format!(
            "Name:   {}\nDevice: {}\nHome:   {}",
            out.name, out.device, out.home
        )
    });
    Ok(())
}
