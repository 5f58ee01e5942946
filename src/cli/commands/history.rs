use clap::Args;

use crate::cli::context::{Context, item_id};
use crate::cli::error::{CliError, Result};

/// Every version of one item (need, plan, expectation, check-in, member): who changed which
/// field, from what to what, when, and whether the change verified.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The item's ID, as `alliance show` lists it.
    pub id: String,
}

fn show(v: &Option<String>) -> String {
    match v {
        None => "(none)".into(),
        Some(s) if s.is_empty() => "\"\"".into(),
        Some(s) => format!("\"{s}\""),
    }
}

pub fn run(ctx: &mut Context, args: HistoryArgs) -> Result<()> {
    let id = item_id(&args.id)?;
    let open = ctx.read()?;
    let versions = open.replica().history(&id);
    if versions.is_empty() {
        return Err(CliError::user(format!(
            "no {} {id} in this alliance's history; `alliance show` lists the IDs",
            id.kind().noun()
        )));
    }
    ctx.out.emit(&versions, || {
        let mut s = String::new();
        for v in &versions {
            s.push_str(&format!(
                "{}  {}  {} ({})  {}\n",
                &v.change[..8],
                v.time.short(),
                v.author,
                &v.device[..10.min(v.device.len())],
                if v.verified {
                    "verified"
                } else {
                    "FAILED verification"
                }
            ));
            for f in &v.fields {
                s.push_str(&format!(
                    "    {}: {} -> {}\n",
                    f.field,
                    show(&f.old),
                    show(&f.new)
                ));
            }
        }
        s
    });
    Ok(())
}
