use clap::Args;

use crate::cli::context::Context;
use crate::cli::output::table;
use crate::device::Result;

/// List the member devices: whose, last seen, and the addresses this device knows for them.
#[derive(Debug, Args)]
pub struct PeersArgs {}

pub fn run(ctx: &mut Context, _args: PeersArgs) -> Result<()> {
    let me = ctx.home.identity().ok().map(|i| i.key.device_id().to_hex());
    let open = ctx.read()?;
    let rows = crate::device::steps::devices(&open, me.as_deref())?;
    ctx.out.emit(&rows, || {
        table(
            &["WHO", "DEVICE", "LAST SEEN (UTC)", "ADDRESSES"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.device[..10].to_string(),
                        if r.this_device {
                            "this device".into()
                        } else {
                            r.last_seen
                                .map(|t| t.short())
                                .unwrap_or_else(|| "never".into())
                        },
                        if r.this_device {
                            String::new()
                        } else {
                            r.addrs.join(" ")
                        },
                    ]
                })
                .collect::<Vec<_>>(),
        )
    });
    Ok(())
}
