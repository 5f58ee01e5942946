//! The core in memory: signed edits, verification and membership, with several simulated
//! devices exchanging changes by hand (no I/O).

use crate::kit::memory::{Dev as Device, founded, wire};
use alliance::core::{AllianceId, NewCheckIn, ReceiveError, Replica, SignedChange, edit::excerpt};

/// Ada (a parent) founds the alliance and adds Ben (a teen) with his device; Ben's device has
/// not synced yet.
fn family() -> (Device, Device) {
    let mut devs = founded("The Okafor family", &["parent", "teen"]);
    let b = devs.pop().unwrap();
    let a = devs.pop().unwrap();
    (a, b)
}

/// `b` joins: it receives everything `from` holds, as a fresh replica.
fn join(b: &mut Device, from: &Replica) {
    b.replica = Replica::empty(from.id());
    b.receive_all(from);
}

#[test]
fn genesis_hash_is_the_alliance_id_and_founder_is_member() {
    let (a, _) = family();
    let view = a.replica.view();
    assert_eq!(view.title, "The Okafor family");
    assert_eq!(view.members.len(), 2);
    assert_eq!(view.members[0].name, "Ada");
    assert!(
        a.replica
            .verify_history()
            .iter()
            .all(|c| c.problem.is_none())
    );
    let id: AllianceId = view.id.parse().unwrap();
    assert_eq!(id, a.replica.id());
}

#[test]
fn local_changes_carry_device_author_and_stable_actor() {
    let (mut a, _) = family();
    let e = a
        .act(5, |r, w, e| {
            r.add_need(w, e, "an hour-long walk every morning")
        })
        .unwrap();
    let change = e.change.unwrap();
    assert_eq!(change.author(), a.key.device_id());
    assert_eq!(
        &change.change().actor_id().to_bytes()[..32],
        a.key.device_id().as_bytes()
    );
    assert_eq!(&change.change().actor_id().to_bytes()[32..], &a.tag);
    assert_eq!(
        change.change().seq(),
        3,
        "genesis, add member, add need: one actor, seq 1..3"
    );
    assert!(e.summary.starts_with("added need n"));
}

#[test]
fn devices_converge_and_vision_merges_character_by_character() {
    let (mut a, mut b) = family();
    a.act(2, |r, w, _e| r.set_vision(w, "We listen first."))
        .unwrap();
    join(&mut b, &a.replica);
    // Concurrent, offline edits of the same vision.
    a.act(3, |r, w, _e| r.set_vision(w, "We listen first, always."))
        .unwrap();
    b.act(3, |r, w, _e| r.set_vision(w, "Together, we listen first."))
        .unwrap();
    b.act(4, |r, w, e| r.add_need(w, e, "time alone after school"))
        .unwrap();

    let to_a = wire(&b.replica);
    let to_b = wire(&a.replica);
    a.replica.receive(to_a).unwrap();
    b.replica.receive(to_b).unwrap();
    let (va, vb) = (a.replica.view(), b.replica.view());
    assert_eq!(va, vb);
    assert_eq!(va.vision, "Together, we listen first, always.");
    assert_eq!(va.needs.len(), 1);
    assert_eq!(va.name_of(&va.needs[0].owner), "Ben");
    assert_eq!(a.replica.heads(), b.replica.heads());
}

#[test]
fn change_by_non_member_is_rejected_and_nothing_applied() {
    let (mut a, _) = family();
    let mut stranger = Device::new(6, Replica::empty(a.replica.id()));
    // The stranger takes a copy of the alliance (say, a leaked bundle) and edits it.
    join(&mut stranger, &a.replica);
    // Their replica refuses local edits: they are not a member...
    assert!(stranger.act(9, |r, w, e| r.add_need(w, e, "x")).is_err());
    // ...so they forge the change directly with automerge and sign it with their own key.
    let forged = {
        let r = &stranger.replica;
        let mut doc = r.doc().clone();
        let mut actor = stranger.key.device_id().as_bytes().to_vec();
        actor.extend_from_slice(&[0; 8]);
        doc.set_actor(automerge::ActorId::from(actor));
        let mut tx = doc.transaction();
        use automerge::transaction::Transactable;
        tx.put(automerge::ROOT, "title", "pwned").unwrap();
        let (h, _) = tx.commit();
        let c = automerge::ReadDoc::get_change_by_hash(&doc, &h.unwrap()).unwrap();
        let sig = stranger.key.sign_change(&c.hash());
        SignedChange::from_bytes(c.raw_bytes().to_vec(), &sig.to_bytes()).unwrap()
    };
    let before = a.replica.heads();
    let err = a.replica.receive(vec![forged]).unwrap_err();
    assert!(matches!(err, ReceiveError::NotAMember { .. }), "{err}");
    assert_eq!(a.replica.heads(), before);
    assert_eq!(a.replica.view().title, "The Okafor family");
}

#[test]
fn tampered_bytes_and_moved_signatures_are_rejected() {
    let (mut a, mut b) = family();
    join(&mut b, &a.replica);
    let need = b
        .act(5, |r, w, e| r.add_need(w, e, "quiet mornings"))
        .unwrap();
    let signed = need.change.unwrap();
    // Signature of one change presented with another change.
    let other = a
        .act(6, |r, w, e| r.add_need(w, e, "coffee first"))
        .unwrap()
        .change
        .unwrap();
    let moved = SignedChange::from_bytes(
        other.raw_bytes().to_vec(),
        &signed.signature().unwrap().to_bytes(),
    )
    .unwrap();
    let mut fresh = b.replica.clone();
    assert!(matches!(
        fresh.receive(vec![moved]),
        Err(ReceiveError::Change(_))
    ));
    // Tampered bytes: flip the last byte (inside the change body; the checksum then fails or the
    // hash changes, and with it the signed message).
    let mut bytes = signed.raw_bytes().to_vec();
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    match SignedChange::from_bytes(bytes, &signed.signature().unwrap().to_bytes()) {
        Err(_) => {}
        Ok(t) => assert!(a.replica.receive(vec![t]).is_err()),
    }
    // Missing dependencies: a change whose parents are not sent is not applied.
    let mut empty = Replica::empty(a.replica.id());
    let only_last = wire(&a.replica).pop().unwrap();
    assert!(empty.receive(vec![only_last]).is_err());
    assert!(empty.is_empty());
}

#[test]
fn expectations_agreements_go_stale_when_text_changes() {
    let (mut a, mut b) = family();
    join(&mut b, &a.replica);
    let id = a
        .act(2, |r, w, e| {
            r.add_expectation(w, e, "no screens after 8pm", None, &[])
        })
        .unwrap()
        .id
        .unwrap();
    a.act(3, |r, w, _e| r.agree(w, &id)).unwrap();
    b.replica.receive(wire(&a.replica)).unwrap();
    b.act(4, |r, w, _e| r.agree(w, &id)).unwrap();
    let ex = b.replica.view().expectation(&id).unwrap().clone();
    assert_eq!(ex.status.as_str(), "agreed");
    b.act(5, |r, w, _e| {
        r.edit_expectation(w, &id, "no screens after 9pm")
    })
    .unwrap();
    let ex = b.replica.view().expectation(&id).unwrap().clone();
    assert_eq!(ex.status.as_str(), "proposed");
    assert!(ex.agreements.iter().all(|a| !a.current));
    b.act(6, |r, w, _e| r.retire(w, &id)).unwrap();
    assert_eq!(
        b.replica.view().expectation(&id).unwrap().status.as_str(),
        "retired"
    );
}

#[test]
fn checkins_validate_rating_and_date() {
    let (mut a, _) = family();
    let bad = NewCheckIn {
        date: "2026-11-24".into(),
        rating: 6,
        reflection: "".into(),
        proposed_changes: vec![],
        next_in_days: 14,
    };
    assert!(
        a.act(2, |r, w, e| r.add_checkin(w, e, bad.clone()))
            .is_err()
    );
    let bad_date = NewCheckIn {
        rating: 4,
        date: "24/11/2026".into(),
        ..bad.clone()
    };
    assert!(a.act(2, |r, w, e| r.add_checkin(w, e, bad_date)).is_err());
    let ok = NewCheckIn { rating: 4, ..bad };
    let id = a
        .act(2, |r, w, e| r.add_checkin(w, e, ok))
        .unwrap()
        .id
        .unwrap();
    let v = a.replica.view();
    assert_eq!(v.checkins[0].id, id);
    assert_eq!(v.checkins[0].reflections[0].rating, 4);
    assert_eq!(v.checkins[0].next_in_days, 14);
}

#[test]
fn excerpt_is_one_short_line() {
    assert_eq!(excerpt("short"), "short");
    assert_eq!(excerpt("two\nlines"), "two…");
    assert_eq!(excerpt(&"x".repeat(80)).chars().count(), 61);
}

#[test]
fn the_vision_takes_keystroke_sized_splices_and_refuses_positions_past_its_end() {
    let (mut a, _) = family();
    a.act(2, |r, w, _| r.splice_vision(w, 0, 0, "We listen."))
        .unwrap();
    a.act(3, |r, w, _| r.splice_vision(w, 3, 6, "talk"))
        .unwrap();
    assert_eq!(a.replica.view().vision, "We talk.");
    let before = a.replica.heads();
    assert!(a.act(4, |r, w, _| r.splice_vision(w, 9, 0, "x")).is_err());
    assert!(a.act(4, |r, w, _| r.splice_vision(w, 5, 4, "")).is_err());
    assert_eq!(
        a.replica.heads(),
        before,
        "a refused splice commits nothing"
    );
}
