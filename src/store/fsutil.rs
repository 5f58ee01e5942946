//! Small durable-file helpers: atomic replace, fsync of directories, error context.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Attaches the path to an I/O error.
pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Flushes a directory entry (a create, rename or delete inside `dir`) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// A temporary sibling of `path`, unique to this process.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        "{}{}",
        super::layout::TEMP_MARK,
        std::process::id()
    ));
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: a temporary file is written and fsynced, then renamed
/// over `path`, then the directory is fsynced. A crash leaves either the old or the new file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = create_with_mode(&tmp, mode, false)?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Replaces `path` with `bytes` through a temporary file and a rename, without fsync: for
/// caches, which are checksummed and rebuilt when a crash leaves them damaged.
pub(crate) fn write_cache(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = create_with_mode(&tmp, 0o644, false)?;
        f.write_all(bytes).map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` only if `path` does not exist yet, atomically (temporary file, then
/// a hard link, which fails if the name is taken). Returns `false` if `path` already existed.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<bool, StoreError> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = create_with_mode(&tmp, mode, false)?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io(path)(e)),
        }
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        Ok(true)
    })();
    let _ = fs::remove_file(&tmp);
    result
}

pub(crate) fn create_with_mode(path: &Path, mode: u32, append: bool) -> Result<File, StoreError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true);
    if append {
        opts.append(true);
    } else {
        opts.truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).map_err(io(path))
}

/// Reads a file, `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}
