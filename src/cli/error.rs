//! The one place where the CLI turns an error's class into an exit code.
//!
//! Exit codes: 0 success; 1 an error the person can fix (the message says how), or one of
//! another device; 2 usage error (from clap); 3 `verify` found changes that do not verify; 4
//! stored data is damaged.

use std::process::ExitCode;

use crate::device::Class;
pub use crate::device::{DeviceError, Result};

/// The exit code of a command that failed with `e`.
pub fn exit_code(e: &DeviceError) -> ExitCode {
    ExitCode::from(match e.class() {
        Class::Unverified => 3,
        Class::Damaged => 4,
        Class::Input | Class::Peer | Class::Bug => 1,
    })
}
