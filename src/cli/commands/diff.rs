use clap::Args;

use crate::cli::context::Context;
use crate::cli::points;
use crate::cli::render;
use crate::device::Result;

/// What changed in the alliance since a point, in words, grouped by step, with who did it.
/// Without --since: since this device last ran `alliance seen` (or since the beginning).
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// From a date (YYYY-MM-DD, UTC: the start of that day) or a change (hash or prefix).
    #[arg(long, value_name = "DATE|HASH")]
    pub since: Option<String>,
}

pub fn run(ctx: &mut Context, args: DiffArgs) -> Result<()> {
    let open = ctx.review()?;
    let index = open.change_index();
    let before = match &args.since {
        Some(s) => points::since(&index, s)?,
        None => open.seen()?.heads().unwrap_or_default(),
    };
    let diff = open.replica().diff(&index, &before);
    // Texts two people rewrote at once: the diff shows what the merge made of them; these say so.
    let conflicts: Vec<crate::core::conflicts::Conflict> = open
        .replica()
        .conflicts(Some(&index))
        .into_iter()
        .filter(|c| c.is_text())
        .collect();
    #[derive(serde::Serialize)]
    struct DiffJson<'a> {
        #[serde(flatten)]
        diff: &'a crate::core::diff::Diff,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        conflicts: &'a [crate::core::conflicts::Conflict],
    }
    let json = DiffJson {
        diff: &diff,
        conflicts: &conflicts,
    };
    ctx.out.emit(&json, || {
        let mut s = render::diff_text(&diff);
        if !conflicts.is_empty() {
            s.push_str("\nREWRITTEN AT ONCE (text conflicts)\n");
            s.push_str(&render::conflicts_text(&conflicts));
        }
        s
    });
    open.save_verdicts();
    Ok(())
}
