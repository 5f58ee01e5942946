//! Storage on this device: the identity, and one directory per alliance. Which files a home
//! holds, and their names, are listed once, in [`layout`]; the device-local files beside the
//! history (address book, invites, seen marker, sync states, the `serve` announcement) are read
//! and written through typed methods of [`Home`] and [`OpenAlliance`] (in `local.rs`).
//!
//! - [`Home`] (`home.rs`): the identity, the alliances on this device, creating and opening one.
//! - [`OpenAlliance`] (`alliance.rs`): one alliance loaded, its lock, what other processes
//!   wrote meanwhile, and the caches derived from its history (index, verdicts).
//! - `persist.rs`: making changes durable, and folding the log into a snapshot.
//! - [`shared`]: an alliance a running device holds, shared by its sessions and the page.
//!
//! Durability: an edit is appended to `changes.log` and fsynced before the command returns.
//! When the log grows past [`COMPACT_AFTER`] records it is folded into a new snapshot (written
//! to a temporary file, fsynced, renamed) and then emptied; a crash between the two steps only
//! leaves changes that are in both, which Automerge de-duplicates on load.

mod alliance;
pub mod format;
mod fsutil;
mod home;
mod keeper;
pub mod layout;
mod local;
pub mod lock;
mod persist;
pub mod shared;

use std::path::{Path, PathBuf};

pub use alliance::OpenAlliance;
pub use home::{Home, Identity, InitOutcome};
pub use keeper::{HeldAlliance, HeldDevice, KeeperFile, KeeperStatus};
pub use local::{AppFile, PageSession, PageSessions, Seen, ServeInfo, Serving};
pub use lock::{AllianceLock, LockMode};

/// Log records after which the log is folded into a new snapshot.
pub const COMPACT_AFTER: usize = 1000;

/// Errors of the storage layer. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "this device is not set up yet (no identity in {home}); run `alliance init --name YOUR_NAME`"
    )]
    NoIdentity { home: PathBuf },
    #[error(
        "{path} is damaged: {reason}. Nothing was changed; restore this file from a backup (or, once devices sync, from another device)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another alliance command is still working on this alliance ({path} is locked); try again when it finishes"
    )]
    Busy { path: PathBuf },
    #[error("no alliance {0} on this device; `alliance list` shows the ones here")]
    NotFound(String),
    #[error("alliance {0} is already on this device")]
    AlreadyExists(String),
}

impl StoreError {
    fn corrupt(path: &Path, reason: impl ToString) -> Self {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// Whether the error is a full disk (ENOSPC), for a clearer message at the edge.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}
