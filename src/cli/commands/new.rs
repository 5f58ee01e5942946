use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::device::Result;

/// Create a new alliance; you are its first member.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// A title, e.g. "The Okafor family" or "Coaching: Sam & Alex".
    pub title: String,
    /// Your role in it: parent, coach, client, teen, partner...
    #[arg(long, default_value = "member")]
    pub role: String,
}

#[derive(Serialize)]
struct Out {
    id: String,
    title: String,
    member: String,
}

pub fn run(ctx: &mut Context, args: NewArgs) -> Result<()> {
    let identity = ctx.identity()?;
    let (id, member) = crate::device::steps::create_alliance(
        &ctx.home,
        &identity,
        ctx.entropy.as_mut(),
        ctx.now,
        &args.title,
        &args.role,
    )?;
    let out = Out {
        id: id.to_string(),
        title: args.title.trim().to_string(),
        member: member.to_string(),
    };
    ctx.out.emit(&out, || {
        format!(
            "Created alliance \"{}\" ({}), with {} as its first member ({}).\nNext: `alliance need add \"...\"` to write down what you need.",
            out.title,
            &out.id[..12],
            identity.name,
            out.member
        )
    });
    Ok(())
}
