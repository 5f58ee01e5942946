use clap::Args;
use serde::Serialize;

use crate::cli::context::Context;
use crate::core::seed::{Prompts, Start, prompts};
use crate::device::Result;

/// Create a new alliance; you are its first member.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// A title, e.g. "The Okafor family" or "Coaching: Sam & Alex".
    pub title: String,
    /// Your role in it: parent, coach, client, teen, partner...
    #[arg(long, default_value = "member")]
    pub role: String,
    /// Who it is for: a family at home, a coach and a client, a team working apart. It sets
    /// the questions each step asks, on every device (`alliance prompts`) [default: family]
    #[arg(long = "for", value_name = "family|coaching|team")]
    pub start: Option<Start>,
}

#[derive(Serialize)]
struct Out {
    id: String,
    title: String,
    member: String,
    start: Start,
    /// Step 1's questions, to start from.
    prompts: Prompts,
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
        args.start,
    )?;
    // Without `--for` nothing is written, and the alliance reads as a family's.
    let start = args.start.unwrap_or(Start::Family);
    let out = Out {
        id: id.to_string(),
        title: args.title.trim().to_string(),
        member: member.to_string(),
        start,
        prompts: prompts(start, 1).expect("step 1 has prompts"),
    };
    ctx.out.emit(&out, || {
        format!(
            "Created alliance \"{}\" ({}) for {}, with {} as its first member ({}).\n\nStep 1 asks each of you:\n{}\nNext: `alliance need add \"...\"` to write down what you need (`alliance prompts` shows every step's questions).",
            out.title,
            &out.id[..12],
            out.start.label().to_lowercase(),
            identity.name,
            out.member,
            crate::cli::commands::prompts::render(&out.prompts),
        )
    });
    Ok(())
}
