//! The store through the library: compaction, and a crash at every byte of an append.

use alliance::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
use alliance::store::{Home, LockMode};

fn founded(home: &Home) -> (alliance::core::AllianceId, DeviceKey) {
    let key = DeviceKey::from_seed([4; 32]);
    let w = Writer {
        key: &key,
        actor_tag: [9; 8],
        now: Timestamp(1_800_000_000),
    };
    let (replica, _, genesis) =
        Replica::create(&w, &mut SeededEntropy::new(1), "Team", "Kim", "coach").unwrap();
    home.create_alliance(&replica.id(), &[genesis], Some([9; 8]))
        .unwrap();
    (replica.id(), key)
}

fn add_needs(home: &Home, id: &alliance::core::AllianceId, key: &DeviceKey, n: usize) {
    let mut e = SeededEntropy::new(2);
    for i in 0..n {
        let mut open = home.open(id, LockMode::Exclusive).unwrap();
        let tag = open.actor_tag(&mut e).unwrap();
        let w = Writer {
            key,
            actor_tag: tag,
            now: Timestamp(1_800_000_000 + i as i64),
        };
        let edited = open
            .replica_mut()
            .add_need(&w, &mut e, &format!("need {i}"))
            .unwrap();
        open.persist(&[edited.change.unwrap()]).unwrap();
    }
}

#[test]
fn compaction_folds_the_log_into_a_snapshot_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path()).with_compact_after(5);
    let (id, key) = founded(&home);
    add_needs(&home, &id, &key, 12);
    let adir = dir.path().join("alliances").join(id.to_string());
    assert!(adir.join("snapshot").exists());
    let open = home.open(&id, LockMode::Shared).unwrap();
    assert_eq!(open.replica().view().needs.len(), 12);
    assert_eq!(open.replica().len(), 13);
    assert!(
        open.replica()
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
}

#[test]
fn crash_between_snapshot_and_log_reset_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, key) = founded(&home);
    add_needs(&home, &id, &key, 4);
    let adir = dir.path().join("alliances").join(id.to_string());
    let log = std::fs::read(adir.join("changes.log")).unwrap();
    home.open(&id, LockMode::Exclusive)
        .unwrap()
        .compact()
        .unwrap();
    // As if the process died after writing the snapshot, before emptying the log.
    std::fs::write(adir.join("changes.log"), &log).unwrap();
    let open = home.open(&id, LockMode::Shared).unwrap();
    assert_eq!(open.replica().view().needs.len(), 4);
    assert_eq!(open.replica().len(), 5);
}

#[test]
fn a_crash_at_any_byte_of_an_append_leaves_a_loadable_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, key) = founded(&home);
    add_needs(&home, &id, &key, 2);
    let adir = dir.path().join("alliances").join(id.to_string());
    let before = std::fs::read(adir.join("changes.log")).unwrap();
    add_needs(&home, &id, &key, 1);
    let after = std::fs::read(adir.join("changes.log")).unwrap();
    for cut in before.len()..=after.len() {
        std::fs::write(adir.join("changes.log"), &after[..cut]).unwrap();
        let open = home.open(&id, LockMode::Shared).unwrap();
        let needs = open.replica().view().needs.len();
        let expected = if cut == after.len() { 3 } else { 2 };
        assert_eq!(needs, expected, "cut at byte {cut}");
    }
}

#[test]
fn a_long_running_process_sees_what_other_commands_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path()).with_compact_after(4);
    let (id, key) = founded(&home);
    let mut server = home.open(&id, LockMode::Shared).unwrap();
    server.unlock();
    add_needs(&home, &id, &key, 2);
    let new = server.relock(LockMode::Shared).unwrap();
    assert_eq!(new.len(), 2);
    assert_eq!(server.replica().view().needs.len(), 2);
    server.unlock();
    // Another process compacts meanwhile (4 records): the server reloads the snapshot.
    add_needs(&home, &id, &key, 3);
    let new = server.relock(LockMode::Exclusive).unwrap();
    assert_eq!(new.len(), 3);
    assert_eq!(server.replica().view().needs.len(), 5);
    assert!(server.relock(LockMode::Exclusive).unwrap().is_empty());
}

#[test]
fn an_alliance_stored_from_a_replica_opens_with_every_change_and_signature() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, key) = founded(&home);
    add_needs(&home, &id, &key, 5);
    let replica = home.open(&id, LockMode::Shared).unwrap().replica().clone();
    // A second device that received the whole history stores it as a snapshot.
    let other = tempfile::tempdir().unwrap();
    let home2 = Home::new(other.path());
    home2.create_alliance_from(&replica, None).unwrap();
    let opened = home2.open(&id, LockMode::Shared).unwrap();
    assert_eq!(opened.replica().heads(), replica.heads());
    assert_eq!(opened.replica().view().needs.len(), 5);
    assert!(
        opened
            .replica()
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
    assert!(
        home2.create_alliance_from(&replica, None).is_err(),
        "never overwrites"
    );
}

/// Copies a directory tree (as restoring a backup or cloning a device does).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_restored_or_copied_alliance_starts_a_fresh_actor_and_a_renamed_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, key) = founded(&home);
    add_needs(&home, &id, &key, 2);
    let tag = |home: &Home| {
        home.open(&id, LockMode::Exclusive)
            .unwrap()
            .actor_tag(&mut SeededEntropy::new(77))
            .unwrap()
    };
    let original = tag(&home);
    assert_eq!(tag(&home), original, "one device keeps one actor");
    // A backup taken now, more edits, then the backup restored over the alliance.
    let adir = dir.path().join("alliances").join(id.to_string());
    let backup = tempfile::tempdir().unwrap();
    copy_tree(&adir, backup.path());
    add_needs(&home, &id, &key, 1);
    std::fs::remove_dir_all(&adir).unwrap();
    copy_tree(backup.path(), &adir);
    let restored = tag(&home);
    assert_ne!(
        restored, original,
        "the restored copy must not reuse the actor"
    );
    assert_eq!(tag(&home), restored, "and keeps its new one");
    // A moved directory (renamed, not copied) is the same device.
    let aside = dir.path().join("aside");
    std::fs::rename(&adir, &aside).unwrap();
    std::fs::rename(&aside, &adir).unwrap();
    assert_eq!(tag(&home), restored);
    // The restored device's next edit does not collide with what the original made.
    add_needs(&home, &id, &key, 1);
    let open = home.open(&id, LockMode::Shared).unwrap();
    assert!(open.replica().quarantine().proofs.is_empty());
}

#[test]
fn equivocation_proofs_survive_a_restart_and_left_out_changes_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, key) = founded(&home);
    let base = home.open(&id, LockMode::Shared).unwrap().replica().clone();
    let w = |t: i64| Writer {
        key: &key,
        actor_tag: [9; 8],
        now: Timestamp(1_800_000_000 + t),
    };
    let mut e = SeededEntropy::new(3);
    let kept = base
        .clone()
        .add_need(&w(1), &mut e, "kept")
        .unwrap()
        .change
        .unwrap();
    let other = base
        .clone()
        .add_need(&w(2), &mut e, "other")
        .unwrap()
        .change
        .unwrap();
    let unverified = |c: &alliance::core::SignedChange<alliance::core::Verified>| {
        alliance::core::SignedChange::from_bytes(c.raw_bytes().to_vec(), &c.signature().to_bytes())
            .unwrap()
    };
    {
        let mut open = home.open(&id, LockMode::Exclusive).unwrap();
        let got = open.replica_mut().receive(vec![unverified(&kept)]).unwrap();
        open.persist(&got.new).unwrap();
        let got = open
            .replica_mut()
            .receive(vec![unverified(&other)])
            .unwrap();
        assert_eq!((got.equivocations, got.dropped), (1, 1));
        open.persist(&got.new).unwrap();
    }
    let mut open = home.open(&id, LockMode::Exclusive).unwrap();
    let q = open.replica().quarantine().clone();
    assert_eq!(q.proofs.len(), 1);
    assert!(q.proofs[0].verify());
    assert_eq!(q.excluded, vec![other.hash().to_string()]);
    let again = open
        .replica_mut()
        .receive(vec![unverified(&other)])
        .unwrap();
    assert_eq!((again.dropped, again.new.len()), (1, 0));
    let view = open.replica().view();
    assert!(view.needs.iter().any(|n| n.text == "kept"));
    assert!(!view.needs.iter().any(|n| n.text == "other"));
    // The proof names this device's own actor: its next edit uses a fresh one.
    let tag = open.actor_tag(&mut SeededEntropy::new(8)).unwrap();
    assert_ne!(tag, [9; 8], "a proven actor is never used again");
    assert_eq!(open.actor_tag(&mut SeededEntropy::new(9)).unwrap(), tag);
}
