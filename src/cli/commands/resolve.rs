use clap::Args;

use crate::cli::context::{Context, edit, item_id, report};
use crate::cli::error::{CliError, Result};
use crate::core::conflicts::{Resolution, Target};

/// Settle a conflict (a field two people set at the same time): keep one of the values or
/// write a new one. `alliance status` lists the conflicts and numbers their values.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The item's ID, or `alliance` for the alliance's own fields (its title, and which member
    /// a device belongs to).
    pub id: String,
    /// The field, as `alliance status` names it (e.g. `when`, `reflections.m4k2x.rating`,
    /// `devices.<key>.member`).
    pub field: String,
    /// Keep the value with this number.
    #[arg(long, conflicts_with = "value", required_unless_present = "value")]
    pub pick: Option<usize>,
    /// Write this value instead.
    #[arg(long)]
    pub value: Option<String>,
}

pub fn run(ctx: &mut Context, args: ResolveArgs) -> Result<()> {
    let target = if args.id.trim().eq_ignore_ascii_case("alliance") {
        Target::Alliance
    } else {
        Target::Item(item_id(&args.id)?)
    };
    let choice = match (args.pick, args.value) {
        (Some(n), _) => Resolution::Pick(n),
        (None, Some(v)) => Resolution::Value(v),
        (None, None) => return Err(CliError::user("say --pick N or --value TEXT")),
    };
    let edited = edit(ctx, |r, w, _| {
        Ok(r.resolve(w, &target, &args.field, choice)?)
    })?;
    report(ctx, &edited);
    Ok(())
}
