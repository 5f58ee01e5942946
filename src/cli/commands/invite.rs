use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::error::{CliError, Result};
use crate::cli::output::table;
use crate::core::Timestamp;
use crate::store::LockMode;

/// Invite someone: print a one-line ticket for `alliance join` (this device must be serving).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InviteArgs {
    /// How long the ticket stays valid: 30m, 24h, 7d.
    #[arg(long, default_value = "24h")]
    pub expires: String,
    /// The new member's role: parent, teen, coach, client...
    #[arg(long, default_value = "member")]
    pub role: String,
    #[command(subcommand)]
    pub command: Option<InviteCommand>,
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// List the invites made on this device.
    List,
    /// Revoke an open invite by its ID (from `invite list`).
    Revoke { id: String },
}

/// Parses `30m`, `24h`, `7d` into seconds.
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim().to_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        CliError::user(format!("'{s}' is not a duration; use e.g. 30m, 24h or 7d"))
    })?;
    let secs = match unit {
        "s" => Some(n),
        "m" | "min" => n.checked_mul(60),
        "h" | "" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    };
    secs.filter(|s| *s <= 365 * 86_400).ok_or_else(|| {
        CliError::user(format!(
            "'{s}' is not a duration; use e.g. 30m, 24h or 7d (at most a year)"
        ))
    })
}

#[derive(Serialize)]
struct Created {
    ticket: String,
    id: String,
    expires: Timestamp,
    role: String,
    serving: bool,
}

#[derive(Serialize)]
struct Row {
    id: String,
    role: String,
    status: &'static str,
    expires: Timestamp,
    used_by: Option<String>,
}

pub fn run(ctx: &mut Context, args: InviteArgs) -> Result<()> {
    match args.command {
        None => {
            let valid = parse_duration(&args.expires)?;
            let identity = ctx.identity()?;
            let id = ctx.alliance_id()?;
            let open = ctx.home.open(&id, LockMode::Exclusive)?;
            let serve = ctx.serve_info();
            let addrs = serve.as_ref().map(|s| s.addrs.clone()).unwrap_or_default();
            let (invite, ticket) = crate::ops::create_invite(
                &open,
                &identity,
                ctx.entropy.as_mut(),
                ctx.now,
                &args.role,
                valid,
                &addrs,
            )?;
            if serve.is_none() {
                eprintln!(
                    "note: no `alliance serve` is running on this device; start it, or the invite cannot be used"
                );
            }
            let out = Created {
                ticket: ticket.to_string(),
                id: invite.id.clone(),
                expires: Timestamp(invite.expires_at),
                role: invite.role.clone(),
                serving: serve.is_some(),
            };
            ctx.out.emit(&out, || {
                format!(
                    "{}\n\nGive this ticket to the person you invite; on their device they run\n  alliance join TICKET --name THEIR_NAME\nIt works once, until {} UTC, while `alliance serve` runs here. Invite {} ({}).",
                    out.ticket,
                    out.expires.short(),
                    out.id,
                    out.role
                )
            });
        }
        Some(InviteCommand::List) => {
            let open = ctx.read()?;
            let invites = crate::ops::invites(&open)?;
            let rows: Vec<Row> = invites
                .invites
                .iter()
                .map(|i| Row {
                    id: i.id.clone(),
                    role: i.role.clone(),
                    status: i.status(ctx.now),
                    expires: Timestamp(i.expires_at),
                    used_by: i.used_by.clone(),
                })
                .collect();
            ctx.out.emit(&rows, || {
                if rows.is_empty() {
                    return "No invites made on this device.".into();
                }
                table(
                    &["ID", "ROLE", "STATUS", "EXPIRES (UTC)", "USED BY"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.role.clone(),
                                r.status.to_string(),
                                r.expires.short(),
                                r.used_by
                                    .as_deref()
                                    .map(|d| d[..10].to_string())
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                )
            });
        }
        Some(InviteCommand::Revoke { id }) => {
            let aid = ctx.alliance_id()?;
            let open = ctx.home.open(&aid, LockMode::Exclusive)?;
            let id = crate::ops::revoke_invite(&open, &id)?;
            ctx.out
                .emit(&serde_json::json!({ "id": id, "revoked": true }), || {
                    format!("Revoked invite {id}; its ticket no longer works.")
                });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("30m").unwrap(), 1_800);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("forever").is_err());
        assert!(parse_duration("9999d").is_err());
    }
}
