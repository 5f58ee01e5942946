use clap::{Args, Subcommand};

use crate::cli::context::{self, Context, edit, item_id, report};
use crate::cli::render;
use crate::device::Result;

/// Step 1: what each person needs, in their own words.
#[derive(Debug, Args)]
pub struct NeedArgs {
    #[command(subcommand)]
    pub command: NeedCommand,
}

#[derive(Debug, Subcommand)]
pub enum NeedCommand {
    /// Add one of your needs ("an hour-long walk every morning").
    Add { text: String },
    /// Reword one of your needs.
    Edit { id: String, text: String },
    /// Remove one of your needs (the history keeps it).
    Remove { id: String },
    /// List needs, optionally of one member.
    List {
        /// Only this member's needs (name or ID).
        #[arg(long)]
        who: Option<String>,
    },
}

pub fn run(ctx: &mut Context, args: NeedArgs) -> Result<()> {
    let edited = match args.command {
        NeedCommand::Add { text } => edit(ctx, |r, w, e| Ok(r.add_need(w, e, &text)?))?,
        NeedCommand::Edit { id, text } => {
            let id = item_id(&id)?;
            edit(ctx, |r, w, _| Ok(r.edit_need(w, &id, &text)?))?
        }
        NeedCommand::Remove { id } => {
            let id = item_id(&id)?;
            edit(ctx, |r, w, _| Ok(r.remove_need(w, &id)?))?
        }
        NeedCommand::List { who } => {
            let open = ctx.read()?;
            let mut view = open.replica().view();
            if let Some(who) = who {
                let m = context::member(&view, &who)?;
                view.needs.retain(|n| n.owner == m);
            }
            ctx.out.emit(&view.needs, || render::needs_table(&view));
            return Ok(());
        }
    };
    report(ctx, &edited);
    Ok(())
}
