use clap::Args;
use serde::Serialize;

use crate::cli::context::{Context, block_on};
use crate::cli::error::{CliError, Result};
use crate::cli::output::write_stdout;
use crate::net::node::Node;
use crate::net::shared::SharedAlliance;
use crate::store::{LockMode, ServeInfo};
use crate::system;

/// Stay online: accept members, keep connected devices live, until Ctrl-C (or SIGTERM).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Also print the technical log lines (connections, sessions, addresses); ALLIANCE_LOG
    /// takes a finer filter.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Serialize)]
struct Started {
    device: String,
    addrs: Vec<String>,
    alliances: Vec<String>,
}

pub fn run(ctx: &mut Context, _args: ServeArgs) -> Result<()> {
    // (`--verbose` is read where logging starts: `cli::run`.)
    let identity = ctx.identity()?;
    let ids = match &ctx.alliance {
        Some(_) => vec![ctx.alliance_id()?],
        None => ctx.home.alliance_ids()?,
    };
    if ids.is_empty() {
        return Err(CliError::user(
            "there is no alliance on this device to serve; create one with `alliance new TITLE`",
        ));
    }
    // One node per home: a second `serve` (or `app`) would fight the first over the port, the
    // announcement and the live sessions.
    let Some(serving) = ctx.home.claim_serving()? else {
        return Err(already_serving(&ctx.home));
    };
    let mut shared = Vec::new();
    for id in &ids {
        shared.push(SharedAlliance::new(ctx.home.open(id, LockMode::Shared)?));
    }
    let mut config = ctx.serve_config();
    let json = ctx.out.json;
    let home = ctx.home.clone();
    let name = identity.name.clone();
    let key_seed = identity.key.to_seed();
    block_on(async move {
        let start = |config: crate::net::endpoint::NetConfig| {
            let shared = shared.clone();
            async move {
                let entropy = system::entropy("serve").map_err(CliError::user)?;
                Node::start(
                    crate::core::DeviceKey::from_seed(key_seed),
                    &config,
                    shared,
                    entropy,
                    system::now,
                )
                .await
                .map_err(CliError::from)
            }
        };
        let mut node = match start(config.clone()).await {
            Ok(n) => n,
            // The port used last time is taken: take any.
            Err(_) if ctx_bind_was_remembered(&config) => {
                config.bind = None;
                start(config.clone()).await?
            }
            Err(e) => return Err(e),
        };
        let info = ServeInfo {
            device: node.device().to_hex(),
            addrs: node.addrs(),
            pid: std::process::id(),
        };
        // Without it `invite` makes tickets without addresses; serving goes on regardless.
        let _ = home.announce_serve(&info);
        for s in node.listener.alliances.clone() {
            node.keep_live(s);
        }
        let started = Started {
            device: info.device.clone(),
            addrs: info.addrs.clone(),
            alliances: ids.iter().map(|i| i.to_string()).collect(),
        };
        if json {
            write_stdout(&serde_json::to_string(&started).expect("serialises"));
        } else {
            write_stdout(&format!(
                "Serving {} alliance(s) as {name} (device {}) on {}.\nPress Ctrl-C to stop.",
                started.alliances.len(),
                &started.device[..10],
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
            let alliances = node.listener.alliances.clone();
            let mut events = node.events();
            let by_id = alliances.clone();
            watching.spawn(async move {
                while let Ok(event) = events.recv().await {
                    if let Some(line) = event_in_words(&by_id, &event) {
                        write_stdout(&line);
                    }
                }
            });
            let several = alliances.len() > 1;
            for shared in alliances {
                let mut fresh = shared.fresh();
                watching.spawn(async move {
                    while let Ok(notice) = fresh.recv().await {
                        if let crate::net::shared::Fresh::Changes(c) = notice
                            && let Some(from) = c.from
                        {
                            let who = name_of(&shared, &from);
                            write_stdout(&format!(
                                "{} change(s) from {who}{}",
                                c.changes.len(),
                                title_of(&shared, several)
                            ));
                        }
                    }
                });
            }
        }
        wait_for_signal().await;
        watching.abort_all();
        node.shutdown().await;
        let _ = home.clear_serve_announcement();
        drop(serving);
        if !json {
            write_stdout("Stopped. Everything received was already saved.");
        }
        Ok::<(), CliError>(())
    })??;
    Ok(())
}

/// A person's name for a device of `shared` (its member's name), or the device's short key.
fn name_of(shared: &SharedAlliance, device: &crate::core::DeviceId) -> String {
    shared
        .with(LockMode::Shared, |o| {
            Ok(o.replica()
                .view()
                .member_of_device(&device.to_hex())
                .map(|m| m.name.clone()))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("device {}", device.short()))
}

/// ` ("Title")` when several alliances are served (the line must say which), else nothing.
fn title_of(shared: &SharedAlliance, several: bool) -> String {
    if !several {
        return String::new();
    }
    let title = shared
        .with(LockMode::Shared, |o| Ok(o.replica().view().title))
        .unwrap_or_default();
    format!(" (\"{title}\")")
}

/// A node event as a line a person reads, or `None` when it says nothing worth reading.
fn event_in_words(
    alliances: &[std::sync::Arc<SharedAlliance>],
    event: &crate::net::session::NodeEvent,
) -> Option<String> {
    use crate::net::session::NodeEvent;
    let (alliance, device) = match event {
        NodeEvent::Connected {
            alliance, device, ..
        }
        | NodeEvent::Ended {
            alliance, device, ..
        } => (alliance, device),
    };
    let shared = alliances.iter().find(|a| a.id == *alliance)?;
    let who = name_of(shared, device);
    let title = title_of(shared, alliances.len() > 1);
    Some(match event {
        NodeEvent::Connected { joined: true, .. } => format!("{who} joined{title}"),
        NodeEvent::Connected { .. } => format!("{who} connected{title}"),
        NodeEvent::Ended { error: None, .. } => format!("{who} disconnected{title}"),
        NodeEvent::Ended { error: Some(e), .. } => format!("{who} disconnected{title}: {e}"),
    })
}

/// The error of a second serving process: which process serves this home already.
pub fn already_serving(home: &crate::store::Home) -> CliError {
    match home.running_serve() {
        Some(info) => CliError::user(format!(
            "this device is already serving (process {}, on {}); stop it first (Ctrl-C where it runs), or leave it running: other commands and devices use it",
            info.pid,
            if info.addrs.is_empty() {
                "no direct address".to_string()
            } else {
                info.addrs.join(", ")
            }
        )),
        None => CliError::user(
            "another process is starting to serve this device; wait for it, or stop it first",
        ),
    }
}

fn ctx_bind_was_remembered(config: &crate::net::endpoint::NetConfig) -> bool {
    config.bind.is_some_and(|b| b.ip().is_unspecified())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
