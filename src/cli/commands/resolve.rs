use clap::Args;

use crate::cli::context::{Context, edit_indexed, item_id, report};
use crate::core::conflicts::{Place, Resolution};
use crate::device::{DeviceError, Result};

/// Settle a conflict (a field two people set at the same time, or a text two people rewrote at
/// the same time): keep one of the values or write a new one. `alliance status` lists the
/// conflicts and numbers their values.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The item's ID, `alliance` for the alliance's own fields (its title, and which member
    /// a device belongs to), or `vision` for the shared vision.
    pub id: String,
    /// The field, as `alliance status` names it (e.g. `when`, `text`,
    /// `reflections.m4k2x.rating`, `devices.<key>.member`); none for the vision.
    pub field: Option<String>,
    /// Keep the value with this number (a text: that person's version of the part rewritten
    /// at once; the rest of the text, edited by others meanwhile, stays).
    #[arg(long, conflicts_with = "value", required_unless_present = "value")]
    pub pick: Option<usize>,
    /// Write this value instead (a text: the whole text as it should read).
    #[arg(long)]
    pub value: Option<String>,
}

pub fn run(ctx: &mut Context, args: ResolveArgs) -> Result<()> {
    let target = if args.id.trim().eq_ignore_ascii_case("alliance") {
        Place::Alliance
    } else if args.id.trim().eq_ignore_ascii_case("vision") {
        Place::Vision
    } else {
        Place::Item(item_id(&args.id)?)
    };
    let choice = match (args.pick, args.value) {
        (Some(n), _) => Resolution::Pick(n),
        (None, Some(v)) => Resolution::Value(v),
        (None, None) => return Err(DeviceError::user("say --pick N or --value TEXT")),
    };
    let field = args.field.unwrap_or_default();
    if field.is_empty() && target != Place::Vision {
        return Err(DeviceError::user(
            "say which field: `alliance resolve ID FIELD --pick N`; `alliance status` names them",
        ));
    }
    let edited = edit_indexed(ctx, |r, w, index| {
        Ok(r.resolve_with(w, index, &target, &field, choice)?)
    })?;
    report(ctx, &edited);
    Ok(())
}
