use clap::Args;
use serde::Serialize;

use crate::cli::context::{Context, block_on};
use crate::cli::error::{CliError, Result};
use crate::core::DeviceKey;
use crate::net::endpoint::{bind, device_of, direct_addrs};
use crate::net::node::{join, save_join};
use crate::net::ticket::InviteTicket;
use crate::store::LockMode;

/// Join an alliance with a ticket from `alliance invite` (the inviting device must be serving).
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The ticket, one line starting with "alliance".
    pub ticket: String,
    /// Your name as the others will see it (also sets up this device if it is new).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Serialize)]
struct Out {
    alliance: String,
    title: String,
    name: String,
    device: String,
    received: usize,
}

pub fn run(ctx: &mut Context, args: JoinArgs) -> Result<()> {
    let ticket: InviteTicket = args
        .ticket
        .parse()
        .map_err(|e: crate::net::ticket::BadTicket| CliError::user(e.to_string()))?;
    let id = crate::core::AllianceId(automerge::ChangeHash(ticket.alliance));
    if ctx.home.alliance_ids()?.contains(&id) {
        return Err(CliError::user(format!(
            "alliance {} is already on this device; use `alliance sync`",
            id.short()
        )));
    }
    // An existing identity is used as it is; a new one is only written if the join succeeds.
    let (key, seed_to_save, name) = match ctx.home.identity() {
        Ok(identity) => {
            let name = args.name.clone().unwrap_or_else(|| identity.name.clone());
            (identity.key, None, name)
        }
        Err(crate::store::StoreError::NoIdentity { .. }) => {
            let name = args.name.clone().ok_or_else(|| {
                CliError::user("this device is new: pass --name YOUR_NAME to join")
            })?;
            let mut seed = [0u8; 32];
            ctx.entropy.fill(&mut seed);
            (DeviceKey::from_seed(seed), Some(seed), name)
        }
        Err(e) => return Err(e.into()),
    };
    let name = crate::core::text::check_name(&name)
        .map_err(|why| CliError::user(format!("--name: {why}")))?;
    let net = ctx.net.clone();
    let joined = block_on(async {
        let endpoint = bind(&key, &net).await?;
        let r = join(&endpoint, &ticket, &name, direct_addrs(&endpoint)).await;
        endpoint.close().await;
        r
    })?;
    let (target, report, addrs) = match joined {
        Ok(j) => j,
        // The inviting device is not there: the most common reason a join fails.
        Err(crate::net::NetError::Unreachable { reason, .. }) => {
            return Err(CliError::user(format!(
                "could not reach the inviting device ({reason}); it must be running `alliance serve` (or `alliance app`) and be reachable from here (the same network, or relays on both devices); ask them to check, then run this again: the ticket stays good until it expires"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(seed) = seed_to_save {
        ctx.home.init(&name, seed)?;
    }
    let inviter = device_of(&ticket.inviter.id);
    let mut all_addrs = addrs;
    all_addrs.extend(ticket.inviter.ip_addrs().map(|a| a.to_string()));
    save_join(&ctx.home, &target, &inviter, &all_addrs, ctx.now)?;
    ctx.home.set_default_alliance(&id)?;
    let title = ctx.home.open(&id, LockMode::Shared)?.replica().view().title;
    let out = Out {
        alliance: id.to_string(),
        title,
        name: name.trim().to_string(),
        device: key.device_id().to_hex(),
        received: report.received,
    };
    ctx.out.emit(&out, || {
        format!(
            "Joined \"{}\" ({}) as {}; received {} verified changes.\nRun `alliance serve` to stay in sync, or `alliance sync` now and then.",
            out.title,
            id.short(),
            out.name,
            out.received
        )
    });
    Ok(())
}
