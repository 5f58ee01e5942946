use clap::Args;

use crate::cli::context::Context;
use crate::cli::render;
use crate::device::Result;

/// Show the whole alliance: members, needs, plan, vision, expectations, check-ins.
#[derive(Debug, Args)]
pub struct ShowArgs {}

pub fn run(ctx: &mut Context, _args: ShowArgs) -> Result<()> {
    let open = ctx.read()?;
    let view = open.replica().view();
    let conflicts = open.conflicts();
    #[derive(serde::Serialize)]
    struct ShowJson<'a> {
        #[serde(flatten)]
        view: &'a crate::core::AllianceView,
        conflicts: &'a [crate::core::conflicts::Conflict],
    }
    let json = ShowJson {
        view: &view,
        conflicts: &conflicts,
    };
    ctx.out.emit(&json, || {
        let mut s = render::show(&view, open.replica().len());
        if !conflicts.is_empty() {
            s.push_str("\nCONFLICTS (edits that collided)\n");
            s.push_str(&render::conflicts_text(&conflicts));
        }
        s
    });
    Ok(())
}
