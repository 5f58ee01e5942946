use clap::Args;
use serde::Serialize;

use crate::cli::context::{Context, block_on};
use crate::cli::output::write_stdout;
use crate::device::Online;
use crate::device::{DeviceError, Result};
use crate::store::LockMode;
use std::sync::Arc;

/// Stay online: accept members, keep connected devices live, until Ctrl-C (or SIGTERM).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Also print the technical log lines (connections, sessions, addresses); ALLIANCE_LOG
    /// takes a finer filter.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Show reminders as desktop notifications while serving (a check-in come due, a design
    /// session tomorrow, an expectation waiting for you), whatever the page's setting.
    #[arg(long)]
    pub remind: bool,
}

/// How often a running `serve` looks for alliances created or joined since it started.
const PICK_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Serialize)]
struct Started {
    device: String,
    addrs: Vec<String>,
    alliances: Vec<String>,
}

pub fn run(ctx: &mut Context, args: ServeArgs) -> Result<()> {
    // (`--verbose` is read where logging starts: `cli::run`.)
    let identity = ctx.identity()?;
    let ids = match &ctx.alliance {
        Some(_) => vec![ctx.alliance_id()?],
        None => ctx.home.alliance_ids()?,
    };
    if ids.is_empty() {
        return Err(DeviceError::user(
            "there is no alliance on this device to serve; create one with `alliance new TITLE`",
        ));
    }
    // One node per home: a second `serve` (or `app`) would fight the first over the port, the
    // announcement and the live sessions.
    let Some(serving) = ctx.home.claim_serving()? else {
        return Err(already_serving(&ctx.home));
    };
    let only = ctx.alliance.as_ref().map(|_| ids[0]);
    let config = ctx.serve_config();
    let json = ctx.out.json;
    let home = ctx.home.clone();
    let name = identity.name.clone();
    block_on(async move {
        let device = Online::start(home, config, only).await?;
        // Listened for before anything is announced: a SIGTERM right after stops it cleanly.
        let stop = stop_signal();
        let info = device.info().unwrap_or_default();
        // The family's page runs here too (one node per home): `alliance app` asks this
        // process for a link instead of starting a second node.
        let page = match crate::app::start(device.clone(), None).await {
            Ok(p) => {
                if args.remind {
                    p.set_reminders(true);
                }
                Some(p)
            }
            Err(e) => {
                tracing::warn!(error = %e.message(), "the page is not served");
                None
            }
        };
        let started = Started {
            device: info.device.clone(),
            addrs: info.addrs.clone(),
            alliances: ids.iter().map(|i| i.to_string()).collect(),
        };
        if json {
            crate::cli::output::write_json(&crate::cli::output::to_json(&started, false));
        } else {
            write_stdout(&format!(
                "Serving {} as {name} on {}.\nPress Ctrl-C to stop.",
                crate::cli::events::count(started.alliances.len(), "alliance", "alliances"),
                if started.addrs.is_empty() {
                    "no direct address".to_string()
                } else {
                    started.addrs.join(", ")
                }
            ));
        }
        // What happens, in plain words: who connected, joined, sent changes, left.
        let mut watching = tokio::task::JoinSet::new();
        if !json {
            watch_in_words(&mut watching, &device).await;
        }
        // An alliance created or joined on this device while it serves (by another command)
        // is picked up: the node starts again with it.
        let picking_up = {
            let device = device.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PICK_UP_EVERY).await;
                    let before: Vec<_> = device.alliances().iter().map(|a| a.id).collect();
                    if let Err(e) = device.refresh().await {
                        tracing::warn!(error = %e.message(), "cannot pick up new alliances");
                        continue;
                    }
                    for shared in device.alliances() {
                        if !before.contains(&shared.id) && !json {
                            let title = shared
                                .with(LockMode::Shared, |o| Ok(o.replica().roster().title))
                                .unwrap_or_default();
                            write_stdout(&format!(
                                "Now also serving \"{}\".",
                                crate::cli::output::one_line(&title)
                            ));
                        }
                    }
                }
            })
        };
        stop.await;
        picking_up.abort();
        watching.abort_all();
        if let Some(p) = page {
            p.stop();
        }
        device.stop().await;
        drop(serving);
        if !json {
            write_stdout("Stopped. Everything received was already saved.");
        }
        Ok::<(), DeviceError>(())
    })??;
    Ok(())
}

/// Prints what happens to `device`'s connections and alliances in words (`serve`, `app`).
pub async fn watch_in_words(tasks: &mut tokio::task::JoinSet<()>, device: &Arc<Online>) {
    let alliances = device.alliances();
    let several = alliances.len() > 1;
    if let Some(events) = device.events().await {
        let online = device.clone();
        let lookup: crate::cli::events::Lookup = Arc::new(move |id| online.alliance(id));
        crate::cli::events::print_events(tasks, events, lookup, several);
    }
}

/// The error of a second serving process: which process serves this home already.
pub fn already_serving(home: &crate::store::Home) -> DeviceError {
    match home.running_serve() {
        Some(info) => DeviceError::user(format!(
            "this device is already serving (process {}, on {}); stop it first (Ctrl-C where it runs), or leave it running: other commands and devices use it",
            info.pid,
            if info.addrs.is_empty() {
                "no direct address".to_string()
            } else {
                info.addrs.join(", ")
            }
        )),
        None => DeviceError::user(
            "another process is starting to serve this device; wait for it, or stop it first",
        ),
    }
}

/// Ctrl-C or SIGTERM, listened for from the moment this is called (so a SIGTERM sent right
/// after a device announced itself still stops it cleanly): await the future to wait.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
