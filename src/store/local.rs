//! The device-local files (never synced), each read and written through a typed method of
//! [`Home`] or [`OpenAlliance`]: the address book, the invites, the seen marker, the sync
//! states, the announcement of a running `serve` and the page's file (`app.json`). Their names
//! are in [`layout`]. JSON files are replaced atomically ([`write_atomic`]); a missing one
//! reads as its default.

use std::fs;
use std::path::Path;

use automerge::ChangeHash;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::fsutil::{io, read_optional, write_atomic};
use super::{Home, LockMode, OpenAlliance, StoreError, layout};
use crate::core::Timestamp;
use crate::core::invite::Invites;
use crate::core::peers::PeerBook;

/// Where this device's person last looked (`alliance seen`): the heads then, and when. Kept on
/// this device only: each device remembers what its person has looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub heads: Vec<String>,
    pub at: Option<i64>,
}

impl Seen {
    /// A marker at `heads`, set at `now`.
    pub fn new(heads: &[ChangeHash], now: Timestamp) -> Self {
        Seen {
            heads: heads.iter().map(ToString::to_string).collect(),
            at: Some(now.0),
        }
    }

    /// The marked heads, or `None` when nothing was ever marked.
    pub fn heads(&self) -> Option<Vec<ChangeHash>> {
        self.at?;
        Some(self.heads.iter().filter_map(|h| h.parse().ok()).collect())
    }
}

/// What a running `serve` announces in the home ([`layout::SERVE_ANNOUNCEMENT`]): `invite` puts
/// the addresses in tickets, and the next `serve` binds the same port again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeInfo {
    pub device: String,
    pub addrs: Vec<String>,
    pub pid: u32,
}

/// One session of this device's page (`alliance app`), as the home keeps it so that an open
/// page survives a restart of the app: a hash of the session's secret (the secret itself is
/// only in the browser's cookie) and when it was last used (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSession {
    pub hash: String,
    pub last_used: i64,
}

/// What [`layout::PAGE_SESSIONS`] holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSessions {
    pub sessions: Vec<PageSession>,
}

/// What the page's file ([`layout::APP_FILE`]) holds: the page's port (remembered across runs),
/// the process running it and the key of its link API. Readable by this user only (0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppFile {
    pub port: u16,
    pub pid: u32,
    pub key: String,
    /// Reminders as desktop notifications (the page's setting; off unless turned on).
    #[serde(default)]
    pub reminders: bool,
}

/// This process serves the home: held for as long as it runs (the OS releases it if the process
/// dies), so a home has one node at a time.
#[derive(Debug)]
pub struct Serving {
    _lock: std::fs::File,
}

impl Home {
    /// Claims this home for a serving process (`serve`, `app`). `Ok(None)` when another process
    /// serves it already (its announcement says which, see [`Home::running_serve`]).
    pub fn claim_serving(&self) -> Result<Option<Serving>, StoreError> {
        let path = self.root.join(layout::SERVE_LOCK);
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Serving { _lock: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// The announcement of the process serving this home right now, if one is: an
    /// announcement a killed process left behind does not count.
    pub fn running_serve(&self) -> Option<ServeInfo> {
        let info = self.serve_announcement()?;
        let path = self.root.join(layout::SERVE_LOCK);
        let file = fs::File::open(&path).ok()?;
        match file.try_lock_shared() {
            // Nobody holds it: nothing serves.
            Ok(()) => None,
            Err(fs::TryLockError::WouldBlock) => Some(info),
            Err(fs::TryLockError::Error(_)) => None,
        }
    }

    /// The alliance commands use when several are here and none is named, if it is still here.
    pub fn default_alliance(&self) -> Option<crate::core::AllianceId> {
        #[derive(Deserialize)]
        struct Default {
            alliance: String,
        }
        let d: Default = load_json(&self.root.join(layout::DEFAULT_ALLIANCE))
            .ok()
            .flatten()?;
        let id: crate::core::AllianceId = d.alliance.parse().ok()?;
        self.alliance_ids().ok()?.contains(&id).then_some(id)
    }

    /// Makes `id` the alliance commands use when none is named.
    pub fn set_default_alliance(&self, id: &crate::core::AllianceId) -> Result<(), StoreError> {
        save_json(
            &self.root.join(layout::DEFAULT_ALLIANCE),
            &serde_json::json!({ "alliance": id.to_string() }),
        )
    }

    /// Removes an alliance from this device (the other members keep theirs): its directory is
    /// renamed out of the way under the alliance's exclusive lock, then deleted.
    pub fn forget_alliance(&self, id: &crate::core::AllianceId) -> Result<(), StoreError> {
        let open = self.open(id, LockMode::Exclusive)?;
        let dir = self.alliances_dir().join(id.to_string());
        let gone = self.alliances_dir().join(format!(
            "{}{}-{}",
            layout::FORGOTTEN_PREFIX,
            id.short(),
            std::process::id()
        ));
        fs::rename(&dir, &gone).map_err(io(&dir))?;
        drop(open);
        fs::remove_dir_all(&gone).map_err(io(&gone))
    }

    /// What a running `serve` announced, if anything. The announcement is a hint (a `serve`
    /// that was killed leaves it behind), so a missing, unreadable or damaged one is `None`.
    pub fn serve_announcement(&self) -> Option<ServeInfo> {
        load_json(&self.root.join(layout::SERVE_ANNOUNCEMENT))
            .ok()
            .flatten()
    }

    /// Announces a running `serve`, replacing any earlier announcement atomically.
    pub fn announce_serve(&self, info: &ServeInfo) -> Result<(), StoreError> {
        save_json(&self.root.join(layout::SERVE_ANNOUNCEMENT), info)
    }

    /// The page's sessions (none when the file was never written). Only the process that
    /// serves the home (see [`Home::claim_serving`]) reads and writes them.
    pub fn page_sessions(&self) -> Result<PageSessions, StoreError> {
        Ok(load_json(&self.root.join(layout::PAGE_SESSIONS))?.unwrap_or_default())
    }

    /// Replaces the page's sessions atomically, readable by this user only (0600).
    pub fn save_page_sessions(&self, sessions: &PageSessions) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let bytes = serde_json::to_vec_pretty(sessions).expect("sessions serialise");
        write_atomic(&self.root.join(layout::PAGE_SESSIONS), &bytes, 0o600)
    }

    /// The page's file, if a page ever ran here. A hint like the serve announcement (the page
    /// may have stopped since), so a missing, unreadable or damaged one is `None`.
    pub fn app_file(&self) -> Option<AppFile> {
        load_json(&self.root.join(layout::APP_FILE)).ok().flatten()
    }

    /// Replaces the page's file atomically, readable by this user only (0600): it holds the key
    /// of the page's link API.
    pub fn save_app_file(&self, file: &AppFile) -> Result<(), StoreError> {
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let bytes = serde_json::to_vec_pretty(file).expect("the page's file serialises");
        write_atomic(&self.root.join(layout::APP_FILE), &bytes, 0o600)
    }

    /// Removes the announcement of `serve` (it stopped).
    pub fn clear_serve_announcement(&self) -> Result<(), StoreError> {
        let path = self.root.join(layout::SERVE_ANNOUNCEMENT);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }
}

impl OpenAlliance {
    /// This device's address book for this alliance (empty if none was written yet).
    pub fn peer_book(&self) -> Result<PeerBook, StoreError> {
        Ok(load_json(&self.dir.join(layout::PEER_BOOK))?.unwrap_or_default())
    }

    /// Changes the address book with `f` and writes it back. Needs the write lock, so that no
    /// other process updates the book in between.
    pub fn update_peer_book<T>(&self, f: impl FnOnce(&mut PeerBook) -> T) -> Result<T, StoreError> {
        self.assert_write_lock("update_peer_book");
        let path = self.dir.join(layout::PEER_BOOK);
        let mut book: PeerBook = load_json(&path)?.unwrap_or_default();
        let out = f(&mut book);
        save_json(&path, &book)?;
        Ok(out)
    }

    /// The invites made on this device for this alliance.
    pub fn invites(&self) -> Result<Invites, StoreError> {
        Ok(load_json(&self.dir.join(layout::INVITES))?.unwrap_or_default())
    }

    /// Changes the invites with `f` and writes them back, before returning (a used invite is
    /// durable before the person it admits is added). When `f` fails, nothing is written.
    /// Needs the write lock.
    pub fn update_invites<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Invites) -> Result<T, E>,
    ) -> Result<T, E> {
        self.assert_write_lock("update_invites");
        let path = self.dir.join(layout::INVITES);
        let mut invites: Invites = load_json(&path)?.unwrap_or_default();
        let out = f(&mut invites)?;
        save_json(&path, &invites)?;
        Ok(out)
    }

    /// This device's seen marker (the default, unmarked, if `alliance seen` never ran).
    pub fn seen(&self) -> Result<Seen, StoreError> {
        Ok(load_json(&self.dir.join(layout::SEEN))?.unwrap_or_default())
    }

    /// Replaces the seen marker. A whole replacement, not an update: a read lock is enough.
    pub fn save_seen(&self, seen: &Seen) -> Result<(), StoreError> {
        save_json(&self.dir.join(layout::SEEN), seen)
    }

    /// The persisted sync state with a peer device, if any.
    pub fn sync_state(&self, peer_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.dir.join(layout::SYNC_DIR).join(peer_hex))
    }

    /// Persists the sync state with a peer device.
    pub fn save_sync_state(&self, peer_hex: &str, state: &[u8]) -> Result<(), StoreError> {
        let dir = self.dir.join(layout::SYNC_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(&dir.join(peer_hex), state, 0o644)
    }

    fn assert_write_lock(&self, what: &str) {
        assert_eq!(
            self.mode,
            LockMode::Exclusive,
            "{what} needs the write lock"
        );
    }
}

/// Reads a JSON file, `None` if it does not exist; a file that does not parse is damaged.
pub(super) fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    match read_optional(path)? {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StoreError::corrupt(path, e)),
        None => Ok(None),
    }
}

/// Writes a JSON file atomically (pretty-printed, as every device-local JSON file is).
pub(super) fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).expect("local state serialises");
    write_atomic(path, &bytes, 0o644)
}
