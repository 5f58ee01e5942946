use clap::Args;

use crate::cli::context::Context;
use crate::cli::render;
use crate::device::Result;
use crate::store::LockMode;

/// What needs your attention: conflicts, expectations to agree to, a due check-in, members
/// without needs, and changes by others since you last ran `alliance seen`.
#[derive(Debug, Args)]
pub struct StatusArgs {}

pub fn run(ctx: &mut Context, _args: StatusArgs) -> Result<()> {
    let ids = ctx.alliances_for_all()?;
    if ids.len() == 1 {
        let status = status_of(ctx, &ids[0])?;
        let now = ctx.now;
        ctx.out.emit(&status, || render::status_text(&status, now));
        return Ok(());
    }
    // Several alliances and none named: what needs you in each, the default first.
    #[derive(serde::Serialize)]
    struct Each {
        alliance: String,
        title: String,
        status: crate::core::status::Status,
    }
    let mut all = Vec::new();
    for id in &ids {
        let title = ctx.home.open(id, LockMode::Shared)?.replica().view().title;
        all.push(Each {
            alliance: id.to_string(),
            title,
            status: status_of(ctx, id)?,
        });
    }
    ctx.out.emit(&all, || {
        all.iter()
            .map(|e| {
                format!(
                    "== \"{}\" ({})\n{}",
                    e.title,
                    &e.alliance[..12],
                    render::status_text(&e.status, ctx.now)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

/// What needs this device's person in alliance `id`.
fn status_of(ctx: &Context, id: &crate::core::AllianceId) -> Result<crate::core::status::Status> {
    let identity = ctx.identity()?;
    let mut open = ctx.home.open(id, LockMode::Shared)?;
    open.use_verdicts(&identity.key.to_seed());
    let me = crate::device::steps::me(&open, &identity)?;
    let status = crate::device::steps::status(&open, &me, ctx.now);
    open.save_verdicts();
    status
}
