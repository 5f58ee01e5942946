//! The command-line reference (`docs/cli.md`), generated from the clap definitions so it cannot
//! drift: `tests/suite/cli_reference.rs` fails when the file differs from what this produces, and
//! rewrites it when run with `UPDATE_CLI_DOCS=1`.

use clap::{Command, CommandFactory};

use crate::cli::Cli;

/// Markdown for every command and subcommand, with its options.
pub fn markdown() -> String {
    let mut out = String::from(
        "# alliance command-line reference\n\n\
         Generated from the program's own argument definitions (`src/cli/reference.rs`); do not\n\
         edit by hand. Every command accepts the global options and `--json`.\n\n\
         Exit codes: 0 success; 1 an error the message explains; 2 bad usage; 3 `verify` found\n\
         changes that fail; 4 a stored file is damaged.\n",
    );
    let cli = Cli::command();
    section(&mut out, &cli, "alliance", true);
    out
}

fn section(out: &mut String, cmd: &Command, path: &str, top: bool) {
    out.push_str(&format!("\n## `{path}`\n\n"));
    if let Some(about) = cmd.get_about() {
        out.push_str(&format!("{about}\n\n"));
    }
    let args: Vec<_> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
        .filter(|a| top || !a.is_global_set())
        .collect();
    if !args.is_empty() {
        out.push_str("| argument | meaning |\n|---|---|\n");
        for a in args {
            let name = match (a.get_long(), a.get_short()) {
                (Some(l), Some(s)) => format!("`-{s}`, `--{l}`"),
                (Some(l), None) => format!("`--{l}`"),
                _ => format!(
                    "`{}`",
                    a.get_value_names()
                        .and_then(|v| v.first().cloned())
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| a.get_id().to_string().to_uppercase())
                ),
            };
            let mut help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            if let Some(env) = a.get_env() {
                help.push_str(&format!(" (env `{}`)", env.to_string_lossy()));
            }
            let defaults: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|d| d.to_string_lossy().to_string())
                .collect();
            if !defaults.is_empty() {
                help.push_str(&format!(" [default: {}]", defaults.join(", ")));
            }
            out.push_str(&format!(
                "| {name} | {} |\n",
                help.replace('\n', " ").replace('|', "\\|")
            ));
        }
    }
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        section(out, sub, &format!("{path} {}", sub.get_name()), false);
    }
}
