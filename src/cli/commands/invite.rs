use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::context::Context;
use crate::cli::output::table;
use crate::core::Timestamp;
use crate::device::{DeviceError, Result};
use crate::store::LockMode;

/// Invite someone: print a one-line ticket for `alliance join` (this device must be serving).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InviteArgs {
    /// How long the ticket stays valid: 30min, 24h, 7d, 2w (at most a year).
    #[arg(long, default_value = "24h")]
    pub expires: String,
    /// The new member's role: parent, teen, coach, client...
    #[arg(long, default_value = "member")]
    pub role: String,
    /// Invite a reader (a grandparent, a therapist, a supervisor): they sync and see
    /// everything and write nothing, for good.
    #[arg(long)]
    pub reader: bool,
    /// Also draw the ticket as a QR code, for a device with a camera (not with `--json`).
    #[arg(long)]
    pub qr: bool,
    /// Who it is for, in your words ("for Zoe"): how `invite list` shows it.
    #[arg(long, default_value = "")]
    pub label: String,
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

#[derive(Serialize)]
struct Created {
    ticket: String,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    expires: Timestamp,
    role: String,
    reader: bool,
    serving: bool,
}

#[derive(Serialize)]
struct Row {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    role: String,
    reader: bool,
    status: &'static str,
    expires: Timestamp,
    /// The device that used it (hex), and its person's name once the alliance knows it.
    used_by: Option<String>,
    used_by_name: Option<String>,
}

pub fn run(ctx: &mut Context, args: InviteArgs) -> Result<()> {
    match args.command {
        None => {
            let valid = crate::device::parse::parse(
                "--expires",
                &args.expires,
                365 * crate::device::parse::DAY,
            )?;
            let identity = ctx.identity()?;
            let id = ctx.alliance_id()?;
            let open = ctx.home.open(&id, LockMode::Exclusive)?;
            crate::device::steps::can_invite(&open, &identity)?;
            // A ticket carries the addresses this device serves on, and works only while it
            // serves: without a running `serve` there is nothing to put in it.
            let Some(serve) = ctx.home.running_serve() else {
                return Err(DeviceError::user(
                    "nothing is serving on this device, so a ticket would have no address to reach it at; start `alliance serve` (or `alliance app`) and leave it running, then invite again",
                ));
            };
            // A reader's role, unless one was given: "reader".
            let role = if args.reader && args.role == "member" {
                "reader"
            } else {
                args.role.as_str()
            };
            let (invite, ticket) = crate::device::steps::create_invite(
                &open,
                &identity,
                ctx.entropy.as_mut(),
                ctx.now,
                &crate::device::steps::Invitee {
                    role,
                    label: &args.label,
                    reader: args.reader,
                },
                valid,
                &serve.addrs,
            )?;
            if !args.reader {
                crate::cli::commands::member::note_expectations_of_everyone(
                    ctx,
                    &open.replica().view(),
                    "the invited person's",
                    "will wait",
                );
            }
            let out = Created {
                ticket: ticket.to_string(),
                id: invite.id.clone(),
                label: invite.label.clone(),
                expires: Timestamp(invite.expires_at),
                role: invite.role.clone(),
                reader: invite.reader,
                serving: true,
            };
            ctx.out.emit(&out, || {
                let qr = if args.qr {
                    crate::cli::output::ticket_qr_block(&out.ticket)
                } else {
                    String::new()
                };
                let reader = if out.reader {
                    "\nThey join as a reader: they will see everything and write nothing."
                } else {
                    ""
                };
                format!(
                    "{}{qr}\n\nGive this ticket to the person you invite; on their device they run\n  alliance join TICKET --name THEIR_NAME\nIt works once, until {} UTC, while `alliance serve` runs here. Invite {} ({}).{reader}",
                    out.ticket,
                    out.expires.short(),
                    out.id,
                    out.role
                )
            });
        }
        Some(InviteCommand::List) => {
            let open = ctx.read()?;
            let invites = crate::device::steps::invites(&open)?;
            let view = open.replica().view();
            let rows: Vec<Row> = invites
                .invites
                .iter()
                .map(|i| Row {
                    id: i.id.clone(),
                    label: i.label.clone(),
                    role: i.role.clone(),
                    reader: i.reader,
                    status: i.status(ctx.now),
                    expires: Timestamp(i.expires_at),
                    used_by_name: i
                        .used_by
                        .as_deref()
                        .and_then(|d| view.member_of_device(d))
                        .map(|m| m.name.clone()),
                    used_by: i.used_by.clone(),
                })
                .collect();
            ctx.out.emit(&rows, || {
                if rows.is_empty() {
                    return "No invites made on this device.".into();
                }
                table(
                    &["ID", "LABEL", "ROLE", "STATUS", "EXPIRES (UTC)", "USED BY"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                r.id.clone(),
                                r.label.clone().unwrap_or_default(),
                                if r.reader {
                                    format!("{} (reader)", r.role)
                                } else {
                                    r.role.clone()
                                },
                                r.status.to_string(),
                                r.expires.short(),
                                match (&r.used_by_name, r.used_by.as_deref()) {
                                    (Some(name), Some(d)) => format!("{name} ({})", &d[..10]),
                                    (None, Some(d)) => format!("device {}", &d[..10]),
                                    _ => String::new(),
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                )
            });
        }
        Some(InviteCommand::Revoke { id }) => {
            let aid = ctx.alliance_id()?;
            let open = ctx.home.open(&aid, LockMode::Exclusive)?;
            let id = crate::device::steps::revoke_invite(&open, &id)?;
            ctx.out
                .emit(&serde_json::json!({ "id": id, "revoked": true }), || {
                    format!("Revoked invite {id}; its ticket no longer works.")
                });
        }
    }
    Ok(())
}
