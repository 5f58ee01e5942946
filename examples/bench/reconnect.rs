//! Reconnect after time apart (issue 5, measure 3): two devices that were in sync make 10 edits
//! each while disconnected, then sync again. Bytes exchanged and time, with the sync state each
//! kept from the last connection (as alliance stores it) and with a fresh state, against
//! Automerge's sync protocol with its persisted state on the same document.

use std::time::Duration;

use alliance::core::sync::PeerSync;
use alliance::core::{Replica, SeededEntropy, Timestamp, Writer};
use automerge::sync::State;
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};

use crate::measure::{time_and_peak, time_apart};
use crate::pair::{automerge_exchange, exchange};
use crate::{Row, ms, workload};

const EDITS_EACH: usize = 10;

/// Ten offline edits on each of Ada's and Ben's replicas (needs and words of the vision).
fn offline_edits(w: &workload::Workload, a: &mut Replica, b: &mut Replica) {
    let mut rng = SeededEntropy::new(99);
    for i in 0..EDITS_EACH {
        for (who, r) in [(0usize, &mut *a), (1, &mut *b)] {
            let p = &w.people[who];
            let writer = Writer {
                key: &p.key,
                actor_tag: p.tag,
                now: Timestamp(workload::T0 + 200_000_000 + i as i64),
            };
            if i % 2 == 0 {
                r.add_need(&writer, &mut rng, &format!("offline need {who} {i}"))
                    .expect("edit");
            } else {
                r.splice_vision(&writer, 0, 0, "offline ").expect("edit");
            }
        }
    }
}

fn automerge_offline_edits(a: &mut Automerge, b: &mut Automerge) {
    for i in 0..EDITS_EACH {
        for (who, d) in [(0, &mut *a), (1, &mut *b)] {
            let mut tx = d.transaction();
            if i % 2 == 0 {
                tx.put(ROOT, format!("offline {who} {i}"), i as i64)
                    .unwrap();
            } else {
                let (_, text) = tx.get(ROOT, "vision").unwrap().unwrap();
                tx.splice_text(&text, 0, 0, "offline ").unwrap();
            }
            tx.commit();
        }
    }
}

pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("reconnect after offline edits, {n} changes of history...");
        let w = workload::load_or_build(n);
        let changes = w.replica.len();
        // Two devices in sync, each keeping the sync state of their last connection.
        let (mut a0, mut b0) = (w.replica.clone(), w.replica.clone());
        let (mut sa, mut sb) = (PeerSync::new(), PeerSync::new());
        exchange(&mut a0, &mut sa, &mut b0, &mut sb);
        let (kept_a, kept_b) = (sa.encode(), sb.encode());
        // What each device keeps beside its store of its history's actors (`tips.cache`), as
        // of the last connection; a device loading its store takes it (`Replica::resume_tips`).
        let tips = a0.clone().tips_cache();
        offline_edits(&w, &mut a0, &mut b0);
        // The two replicas are copied before each run, outside the time: a reconnect starts
        // from the replicas and states a device holds.
        let copies = || (a0.clone(), b0.clone());
        let run = |keep: bool, (mut a, mut b): (Replica, Replica)| {
            let (mut sa, mut sb) = if keep {
                (PeerSync::decode(&kept_a), PeerSync::decode(&kept_b))
            } else {
                (PeerSync::new(), PeerSync::new())
            };
            assert!(a.resume_tips(&tips) && b.resume_tips(&tips));
            let bytes = exchange(&mut a, &mut sa, &mut b, &mut sb);
            assert_eq!(a.heads(), b.heads(), "both sides have all 20 edits");
            bytes
        };
        let kept_bytes = run(true, copies());
        let kept = time_apart(runs, copies, |r| run(true, r));
        let (_, kept_peak) = time_and_peak(1, || run(true, copies()));
        let fresh_bytes = run(false, copies());
        let fresh = time_apart(runs, copies, |r| run(false, r));
        // Automerge with its persisted state, on the same document.
        let (mut da, mut db) = (w.replica.doc().clone(), w.replica.doc().clone());
        da.set_actor(automerge::ActorId::from(&[0xa; 16][..]));
        db.set_actor(automerge::ActorId::from(&[0xb; 16][..]));
        let (mut ta, mut tb) = (State::new(), State::new());
        automerge_exchange(&mut da, &mut ta, &mut db, &mut tb);
        let (kta, ktb) = (ta.encode(), tb.encode());
        automerge_offline_edits(&mut da, &mut db);
        let am_copies = || (da.clone(), db.clone());
        let am_run = |(mut a, mut b): (Automerge, Automerge)| {
            let (mut sa, mut sb) = (State::decode(&kta).unwrap(), State::decode(&ktb).unwrap());
            let bytes = automerge_exchange(&mut a, &mut sa, &mut b, &mut sb);
            assert_eq!(a.get_heads(), b.get_heads());
            bytes
        };
        let am_bytes = am_run(am_copies());
        let am = time_apart(runs, am_copies, am_run);
        let mut push =
            |measure: &'static str, d: Duration, peak: Option<f64>, bytes: usize, note: String| {
                rows.push(Row {
                    measure,
                    changes,
                    millis: ms(d),
                    vs_view: d.as_secs_f64() / am.as_secs_f64(),
                    peak_mib: peak,
                    bytes: Some(bytes),
                    note,
                })
            };
        push(
            "Automerge, persisted state",
            am,
            None,
            am_bytes,
            format!("{am_bytes} bytes, unsigned"),
        );
        push(
            "alliance, persisted state",
            kept,
            Some(kept_peak),
            kept_bytes,
            format!("{kept_bytes} bytes, 20 signed changes"),
        );
        push(
            "alliance, fresh state",
            fresh,
            None,
            fresh_bytes,
            format!("{fresh_bytes} bytes"),
        );
    }
    rows
}
