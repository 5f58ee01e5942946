use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::render;
use crate::store::LockMode;

/// What needs your attention: conflicts, expectations to agree to, a due check-in, members
/// without needs, and changes by others since you last ran `alliance seen`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

pub fn run(ctx: &mut Context, _args: StatusArgs) -> Result<()> {
    let ids = ctx.alliances_for_all()?;
    if ids.len() == 1 {
        let status = status_of(ctx, &ids[0])?;
        ctx.out.emit(&status, || render::status_text(&status));
        return Ok(());
    }
    // Several alliances and none named: what needs you in each, the default first.
    #[derive(serde::Serialize)]
    struct Each {
        alliance: String,
        title: String,
        status: crate::core::status::Status,
    }
    let mut all = Vec::new();
    for id in &ids {
        let title = ctx.home.open(id, LockMode::Shared)?.replica().view().title;
        all.push(Each {
            alliance: id.to_string(),
            title,
            status: status_of(ctx, id)?,
        });
    }
    ctx.out.emit(&all, || {
        all.iter()
            .map(|e| {
                format!(
                    "== \"{}\" ({})\n{}",
                    e.title,
                    &e.alliance[..12],
                    render::status_text(&e.status)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// What needs this device's person in alliance `id`.
fn status_of(ctx: &Context, id: &crate::core::AllianceId) -> Result<crate::core::status::Status> {
    let identity = ctx.identity()?;
    let open = ctx.home.open(id, LockMode::Shared)?;
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
    // What this device knows the others have: the heads kept with each peer device.
    let mut shared = Vec::new();
    for device in replica.view().devices {
        let Ok(id) = device.key.parse::<crate::core::DeviceId>() else {
            continue;
        };
        if let Some(bytes) = open.sync_state(&device.key)? {
            let heads = crate::core::sync::PeerSync::decode(&bytes)
                .shared_heads()
                .to_vec();
            shared.push((id, heads));
        }
    }
    status.unshared = replica.unshared(&index, &me, &shared);
    Ok(status)
}
