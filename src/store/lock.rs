//! One writer at a time per alliance, across processes.
//!
//! Every command that changes an alliance holds an exclusive lock on its `lock` file from load
//! to fsync, so two processes on one device never build on a stale copy, never lose each
//! other's edits and never reuse an Automerge (actor, seq) pair. Readers hold a shared lock so a
//! compaction never swaps files under them.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::StoreError;
use crate::store::fsutil::io;

/// How long a command waits for another command on the same alliance before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A held lock; released on drop (and by the OS if the process dies).
#[derive(Debug)]
pub struct AllianceLock {
    _file: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

impl AllianceLock {
    pub fn acquire(path: &Path, mode: LockMode) -> Result<Self, StoreError> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
        {
            Ok(f) => f,
            // A read-only home can still be read: lock the file through a read-only handle.
            Err(_) if mode == LockMode::Shared => File::open(path)
                .or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        // Nothing to lock against in a read-only home without a lock file; use the
                        // directory itself.
                        File::open(path.parent().unwrap_or(Path::new(".")))
                    } else {
                        Err(e)
                    }
                })
                .map_err(io(path))?,
            Err(e) => return Err(io(path)(e)),
        };
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(2);
        loop {
            let attempt = match mode {
                LockMode::Shared => file.try_lock_shared(),
                LockMode::Exclusive => file.try_lock(),
            };
            match attempt {
                Ok(()) => return Ok(AllianceLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy {
                        path: PathBuf::from(path),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(path)(e)),
            }
        }
    }
}
