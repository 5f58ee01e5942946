//! The one place where errors become messages and exit codes.
//!
//! Exit codes: 0 success; 1 an error the user can fix (the message says how); 2 usage error
//! (from clap); 3 `verify` found changes that do not verify; 4 stored data is damaged.

use std::process::ExitCode;

use crate::core::{EditError, ReceiveError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    /// A user error with a message that already says what to do.
    #[error("{0}")]
    User(String),
    /// `verify` found bad changes (already printed).
    #[error("{0}")]
    VerifyFailed(String),
}

impl CliError {
    pub fn user(msg: impl Into<String>) -> Self {
        CliError::User(msg.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::VerifyFailed(_) => 3,
            CliError::Store(StoreError::Corrupt { .. }) => 4,
            _ => 1,
        })
    }

    /// The one-line message shown to the user.
    pub fn message(&self) -> String {
        match self {
            CliError::Store(e) if e.is_disk_full() => {
                format!(
                    "the disk is full, so nothing was saved ({e}); free some space and try again"
                )
            }
            CliError::Store(StoreError::Io { path, source })
                if source.kind() == std::io::ErrorKind::PermissionDenied
                    || source.raw_os_error() == Some(30) =>
            {
                format!(
                    "cannot write to {} ({source}); check that the alliance home is writable, or choose another with --home",
                    path.display()
                )
            }
            e => e.to_string(),
        }
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;
