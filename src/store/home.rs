//! The alliance home directory: this device's identity, the alliances it holds, and creating
//! and opening one (every file checked as it is loaded: damage is reported, naming the file,
//! before anything is written).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::alliance::{LocalState, OpenAlliance, dir_identity, quarantine_len};
use super::format::{self, FormatError};
use super::fsutil::{io, read_optional, sync_dir, write_atomic, write_new};
use super::local::{load_json, save_json};
use super::{AllianceLock, COMPACT_AFTER, LockMode, StoreError, layout};
use crate::constants::ACTOR_TAG_LEN;
use crate::core::equivocation::Quarantine;
use crate::core::guard::guarded;
use crate::core::{AllianceId, DeviceKey, Replica, SignedChange, Verified};

const KEY_FILE_HEADER: &str = "alliance device key v1";

/// This device's identity: its key and the person's name.
pub struct Identity {
    pub key: DeviceKey,
    pub name: String,
}

#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
}

/// Outcome of `init`.
pub enum InitOutcome {
    Created(Identity),
    AlreadySetUp(Identity),
}

/// The alliance home directory.
#[derive(Debug, Clone)]
pub struct Home {
    pub(super) root: PathBuf,
    pub(super) compact_after: usize,
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

    pub(super) fn alliances_dir(&self) -> PathBuf {
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
    pub(super) fn open_unlocked(&self, id: &AllianceId) -> Result<OpenAlliance, StoreError> {
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
        if let Ok(Some(tips)) = read_optional(&dir.join(layout::TIPS_CACHE)) {
            replica.resume_tips(&tips);
        }
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
                .is_some_and(|b| b.starts_with(crate::constants::SNAPSHOT_MAGIC_V1));
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
