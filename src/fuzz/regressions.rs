//! The fuzz targets (`crate::fuzz`, run by cargo-fuzz from `fuzz/`) on stable, as normal
//! tests: every crasher the fuzzers found (`tests/fixtures/fuzz/<target>/`) and every seed
//! (`fuzz/seeds/<target>/`) is replayed and must not panic; the seeds must still be accepted
//! (so the fuzzers start from inputs that reach the deep paths); and the inputs of
//! `tests/fixtures/automerge_panics/` must still make Automerge itself panic while alliance
//! refuses them without one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::core::{ReceiveError, Replica, SignedChange};
use crate::fuzz::{TARGETS, fixture};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    files.sort();
    files
}

fn target(name: &str) -> fn(&[u8]) -> bool {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1
}

/// Runs `target` on every file of `dir`; returns the files on which a panic escaped.
fn replay(name: &str, dir: &Path) -> (usize, Vec<String>) {
    let f = target(name);
    let files = files_in(dir);
    let failed = files
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            catch_unwind(AssertUnwindSafe(|| f(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    (files.len(), failed)
}

#[test]
fn every_fuzz_crasher_and_seed_replays_without_a_panic() {
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (name, _) in TARGETS {
        for dir in [
            root().join("tests/fixtures/fuzz").join(name),
            root().join("fuzz/seeds").join(name),
        ] {
            let (n, f) = replay(name, &dir);
            replayed += n;
            failed.extend(f);
        }
    }
    assert!(replayed > 0, "no fuzz inputs found to replay");
    assert!(
        failed.is_empty(),
        "a panic escaped alliance on these inputs (replay one with \
         `cargo test --lib fuzz::regressions -- --nocapture`): {failed:#?}"
    );
}

#[test]
fn the_seeds_reach_the_deep_paths_and_are_committed() {
    for (name, seed, bytes) in crate::fuzz::seeds() {
        assert!(
            target(name)(&bytes),
            "seed {name}/{seed} is no longer accepted"
        );
        let committed = root().join("fuzz/seeds").join(name).join(seed.clone());
        assert!(
            committed.is_file(),
            "seed {name}/{seed} is not in fuzz/seeds (regenerate: cargo test --lib \
             fuzz::regressions -- --ignored write_seeds)"
        );
    }
}

/// Rewrites `fuzz/seeds/` from `crate::fuzz::seeds()`.
#[test]
#[ignore]
fn write_seeds() {
    for (name, seed, bytes) in crate::fuzz::seeds() {
        let dir = root().join("fuzz/seeds").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(seed), bytes).unwrap();
    }
}

fn fixture_file(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/automerge_panics").join(name))
        .unwrap_or_else(|e| panic!("tests/fixtures/automerge_panics/{name}: {e}"))
}

/// A change signed by a member of `crate::fuzz::fixture()`: `<name>.bin` is the change (a
/// checksummed Automerge change chunk), `<name>.sig` its signature.
fn signed_fixture(name: &str) -> (Vec<u8>, Vec<u8>) {
    (
        fixture_file(&format!("{name}.bin")),
        fixture_file(&format!("{name}.sig")),
    )
}

#[test]
fn a_member_signed_change_that_panics_in_automerges_apply_is_refused_without_a_panic() {
    let (bytes, sig) = signed_fixture("apply_change_panics");
    let fx = fixture();
    // Automerge itself: the change parses, then applying it panics.
    let change = automerge::Change::from_bytes(bytes.clone())
        .expect("the change parses: its checksum and header are fine");
    let mut doc = fx.base.doc().clone();
    assert!(
        catch_unwind(AssertUnwindSafe(|| doc.apply_changes([change]))).is_err(),
        "Automerge no longer panics applying this change: find a new fixture (see README.md)"
    );
    // alliance: the signed change passes every check before Automerge's apply (checksum,
    // signature, a member author, dependencies present), and is refused without a panic.
    let signed = SignedChange::from_bytes(bytes, &sig).expect("passes the raw checks");
    assert!(signed.clone().verify().is_ok(), "signed by a member device");
    let mut replica: Replica = fx.base.clone();
    let heads = replica.heads();
    match replica.receive(vec![signed]) {
        Err(
            ReceiveError::Automerge(_) | ReceiveError::Poisoned(_) | ReceiveError::Panicked { .. },
        ) => {}
        other => panic!("expected Automerge's refusal, got {other:?}"),
    }
    assert_eq!(replica.heads(), heads, "nothing of the change was kept");
}

#[test]
fn a_checksummed_document_that_panics_in_automerges_load_is_refused_without_a_panic() {
    let bytes = fixture_file("load_document_panics.bin");
    assert!(
        catch_unwind(|| automerge::Automerge::load(&bytes)).is_err(),
        "Automerge no longer panics loading this document: find a new fixture (see README.md)"
    );
    let mut replica = Replica::empty(fixture().base.id());
    assert!(replica.receive_document(&bytes, &[]).is_err());
    assert!(replica.is_empty());
}

/// Rebases `apply_change_panics.bin` on the fixture alliance's current heads (its operations
/// stay as they are) and signs it again with Ada's key: needed when the fixture's history
/// changes bytes (say, a change summary is worded differently) while the change stays malformed
/// the same way. Run: `cargo test --lib fuzz::regressions -- --ignored rebase_apply_fixture`.
/// An unsigned LEB128 number and how many bytes it took.
fn uleb(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len())
}

#[test]
#[ignore]
fn rebase_apply_fixture() {
    let (bytes, _) = signed_fixture("apply_change_panics");
    let (kind, body) = crate::core::raw::chunk_body(&bytes).expect("a chunk");
    // The body starts with the dependencies: their number (LEB128) and 32 bytes each.
    let n = body[0] as usize;
    assert!(n < 0x80, "a one-byte count");
    let mut heads = fixture().base.heads();
    heads.sort();
    let mut rebased = vec![heads.len() as u8];
    for h in &heads {
        rebased.extend_from_slice(&h.0);
    }
    // Then the actor (length and bytes), the sequence number and the first operation's
    // counter: numbered after the fixture's history, so that only Automerge's apply fails.
    let rest = &body[1 + 32 * n..];
    let (actor_len, a) = uleb(rest);
    let actor_end = a + actor_len as usize;
    let (_, s) = uleb(&rest[actor_end..]);
    let (_, o) = uleb(&rest[actor_end + s..]);
    let max_op = fixture()
        .base
        .doc()
        .get_changes_meta(&[])
        .iter()
        .map(|m| m.max_op)
        .max()
        .unwrap_or(0);
    rebased.extend_from_slice(&rest[..actor_end + s]);
    let mut start = max_op + 1;
    loop {
        let byte = (start & 0x7f) as u8;
        start >>= 7;
        if start == 0 {
            rebased.push(byte);
            break;
        }
        rebased.push(byte | 0x80);
    }
    rebased.extend_from_slice(&rest[actor_end + s + o..]);
    let chunk = crate::core::raw::chunk(kind, &rebased);
    let hash = crate::core::raw::chunk_hash(kind, &rebased);
    let sig = fixture().ada.sign_change(&hash).to_bytes().to_vec();
    let dir = root().join("tests/fixtures/automerge_panics");
    std::fs::write(dir.join("apply_change_panics.bin"), chunk).unwrap();
    std::fs::write(dir.join("apply_change_panics.sig"), sig).unwrap();
}
