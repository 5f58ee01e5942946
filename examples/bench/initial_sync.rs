//! Initial sync of a whole alliance to a fresh device, in memory (issue 5, measure 1 without
//! the network): alliance's signed sync against Automerge's own sync of the same document (a),
//! and against the limit (b): (a) plus batch-verifying every signature on every core.

use std::time::Duration;

use alliance::core::identity::failing_signatures;
use alliance::core::sync::PeerSync;
use alliance::core::{DeviceId, Replica};
use automerge::sync::{State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use ed25519_dalek::Signature;

use crate::{Row, ms, time, workload};

/// alliance's sync: both sides run `PeerSync` until neither has anything to say. Returns the
/// bytes exchanged.
fn signed_sync(from: &Replica) -> (Replica, usize) {
    let mut a = from.clone();
    let mut b = Replica::empty(from.id());
    let (mut sa, mut sb) = (PeerSync::new(), PeerSync::new());
    let mut bytes = 0;
    loop {
        let mut quiet = true;
        if let Some(m) = sa.generate(&a) {
            bytes += m.message.len() + m.signatures.iter().map(Vec::len).sum::<usize>();
            sb.receive(&mut b, m).expect("valid changes are accepted");
            quiet = false;
        }
        if let Some(m) = sb.generate(&b) {
            bytes += m.message.len() + m.signatures.iter().map(Vec::len).sum::<usize>();
            sa.receive(&mut a, m).expect("valid changes are accepted");
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    assert_eq!(a.heads(), b.heads(), "the fresh device caught up");
    (b, bytes)
}

/// Automerge's own sync of the same document, unsigned and unverified.
fn automerge_sync(from: &Automerge) -> usize {
    let mut a = from.clone();
    let mut b = Automerge::new();
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut bytes = 0;
    loop {
        let mut quiet = true;
        if let Some(m) = a.generate_sync_message(&mut sa) {
            let m = m.encode();
            bytes += m.len();
            b.receive_sync_message(&mut sb, automerge::sync::Message::decode(&m).unwrap())
                .unwrap();
            quiet = false;
        }
        if let Some(m) = b.generate_sync_message(&mut sb) {
            let m = m.encode();
            bytes += m.len();
            a.receive_sync_message(&mut sa, automerge::sync::Message::decode(&m).unwrap())
                .unwrap();
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    assert_eq!(a.get_heads(), b.get_heads());
    bytes
}

/// Batch-verifies every signature, split over `threads` threads.
fn verify_all(items: &[(DeviceId, ChangeHash, Signature)], threads: usize) -> usize {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || failing_signatures(chunk).len()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("initial sync of {n} signed changes, in memory...");
        let w = workload::build(n);
        let r = &w.replica;
        let changes = r.len();
        let (signed, _) = r.changes_since(&[]);
        let items: Vec<(DeviceId, ChangeHash, Signature)> = signed
            .iter()
            .map(|c| (c.author(), c.hash(), *c.signature()))
            .collect();
        let baseline_bytes = automerge_sync(r.doc());
        let a = time(runs, || automerge_sync(r.doc()));
        let verify = time(runs, || {
            assert_eq!(verify_all(&items, threads), 0);
        });
        let b = a + verify;
        let (_, ours_bytes) = signed_sync(r);
        let ours = time(runs.min(3), || signed_sync(r));
        let mut push = |measure: &'static str, d: Duration, note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / b.as_secs_f64(),
                note,
            })
        };
        push(
            "(a) Automerge sync, unsigned",
            a,
            format!("{baseline_bytes} bytes"),
        );
        push(
            "    batch-verify every signature",
            verify,
            format!("{threads} threads"),
        );
        push("(b) limit: (a) + batch verify", b, String::new());
        push(
            "alliance signed sync",
            ours,
            format!("{ours_bytes} bytes; every change verified"),
        );
    }
    rows
}
