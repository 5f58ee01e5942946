use clap::{Args, ValueEnum};

use crate::cli::context::Context;
use crate::cli::render;
use crate::device::Result;

/// Who wrote which part of the current vision, line by line, from verified changes.
#[derive(Debug, Args)]
pub struct BlameArgs {
    /// What to attribute (the shared vision).
    #[arg(value_enum)]
    pub what: BlameTarget,
    /// Show every run of characters with its author, instead of lines.
    #[arg(long)]
    pub detail: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BlameTarget {
    Vision,
}

pub fn run(ctx: &mut Context, args: BlameArgs) -> Result<()> {
    let BlameTarget::Vision = args.what;
    let open = ctx.review()?;
    let index = open.change_index();
    let blame = crate::core::history::Blame::by_line(open.replica().blame_vision(&index));
    // Sentences two people rewrote at once, still unsettled: whose two versions.
    let conflicts: Vec<crate::core::conflicts::Conflict> = open
        .replica()
        .conflicts(Some(&index))
        .into_iter()
        .filter(|c| c.is_text() && c.item.is_none())
        .collect();
    #[derive(serde::Serialize)]
    struct BlameJson<'a> {
        #[serde(flatten)]
        blame: &'a crate::core::history::Blame,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        conflicts: &'a [crate::core::conflicts::Conflict],
    }
    let json = BlameJson {
        blame: &blame,
        conflicts: &conflicts,
    };
    let detail = args.detail;
    ctx.out.emit(&json, || {
        let mut s = if detail {
            render::blame_spans_text(&blame.spans)
        } else {
            render::blame_text(&blame)
        };
        if !conflicts.is_empty() {
            s.push_str("\nREWRITTEN AT ONCE (text conflicts)\n");
            s.push_str(&render::conflicts_text(&conflicts));
        }
        s
    });
    open.save_verdicts();
    Ok(())
}
