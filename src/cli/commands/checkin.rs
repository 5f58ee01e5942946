use clap::{Args, Subcommand};

use crate::cli::context::{Context, edit, item_id, report};
use crate::cli::render;
use crate::core::NewCheckIn;
use crate::device::{DeviceError, Result};

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
        /// When to check in next: 10d, 2w, 1mo (days, weeks, months of 30 days).
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
        /// When to check in next: 10d, 2w, 1mo.
        #[arg(long)]
        next: Option<String>,
    },
    /// List check-ins.
    List,
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
            let next_in_days = crate::device::parse::cadence(&next)?;
            let date = date.unwrap_or_else(|| ctx.now.date());
            // One check-in a day: a second person's reflection belongs on the same one.
            let same_day = ctx
                .read()?
                .replica()
                .view()
                .checkins
                .iter()
                .find(|c| c.date == date)
                .map(|c| c.id.clone());
            if let Some(existing) = same_day {
                return Err(DeviceError::user(format!(
                    "there is already a check-in on {date} ({existing}); add your reflection to it with `alliance checkin reflect {existing} --rating N --reflection TEXT`, or pass --date for another day"
                )));
            }
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
            let days = next
                .as_deref()
                .map(crate::device::parse::cadence)
                .transpose()?;
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
