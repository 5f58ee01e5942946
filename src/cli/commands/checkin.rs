use clap::{Args, Subcommand};

use crate::cli::context::{Context, edit, item_id, report};
use crate::cli::error::{CliError, Result};
use crate::cli::render;
use crate::core::NewCheckIn;

/// Step 4: regular check-ins to recalibrate.
#[derive(Debug, Args)]
pub struct CheckinArgs {
    #[command(subcommand)]
    pub command: CheckinCommand,
}

#[derive(Debug, Subcommand)]
pub enum CheckinCommand {
    /// Record a check-in with your reflection and rating.
    Add {
        /// How well the alliance is working for you, 1 (not at all) to 5 (very well).
        #[arg(long, allow_negative_numbers = true)]
        rating: i64,
        /// Your reflection, in your own words.
        #[arg(long, default_value = "")]
        reflection: String,
        /// The date of the check-in, YYYY-MM-DD. Default: today.
        #[arg(long)]
        date: Option<String>,
        /// A change you propose to the alliance (repeat for several).
        #[arg(long = "propose")]
        propose: Vec<String>,
        /// When to check in next: 10d, 2w, 1m (days, weeks, months of 30 days).
        #[arg(long, default_value = "2w")]
        next: String,
    },
    /// Add your reflection and rating to an existing check-in.
    Reflect {
        id: String,
        #[arg(long, allow_negative_numbers = true)]
        rating: i64,
        #[arg(long, default_value = "")]
        reflection: String,
        #[arg(long = "propose")]
        propose: Vec<String>,
    },
    /// Change a check-in's date or when to check in next.
    Edit {
        id: String,
        /// The date of the check-in, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
        /// When to check in next: 10d, 2w, 1m.
        #[arg(long)]
        next: Option<String>,
    },
    /// List check-ins.
    List,
}

/// Parses a cadence: `10d`, `2w`, `1m` (30 days), or a plain number of days.
pub fn parse_cadence(s: &str) -> Result<u32> {
    let s = s.trim().to_lowercase();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s.as_str(), "d"),
    };
    let n: u32 =
        num.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            CliError::user(format!("'{s}' is not a cadence; use e.g. 10d, 2w or 1m"))
        })?;
    let days = match unit {
        "d" | "day" | "days" => Some(n),
        "w" | "week" | "weeks" => n.checked_mul(7),
        "m" | "month" | "months" => n.checked_mul(30),
        _ => None,
    };
    days.filter(|d| *d <= 3660).ok_or_else(|| {
        CliError::user(format!(
            "'{s}' is not a cadence; use e.g. 10d, 2w or 1m (at most 10 years)"
        ))
    })
}

pub fn run(ctx: &mut Context, args: CheckinArgs) -> Result<()> {
    let edited = match args.command {
        CheckinCommand::Add {
            rating,
            reflection,
            date,
            propose,
            next,
        } => {
            let next_in_days = parse_cadence(&next)?;
            let date = date.unwrap_or_else(|| ctx.now.date());
            let new = NewCheckIn {
                date,
                rating,
                reflection,
                proposed_changes: propose,
                next_in_days,
            };
            edit(ctx, |r, w, e| Ok(r.add_checkin(w, e, new)?))?
        }
        CheckinCommand::Reflect {
            id,
            rating,
            reflection,
            propose,
        } => {
            let id = item_id(&id)?;
            edit(ctx, |r, w, _| {
                Ok(r.reflect(w, &id, rating, &reflection, &propose)?)
            })?
        }
        CheckinCommand::Edit { id, date, next } => {
            let id = item_id(&id)?;
            let days = next.as_deref().map(parse_cadence).transpose()?;
            edit(ctx, |r, w, _| {
                Ok(r.edit_checkin(w, &id, date.as_deref(), days)?)
            })?
        }
        CheckinCommand::List => {
            let open = ctx.read()?;
            let view = open.replica().view();
            ctx.out
                .emit(&view.checkins, || render::checkins_text(&view));
            return Ok(());
        }
    };
    report(ctx, &edited);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_cadence;

    #[test]
    fn cadences() {
        assert_eq!(parse_cadence("2w").unwrap(), 14);
        assert_eq!(parse_cadence("10d").unwrap(), 10);
        assert_eq!(parse_cadence("1m").unwrap(), 30);
        assert_eq!(parse_cadence("21").unwrap(), 21);
        assert!(parse_cadence("0d").is_err());
        assert!(parse_cadence("soon").is_err());
        assert!(parse_cadence("99999w").is_err());
    }
}
