//! Making changes durable: appended to `changes.log` and fsynced before a command returns;
//! the log folded into a new snapshot when it grows long, safe at every crash point (see the
//! module docs of `store`).

use std::fs;
use std::io::Write;

use super::alliance::{OpenAlliance, quarantine_len};
use super::fsutil::{io, write_atomic};
use super::local::save_json;
use super::{LockMode, StoreError, format, layout};
use crate::core::{SignedChange, Verified};

impl OpenAlliance {
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
}
