use clap::{Args, Subcommand};

use crate::cli::context::{self, Context, edit, report};
use crate::cli::render;
use crate::device::Result;

/// Step 2: plan when and how you sit down to design the alliance together.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: PlanCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Plan a design session.
    Add {
        /// When: "Sunday 7pm", "2026-12-01 18:00".
        #[arg(long)]
        when: String,
        /// Where or how: "date night at home", "video call".
        #[arg(long)]
        how: String,
        /// What to talk about.
        #[arg(long, default_value = "")]
        agenda: String,
        /// Who attends (name or ID; repeat). Default: every member.
        #[arg(long = "with")]
        with: Vec<String>,
    },
    /// Reschedule or change a design session (only the fields given).
    Edit {
        /// The session's ID, as `alliance plan list` shows it.
        id: String,
        /// New time.
        #[arg(long)]
        when: Option<String>,
        /// New place or way of meeting.
        #[arg(long)]
        how: Option<String>,
        /// New agenda.
        #[arg(long)]
        agenda: Option<String>,
        /// Who attends (name or ID; repeat): replaces the list. `--with everyone` for every
        /// member.
        #[arg(long = "with")]
        with: Vec<String>,
    },
    /// List the planned design sessions.
    List,
}

pub fn run(ctx: &mut Context, args: PlanArgs) -> Result<()> {
    match args.command {
        PlanCommand::Add {
            when,
            how,
            agenda,
            with,
        } => {
            let edited = edit(ctx, |r, w, e| {
                let view = r.view();
                let who = with
                    .iter()
                    .map(|m| context::member(&view, m))
                    .collect::<Result<Vec<_>>>()?;
                Ok(r.add_plan(w, e, &when, &how, &agenda, &who)?)
            })?;
            report(ctx, &edited);
        }
        PlanCommand::Edit {
            id,
            when,
            how,
            agenda,
            with,
        } => {
            let id = context::item_id(&id)?;
            let edited = edit(ctx, |r, w, _| {
                let attendees = if with.is_empty() {
                    None
                } else if with.iter().any(|m| m.eq_ignore_ascii_case("everyone")) {
                    Some(Vec::new())
                } else {
                    let view = r.view();
                    Some(
                        with.iter()
                            .map(|m| context::member(&view, m))
                            .collect::<Result<Vec<_>>>()?,
                    )
                };
                Ok(r.edit_plan_with(
                    w,
                    &id,
                    when.as_deref(),
                    how.as_deref(),
                    agenda.as_deref(),
                    attendees.as_deref(),
                )?)
            })?;
            report(ctx, &edited);
        }
        PlanCommand::List => {
            let open = ctx.read()?;
            let view = open.replica().view();
            ctx.out.emit(&view.plan, || render::plan_table(&view));
        }
    }
    Ok(())
}
