use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::output::table;
use crate::core::Timestamp;

/// List the member devices: whose, last seen, and the addresses this device knows for them.
#[derive(Debug, Args)]
pub struct PeersArgs {}

#[derive(Serialize)]
struct Row {
    name: String,
    device: String,
    this_device: bool,
    last_seen: Option<Timestamp>,
    addrs: Vec<String>,
    last_error: Option<String>,
}

pub fn run(ctx: &mut Context, _args: PeersArgs) -> Result<()> {
    let me = ctx.home.identity().ok().map(|i| i.key.device_id().to_hex());
    let open = ctx.read()?;
    let view = open.replica().view();
    let book = open.peer_book()?;
    let rows: Vec<Row> = view
        .devices
        .iter()
        .map(|d| {
            let info = book.peers.get(&d.key).cloned().unwrap_or_default();
            Row {
                name: view.name_of(&d.member),
                device: d.key.clone(),
                this_device: me.as_deref() == Some(d.key.as_str()),
                last_seen: info.last_seen.map(Timestamp),
                addrs: info.addrs,
                last_error: info.last_error,
            }
        })
        .collect();
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
