use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::context::Context;
use crate::core::{AllianceId, Replica, SignedChange};
use crate::device::{DeviceError, Result};
use crate::store::{LockMode, format};

/// Carry an alliance between devices as a file (USB stick, email), with no network.
#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write every signed change of the alliance to FILE.
    Export { file: PathBuf },
    /// Verify the signed changes in FILE and merge them in; nothing is kept if any fails.
    Import { file: PathBuf },
}

#[derive(Serialize)]
struct Imported {
    alliance: String,
    new_changes: usize,
    already_had: usize,
    /// Changes left out because their author equivocated (see `alliance status`).
    left_out: usize,
    created: bool,
}

pub fn run(ctx: &mut Context, args: BundleArgs) -> Result<()> {
    match args.command {
        BundleCommand::Export { file } => {
            let open = ctx.read()?;
            let changes = open
                .replica()
                .for_sending(open.replica().changes_since(&[]));
            if crate::core::sync::newest_signatures(&changes).is_none() {
                return Err(DeviceError::user(
                    "some changes have no signature on this device that vouches for them; run `alliance verify`",
                ));
            }
            let bytes = format::encode_bundle_kept(&open.replica().id().0, &changes);
            std::fs::write(&file, &bytes)
                .map_err(|e| DeviceError::user(format!("cannot write {}: {e}", file.display())))?;
            ctx.out.emit(
                &serde_json::json!({ "path": file.display().to_string(), "changes": changes.len() }),
                || format!("Wrote {} signed changes to {}.", changes.len(), file.display()),
            );
        }
        BundleCommand::Import { file } => {
            // On a terminal: which step a large import is at.
            let progress = ctx.out.progress();
            progress.working("bundle", format!("Reading {}", file.display()));
            let bytes = std::fs::read(&file)
                .map_err(|e| DeviceError::user(format!("cannot read {}: {e}", file.display())))?;
            let (id, records) = format::decode_bundle(&bytes).map_err(|e| {
                DeviceError::user(format!(
                    "{} is not a valid alliance bundle: {e}",
                    file.display()
                ))
            })?;
            let id = AllianceId(id);
            let batch = records
                .into_iter()
                .map(|r| {
                    let voucher = r.voucher();
                    SignedChange::from_parts(r.change, None).map(|c| c.with_voucher(voucher))
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| DeviceError::user(format!("{}: rejected: {e}", file.display())))?;
            let exists = ctx.home.alliance_ids()?.contains(&id);
            progress.working(
                "bundle",
                format!(
                    "Verifying {} signed change(s) from {}",
                    crate::cli::output::thousands(batch.len()),
                    file.display()
                ),
            );
            let saving = |n: usize| {
                progress.working(
                    "bundle",
                    format!("Saving {} new change(s)", crate::cli::output::thousands(n)),
                )
            };
            let (received, created) = if exists {
                let mut open = ctx.home.open(&id, LockMode::Exclusive)?;
                let received = open.replica_mut().receive(batch)?;
                saving(received.new.len());
                open.persist(&received.new)?;
                (received, false)
            } else {
                let mut replica = Replica::empty(id);
                let received = replica.receive(batch)?;
                // An alliance this device is not a member of would only sit here, and force
                // `--alliance` on every command: refuse it, saying whose it is.
                let me = ctx.identity()?.key.device_id();
                if replica.member_of(&me).is_none() {
                    let view = replica.view();
                    let names: Vec<&str> = view.members.iter().map(|m| m.name.as_str()).collect();
                    return Err(DeviceError::user(format!(
                        "{} holds \"{}\", an alliance of {} that this device is not a member of; nothing was imported. Ask one of them to add this device (`alliance member add YOUR_NAME --device {}`) and send the bundle again",
                        file.display(),
                        view.title,
                        names.join(", "),
                        me.to_hex()
                    )));
                }
                saving(received.new.len());
                ctx.home.create_alliance(&id, &received.new, None)?;
                (received, true)
            };
            progress.finish();
            let out = Imported {
                alliance: id.to_string(),
                new_changes: received.new.len(),
                already_had: received.duplicates,
                left_out: received.dropped,
                created,
            };
            ctx.out.emit(&out, || {
                let mut text = format!(
                    "Verified and merged {} new change(s) into alliance {} ({} already here).",
                    out.new_changes,
                    id.short(),
                    out.already_had
                );
                if out.left_out > 0 {
                    text.push_str(&format!(
                        "\nLeft out {} change(s): their author signed two different changes with one number; `alliance status` shows the proof.",
                        out.left_out
                    ));
                }
                text
            });
        }
    }
    Ok(())
}
