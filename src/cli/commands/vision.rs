use std::io::Read;
use std::process::Command;

use clap::{Args, Subcommand};

use crate::cli::context::{Context, edit, report};
use crate::cli::error::{CliError, Result};

/// Step 3: the shared vision, one text everyone can edit at once.
#[derive(Debug, Args)]
pub struct VisionArgs {
    #[command(subcommand)]
    pub command: VisionCommand,
}

#[derive(Debug, Subcommand)]
pub enum VisionCommand {
    /// Replace the vision with TEXT (`-` reads standard input); applied as character edits.
    Set { text: String },
    /// Edit the vision in $EDITOR; your changes are merged with anyone else's.
    Edit,
    /// Print the vision.
    Show,
}

pub fn run(ctx: &mut Context, args: VisionArgs) -> Result<()> {
    match args.command {
        VisionCommand::Set { text } => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::user(format!("cannot read standard input: {e}")))?;
                s
            } else {
                text
            };
            let edited = edit(ctx, |r, w, _| Ok(r.set_vision(w, &text)?))?;
            report(ctx, &edited);
        }
        VisionCommand::Edit => {
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
        .map_err(|e| CliError::user(format!("cannot write {}: {e}", path.display())))?;
    // Through the shell, so EDITOR may carry arguments ("code --wait").
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&path)
            .map_err(|e| CliError::user(format!("cannot read {}: {e}", path.display()))),
        Ok(s) => Err(CliError::user(format!(
            "the editor ({editor}) exited with {s}; the vision was not changed"
        ))),
        Err(e) => Err(CliError::user(format!(
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
