use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::Result;
use crate::core::Replica;

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
    // Titles pick alliances (`--alliance TITLE`, `alliance use TITLE`): two alike could not be
    // told apart.
    let title = args.title.trim();
    for id in ctx.home.alliance_ids()? {
        let existing = ctx
            .home
            .open(&id, crate::store::LockMode::Shared)?
            .replica()
            .view()
            .title;
        if existing.trim().eq_ignore_ascii_case(title) {
            return Err(crate::cli::error::CliError::user(format!(
                "this device already holds an alliance titled \"{existing}\" ({}); choose another title",
                id.short()
            )));
        }
    }
    let mut tag = [0u8; 8];
    ctx.entropy.fill(&mut tag);
    let writer = ctx.writer(&identity, tag);
    let (replica, member, genesis) = Replica::create(
        &writer,
        ctx.entropy.as_mut(),
        &args.title,
        &identity.name,
        &args.role,
    )?;
    ctx.home
        .create_alliance(&replica.id(), std::slice::from_ref(&genesis), Some(tag))?;
    ctx.home.set_default_alliance(&replica.id())?;
    let out = Out {
        id: replica.id().to_string(),
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
