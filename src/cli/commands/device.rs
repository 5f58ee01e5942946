use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::context::{Context, report};
use crate::cli::output::table;
use crate::core::Timestamp;
use crate::device::{DeviceError, Result};
use crate::store::LockMode;

/// Your devices: link another one (a phone), list them, remove a lost one.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    #[command(subcommand)]
    pub command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Print a one-line ticket that makes another device yours: run `alliance join TICKET` on
    /// it (this device must be serving).
    Link {
        /// How long the ticket stays valid: 30min, 24h, 7d (at most 30 days).
        #[arg(long, default_value = "1h")]
        expires: String,
        /// Also draw the ticket as a QR code, for a phone's camera (not with `--json`).
        #[arg(long)]
        qr: bool,
        /// What you call the new device ("Zoe's phone"): how this device lists it.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the devices of everyone in the alliance, removed ones included.
    List,
    /// Remove a device (a lost phone): yours, or anyone's if you are an admin. Final: the
    /// device can no longer connect or write; what it wrote before stays.
    Remove {
        /// The device key, or the first characters of it (at least 6), as `device list` shows.
        device: String,
        /// Do not ask first (for scripts).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Serialize)]
struct Linked {
    ticket: String,
    id: String,
    expires: Timestamp,
}

#[derive(Serialize)]
struct Row {
    device: String,
    name: String,
    this_device: bool,
    added_at: Timestamp,
    removed_at: Option<Timestamp>,
    removed_by: Option<String>,
}

pub fn run(ctx: &mut Context, args: DeviceArgs) -> Result<()> {
    match args.command {
        DeviceCommand::Link { expires, qr, label } => {
            let valid =
                crate::device::parse::parse("--expires", &expires, 30 * crate::device::parse::DAY)?;
            let identity = ctx.identity()?;
            let id = ctx.alliance_id()?;
            let open = ctx.home.open(&id, LockMode::Exclusive)?;
            let Some(serve) = ctx.home.running_serve() else {
                return Err(DeviceError::user(
                    "nothing is serving on this device, so the new device could not reach it; start `alliance serve` (or `alliance app`) and leave it running, then link again",
                ));
            };
            let (invite, ticket) = crate::device::steps::create_link(
                &open,
                &identity,
                ctx.entropy.as_mut(),
                ctx.now,
                &label,
                valid,
                &serve.addrs,
            )?;
            let out = Linked {
                ticket: ticket.to_string(),
                id: invite.id.clone(),
                expires: Timestamp(invite.expires_at),
            };
            ctx.out.emit(&out, || {
                let qr = if qr {
                    crate::cli::output::ticket_qr_block(&out.ticket)
                } else {
                    String::new()
                };
                format!(
                    "{}{qr}\n\nOn your other device run\n  alliance join TICKET\nIt becomes another device of yours. The ticket works once, until {} UTC, while `alliance serve` runs here ({}).",
                    out.ticket,
                    out.expires.short(),
                    out.id,
                )
            });
        }
        DeviceCommand::List => {
            let open = ctx.read()?;
            let me = ctx.identity().ok().map(|i| i.key.device_id().to_hex());
            let view = open.replica().view();
            let rows: Vec<Row> = view
                .devices
                .iter()
                .map(|d| Row {
                    device: d.key.clone(),
                    name: view.name_of(&d.member),
                    this_device: me.as_deref() == Some(d.key.as_str()),
                    added_at: d.added_at,
                    // A device is out when it was removed, or its person was.
                    removed_at: d.removed.as_ref().map(|r| r.at).or_else(|| {
                        view.member(&d.member)
                            .and_then(|m| m.removed.as_ref())
                            .map(|r| r.at)
                    }),
                    removed_by: d
                        .removed
                        .as_ref()
                        .or_else(|| view.member(&d.member).and_then(|m| m.removed.as_ref()))
                        .map(|r| view.name_of(&r.by)),
                })
                .collect();
            ctx.out.emit(&rows, || {
                table(
                    &["DEVICE", "WHOSE", "ADDED", "STATUS"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                format!(
                                    "{}{}",
                                    &r.device[..10],
                                    if r.this_device { " (this one)" } else { "" }
                                ),
                                r.name.clone(),
                                r.added_at.date(),
                                match (&r.removed_at, &r.removed_by) {
                                    (Some(at), Some(by)) => {
                                        format!("removed by {by} {}", at.date())
                                    }
                                    _ => "active".to_string(),
                                },
                            ]
                        })
                        .collect::<Vec<_>>(),
                )
            });
        }
        DeviceCommand::Remove { device, yes } => {
            let (key, view) = {
                let open = ctx.read()?;
                (
                    crate::device::steps::device_key(&open, &device)?,
                    open.replica().view(),
                )
            };
            let whose = view
                .device(&key.to_hex())
                .map(|d| view.name_of(&d.member))
                .unwrap_or_default();
            if !yes {
                let question = format!(
                    "Device {} of {whose} will no longer connect or write, on every device; this cannot be undone.",
                    key.short()
                );
                ctx.confirm(
                    &question,
                    "Remove it?",
                    "Nothing was removed; pass --yes to do it",
                    "nothing was removed",
                )?;
            }
            let identity = ctx.identity()?;
            let id = ctx.alliance_id()?;
            let mut open = ctx.home.open(&id, LockMode::Exclusive)?;
            let edited = crate::device::steps::remove_device(
                &mut open,
                &identity,
                ctx.entropy.as_mut(),
                ctx.now,
                &key,
            )?;
            report(ctx, &edited);
        }
    }
    Ok(())
}
