use clap::Args;

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::output::table;

/// List every change, newest first: who, which device, when, what, and whether it verified.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Show at most this many changes.
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Only changes by this person (their name as shown in `alliance show`).
    #[arg(long)]
    pub who: Option<String>,
    /// Only changes after a date (YYYY-MM-DD, UTC) or after a change (its hash or a prefix of it).
    #[arg(long, value_name = "DATE|HASH")]
    pub since: Option<String>,
}

pub fn run(ctx: &mut Context, args: LogArgs) -> Result<()> {
    let open = ctx.read()?;
    let mut entries = open.replica().log();
    if let Some(who) = &args.who {
        // Only verified changes carry a name, so a forged change never matches a person.
        entries.retain(|e| e.verified && e.author.eq_ignore_ascii_case(who.trim()));
    }
    if let Some(since) = &args.since {
        let since = since.trim();
        if let Ok(date) = crate::core::edit::parse_date(since) {
            let day = format!("{date}T00:00:00Z");
            entries.retain(|e| e.time.to_rfc3339() >= day);
        } else {
            let lower = since.to_lowercase();
            let matches: Vec<_> = entries
                .iter()
                .filter(|e| e.hash.starts_with(&lower))
                .collect();
            let hash = match (lower.len() >= 6, matches.as_slice()) {
                (true, [one]) => one.hash.parse::<automerge::ChangeHash>().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                CliError::user(format!(
                    "--since '{since}' is neither a date (YYYY-MM-DD) nor the hash of one change in `alliance log`"
                ))
            })?;
            let after: std::collections::HashSet<String> = open
                .replica()
                .changes_since(&[hash])
                .0
                .iter()
                .map(|c| c.hash().to_string())
                .collect();
            entries.retain(|e| after.contains(&e.hash));
        }
    }
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
