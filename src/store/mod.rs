//! Storage on this device: the identity, and one directory per alliance. Which files a home
//! holds, and their names, are listed once, in [`layout`]; the device-local files beside the
//! history (address book, invites, seen marker, sync states, the `serve` announcement) are read
//! and written through typed methods of [`Home`] and [`OpenAlliance`] (in `local.rs`).
//!
//! Durability: an edit is appended to `changes.log` and fsynced before the command returns.
//! When the log grows past [`COMPACT_AFTER`] records it is folded into a new snapshot (written
//! to a temporary file, fsynced, renamed) and then emptied; a crash between the two steps only
//! leaves changes that are in both, which Automerge de-duplicates on load.

pub mod format;
mod fsutil;
pub mod layout;
mod local;
pub mod lock;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::equivocation::Quarantine;
use crate::core::guard::guarded;
use crate::core::index::ChangeIndex;
use crate::core::{AllianceId, DeviceKey, Entropy, Replica, SignedChange, Verified};
use crate::protocol::ACTOR_TAG_LEN;
use format::FormatError;
use fsutil::{io, read_optional, sync_dir, write_atomic, write_cache, write_new};
pub use local::{AppFile, PageSession, PageSessions, Seen, ServeInfo, Serving};
use local::{load_json, save_json};
pub use lock::{AllianceLock, LockMode};

/// Log records after which the log is folded into a new snapshot.
pub const COMPACT_AFTER: usize = 1000;

const KEY_FILE_HEADER: &str = "alliance device key v1";

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

/// This device's identity: its key and the person's name.
pub struct Identity {
    pub key: DeviceKey,
    pub name: String,
}

#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
}

/// This device's own state for one alliance ([`layout::LOCAL_STATE`]).
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct LocalState {
    /// Hex of this device's actor tag for this alliance.
    actor_tag: Option<String>,
    /// Which directory the tag was made in ([`dir_identity`]). A copy of the alliance's files
    /// (a restored backup, a cloned device) lives in another directory, so it starts a fresh
    /// actor instead of reusing the sequence numbers the original goes on using.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor_dir: Option<String>,
}

/// The identity of a directory on this machine: its inode number and creation time. Copying
/// or restoring files makes a new directory, with a new identity; renaming keeps it.
fn dir_identity(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir).ok()?;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default();
    Some(format!("{}:{born}", meta.ino()))
}

/// Outcome of `init`.
pub enum InitOutcome {
    Created(Identity),
    AlreadySetUp(Identity),
}

/// The alliance home directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    compact_after: usize,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home {
            root: root.into(),
            compact_after: COMPACT_AFTER,
        }
    }

    /// Changes how many log records trigger a compaction (tests use small values).
    pub fn with_compact_after(mut self, records: usize) -> Self {
        self.compact_after = records.max(1);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn identity_dir(&self) -> PathBuf {
        self.root.join(layout::IDENTITY_DIR)
    }

    fn alliances_dir(&self) -> PathBuf {
        self.root.join(layout::ALLIANCES_DIR)
    }

    fn alliance_dir(&self, id: &AllianceId) -> PathBuf {
        self.alliances_dir().join(id.to_string())
    }

    /// Creates this device's identity from `seed` (32 random bytes supplied by the caller),
    /// unless one exists: then nothing changes.
    pub fn init(&self, name: &str, seed: [u8; 32]) -> Result<InitOutcome, StoreError> {
        let dir = self.identity_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let key_path = dir.join(layout::DEVICE_KEY);
        let key = DeviceKey::from_seed(seed);
        // The device ID on the third line lets a damaged key be told from another key.
        let text = format!(
            "{KEY_FILE_HEADER}\n{}\n{}\n",
            hex::encode(key.to_seed()),
            key.device_id().to_hex()
        );
        let created = write_new(&key_path, text.as_bytes(), 0o600)?;
        let profile_path = dir.join(layout::PROFILE);
        if created || !profile_path.exists() {
            let profile = Profile {
                name: name.trim().to_string(),
            };
            save_json(&profile_path, &profile)?;
        }
        let identity = self.identity()?;
        Ok(if created {
            InitOutcome::Created(identity)
        } else {
            InitOutcome::AlreadySetUp(identity)
        })
    }

    /// Loads this device's identity.
    pub fn identity(&self) -> Result<Identity, StoreError> {
        let dir = self.identity_dir();
        let key_path = dir.join(layout::DEVICE_KEY);
        let Some(text) = read_optional(&key_path)? else {
            return Err(StoreError::NoIdentity {
                home: self.root.clone(),
            });
        };
        let text = String::from_utf8_lossy(&text);
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(StoreError::corrupt(&key_path, "unknown key file format"));
        }
        let seed: [u8; 32] = lines
            .next()
            .and_then(|l| hex::decode(l.trim()).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| StoreError::corrupt(&key_path, "the key is not 64 hex characters"))?;
        let key = DeviceKey::from_seed(seed);
        // Files written before the device ID line was added have none.
        if let Some(id) = lines.next().map(str::trim).filter(|l| !l.is_empty())
            && id != key.device_id().to_hex()
        {
            return Err(StoreError::corrupt(
                &key_path,
                "the key does not match the device ID written beside it (the file is damaged; restore it from a backup)",
            ));
        }
        let Some(profile) = load_json::<Profile>(&dir.join(layout::PROFILE))? else {
            return Err(StoreError::NoIdentity {
                home: self.root.clone(),
            });
        };
        Ok(Identity {
            key,
            name: profile.name,
        })
    }

    /// The IDs of the alliances on this device, sorted.
    pub fn alliance_ids(&self) -> Result<Vec<AllianceId>, StoreError> {
        let dir = self.alliances_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut ids: Vec<AllianceId> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Stores a new alliance whose history so far is `changes` (the genesis change first, for
    /// an alliance founded here). The directory appears atomically, complete or not at all.
    pub fn create_alliance(
        &self,
        id: &AllianceId,
        changes: &[SignedChange<Verified>],
        actor_tag: Option<[u8; ACTOR_TAG_LEN]>,
    ) -> Result<(), StoreError> {
        let mut log = format::log_header();
        for c in changes {
            log.extend(format::encode_kept(c.voucher(), c.raw_bytes()));
        }
        self.create_with(id, None, log, actor_tag)
    }

    /// Stores a new alliance as a snapshot of `replica` (a device that received a whole
    /// history, for example when it joined). Atomic like [`Home::create_alliance`].
    pub fn create_alliance_from(
        &self,
        replica: &Replica,
        actor_tag: Option<[u8; ACTOR_TAG_LEN]>,
    ) -> Result<(), StoreError> {
        let snapshot =
            format::encode_snapshot(&replica.save(), replica.signatures(), replica.proofs());
        self.create_with(
            &replica.id(),
            Some(snapshot),
            format::log_header(),
            actor_tag,
        )
    }

    fn create_with(
        &self,
        id: &AllianceId,
        snapshot: Option<Vec<u8>>,
        log: Vec<u8>,
        actor_tag: Option<[u8; ACTOR_TAG_LEN]>,
    ) -> Result<(), StoreError> {
        let parent = self.alliances_dir();
        fs::create_dir_all(&parent).map_err(io(&parent))?;
        let dir = self.alliance_dir(id);
        if dir.exists() {
            return Err(StoreError::AlreadyExists(id.short()));
        }
        let staging = parent.join(format!(
            "{}{}-{}",
            layout::STAGING_PREFIX,
            id.short(),
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&staging);
        let result = (|| {
            fs::create_dir_all(&staging).map_err(io(&staging))?;
            if let Some(snapshot) = &snapshot {
                write_atomic(&staging.join(layout::SNAPSHOT), snapshot, 0o644)?;
            }
            write_atomic(&staging.join(layout::CHANGES_LOG), &log, 0o644)?;
            // The rename below keeps the directory's identity.
            let local = LocalState {
                actor_tag: actor_tag.map(hex::encode),
                actor_dir: dir_identity(&staging),
            };
            save_json(&staging.join(layout::LOCAL_STATE), &local)?;
            fs::rename(&staging, &dir).map_err(io(&dir))?;
            sync_dir(&parent)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Opens an alliance: takes its lock, then loads it.
    pub fn open(&self, id: &AllianceId, mode: LockMode) -> Result<OpenAlliance, StoreError> {
        let dir = self.alliance_dir(id);
        if !dir.is_dir() {
            return Err(StoreError::NotFound(id.short()));
        }
        let lock = AllianceLock::acquire(&dir.join(layout::LOCK), mode)?;
        if mode == LockMode::Exclusive {
            remove_stale_temporaries(&dir);
        }
        let mut open = self.open_unlocked(id)?;
        open.lock = Some(lock);
        open.mode = mode;
        if mode == LockMode::Exclusive
            && open.old_format
            && let Err(e) = open.compact()
        {
            // Nothing is appended to an old-format log: `persist` tries again first.
            tracing::warn!(error = %e, "could not rewrite the store in the current format");
        }
        Ok(open)
    }

    /// Loads an alliance without taking its lock (the caller holds it).
    fn open_unlocked(&self, id: &AllianceId) -> Result<OpenAlliance, StoreError> {
        let dir = self.alliance_dir(id);
        if !dir.is_dir() {
            return Err(StoreError::NotFound(id.short()));
        }
        let snapshot_path = dir.join(layout::SNAPSHOT);
        let snapshot_bytes = read_optional(&snapshot_path)?;
        let snapshot = match &snapshot_bytes {
            Some(b) => Some(
                format::decode_snapshot(b).map_err(|e| StoreError::corrupt(&snapshot_path, e))?,
            ),
            None => None,
        };
        let log_path = dir.join(layout::CHANGES_LOG);
        let log_bytes = read_optional(&log_path)?.unwrap_or_default();
        let log = format::decode_log(&log_bytes).map_err(|e| match e {
            FormatError::BadMagic if log_bytes.is_empty() => {
                StoreError::corrupt(&log_path, "the file is missing")
            }
            e => StoreError::corrupt(&log_path, e),
        })?;
        let mut changes = Vec::with_capacity(log.records.len());
        for (i, rec) in log.records.iter().enumerate() {
            let change = guarded(|| automerge::Change::from_bytes(rec.change.clone()))
                .and_then(|r| r.ok())
                .ok_or_else(|| {
                    StoreError::corrupt(
                        &log_path,
                        format!("record {} is not a valid change", i + 1),
                    )
                })?;
            changes.push(SignedChange::from_trusted_store(change, rec.voucher()));
        }
        let (doc, signatures, proofs) = match snapshot {
            Some(s) => (Some(s.doc), s.signatures, s.proofs),
            None => (None, Default::default(), Default::default()),
        };
        let mut replica =
            Replica::from_store(*id, doc, signatures, proofs, changes).map_err(|e| {
                let path = if doc.is_some() {
                    &snapshot_path
                } else {
                    &log_path
                };
                StoreError::corrupt(path, e)
            })?;
        if replica.doc().get_change_meta_by_hash(&id.0).is_none() {
            return Err(StoreError::corrupt(
                &dir,
                "the alliance's first (genesis) change is missing",
            ));
        }
        if let Some(q) = load_json::<Quarantine>(&dir.join(layout::QUARANTINE))? {
            replica.restore_quarantine(q);
        }
        let quarantine_saved = quarantine_len(&replica);
        let old_format = log.old_format
            || snapshot_bytes
                .as_ref()
                .is_some_and(|b| b.starts_with(crate::protocol::SNAPSHOT_MAGIC_V1));
        Ok(OpenAlliance {
            old_format,
            dir,
            compact_after: self.compact_after,
            lock: None,
            snapshot_len: snapshot_bytes.as_ref().map(|b| b.len() as u64),
            mode: LockMode::Shared,
            replica,
            log_records: log.records.len(),
            log_valid_len: log.valid_len,
            log_torn_tail: log.torn_tail,
            persisted: Vec::new(),
            track_persisted: false,
            quarantine_saved,
        })
    }
}

/// Removes the temporary files (`NAME.tmp-PID`, see [`layout::TEMP_MARK`]) that a writer killed in the middle of an
/// atomic replace left behind. Only called with the exclusive lock held: every write in the
/// alliance directory happens under a lock, so nothing else is writing.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .and_then(|n| n.rsplit_once(layout::TEMP_MARK))
            .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn quarantine_len(replica: &Replica) -> u64 {
    replica.quarantine().generation()
}

/// An alliance opened from the store, with its lock held.
#[derive(Debug)]
pub struct OpenAlliance {
    dir: PathBuf,
    compact_after: usize,
    lock: Option<AllianceLock>,
    mode: LockMode,
    /// Length of the snapshot file when it was loaded (another process may compact).
    snapshot_len: Option<u64>,
    replica: Replica,
    log_records: usize,
    log_valid_len: u64,
    log_torn_tail: u64,
    /// Changes made durable by [`OpenAlliance::persist`] since the last
    /// [`OpenAlliance::take_persisted`], for a running device to pass on to its peers (kept
    /// only after [`OpenAlliance::track_persisted`]).
    persisted: Vec<SignedChange<Verified>>,
    track_persisted: bool,
    /// The replica's quarantine generation as last written.
    quarantine_saved: u64,
    /// Whether the files are in the old format (version 1, a signature on every change): they
    /// are rewritten before anything is appended.
    old_format: bool,
}

impl OpenAlliance {
    /// From now on, keep what [`OpenAlliance::persist`] writes for
    /// [`OpenAlliance::take_persisted`] (a running device passes it on to its peers).
    pub fn track_persisted(&mut self) {
        self.track_persisted = true;
    }

    /// The changes [`OpenAlliance::persist`] wrote since the last call.
    pub fn take_persisted(&mut self) -> Vec<SignedChange<Verified>> {
        std::mem::take(&mut self.persisted)
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This device's actor tag for this alliance, created on first use.
    pub fn actor_tag(
        &mut self,
        entropy: &mut dyn Entropy,
    ) -> Result<[u8; ACTOR_TAG_LEN], StoreError> {
        let mut local = self.local_state()?;
        let here = dir_identity(&self.dir);
        let tag = local
            .actor_tag
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; ACTOR_TAG_LEN]>::try_from(b).ok());
        // A device whose own actor was proven to equivocate (a copy of it edited too) starts
        // a fresh one: its peers refuse the old one's new changes.
        let proven = |tag: &[u8; ACTOR_TAG_LEN]| {
            let tag = hex::encode(tag);
            self.replica
                .quarantine()
                .proofs
                .iter()
                .any(|p| p.actor.ends_with(&tag))
        };
        let tag = match (tag, &local.actor_dir) {
            (Some(tag), _) if proven(&tag) => {
                let mut fresh = [0u8; ACTOR_TAG_LEN];
                entropy.fill(&mut fresh);
                fresh
            }
            (Some(tag), Some(dir)) if Some(dir) == here.as_ref() => return Ok(tag),
            (Some(tag), _) if here.is_none() => return Ok(tag),
            // A tag from before directories were recorded: this is its directory.
            (Some(tag), None) => tag,
            // No tag yet, or one made in another directory (a copy): a fresh actor.
            _ => {
                let mut fresh = [0u8; ACTOR_TAG_LEN];
                entropy.fill(&mut fresh);
                fresh
            }
        };
        local.actor_tag = Some(hex::encode(tag));
        local.actor_dir = here;
        save_json(&self.dir.join(layout::LOCAL_STATE), &local)?;
        Ok(tag)
    }

    /// This device's own state for this alliance, as written (the default if none was).
    pub(crate) fn local_state(&self) -> Result<LocalState, StoreError> {
        Ok(load_json(&self.dir.join(layout::LOCAL_STATE))?.unwrap_or_default())
    }

    /// Makes `changes` durable: appends them to the log and fsyncs before returning. A torn tail
    /// left by an earlier crash is cut off first. On failure the log is put back as it was.
    pub fn persist(&mut self, changes: &[SignedChange<Verified>]) -> Result<(), StoreError> {
        assert_eq!(
            self.mode,
            LockMode::Exclusive,
            "persist needs the write lock"
        );
        if quarantine_len(&self.replica) != self.quarantine_saved {
            save_json(
                &self.dir.join(layout::QUARANTINE),
                self.replica.quarantine(),
            )?;
            self.quarantine_saved = quarantine_len(&self.replica);
        }
        if self.replica.take_rewritten() || self.old_format {
            // The replica withdrew changes it held (a removal arrived, see
            // `core::replica::removal`): the log may hold them, so save the replica whole. (So
            // too when the files are in the old format: the log cannot take new records.)
            if let Err(e) = self.compact() {
                self.replica.mark_rewritten();
                return Err(e);
            }
            if self.track_persisted {
                self.persisted.extend_from_slice(changes);
            }
            return Ok(());
        }
        if changes.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(layout::CHANGES_LOG);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        if self.log_torn_tail > 0 {
            file.set_len(self.log_valid_len).map_err(io(&path))?;
            self.log_torn_tail = 0;
        }
        let mut buf = Vec::new();
        for c in changes {
            buf.extend(format::encode_kept(c.voucher(), c.raw_bytes()));
        }
        use std::io::Seek;
        let written = file
            .seek(std::io::SeekFrom::Start(self.log_valid_len))
            .and_then(|_| file.write_all(&buf))
            .and_then(|_| file.sync_data());
        if let Err(e) = written {
            let _ = file.set_len(self.log_valid_len);
            let _ = file.sync_data();
            return Err(io(&path)(e));
        }
        self.log_valid_len += buf.len() as u64;
        self.log_records += changes.len();
        if self.track_persisted {
            self.persisted.extend_from_slice(changes);
        }
        if self.log_records >= self.compact_after
            && let Err(e) = self.compact()
        {
            // The changes are durable in the log; compaction is retried after the next append.
            tracing::warn!(error = %e, "could not fold the log into a snapshot; will retry");
        }
        Ok(())
    }

    /// Folds the log into a new snapshot. Safe at every crash point (see the module docs).
    pub fn compact(&mut self) -> Result<(), StoreError> {
        assert_eq!(
            self.mode,
            LockMode::Exclusive,
            "compact needs the write lock"
        );
        let snapshot = format::encode_snapshot(
            &self.replica.save(),
            self.replica.signatures(),
            self.replica.proofs(),
        );
        write_atomic(&self.dir.join(layout::SNAPSHOT), &snapshot, 0o644)?;
        write_atomic(
            &self.dir.join(layout::CHANGES_LOG),
            &format::log_header(),
            0o644,
        )?;
        self.log_records = 0;
        self.log_valid_len = format::log_header().len() as u64;
        self.log_torn_tail = 0;
        self.snapshot_len = Some(snapshot.len() as u64);
        self.old_format = false;
        Ok(())
    }

    /// Releases the lock, for a long-running process (`serve`) that must let other commands
    /// write between its own operations. Call [`OpenAlliance::relock`] before the next one.
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    /// Takes the lock again and reads what other processes wrote meanwhile. Returns the changes
    /// that are new to this replica (for example local edits made by other commands).
    pub fn relock(&mut self, mode: LockMode) -> Result<Vec<SignedChange<Verified>>, StoreError> {
        if self.lock.is_none() {
            self.lock = Some(AllianceLock::acquire(&self.dir.join(layout::LOCK), mode)?);
        }
        self.mode = mode;
        self.refresh()
    }

    /// Reads changes that other processes appended since this alliance was loaded, and applies
    /// them. If another process compacted the store, the new snapshot is loaded too.
    pub fn refresh(&mut self) -> Result<Vec<SignedChange<Verified>>, StoreError> {
        if !self.changed_on_disk() {
            return Ok(Vec::new());
        }
        let before: std::collections::HashSet<_> = self.replica.heads().into_iter().collect();
        let log_path = self.dir.join(layout::CHANGES_LOG);
        let log_len = fs::metadata(&log_path).map_err(io(&log_path))?.len();
        let snapshot_len = fs::metadata(self.dir.join(layout::SNAPSHOT))
            .ok()
            .map(|m| m.len());
        if snapshot_len != self.snapshot_len || log_len < self.log_valid_len {
            // Another process compacted: reload everything, keeping our lock.
            self.reload()?;
            return Ok(self.changes_not_in(&before));
        }
        // Only appends: read the records past what we have.
        let bytes = read_optional(&log_path)?.unwrap_or_default();
        let log = format::decode_log(&bytes).map_err(|e| StoreError::corrupt(&log_path, e))?;
        if log.old_format {
            self.reload()?;
            return Ok(self.changes_not_in(&before));
        }
        let mut offset = format::log_header().len() as u64;
        let mut new = Vec::new();
        for rec in &log.records {
            let record_len = rec.encoded_len();
            if offset >= self.log_valid_len {
                let change = guarded(|| automerge::Change::from_bytes(rec.change.clone()))
                    .and_then(|r| r.ok())
                    .ok_or_else(|| {
                        StoreError::corrupt(&log_path, "a record is not a valid change")
                    })?;
                new.push(SignedChange::from_trusted_store(change, rec.voucher()));
            }
            offset += record_len;
        }
        self.log_records = log.records.len();
        self.log_valid_len = log.valid_len;
        self.log_torn_tail = log.torn_tail;
        self.replica
            .apply_trusted(new)
            .map_err(|e| StoreError::corrupt(&log_path, e))?;
        Ok(self.changes_not_in(&before))
    }

    /// Loads the alliance again from its files, keeping the lock: after another process
    /// compacted, or when the replica in memory can no longer be trusted (a batch failed
    /// halfway, [`ReceiveError::Poisoned`](crate::core::ReceiveError::Poisoned)).
    pub fn reload(&mut self) -> Result<(), StoreError> {
        let home = Home {
            root: self
                .dir
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            compact_after: self.compact_after,
        };
        let mut reopened = home.open_unlocked(&self.replica.id())?;
        reopened.lock = self.lock.take();
        reopened.mode = self.mode;
        reopened.track_persisted = self.track_persisted;
        *self = reopened;
        Ok(())
    }

    /// Changes in the replica that are not ancestors of (or equal to) `heads`.
    fn changes_not_in(
        &self,
        heads: &std::collections::HashSet<automerge::ChangeHash>,
    ) -> Vec<SignedChange<Verified>> {
        let heads: Vec<_> = heads.iter().copied().collect();
        if heads
            .iter()
            .any(|h| self.replica.doc().get_change_meta_by_hash(h).is_none())
        {
            return self.replica.changes_since(&[]);
        }
        self.replica.changes_since(&heads)
    }

    /// Whether another process changed this alliance's files since they were last read (a cheap
    /// check: two `stat`s, no lock).
    pub fn changed_on_disk(&self) -> bool {
        let snapshot_len = fs::metadata(self.dir.join(layout::SNAPSHOT))
            .ok()
            .map(|m| m.len());
        let log_len = fs::metadata(self.dir.join(layout::CHANGES_LOG))
            .ok()
            .map(|m| m.len());
        snapshot_len != self.snapshot_len
            || log_len != Some(self.log_valid_len + self.log_torn_tail)
    }

    /// The history index of this alliance (see [`ChangeIndex`]), from the local cache file
    /// brought up to date with the changes made since it was written. The cache is derived
    /// data: a missing, damaged or foreign one is rebuilt, and failing to write it (a read-only
    /// home, a full disk) only costs time on the next command.
    pub fn change_index(&self) -> ChangeIndex {
        self.change_index_saving(true)
    }

    /// [`OpenAlliance::change_index`] without writing the cache back: for an edit, which must
    /// write nothing when it is refused.
    pub fn change_index_unsaved(&self) -> ChangeIndex {
        self.change_index_saving(false)
    }

    /// Every unresolved conflict ([`Replica::conflicts`]). Text conflicts need the history
    /// index; a note kept next to it (written when a check found none) says the history at
    /// these very heads has none, so `show` reads the index only when the history changed
    /// since the last check or there is a conflict to show. Failing to write the note only
    /// costs time.
    pub fn conflicts(&self) -> Vec<crate::core::conflicts::Conflict> {
        self.conflicts_of(None)
    }

    /// [`OpenAlliance::conflicts`] for a caller that holds the history index already.
    pub fn conflicts_with(&self, index: &ChangeIndex) -> Vec<crate::core::conflicts::Conflict> {
        self.conflicts_of(Some(index))
    }

    fn conflicts_of(&self, index: Option<&ChangeIndex>) -> Vec<crate::core::conflicts::Conflict> {
        let path = self.dir.join(layout::NO_TEXT_CONFLICTS);
        let mut heads = self.replica.heads();
        heads.sort();
        let mut note = b"ALLNTC01".to_vec();
        for h in &heads {
            note.extend_from_slice(&h.0);
        }
        if read_optional(&path).ok().flatten().as_deref() == Some(note.as_slice()) {
            return self.replica.field_conflicts(index);
        }
        let loaded;
        let index = match index {
            Some(i) => i,
            None => {
                loaded = self.change_index();
                &loaded
            }
        };
        let all = self.replica.conflicts(Some(index));
        if !all.iter().any(|c| c.is_text())
            && let Err(e) = write_cache(&path, &note)
        {
            tracing::debug!("could not write the text conflicts note: {e}");
        }
        all
    }

    /// Lets the review commands use (and add to) the verdicts this device's earlier checks
    /// left in the cache, under the key derived from `seed` (this device's secret).
    pub fn use_verdicts(&mut self, seed: &[u8; 32]) {
        let key = crate::core::verdicts::key_from_seed(seed);
        let bytes = read_optional(&self.dir.join(layout::VERDICTS_CACHE))
            .ok()
            .flatten()
            .unwrap_or_default();
        self.replica
            .use_verdicts(crate::core::verdicts::Verdicts::from_bytes(key, &bytes));
    }

    /// Saves the verdicts when checks added some. Failing to write only costs time later.
    pub fn save_verdicts(&self) {
        let verdicts = self.replica.verdicts();
        if !verdicts.kept() || verdicts.added() == 0 {
            return;
        }
        if let Err(e) = write_cache(&self.dir.join(layout::VERDICTS_CACHE), &verdicts.to_bytes()) {
            tracing::debug!("could not write the verdicts cache: {e}");
        }
    }

    fn change_index_saving(&self, save: bool) -> ChangeIndex {
        let path = self.dir.join(layout::INDEX_CACHE);
        let cached = read_optional(&path)
            .ok()
            .flatten()
            .and_then(|b| ChangeIndex::from_bytes(&b));
        let fresh = cached.is_none();
        let mut index = cached.unwrap_or_default();
        let added = index.update(&self.replica);
        if save
            && (fresh || added > 0)
            && let Err(e) = write_cache(&path, &index.to_bytes())
        {
            tracing::debug!("could not write the history index cache: {e}");
        }
        index
    }
}
