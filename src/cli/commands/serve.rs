use clap::Args;
use serde::Serialize;

use crate::app::device::Device;
use crate::cli::context::{Context, block_on};
use crate::cli::error::{CliError, Result};
use crate::cli::output::write_stdout;

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
    let only = ctx.alliance.as_ref().map(|_| ids[0]);
    let config = ctx.serve_config();
    let json = ctx.out.json;
    let home = ctx.home.clone();
    let name = identity.name.clone();
    block_on(async move {
        let device = Device::start(home, config, only).await?;
        let info = device.info().unwrap_or_default();
        // The family's page runs here too (one node per home): `alliance app` asks this
        // process for a link instead of starting a second node.
        let page = match crate::app::start(device.clone(), None).await {
            Ok(p) => Some(p),
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
            write_stdout(&serde_json::to_string(&started).expect("serialises"));
        } else {
            write_stdout(&format!(
                "Serving {} alliance(s) as {name} (device {}) on {}.\nPress Ctrl-C to stop.",
                started.alliances.len(),
                &started.device[..10.min(started.device.len())],
                if started.addrs.is_empty() {
                    "no direct address".to_string()
                } else {
                    started.addrs.join(", ")
                }
            ));
        }
        wait_for_signal().await;
        if let Some(p) = page {
            p.stop();
        }
        device.stop().await;
        if !json {
            write_stdout("Stopped. Everything received was already saved.");
        }
        Ok::<(), CliError>(())
    })??;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
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
