//! The store through the library: compaction, and a crash at every byte of an append.

use alliance::core::{DeviceKey, Replica, SeededEntropy, Timestamp, Writer};
use alliance::store::{Home, LockMode, layout};

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
    let adir = dir.path().join(layout::ALLIANCES_DIR).join(id.to_string());
    assert!(adir.join(layout::SNAPSHOT).exists());
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
    let adir = dir.path().join(layout::ALLIANCES_DIR).join(id.to_string());
    let log = std::fs::read(adir.join(layout::CHANGES_LOG)).unwrap();
    home.open(&id, LockMode::Exclusive)
        .unwrap()
        .compact()
        .unwrap();
    // As if the process died after writing the snapshot, before emptying the log.
    std::fs::write(adir.join(layout::CHANGES_LOG), &log).unwrap();
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
    let adir = dir.path().join(layout::ALLIANCES_DIR).join(id.to_string());
    let before = std::fs::read(adir.join(layout::CHANGES_LOG)).unwrap();
    add_needs(&home, &id, &key, 1);
    let after = std::fs::read(adir.join(layout::CHANGES_LOG)).unwrap();
    for cut in before.len()..=after.len() {
        std::fs::write(adir.join(layout::CHANGES_LOG), &after[..cut]).unwrap();
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
    let adir = dir.path().join(layout::ALLIANCES_DIR).join(id.to_string());
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
    let unverified = |c: &alliance::core::SignedChange<alliance::core::Verified>| c.to_unverified();
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

#[test]
fn every_device_local_file_round_trips_under_its_name() {
    use alliance::core::invite::{Invite, Invites};
    use alliance::core::peers::PeerBook;
    use alliance::store::{Seen, StoreError};

    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let (id, _) = founded(&home);
    let adir = dir.path().join(layout::ALLIANCES_DIR).join(id.to_string());
    let now = Timestamp(1_800_000_100);
    let peer = "ab".repeat(32);

    let open = home.open(&id, LockMode::Exclusive).unwrap();
    // Nothing written yet: every file reads as empty.
    assert_eq!(open.peer_book().unwrap(), PeerBook::default());
    assert_eq!(open.invites().unwrap(), Invites::default());
    assert_eq!(open.seen().unwrap().heads(), None);
    assert_eq!(open.sync_state(&peer).unwrap(), None);

    let mut book = PeerBook::default();
    book.seen(&peer, &["192.168.1.20:51820".into()], None, now);
    let returned = open
        .update_peer_book(|b| {
            b.seen(&peer, &["192.168.1.20:51820".into()], None, now);
            b.peers.len()
        })
        .unwrap();
    assert_eq!(returned, 1, "the closure's result comes back");
    let invite = Invite::new(&[3; 32], "teen", now, 3600);
    open.update_invites(|i| {
        i.invites.push(invite.clone());
        Ok::<_, StoreError>(())
    })
    .unwrap();
    let refused = open.update_invites(|i| {
        i.invites.clear();
        Err::<(), _>(StoreError::NotFound("refused".into()))
    });
    assert!(refused.is_err());
    let heads = open.replica().heads();
    open.save_seen(&Seen::new(&heads, now)).unwrap();
    open.save_sync_state(&peer, b"sync state").unwrap();
    drop(open);

    // Read back by another opening, from the files.
    let open = home.open(&id, LockMode::Shared).unwrap();
    assert_eq!(open.peer_book().unwrap(), book);
    assert_eq!(
        open.invites().unwrap().invites,
        vec![invite],
        "a refused update wrote nothing"
    );
    assert_eq!(open.seen().unwrap().heads(), Some(heads.clone()));
    assert_eq!(
        open.sync_state(&peer).unwrap().as_deref(),
        Some(&b"sync state"[..])
    );
    for name in [layout::PEER_BOOK, layout::INVITES, layout::SEEN] {
        assert!(adir.join(name).is_file(), "{name} is where it always was");
    }
    assert!(adir.join(layout::SYNC_DIR).join(&peer).is_file());
    // The seen marker's format is the documented one (docs/protocol.md).
    let seen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adir.join(layout::SEEN)).unwrap()).unwrap();
    assert_eq!(seen["at"], now.0);
    assert_eq!(seen["heads"][0], heads[0].to_string());
    // No temporary file stays behind.
    let names: Vec<String> = std::fs::read_dir(&adir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(layout::TEMP_MARK)),
        "{names:?}"
    );
}

#[test]
fn the_serve_announcement_is_replaced_by_a_rename_never_rewritten_in_place() {
    use alliance::store::ServeInfo;
    use std::io::Read;

    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let path = dir.path().join(layout::SERVE_ANNOUNCEMENT);
    assert_eq!(home.serve_announcement(), None);
    let first = ServeInfo {
        device: "ab".repeat(32),
        addrs: vec!["192.168.1.20:51820".into()],
        pid: 41,
    };
    home.announce_serve(&first).unwrap();
    assert_eq!(home.serve_announcement(), Some(first.clone()));

    // A reader that opened the announcement keeps reading the whole old one: the new one is a
    // new file renamed over it, not the old file truncated and rewritten.
    let mut held = std::fs::File::open(&path).unwrap();
    let second = ServeInfo {
        addrs: vec!["192.168.1.20:51821".into()],
        pid: 42,
        ..first.clone()
    };
    home.announce_serve(&second).unwrap();
    let mut old = String::new();
    held.read_to_string(&mut old).unwrap();
    assert_eq!(serde_json::from_str::<ServeInfo>(&old).unwrap(), first);
    assert_eq!(home.serve_announcement(), Some(second.clone()));

    // The new one is written to the store's temporary sibling first: when that cannot be
    // made, the announcement fails and the old one stays whole.
    let temp = dir.path().join(format!(
        "{}{}{}",
        layout::SERVE_ANNOUNCEMENT,
        layout::TEMP_MARK,
        std::process::id()
    ));
    std::fs::create_dir(&temp).unwrap();
    let third = ServeInfo {
        pid: 43,
        ..first.clone()
    };
    assert!(home.announce_serve(&third).is_err());
    assert_eq!(home.serve_announcement(), Some(second));
    std::fs::remove_dir(&temp).unwrap();
    home.announce_serve(&third).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [layout::SERVE_ANNOUNCEMENT],
        "no temporary file stays"
    );

    // A damaged announcement is no announcement (it is only a hint); stopping removes it.
    std::fs::write(&path, b"{\"device\": ").unwrap();
    assert_eq!(home.serve_announcement(), None);
    home.clear_serve_announcement().unwrap();
    assert!(!path.exists());
    home.clear_serve_announcement().unwrap();
}

#[test]
fn a_change_from_a_long_silent_actor_leaves_the_tips_beside_the_store_and_a_damaged_copy_is_harmless()
 {
    use alliance::store::shared::SharedAlliance;
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let key = DeviceKey::from_seed([4; 32]);
    let at = |tag: u8, t: i64| Writer {
        key: &key,
        actor_tag: [tag; 8],
        now: Timestamp(1_800_000_000 + t),
    };
    let mut e = SeededEntropy::new(1);
    let (mut r, _, _) = Replica::create(&at(9, 0), &mut e, "Team", "Kim", "coach").unwrap();
    // Actor 9 founded and then fell silent for longer than a walk back from the heads looks.
    for i in 0..300 {
        r.splice_vision(&at(8, 1 + i), 0, 0, "w ").unwrap();
    }
    home.create_alliance_from(&r, Some([8; 8])).unwrap();
    let tips = dir
        .path()
        .join(layout::ALLIANCES_DIR)
        .join(r.id().to_string())
        .join(layout::TIPS_CACHE);
    assert!(!tips.exists());
    let mut later = r.clone();
    let mut send = |from: &mut Replica, n: i64| {
        let c = from
            .add_need(&at(9, 1_000 + n), &mut e, &format!("back {n}"))
            .unwrap();
        let open = home.open(&r.id(), LockMode::Shared).unwrap();
        let shared = SharedAlliance::new(open);
        let took = shared
            .receive_pushed(vec![c.change.unwrap().to_unverified()], &key.device_id())
            .unwrap();
        assert!(took, "the change is taken");
    };
    send(&mut later, 0);
    assert!(tips.exists(), "the pass over the history was kept");
    // A damaged copy is read as no copy: the next change is taken all the same.
    let mut bytes = std::fs::read(&tips).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&tips, &bytes).unwrap();
    send(&mut later, 1);
    let open = home.open(&r.id(), LockMode::Shared).unwrap();
    assert_eq!(open.replica().heads(), later.heads());
}
