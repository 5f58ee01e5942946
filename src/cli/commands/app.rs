use clap::Args;
use serde::Serialize;

use crate::app;
use crate::cli::context::{Context, block_on};
use crate::cli::output::write_stdout;
use crate::device::Online;
use crate::device::{DeviceError, Result};

/// Open the family's page: this device's node (as `serve` runs it) and a page on 127.0.0.1.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// Print the link but do not open the browser.
    #[arg(long)]
    pub no_open: bool,
    /// The page's port on 127.0.0.1 [default: the one used last, or any free one]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Also print the technical log lines (connections, sessions, addresses); ALLIANCE_LOG
    /// takes a finer filter.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Serialize)]
struct Out {
    url: String,
    /// Whether this process runs the page (false: another one on this device already did).
    started: bool,
}

pub fn run(ctx: &mut Context, args: AppArgs) -> Result<()> {
    // One node per home: a running page (or `serve`) gives out a fresh link instead.
    if let Some(url) = app::request_link(&ctx.home) {
        return show(ctx, &args, url, false);
    }
    // One node per home: this process serves it from here on (a `serve` that holds it and has
    // no page to give a link for is named in the error).
    let Some(serving) = ctx.home.claim_serving()? else {
        return Err(crate::cli::commands::serve::already_serving(&ctx.home));
    };
    let only = match &ctx.alliance {
        Some(_) => Some(ctx.alliance_id()?),
        None => None,
    };
    let config = ctx.serve_config();
    let home = ctx.home.clone();
    let json = ctx.out.json;
    let no_open = args.no_open;
    let port = args.port;
    block_on(async move {
        let device = Online::start(home, config, only).await?;
        // Listened for before the link is printed: a SIGTERM right after stops it cleanly.
        let stop = crate::cli::commands::serve::stop_signal();
        let page = app::start(device.clone(), port).await?;
        let url = page.link();
        print_link(json, &url, true);
        if !no_open {
            open_browser(&url);
        }
        // What happens, in plain words: who connected, joined, sent changes, was refused.
        let mut watching = tokio::task::JoinSet::new();
        if !json {
            crate::cli::commands::serve::watch_in_words(&mut watching, &device).await;
        }
        stop.await;
        watching.abort_all();
        page.stop();
        device.stop().await;
        drop(serving);
        if !json {
            write_stdout("Stopped. Everything was already saved.");
        }
        Ok::<(), DeviceError>(())
    })??;
    Ok(())
}

fn show(ctx: &Context, args: &AppArgs, url: String, started: bool) -> Result<()> {
    print_link(ctx.out.json, &url, started);
    if !args.no_open {
        open_browser(&url);
    }
    Ok(())
}

fn print_link(json: bool, url: &str, started: bool) {
    let out = Out {
        url: url.to_string(),
        started,
    };
    if json {
        crate::cli::output::write_json(&crate::cli::output::to_json(&out, false));
    } else if started {
        write_stdout(&format!(
            "Your page: {url}\nThe link works once; run `alliance app` again for a fresh one. Press Ctrl-C to stop."
        ));
    } else {
        write_stdout(&format!(
            "Your page (already running on this device): {url}\nThe link works once."
        ));
    }
}

fn open_browser(url: &str) {
    if let Err(e) = webbrowser::open(url) {
        eprintln!("note: cannot open a browser ({e}); open the link above yourself");
    }
}
