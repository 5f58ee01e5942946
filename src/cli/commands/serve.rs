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
pub struct ServeArgs {}

#[derive(Serialize)]
struct Started {
    device: String,
    addrs: Vec<String>,
    alliances: Vec<String>,
}

pub fn run(ctx: &mut Context, _args: ServeArgs) -> Result<()> {
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
        wait_for_signal().await;
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
