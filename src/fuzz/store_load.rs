//! Target `store_load`: an alliance's files as a device finds them on its disk.

use std::cell::RefCell;
use std::collections::HashMap;

use std::sync::OnceLock;

use crate::constants::SIGNATURE_LEN;
use crate::core::index::ChangeIndex;
use crate::core::sync::PeerSync;
use crate::store::{Home, LockMode, format, layout};

use super::fixture;
use crate::core::raw::{CHUNK_MAGIC, DOCUMENT, chunk, chunk_body};

/// The fixed alliance's store files, as a device that holds it would have them.
pub(super) struct StoreFiles {
    pub(super) snapshot: Vec<u8>,
    pub(super) log: Vec<u8>,
    pub(super) index: Vec<u8>,
}

pub(super) fn store_files() -> &'static StoreFiles {
    static FILES: OnceLock<StoreFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        let fx = fixture();
        let snapshot =
            format::encode_snapshot(&fx.base.save(), fx.base.signatures(), fx.base.proofs());
        let mut log = format::log_header();
        for c in [&fx.next, &fx.after_next] {
            log.extend(format::encode_record(c.signature(), c.raw_bytes()));
        }
        let full = fx.with_both();
        let index = ChangeIndex::build(&full).to_bytes();
        StoreFiles {
            snapshot,
            log,
            index,
        }
    })
}

/// Rewrites a change log so that every record's CRC is right and every Automerge chunk in a
/// record has a correct length and checksum: the records are read as `u32 LE length | u32 CRC
/// | payload` as far as they go (a short last record takes what is left).
fn fix_log(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let magic_len = format::log_header().len();
    out.extend_from_slice(&bytes[..bytes.len().min(magic_len)]);
    let mut rest = bytes.get(magic_len..).unwrap_or_default();
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let payload = &rest[8..8 + len.min(rest.len() - 8)];
        rest = &rest[8 + payload.len()..];
        let payload = fix_payload(payload);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out.extend_from_slice(rest);
    out
}

/// A log record's payload (64-byte signature, change chunk) with its chunk's checksum fixed.
fn fix_payload(payload: &[u8]) -> Vec<u8> {
    if payload.len() < SIGNATURE_LEN {
        return payload.to_vec();
    }
    let (sig, change) = payload.split_at(SIGNATURE_LEN);
    let mut out = sig.to_vec();
    match chunk_body(change) {
        Some((t, body)) => out.extend(chunk(t, body)),
        None if change.len() > 9 && change[..4] == CHUNK_MAGIC => {
            // A length that runs past the end: the rest is the body.
            let body = &change[10.min(change.len())..];
            out.extend(chunk(change[8], body));
        }
        None => out.extend_from_slice(change),
    }
    out
}

thread_local! {
    /// A home directory per thread (the regression tests run in parallel), reused by every
    /// input of that thread.
    static HOME: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Target `store_load`: the store's load path. The bytes are decoded as a change log, a
/// snapshot and a bundle, then written as one file of the fixed alliance in a home (the other
/// files as a device that holds the alliance has them) and the alliance is opened: an error is
/// fine, a panic is not. When it opens, what commands do next runs too: read the document,
/// bring the history index cache up to date, verify the history, read the device-local files
/// (nothing is written back: each write is fsynced, which would make the target crawl).
///
/// Input: a mode byte, then the file. Mode (mod 8): 0 `changes.log` as it is; 1 `changes.log`
/// with every record's CRC and every change chunk's checksum fixed; 2 `snapshot` as it is;
/// 3 the body of the snapshot's Automerge document, wrapped in a snapshot with a correct
/// chunk checksum and CRC and the real signatures; 4 `index.cache` as it is; 5 the body of
/// `index.cache`, with the right magic and CRC; 6 `local.json`, `invites.json`, `peers.json`
/// and `seen.json` (all four these bytes); 7 a peer's persisted sync state.
pub fn store_load(data: &[u8]) -> bool {
    let _ = format::decode_log(data);
    let _ = format::decode_snapshot(data);
    let _ = format::decode_bundle(data);
    let Some((&mode, file)) = data.split_first() else {
        return false;
    };
    let fx = fixture();
    let files = store_files();
    let mut snapshot = files.snapshot.clone();
    let mut log = files.log.clone();
    let mut index = files.index.clone();
    let mut local: Option<&[u8]> = None;
    let mut sync_state: Option<&[u8]> = None;
    match mode % 8 {
        0 => log = file.to_vec(),
        1 => log = fix_log(file),
        2 => snapshot = file.to_vec(),
        3 => {
            let doc = chunk(DOCUMENT, file);
            let sigs: HashMap<_, _> = fx.base.signatures().clone();
            snapshot = format::encode_snapshot(&doc, &sigs, &HashMap::new());
        }
        4 => index = file.to_vec(),
        5 => {
            // "ALLIDX02" | u32 LE CRC-32 of the body | body
            index = index[..8].to_vec();
            index.extend_from_slice(&crc32fast::hash(file).to_le_bytes());
            index.extend_from_slice(file);
        }
        6 => local = Some(file),
        _ => sync_state = Some(file),
    }
    HOME.with(|home| {
        let mut home = home.borrow_mut();
        let root = home
            .get_or_insert_with(|| tempfile::tempdir().expect("a temporary directory"))
            .path()
            .to_path_buf();
        let id = fx.base.id();
        let dir = root.join(layout::ALLIANCES_DIR).join(id.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(layout::SYNC_DIR))
            .expect("creating the alliance directory");
        let put = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).expect("writing a store file");
        };
        put(layout::SNAPSHOT, &snapshot);
        put(layout::CHANGES_LOG, &log);
        put(layout::INDEX_CACHE, &index);
        if let Some(local) = local {
            for name in [
                layout::LOCAL_STATE,
                layout::INVITES,
                layout::PEER_BOOK,
                layout::SEEN,
            ] {
                put(name, local);
            }
        }
        let peer = fx.ben.device_id().to_hex();
        if let Some(state) = sync_state {
            std::fs::write(dir.join(layout::SYNC_DIR).join(&peer), state)
                .expect("writing a store file");
        }
        let Ok(open) = Home::new(&root).open(&id, LockMode::Shared) else {
            return false;
        };
        // Lighter than `use_replica`: the store's own data is what is fuzzed here, and every
        // signature check costs a lot under the fuzzer's instrumentation.
        let _ = open.replica().view();
        let _ = open.replica().log();
        // What `OpenAlliance::change_index` does, without writing the cache back (an fsync
        // per input would make this target a hundred times slower).
        let mut index = ChangeIndex::from_bytes(&index).unwrap_or_default();
        index.update(open.replica());
        let _ = open.replica().blame_vision(&index);
        let _ = open.replica().diff(&index, &[]);
        let _ = open.local_state();
        let _ = open.invites();
        let _ = open.peer_book();
        let _ = open.seen();
        if let Ok(Some(state)) = open.sync_state(&peer) {
            let mut sync = PeerSync::decode(&state);
            let _ = sync.generate(open.replica());
        }
        true
    })
}
