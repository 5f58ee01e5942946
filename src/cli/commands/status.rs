use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::render;

/// What needs your attention: conflicts, expectations to agree to, a due check-in, members
/// without needs, and changes by others since you last ran `alliance seen`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

pub fn run(ctx: &mut Context, _args: StatusArgs) -> Result<()> {
    let identity = ctx.identity()?;
    let open = ctx.read()?;
    let replica = open.replica();
    let me = replica.member_of(&identity.key.device_id()).ok_or_else(|| {
        CliError::user(
            "this device is not a member of the alliance; `alliance join TICKET` with an invite from a member",
        )
    })?;
    let seen = open.seen()?.heads();
    let index = open.change_index();
    let mut status = replica.status(&index, &me, seen.as_deref(), ctx.now);
    let book = open.peer_book()?;
    status.quarantined_peers = book
        .peers
        .keys()
        .filter_map(|device| {
            let q = book.quarantined(device, ctx.now)?;
            Some(crate::core::status::QuarantinedPeer {
                device: device.clone(),
                until: crate::core::Timestamp(q.until),
                reason: q.reason.clone(),
            })
        })
        .collect();
    ctx.out.emit(&status, || render::status_text(&status));
    Ok(())
}
