//! The fuzz targets (`alliance::fuzz`, run by cargo-fuzz from `fuzz/`) on stable, as normal
//! tests: every crasher the fuzzers found (`tests/fixtures/fuzz/<target>/`) and every seed
//! (`fuzz/seeds/<target>/`) is replayed and must not panic; the seeds must still be accepted
//! (so the fuzzers start from inputs that reach the deep paths); and the inputs of
//! `tests/fixtures/automerge_panics/` must still make Automerge itself panic while alliance
//! refuses them without one.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use alliance::core::{ReceiveError, Replica, SignedChange};
use alliance::fuzz::{TARGETS, fixture};

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
         `cargo test --test fuzz_regressions -- --nocapture`): {failed:#?}"
    );
}

#[test]
fn the_seeds_reach_the_deep_paths_and_are_committed() {
    for (name, seed, bytes) in alliance::fuzz::seeds() {
        assert!(
            target(name)(&bytes),
            "seed {name}/{seed} is no longer accepted"
        );
        let committed = root().join("fuzz/seeds").join(name).join(seed.clone());
        assert!(
            committed.is_file(),
            "seed {name}/{seed} is not in fuzz/seeds (regenerate: cargo test --test \
             fuzz_regressions -- --ignored write_seeds)"
        );
    }
}

/// Rewrites `fuzz/seeds/` from `alliance::fuzz::seeds()`.
#[test]
#[ignore]
fn write_seeds() {
    for (name, seed, bytes) in alliance::fuzz::seeds() {
        let dir = root().join("fuzz/seeds").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(seed), bytes).unwrap();
    }
}

fn fixture_file(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/automerge_panics").join(name))
        .unwrap_or_else(|e| panic!("tests/fixtures/automerge_panics/{name}: {e}"))
}

/// A change signed by a member of `alliance::fuzz::fixture()`: `<name>.bin` is the change (a
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
