use std::io::Read;
use std::process::Command;

use clap::{Args, Subcommand};

use crate::cli::context::{Context, edit, report};
use crate::device::{DeviceError, Result};

/// Step 3: the shared vision, one text everyone can edit at once.
#[derive(Debug, Args)]
pub struct VisionArgs {
    #[command(subcommand)]
    pub command: VisionCommand,
}

#[derive(Debug, Subcommand)]
pub enum VisionCommand {
    /// Replace the vision with TEXT (`-` reads standard input); applied as character edits.
    Set {
        text: String,
        /// Do not ask before emptying or replacing most of the vision (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Edit the vision in $EDITOR; your changes are merged with anyone else's.
    Edit {
        /// Do not ask before emptying or replacing most of the vision (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Bring back the vision as it was at an earlier point, as a new change (the history
    /// keeps both versions).
    Restore {
        /// The point: a change's hash (or a unique prefix, from `alliance log`) or a date
        /// (YYYY-MM-DD: the vision as it was at the start of that day, UTC).
        #[arg(long, value_name = "HASH|DATE")]
        at: String,
        /// Do not ask before replacing most of the vision (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Print the vision.
    Show,
}

/// Asks before an edit that empties the shared vision or replaces most of it: it reaches every
/// device. `--yes` answers for scripts; without a terminal to ask on, the edit is refused.
fn confirm_replacing(ctx: &Context, old: &str, new: &str, yes: bool) -> Result<()> {
    if yes || !crate::core::text::removes_most(old, new) {
        return Ok(());
    }
    let (gone, total) = crate::core::text::removed(old, new);
    let what = if new.trim().is_empty() {
        "empties the shared vision".to_string()
    } else {
        format!("replaces {gone} of the vision's {total} characters")
    };
    let question = format!("This {what} on every member's device.");
    ctx.confirm(
        &question,
        "Continue?",
        "Nothing was changed; pass --yes to do it anyway (`alliance vision restore` can bring the old text back)",
        "the vision was not changed",
    )
}

pub fn run(ctx: &mut Context, args: VisionArgs) -> Result<()> {
    match args.command {
        VisionCommand::Set { text, yes } => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| DeviceError::user(format!("cannot read standard input: {e}")))?;
                s
            } else {
                text
            };
            let current = ctx.read()?.replica().view().vision;
            confirm_replacing(ctx, &current, &text, yes)?;
            let edited = edit(ctx, |r, w, _| Ok(r.set_vision(w, &text)?))?;
            report(ctx, &edited);
        }
        VisionCommand::Restore { at, yes } => {
            let (heads, then, current) = {
                let open = ctx.read()?;
                let index = open.change_index();
                let heads = crate::cli::points::point(&index, "--at", &at)?;
                let then = crate::core::text::root_text_at(
                    open.replica().doc(),
                    crate::core::model::keys::VISION,
                    &heads,
                );
                (heads, then, open.replica().view().vision)
            };
            if then == current {
                let r = crate::core::Edited {
                    id: None,
                    change: None,
                    summary: format!("the vision is already as it was at {at}"),
                };
                report(ctx, &r);
                return Ok(());
            }
            confirm_replacing(ctx, &current, &then, yes)?;
            let edited = edit(ctx, |r, w, _| Ok(r.restore_vision(w, &heads, &at)?))?;
            report(ctx, &edited);
        }
        VisionCommand::Edit { yes } => {
            // Read the current text without holding the lock while the editor is open.
            let (base_heads, base) = {
                let open = ctx.read()?;
                (open.replica().heads(), open.replica().view().vision)
            };
            let edited_text = run_editor(&base)?;
            if edited_text == base {
                let r = crate::core::Edited {
                    id: None,
                    change: None,
                    summary: "the vision was left as it was".into(),
                };
                report(ctx, &r);
                return Ok(());
            }
            confirm_replacing(ctx, &base, &edited_text, yes)?;
            let edited = edit(ctx, |r, w, e| {
                Ok(r.edit_vision_since(w, e, &base_heads, &edited_text)?)
            })?;
            report(ctx, &edited);
        }
        VisionCommand::Show => {
            let open = ctx.read()?;
            let vision = open.replica().view().vision;
            ctx.out
                .emit(&serde_json::json!({ "vision": vision }), || vision.clone());
        }
    }
    Ok(())
}

/// Opens `$VISUAL` or `$EDITOR` (default `vi`) on a temporary file holding `text`.
fn run_editor(text: &str) -> Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let dir = std::env::temp_dir();
    let path = dir.join(format!("alliance-vision-{}.md", std::process::id()));
    let mut initial = text.to_string();
    if !initial.ends_with('\n') && !initial.is_empty() {
        initial.push('\n');
    }
    std::fs::write(&path, &initial)
        .map_err(|e| DeviceError::user(format!("cannot write {}: {e}", path.display())))?;
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&path)
            .map_err(|e| DeviceError::user(format!("cannot read {}: {e}", path.display()))),
        Ok(s) => Err(DeviceError::user(format!(
            "the editor ({editor}) exited with {s}; the vision was not changed"
        ))),
        Err(e) => Err(DeviceError::user(format!(
            "cannot start the editor ({editor}): {e}; set EDITOR"
        ))),
    };
    let _ = std::fs::remove_file(&path);
    let mut edited = result?;
    // Editors add a final newline; keep the text's own ending.
    if !text.ends_with('\n') && edited.ends_with('\n') {
        edited.pop();
    }
    Ok(edited)
}
