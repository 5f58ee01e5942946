use clap::Args;

use crate::cli::context::Context;
use crate::device::Result;
use crate::store::Seen;

/// Mark everything this device holds now as seen: `status` and `diff` then count from here.
/// The marker is kept on this device only.
#[derive(Debug, Args)]
pub struct SeenArgs {}

pub fn run(ctx: &mut Context, _args: SeenArgs) -> Result<()> {
    let open = ctx.read()?;
    let heads = open.replica().heads();
    open.save_seen(&Seen::new(&heads, ctx.now))?;
    let changes = open.replica().len();
    ctx.out.emit(
        &serde_json::json!({
            "heads": heads.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "changes": changes,
        }),
        || format!("Marked all {changes} changes as seen."),
    );
    Ok(())
}
