//! Many simulated devices syncing in memory with the real sync planner ([`PeerSync`]): any
//! order of pairwise syncs converges, and forged changes inside sync messages are refused.

mod common;

use alliance::core::sync::{PeerSync, SyncMessage};
use alliance::core::{DeviceKey, SeededEntropy, Timestamp, Writer};
use common::memory::{family, sync};

#[test]
fn any_order_of_pairwise_syncs_converges() {
    for order in [
        [(0, 1), (1, 2), (0, 2), (0, 1)],
        [(2, 1), (0, 2), (1, 0), (2, 1)],
        [(1, 2), (0, 1), (2, 0), (1, 2)],
    ] {
        let mut devs = family(3);
        let mut rng = SeededEntropy::new(9);
        for (i, d) in devs.iter_mut().enumerate() {
            let w = Writer {
                key: &d.key,
                actor_tag: d.tag,
                now: Timestamp(1_795_514_500),
            };
            d.replica
                .add_need(&w, &mut rng, &format!("need of {i}"))
                .unwrap();
            d.replica
                .set_vision(&w, &format!("vision word{i}"))
                .unwrap();
        }
        for (x, y) in order {
            let (lo, hi) = (x.min(y), x.max(y));
            let (left, right) = devs.split_at_mut(hi);
            sync(&mut left[lo].replica, &mut right[0].replica);
        }
        let v0 = devs[0].replica.view();
        for d in &devs[1..] {
            assert_eq!(d.replica.view(), v0);
            assert_eq!(d.replica.heads(), devs[0].replica.heads());
        }
        assert_eq!(v0.needs.len(), 3);
        for i in 0..3 {
            assert!(v0.vision.contains(&format!("word{i}")), "{}", v0.vision);
        }
    }
}

#[test]
fn a_second_sync_sends_nothing_and_a_reconnect_sends_only_what_is_new() {
    let mut devs = family(2);
    let (a, b) = devs.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    assert_eq!(sync(&mut a.replica, &mut b.replica), (0, 0));
    let mut rng = SeededEntropy::new(3);
    for i in 0..10 {
        a.edit(i, |r, w| r.add_need(w, &mut rng, &format!("n{i}")))
            .unwrap();
    }
    let (sent, back) = sync(&mut a.replica, &mut b.replica);
    assert_eq!((sent, back), (10, 0));
}

#[test]
fn forged_changes_in_a_sync_message_are_refused_and_nothing_is_applied() {
    let mut devs = family(2);
    let stranger = DeviceKey::from_seed([99; 32]);
    let (a, b) = devs.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    // B makes a real change; the message carrying it is then tampered with in transit.
    let mut rng = SeededEntropy::new(5);
    b.edit(1, |r, w| r.add_need(w, &mut rng, "honest need"))
        .unwrap();
    let mut sb = PeerSync::new();
    let mut sa = PeerSync::new();
    let hello = sa.generate(&a.replica).unwrap();
    sb.receive(&mut b.replica, hello).unwrap();
    let good: SyncMessage = sb.generate(&b.replica).unwrap();
    assert_eq!(good.signatures.len(), 1);
    let heads = a.replica.heads();

    // 1. A signature made by a stranger's key.
    let mut forged = good.clone();
    let change_hash = {
        let m = automerge::sync::Message::decode(&good.message).unwrap();
        let c = automerge::Change::from_bytes(m.changes.iter().next().unwrap().to_vec()).unwrap();
        c.hash()
    };
    forged.signatures[0] = stranger.sign_change(&change_hash).to_bytes().to_vec();
    assert!(sa.receive(&mut a.replica, forged).is_err());
    // 2. A signature moved from another change.
    let mut moved = good.clone();
    moved.signatures[0] = a
        .key
        .sign_change(&alliance::core::AllianceId(change_hash).0)
        .to_bytes()
        .to_vec();
    assert!(PeerSync::new().receive(&mut a.replica, moved).is_err());
    // 3. A missing signature.
    let mut missing = good.clone();
    missing.signatures.clear();
    assert!(PeerSync::new().receive(&mut a.replica, missing).is_err());
    // 4. Garbage.
    let garbage = SyncMessage {
        message: vec![0x42, 1, 2, 3],
        signatures: vec![],
    };
    assert!(PeerSync::new().receive(&mut a.replica, garbage).is_err());
    assert_eq!(
        a.replica.heads(),
        heads,
        "nothing of a refused message is applied"
    );
    // The honest message still goes through.
    let applied = PeerSync::new().receive(&mut a.replica, good).unwrap();
    assert_eq!(applied.new.len(), 1);
}
