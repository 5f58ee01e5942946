//! What shape a whole history should travel in to a device that has nothing (issue 27): the
//! saved document alliance sends today, every signed change as its own chunk, or an Automerge
//! bundle (the changes in columns). Each is timed from the sender's store in memory to a
//! replica that holds all of it, through the same checks (`Replica::receive_document` for the
//! document, `Replica::receive` for changes), in one process; with the parts that decide it:
//! Automerge's load of the document, its rebuild of every change out of it, its apply of
//! every change at once.

use alliance::core::Replica;
use alliance::core::signed::Voucher;
use alliance::core::sync::{Vouch, newest_signatures, pair};
use automerge::{Automerge, Bundle, Change};

use crate::measure::{time, time_apart};
use crate::{Row, workload};

pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("the shapes of an initial sync of {n} changes...");
        let w = workload::load_or_build(n);
        let r = &w.replica;
        let all = r.changes_since(&[]);
        let changes = all.len();
        let vouches = newest_signatures(&all).expect("every author's newest change is signed");
        let raw: Vec<Vec<u8>> = all.iter().map(|c| c.raw_bytes().to_vec()).collect();
        let hashes: Vec<_> = all.iter().map(|c| c.hash()).collect();
        drop(all);
        let signatures: Vec<(automerge::ChangeHash, Voucher)> = vouches
            .iter()
            .map(|v| {
                (
                    automerge::ChangeHash(v.change),
                    v.voucher().expect("64 bytes"),
                )
            })
            .collect();
        let saved = r.doc().save();
        let document = time(runs, || {
            let bytes = r.doc().save();
            let mut fresh = Replica::empty(r.id());
            fresh.receive_document(&bytes, &signatures).expect("passes");
            assert_eq!(fresh.heads(), r.heads());
        });
        let raw_bytes: usize = raw.iter().map(Vec::len).sum();
        let one_by_one = time(runs, || take_changes(r, raw.clone(), &vouches));
        let bundled = r.doc().bundle(hashes.iter().copied()).expect("bundle");
        let bundle_bytes = bundled.bytes().len();
        drop(bundled);
        let bundle = time(runs, || {
            let bundled = r.doc().bundle(hashes.iter().copied()).expect("bundle");
            let parsed = Bundle::try_from(bundled.bytes()).expect("parses");
            let raw = parsed
                .to_changes()
                .expect("unbundles")
                .into_iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
            take_changes(r, raw, &vouches)
        });
        let load = time(runs, || Automerge::load(&saved).expect("loads"));
        let loaded = Automerge::load(&saved).expect("loads");
        let rebuild = time(runs, || loaded.get_changes(&[]).len());
        drop(loaded);
        let apply = time_apart(
            runs,
            || {
                raw.iter()
                    .map(|b| Change::from_bytes(b.clone()).expect("a change"))
                    .collect::<Vec<_>>()
            },
            |plain| {
                let mut doc = Automerge::new();
                doc.apply_changes(plain).expect("applies");
                doc
            },
        );
        let mut push =
            |measure: &'static str, d: std::time::Duration, bytes: Option<usize>, note: String| {
                rows.push(Row {
                    measure,
                    changes,
                    millis: crate::ms(d),
                    vs_view: d.as_secs_f64() / document.as_secs_f64(),
                    peak_mib: None,
                    bytes,
                    note,
                })
            };
        let size = |b: usize| {
            format!(
                "{b} bytes, {:.2}x the document's",
                b as f64 / saved.len() as f64
            )
        };
        push(
            "a saved document (sent today)",
            document,
            Some(saved.len()),
            "save, load, split into changes, judge, take as loaded".into(),
        );
        push(
            "every signed change, one chunk each",
            one_by_one,
            Some(raw_bytes),
            format!("judge, apply at once; {}", size(raw_bytes)),
        );
        push(
            "an Automerge bundle of the changes",
            bundle,
            Some(bundle_bytes),
            format!(
                "build, unbundle, judge, apply at once; {}",
                size(bundle_bytes)
            ),
        );
        push("  Automerge: load the document", load, None, String::new());
        push(
            "  Automerge: rebuild every change from it",
            rebuild,
            None,
            String::new(),
        );
        push(
            "  Automerge: apply every change at once",
            apply,
            None,
            String::new(),
        );
    }
    rows
}

/// A fresh replica takes `raw` changes with the signatures that vouch for them, through every
/// check of a received batch.
fn take_changes(r: &Replica, raw: Vec<Vec<u8>>, vouches: &[Vouch]) {
    let batch = pair(raw, vouches).expect("pairs");
    let mut fresh = Replica::empty(r.id());
    fresh.receive(batch).expect("passes");
    assert_eq!(fresh.heads(), r.heads());
}
