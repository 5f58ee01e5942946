use clap::{Args, Subcommand};

use crate::cli::context::{Context, edit, report};
use crate::cli::render;
use crate::core::DeviceId;
use crate::device::{DeviceError, Result};

/// The people in the alliance and their devices.
#[derive(Debug, Args)]
pub struct MemberArgs {
    #[command(subcommand)]
    pub command: MemberCommand,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a person, with the device key they see in `alliance whoami`.
    Add {
        name: String,
        /// Their role: parent, coach, client, teen...
        #[arg(long, default_value = "member")]
        role: String,
        /// Their device's public key (from `alliance whoami` on their device).
        #[arg(long)]
        device: Option<String>,
    },
    /// List members and their devices, and who left or was removed.
    List,
    /// Remove a person from the alliance (admins only): their devices can no longer connect or
    /// write; their past changes keep their name. Final.
    Remove {
        /// Their name or member ID.
        who: String,
        /// Do not ask first (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Make a person an admin (admins add, remove and promote people), or with --revoke take
    /// it back. Admins only; the last admin stays one.
    Admin {
        /// Their name or member ID.
        who: String,
        #[arg(long)]
        revoke: bool,
    },
}

pub fn run(ctx: &mut Context, args: MemberArgs) -> Result<()> {
    match args.command {
        MemberCommand::Add { name, role, device } => {
            let device = device
                .map(|d| {
                    d.parse::<DeviceId>()
                        .map_err(|e| DeviceError::user(format!("--device: {e}")))
                })
                .transpose()?;
            let edited = edit(ctx, |r, w, e| Ok(r.add_member(w, e, &name, &role, device)?))?;
            report(ctx, &edited);
            let view = ctx.read()?.replica().view();
            note_expectations_of_everyone(ctx, &view, &format!("{}'s", name.trim()), "now wait");
        }
        MemberCommand::Remove { who, yes } => {
            let view = ctx.read()?.replica().view();
            let id = crate::cli::context::member(&view, &who)?;
            if !yes {
                let question = format!(
                    "{} will be removed from \"{}\": their devices will no longer connect or write, on every device; this cannot be undone.",
                    view.name_of(&id),
                    view.title
                );
                ctx.confirm(
                    &question,
                    "Remove them?",
                    "Nothing changed; pass --yes to do it",
                    "nothing changed",
                )?;
            }
            let identity = ctx.identity()?;
            let aid = ctx.alliance_id()?;
            let mut open = ctx.home.open(&aid, crate::store::LockMode::Exclusive)?;
            let edited = crate::device::steps::remove_member(
                &mut open,
                &identity,
                ctx.entropy.as_mut(),
                ctx.now,
                &id,
            )?;
            report(ctx, &edited);
        }
        MemberCommand::Admin { who, revoke } => {
            let view = ctx.read()?.replica().view();
            let id = crate::cli::context::member(&view, &who)?;
            let edited = edit(ctx, |r, w, _| Ok(r.set_admin(w, &id, !revoke)?))?;
            report(ctx, &edited);
        }
        MemberCommand::List => {
            let open = ctx.read()?;
            let view = open.replica().view();
            ctx.out.emit(&view.members, || render::members_table(&view));
        }
    }
    Ok(())
}

/// Tells the person adding someone which expectations of everyone that person will be asked
/// to agree to (each counts as proposed again until they do). `whose`: "Ben's"; `when` says
/// if it happened ("now wait") or will ("will wait").
pub fn note_expectations_of_everyone(
    ctx: &Context,
    view: &crate::core::AllianceView,
    whose: &str,
    when: &str,
) {
    let waiting = view.of_everyone();
    if waiting.is_empty() || ctx.out.json {
        return;
    }
    let ids: Vec<String> = waiting.iter().map(|e| e.id.to_string()).collect();
    eprintln!(
        "note: {} expectation(s) of everyone ({}) {when} for {} agreement too; an expectation can name whom it asks with `alliance expect add --of NAME`",
        waiting.len(),
        ids.join(", "),
        crate::cli::output::sanitize(whose)
    );
}
