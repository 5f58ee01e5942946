use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::core::ChangeCheck;
use crate::device::{DeviceError, Result};

/// Re-check every change: signature, author, membership. Exits 3 naming each bad change.
#[derive(Debug, Args)]
pub struct VerifyArgs {}

#[derive(Serialize)]
struct Out {
    alliance: String,
    changes: usize,
    ok: bool,
    bad: Vec<ChangeCheck>,
}

pub fn run(ctx: &mut Context, _args: VerifyArgs) -> Result<()> {
    let open = ctx.read()?;
    let checks = open.replica().verify_history();
    let total = checks.len();
    let bad: Vec<ChangeCheck> = checks.into_iter().filter(|c| c.problem.is_some()).collect();
    let out = Out {
        alliance: open.replica().id().to_string(),
        changes: total,
        ok: bad.is_empty(),
        bad,
    };
    ctx.out.emit(&out, || {
        if out.ok {
            format!("All {total} changes verified: every one is signed by a member's device.")
        } else {
            let mut s = format!(
                "{} of {total} changes FAILED verification:\n",
                out.bad.len()
            );
            for b in &out.bad {
                s.push_str(&format!(
                    "  {}  {}\n",
                    b.hash,
                    b.problem.as_deref().unwrap_or("")
                ));
            }
            s
        }
    });
    if out.ok {
        Ok(())
    } else {
        Err(DeviceError::VerifyFailed(format!(
            "{} change(s) failed verification",
            out.bad.len()
        )))
    }
}
