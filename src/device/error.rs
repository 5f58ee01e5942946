//! The one error type of this device's steps, for both doors: each error has a [`Class`]
//! (whose it is to mend), which the CLI maps once to an exit code (`cli::exit_code`) and the
//! page once to an HTTP status and words (`app`'s `PageError`).

use crate::core::{EditError, ReceiveError};
use crate::net::NetError;
use crate::store::StoreError;
use crate::store::shared::SharedError;

/// Whose an error is to mend, which decides how each door reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The person's input or situation: what they typed, a busy alliance, a full disk, an
    /// unwritable home. The message says what to do. (CLI: exit 1; page: 400.)
    Input,
    /// This device's stored data is damaged; nothing was changed. (CLI: exit 4; page: 500.)
    Damaged,
    /// Another device: unreachable, refusing, or sending what failed a check. (CLI: exit 1;
    /// page: 502.)
    Peer,
    /// `verify` found changes that do not verify (already shown). (CLI: exit 3.)
    Unverified,
    /// Something that should not happen: a bug. (CLI: exit 1; page: 500.)
    Bug,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    #[error(transparent)]
    Net(NetError),
    /// A user error with a message that already says what to do.
    #[error("{0}")]
    User(String),
    /// `verify` found bad changes (already printed).
    #[error("{0}")]
    VerifyFailed(String),
}

/// A network error keeps its class: a store error met during a sync is the store's.
impl From<NetError> for DeviceError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Store(e) => DeviceError::Store(e),
            e => DeviceError::Net(e),
        }
    }
}

/// A step on a shared alliance keeps its class the same way.
impl From<SharedError> for DeviceError {
    fn from(e: SharedError) -> Self {
        NetError::from(e).into()
    }
}

impl DeviceError {
    pub fn user(msg: impl Into<String>) -> Self {
        DeviceError::User(msg.into())
    }

    /// Whose it is to mend.
    pub fn class(&self) -> Class {
        match self {
            DeviceError::Store(StoreError::Corrupt { .. }) => Class::Damaged,
            DeviceError::Store(_) | DeviceError::Edit(_) | DeviceError::User(_) => Class::Input,
            DeviceError::Receive(_) => Class::Peer,
            DeviceError::Net(NetError::Internal(_)) => Class::Bug,
            DeviceError::Net(NetError::Bind(_)) => Class::Input,
            DeviceError::Net(_) => Class::Peer,
            DeviceError::VerifyFailed(_) => Class::Unverified,
        }
    }

    /// The one-line message shown to the person (the CLI's words; the page words a store
    /// error its own way, without paths).
    pub fn message(&self) -> String {
        match self {
            DeviceError::Store(e) if e.is_disk_full() => {
                format!(
                    "the disk is full, so nothing was saved ({e}); free some space and try again"
                )
            }
            DeviceError::Store(StoreError::Io { path, source })
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

pub type Result<T, E = DeviceError> = std::result::Result<T, E>;
