//! One alliance opened from the store: its replica, its lock, what other processes wrote
//! meanwhile (picked up by [`OpenAlliance::refresh`]), this device's actor tag for it, and the
//! caches derived from its history (the index, the no-text-conflicts note, the verdicts).
//! Writing changes durably is in `persist.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fsutil::{io, read_optional, write_cache};
use super::local::{load_json, save_json};
use super::{AllianceLock, Home, LockMode, StoreError, format, layout};
use crate::constants::ACTOR_TAG_LEN;
use crate::core::guard::guarded;
use crate::core::index::ChangeIndex;
use crate::core::{Entropy, Replica, SignedChange, Verified};

/// This device's own state for one alliance ([`layout::LOCAL_STATE`]).
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct LocalState {
    /// Hex of this device's actor tag for this alliance.
    pub(super) actor_tag: Option<String>,
    /// Which directory the tag was made in ([`dir_identity`]). A copy of the alliance's files
    /// (a restored backup, a cloned device) lives in another directory, so it starts a fresh
    /// actor instead of reusing the sequence numbers the original goes on using.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) actor_dir: Option<String>,
}

/// The identity of a directory on this machine: its inode number and creation time. Copying
/// or restoring files makes a new directory, with a new identity; renaming keeps it.
pub(super) fn dir_identity(dir: &Path) -> Option<String> {
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

pub(super) fn quarantine_len(replica: &Replica) -> u64 {
    replica.quarantine().generation()
}

/// An alliance opened from the store, with its lock held.
#[derive(Debug)]
pub struct OpenAlliance {
    pub(super) dir: PathBuf,
    pub(super) compact_after: usize,
    pub(super) lock: Option<AllianceLock>,
    pub(super) mode: LockMode,
    /// Length of the snapshot file when it was loaded (another process may compact).
    pub(super) snapshot_len: Option<u64>,
    pub(super) replica: Replica,
    pub(super) log_records: usize,
    pub(super) log_valid_len: u64,
    pub(super) log_torn_tail: u64,
    /// Changes made durable by [`OpenAlliance::persist`] since the last
    /// [`OpenAlliance::take_persisted`], for a running device to pass on to its peers (kept
    /// only after [`OpenAlliance::track_persisted`]).
    pub(super) persisted: Vec<SignedChange<Verified>>,
    pub(super) track_persisted: bool,
    /// The replica's quarantine generation as last written.
    pub(super) quarantine_saved: u64,
    /// Whether the files are in the old format (version 1, a signature on every change): they
    /// are rewritten before anything is appended.
    pub(super) old_format: bool,
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

    /// Writes each actor's newest change beside the store when this process found them with a
    /// pass over the history (see [`Replica::tips_to_keep`]). Failing to write only costs time
    /// later.
    pub fn keep_tips(&mut self) {
        if let Some(bytes) = self.replica.tips_to_keep()
            && let Err(e) = write_cache(&self.dir.join(layout::TIPS_CACHE), &bytes)
        {
            tracing::debug!("could not write the tips cache: {e}");
        }
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
