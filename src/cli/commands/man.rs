use clap::{Args, CommandFactory};

use crate::cli::Cli;
use crate::device::{DeviceError, Result};

/// Print the manual page (roff), generated from the commands themselves.
///
/// Read it with `alliance man | man -l -`, or install it: `alliance man >
/// ~/.local/share/man/man1/alliance.1`.
#[derive(Debug, Args)]
pub struct ManArgs {}

pub fn run(_args: ManArgs) -> Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| DeviceError::user(format!("could not render the manual page: {e}")))?;
    super::completions::write_raw(&out);
    Ok(())
}
