//! Many simulated devices syncing in memory with the real sync planner ([`PeerSync`]): any
//! order of pairwise syncs converges, and forged changes inside sync messages are refused.

use crate::kit::memory::{family, sync};
use alliance::core::sync::{PeerSync, SyncMessage};
use alliance::core::{DeviceKey, SeededEntropy, Timestamp, Writer};

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
    forged.signatures[0].signature = stranger.sign_change(&change_hash).to_bytes().to_vec();
    assert!(sa.receive(&mut a.replica, forged).is_err());
    // 2. A signature moved from another change.
    let mut moved = good.clone();
    moved.signatures[0].signature = a
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
        changes: 0,
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

// ---------------------------------------------------------------------------------------------
// Live sessions, on the simulated network with a virtual clock: the protocol's own state
// machine (`alliance::proto::session`), every frame through the wire encoding.

use alliance::core::{Replica, SignedChange, Verified};
use alliance::proto::session::{
    Action, Event, LINGER_REJECTED, Mode, SETTLE_AFTER, Session, SessionError, Side,
};
use alliance::proto::sim::{Network, Outcome, SimDevice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `n` devices of one family on a simulated network, already in sync.
fn network(n: usize) -> Network {
    Network::new(
        family(n)
            .into_iter()
            .map(|d| SimDevice::new(d.key.device_id(), d.replica))
            .collect(),
    )
}

static SEED: AtomicU64 = AtomicU64::new(40);

/// SimDevice `d` adds a need (as person P`d`), signed with its key; returns the change.
fn add_need(net: &mut Network, d: usize, text: &str) -> SignedChange<Verified> {
    let key = crate::kit::memory::device_key(d);
    let w = Writer {
        key: &key,
        actor_tag: [d as u8 + 1; 8],
        now: Timestamp(crate::kit::memory::T0 + 10),
    };
    net.devices[d]
        .replica
        .add_need(
            &w,
            &mut SeededEntropy::new(SEED.fetch_add(1, Ordering::Relaxed)),
            text,
        )
        .unwrap()
        .change
        .unwrap()
}

fn needs(r: &Replica) -> Vec<String> {
    let mut texts: Vec<String> = r.view().needs.into_iter().map(|n| n.text).collect();
    texts.sort();
    texts
}

#[test]
fn a_live_edit_is_pushed_at_once_and_a_sync_round_follows_only_once_pushes_settle() {
    let mut net = network(2);
    let link = net.connect(1, 0, Mode::Live, None);
    net.settle();
    let (frames_before, _) = net.traffic(link);
    let change = add_need(&mut net, 0, "quiet mornings");
    net.commit(0, vec![change]);
    net.run_until_quiet();
    // One frame carried the edit: the push, with no sync round yet.
    assert_eq!(net.traffic(link).0, frames_before + 1);
    assert_eq!(needs(&net.devices[1].replica), ["quiet mornings"]);
    assert!(net.timer_pending(link), "the settle timer runs");
    // Just before the settle time nothing more happens...
    net.advance(SETTLE_AFTER - Duration::from_millis(1));
    assert_eq!(net.traffic(link).0, frames_before + 1);
    // ...then one sync round brings both sync states up to date, and the link is quiet.
    net.advance(Duration::from_millis(1));
    assert!(net.traffic(link).0 > frames_before + 1);
    net.settle();
    assert!(!net.timer_pending(link));
    assert_eq!(net.outcome(link), Outcome::Open);
    // SimDevice 1 dialed: end 0 of the link received the push that end 1 sent.
    assert_eq!(net.reports(link)[0].received, 1);
    assert_eq!(net.reports(link)[1].sent, 1);
    assert_eq!(
        net.devices[0].replica.heads(),
        net.devices[1].replica.heads()
    );
}

#[test]
fn a_push_whose_dependencies_are_missing_starts_a_sync_round_that_fetches_them() {
    let mut net = network(2);
    let link = net.connect(0, 1, Mode::Live, None);
    net.settle();
    let first = add_need(&mut net, 0, "first");
    let second = add_need(&mut net, 0, "second");
    // The first push is lost; the second arrives without its dependency.
    drop(first);
    net.commit(0, vec![second]);
    net.settle();
    assert_eq!(needs(&net.devices[1].replica), ["first", "second"]);
    assert_eq!(net.outcome(link), Outcome::Open);
}

#[test]
fn a_session_that_fell_behind_catches_up_with_a_sync_round() {
    let mut net = network(2);
    let link = net.connect(0, 1, Mode::Live, None);
    net.settle();
    // An edit enters device 0's replica without a notice (its sessions lagged behind it).
    add_need(&mut net, 0, "missed notice");
    net.run_until_quiet();
    assert!(needs(&net.devices[1].replica).is_empty());
    net.lag(0);
    net.settle();
    assert_eq!(needs(&net.devices[1].replica), ["missed notice"]);
    assert_eq!(net.outcome(link), Outcome::Open);
}

#[test]
fn changes_received_from_one_peer_are_pushed_to_the_others_but_not_back() {
    let mut net = network(3);
    let ab = net.connect(0, 1, Mode::Live, None);
    let bc = net.connect(1, 2, Mode::Live, None);
    net.settle();
    let (ab_before, bc_before) = (net.traffic(ab).0, net.traffic(bc).0);
    let change = add_need(&mut net, 0, "passed on");
    net.commit(0, vec![change]);
    net.run_until_quiet();
    assert_eq!(needs(&net.devices[2].replica), ["passed on"]);
    // One push on each link: 0 -> 1, then 1 -> 2; nothing went back to 0.
    assert_eq!(net.traffic(ab).0, ab_before + 1);
    assert_eq!(net.traffic(bc).0, bc_before + 1);
    net.settle();
    let heads = net.devices[0].replica.heads();
    assert!(net.devices.iter().all(|d| d.replica.heads() == heads));
}

#[test]
fn a_forged_push_is_rejected_with_the_reason_and_the_connection_closed() {
    let mut net = network(2);
    let link = net.connect(0, 1, Mode::Live, None);
    net.settle();
    let heads = net.devices[1].replica.heads();
    // SimDevice 0 pushes its change with a stranger's signature.
    let change = add_need(&mut net, 0, "forged");
    let stranger = DeviceKey::from_seed([99; 32]);
    let forged = SignedChange::from_bytes(
        change.raw_bytes().to_vec(),
        &stranger.sign_change(&change.hash()).to_bytes(),
    )
    .unwrap();
    let mut receiver = Session::new(
        net.devices[0].id,
        Side::Listener,
        Mode::Live,
        PeerSync::new(),
    );
    let now = Instant::now();
    let mut replica = net.devices[1].replica.clone();
    let _ = receiver.start(&mut replica, now);
    let actions = receiver.handle(
        Event::Frame(alliance::proto::frame::Frame::Changes {
            changes: vec![forged.raw_bytes().to_vec()],
            signatures: vec![alliance::core::sync::vouch(
                &forged.hash(),
                &stranger.sign_change(&change.hash()),
            )],
        }),
        &mut replica,
        now,
    );
    assert_eq!(
        replica.heads(),
        heads,
        "nothing of a refused push is applied"
    );
    let rejected = actions.iter().find_map(|a| match a {
        Action::Send(alliance::proto::frame::Frame::Rejected { reason }) => Some(reason.clone()),
        _ => None,
    });
    assert!(
        rejected.is_some_and(|r| r.contains("signature")),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Close { code: alliance::proto::frame::CloseCode::Rejected, linger } if *linger == LINGER_REJECTED
    )));
    assert!(matches!(
        actions.last(),
        Some(Action::Finished(Err(SessionError::Bad(_))))
    ));
    assert!(receiver.is_finished());
    // The honest link still works.
    net.commit(0, vec![change]);
    net.settle();
    assert_eq!(needs(&net.devices[1].replica), ["forged"]);
    assert_eq!(net.outcome(link), Outcome::Open);
}

#[test]
fn a_one_shot_listener_gives_up_on_a_silent_dialer_after_the_frame_timeout() {
    let mut replica = family(1).remove(0).replica;
    let peer = DeviceKey::from_seed([7; 32]).device_id();
    let mut s = Session::new(peer, Side::Listener, Mode::OneShot, PeerSync::new());
    let t0 = Instant::now();
    let actions = s.start(&mut replica, t0);
    let Some(Action::ScheduleTimer(Some(at))) = actions.first() else {
        panic!("a deadline for the dialer's first frame: {actions:?}")
    };
    assert_eq!(*at, t0 + alliance::proto::session::FRAME_TIMEOUT);
    // A timer that fires early (a stale one) changes nothing.
    assert!(s.handle(Event::Timer, &mut replica, t0).is_empty());
    let actions = s.handle(Event::Timer, &mut replica, *at);
    assert!(matches!(
        actions.last(),
        Some(Action::Finished(Err(SessionError::Timeout("sync"))))
    ));
}

#[test]
fn a_cut_connection_keeps_what_arrived_and_the_next_connection_finishes_the_sync() {
    let mut net = network(2);
    for i in 0..30 {
        let c = add_need(&mut net, 0, &format!("need {i}"));
        drop(c);
    }
    let first = net.connect(1, 0, Mode::OneShot, Some(1));
    net.settle();
    assert_eq!(net.outcome(first), Outcome::Cut);
    let second = net.connect(1, 0, Mode::OneShot, None);
    net.settle();
    assert_eq!(net.outcome(second), Outcome::Done);
    assert_eq!(needs(&net.devices[1].replica).len(), 30);
}
