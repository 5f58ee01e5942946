use clap::Args;
use serde::Serialize;

use crate::cli::context::{Context, block_on};
use crate::cli::output::table;
use crate::core::DeviceId;
use crate::device::{DeviceError, Result};
use crate::net::NetError;
use crate::net::node::Node;
use crate::store::LockMode;
use crate::store::shared::SharedAlliance;
use crate::system;

/// Sync once with every reachable member device (or one), then exit. With several alliances
/// here and none named, each of them.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this device (its key, from `alliance peers`).
    #[arg(long)]
    pub peer: Option<String>,
}

#[derive(Serialize)]
struct Row {
    /// The alliance's title, when several were synced.
    #[serde(skip_serializing_if = "Option::is_none")]
    alliance: Option<String>,
    name: String,
    device: String,
    ok: bool,
    sent: usize,
    received: usize,
    error: Option<String>,
}

pub fn run(ctx: &mut Context, args: SyncArgs) -> Result<()> {
    let identity = ctx.identity()?;
    let ids = ctx.alliances_for_all()?;
    let only: Option<Vec<DeviceId>> = args
        .peer
        .as_deref()
        .map(|p| {
            p.parse::<DeviceId>()
                .map(|d| vec![d])
                .map_err(|e| DeviceError::user(format!("--peer: {e}")))
        })
        .transpose()?;
    let mut shared = Vec::new();
    for id in &ids {
        shared.push(SharedAlliance::new(ctx.home.open(id, LockMode::Shared)?));
    }
    let net = ctx.net.clone();
    let entropy = system::entropy("sync").map_err(DeviceError::user)?;
    // On a terminal: one line per member device, what arrives and what is being verified.
    let progress = std::sync::Arc::new(ctx.out.progress());
    // One node, every alliance (the default first), each synced with its reachable members.
    let per_alliance = block_on(async {
        let node = Node::start(identity.key, &net, shared.clone(), entropy, system::now).await?;
        let mut all = Vec::new();
        for s in &shared {
            let view = s.with(LockMode::Shared, |o| Ok(o.replica().view()))?;
            let report: Option<crate::net::session::OnProgress> = progress.is_drawn().then(|| {
                let progress = progress.clone();
                let view = view.clone();
                std::sync::Arc::new(move |device: DeviceId, step| {
                    let hex = device.to_hex();
                    let who = view
                        .member_of_device(&hex)
                        .map(|m| crate::cli::output::sanitize(&m.name).into_owned())
                        .unwrap_or_else(|| device.short());
                    progress.sync(&hex, &who, step)
                }) as crate::net::session::OnProgress
            });
            match node.sync_once_reporting(s, only.as_deref(), report).await {
                Ok(outcomes) => all.push((view, outcomes)),
                Err(e) => {
                    node.shutdown().await;
                    return Err(e);
                }
            }
        }
        node.shutdown().await;
        Ok::<_, NetError>(all)
    });
    progress.finish();
    let per_alliance = per_alliance??;
    let several = per_alliance.len() > 1;
    let mut rows = Vec::new();
    let mut outcomes = Vec::new();
    for (view, outs) in per_alliance {
        for o in outs {
            let hex = o.device.to_hex();
            let name = match view.device(&hex) {
                Some(d) if d.keeper => format!("the keeper \"{}\"", d.name),
                _ => view
                    .member_of_device(&hex)
                    .map(|m| m.name.clone())
                    .unwrap_or_else(|| "?".into()),
            };
            let alliance = several.then(|| view.title.clone());
            rows.push(match &o.result {
                Ok(r) => Row {
                    alliance,
                    name,
                    device: hex,
                    ok: true,
                    sent: r.sent,
                    received: r.received,
                    error: None,
                },
                Err(e) => Row {
                    alliance,
                    name,
                    device: hex,
                    ok: false,
                    sent: 0,
                    received: 0,
                    error: Some(e.to_string()),
                },
            });
            outcomes.push(o);
        }
    }
    let reached = outcomes
        .iter()
        .filter(|o| !matches!(o.result, Err(NetError::Unreachable { .. })))
        .count();
    let failed = rows.iter().filter(|r| !r.ok).count();
    ctx.out.emit(&rows, || {
        if rows.is_empty() {
            return "There are no other member devices to sync with yet; invite someone with `alliance invite`.".into();
        }
        let who = |r: &Row| match &r.alliance {
            Some(a) => format!("{} ({a})", r.name),
            None => r.name.clone(),
        };
        table(
            &["WHO", "DEVICE", "RESULT"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        who(r),
                        r.device[..10].to_string(),
                        match &r.error {
                            None => format!("synced: sent {}, received {}", r.sent, r.received),
                            Some(e) => e.clone(),
                        },
                    ]
                })
                .collect::<Vec<_>>(),
        )
    });
    if rows.is_empty() {
        return Ok(());
    }
    if reached == 0 {
        return Err(DeviceError::user(
            "no member device was reachable; is `alliance serve` running on one of them, on this network?",
        ));
    }
    let unreachable = rows.len() - reached;
    if failed > unreachable {
        return Err(DeviceError::user(format!(
            "{} reachable device(s) did not sync; see above",
            failed - unreachable
        )));
    }
    Ok(())
}
