use clap::{Args, Subcommand};

use crate::cli::context::{self, Context, edit, item_id, report};
use crate::cli::render;
use crate::device::Result;

/// Step 3: concrete expectations, and who agreed to which wording.
#[derive(Debug, Args)]
pub struct ExpectArgs {
    #[command(subcommand)]
    pub command: ExpectCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExpectCommand {
    /// Propose an expectation ("no screens after 8pm").
    Add {
        text: String,
        /// Whose expectation it is (name or ID). Default: yours.
        #[arg(long)]
        holder: Option<String>,
        /// Of whom it is expected (name or ID; repeat); they are the ones asked to agree.
        /// Default: everyone, including people who join later.
        #[arg(long)]
        of: Vec<String>,
    },
    /// Reword an expectation; earlier agreements then no longer count.
    Edit { id: String, text: String },
    /// Agree to the current wording of an expectation.
    Agree { id: String },
    /// Retire an expectation that no longer applies.
    Retire { id: String },
    /// List expectations.
    List,
}

pub fn run(ctx: &mut Context, args: ExpectArgs) -> Result<()> {
    let edited = match args.command {
        ExpectCommand::Add { text, holder, of } => edit(ctx, |r, w, e| {
            let view = r.view();
            let holder = holder
                .as_deref()
                .map(|h| context::member(&view, h))
                .transpose()?;
            let of = of
                .iter()
                .map(|m| context::member(&view, m))
                .collect::<Result<Vec<_>>>()?;
            Ok(r.add_expectation(w, e, &text, holder.as_ref(), &of)?)
        })?,
        ExpectCommand::Edit { id, text } => {
            let id = item_id(&id)?;
            edit(ctx, |r, w, _| Ok(r.edit_expectation(w, &id, &text)?))?
        }
        ExpectCommand::Agree { id } => {
            let id = item_id(&id)?;
            context::edit_indexed(ctx, |r, w, index| Ok(r.agree_settled(w, index, &id)?))?
        }
        ExpectCommand::Retire { id } => {
            let id = item_id(&id)?;
            edit(ctx, |r, w, _| Ok(r.retire(w, &id)?))?
        }
        ExpectCommand::List => {
            let open = ctx.read()?;
            let view = open.replica().view();
            ctx.out
                .emit(&view.expectations, || render::expectations_table(&view));
            return Ok(());
        }
    };
    report(ctx, &edited);
    Ok(())
}
