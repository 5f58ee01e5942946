use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::output::table;
use crate::device::Result;
use crate::store::LockMode;

/// List the alliances on this device.
#[derive(Debug, Args)]
pub struct ListArgs {}

#[derive(Serialize)]
struct Row {
    id: String,
    title: String,
    members: usize,
    changes: usize,
}

pub fn run(ctx: &mut Context, _args: ListArgs) -> Result<()> {
    let mut rows = Vec::new();
    for id in ctx.home.alliance_ids()? {
        let open = ctx.home.open(&id, LockMode::Shared)?;
        let view = open.replica().view();
        rows.push(Row {
            id: id.to_string(),
            title: view.title,
            members: view.members.len(),
            changes: open.replica().len(),
        });
    }
    ctx.out.emit(&rows, || {
        if rows.is_empty() {
            return "No alliances on this device yet. Create one with `alliance new TITLE`.".into();
        }
        table(
            &["ID", "TITLE", "MEMBERS", "CHANGES"],
            &rows
                .iter()
                .map(|r| {
                    vec![
                        r.id[..12].to_string(),
                        r.title.clone(),
                        r.members.to_string(),
                        r.changes.to_string(),
                    ]
                })
                .collect::<Vec<_>>(),
        )
    });
    Ok(())
}
