use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::cli::output::table;

/// List every change, newest first: who, which device, when, what, and whether it verified.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Show at most this many changes.
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
}

pub fn run(ctx: &mut Context, args: LogArgs) -> Result<()> {
    let open = ctx.read()?;
    let mut entries = open.replica().log();
    if let Some(n) = args.limit {
        entries.truncate(n);
    }
    ctx.out.emit(&entries, || {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    e.hash[..8].to_string(),
                    e.time.short(),
                    e.author.clone(),
                    e.device[..10.min(e.device.len())].to_string(),
                    if e.verified {
                        "ok".into()
                    } else {
                        "FAILED".into()
                    },
                    match &e.problem {
                        None => e.summary.clone(),
                        Some(p) => format!("{} [{p}]", e.summary),
                    },
                ]
            })
            .collect();
        table(
            &["CHANGE", "TIME (UTC)", "WHO", "DEVICE", "VERIFIED", "WHAT"],
            &rows,
        )
    });
    Ok(())
}
