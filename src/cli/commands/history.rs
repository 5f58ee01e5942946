use clap::Args;

use crate::cli::context::{Context, item_id};
use crate::cli::render;
use crate::device::{DeviceError, Result};

/// Every version of one item (need, plan, expectation, check-in, member): who changed which
/// field, from what to what, when, and whether the change verified. A member's history also
/// shows who added them and their devices.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The item's ID, as `alliance show` lists it. (For the vision: `alliance blame vision`.)
    pub id: String,
}

#[derive(serde::Serialize)]
struct HistoryJson<'a> {
    item: &'a crate::core::ItemId,
    versions: &'a [crate::core::history::Version],
    conflicts: &'a [crate::core::conflicts::Conflict],
}

pub fn run(ctx: &mut Context, args: HistoryArgs) -> Result<()> {
    if args.id.trim().eq_ignore_ascii_case("vision") {
        return Err(DeviceError::user(
            "the vision is one shared text: `alliance blame vision` shows who wrote which part, `alliance log --kind vision` every edit",
        ));
    }
    let id = item_id(&args.id)?;
    let open = ctx.review()?;
    let replica = open.replica();
    let index = open.change_index();
    let versions = replica.history(&index, &id);
    if versions.is_empty() {
        return Err(DeviceError::user(format!(
            "no {} {id} in this alliance's history; `alliance show` lists the IDs",
            id.kind().noun()
        )));
    }
    let conflicts: Vec<_> = replica
        .conflicts(Some(&index))
        .into_iter()
        .filter(|c| c.item.as_ref() == Some(&id))
        .collect();
    let json = HistoryJson {
        item: &id,
        versions: &versions,
        conflicts: &conflicts,
    };
    ctx.out
        .emit(&json, || render::history_text(&versions, &conflicts));
    open.save_verdicts();
    Ok(())
}
