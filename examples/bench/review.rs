//! The review commands (issue 4) in the library: `history`, `status`, `blame`, `diff`, `log`
//! against `read view` on the same alliance.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use alliance::core::history::item_at;
use alliance::core::index::ChangeIndex;
use alliance::core::{ItemId, Replica, Timestamp};
use automerge::ChangeHash;

use crate::measure::time;
use crate::{Row, ms, workload};

/// The per-item history as it was computed before the index: replay the whole history and
/// read the item after every change. Kept here as the baseline the index is measured against.
fn replay_history(r: &Replica, id: &ItemId) -> usize {
    let mut heads: HashSet<ChangeHash> = HashSet::new();
    let mut previous = BTreeMap::new();
    let mut versions = 0;
    for meta in r.doc().get_changes_meta(&[]) {
        for d in &meta.deps {
            heads.remove(d);
        }
        heads.insert(meta.hash);
        let mut now: Vec<ChangeHash> = heads.iter().copied().collect();
        now.sort();
        let current = item_at(r.doc(), id, &now);
        if current != previous {
            versions += 1;
            previous = current;
        }
    }
    versions
}

pub fn section(sizes: &[usize], runs: usize, replay_up_to: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("building an alliance of {n} signed changes...");
        let w = workload::load_or_build(n);
        let r = &w.replica;
        let changes = r.len();
        let bytes = r.save();
        let view = time(runs, || r.view());
        let mut push = |measure: &'static str, d: Duration, note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / view.as_secs_f64(),
                peak_mib: None,
                bytes: None,
                note,
            })
        };
        push("baseline: read view", view, String::new());
        let load = time(runs, || automerge::Automerge::load(&bytes).unwrap());
        push("load document", load, format!("{} bytes", bytes.len()));
        let index = ChangeIndex::build(r);
        push(
            "index build (no cache)",
            time(runs, || ChangeIndex::build(r)),
            "decodes every change".into(),
        );
        // What each review command does: load the cached index, index what is new.
        let cached = || {
            let mut i = ChangeIndex::from_bytes(&w.cached_index).expect("cache loads");
            i.update(r);
            i
        };
        push(
            "index from cache + 20 new",
            time(runs, cached),
            format!("{} bytes cached", w.cached_index.len()),
        );
        let hot_versions = r.history(&index, &w.hot).len();
        push(
            "history ID (hot item)",
            time(runs, || {
                let index = cached();
                r.history(&index, &w.hot)
            }),
            format!("{hot_versions} versions; cached index included"),
        );
        let typical_versions = r.history(&index, &w.typical).len();
        push(
            "history ID (typical item)",
            time(runs, || {
                let index = cached();
                r.history(&index, &w.typical)
            }),
            format!("{typical_versions} versions; cached index included"),
        );
        if changes <= replay_up_to {
            push(
                "history ID by replay (old)",
                time(1, || replay_history(r, &w.hot)),
                "one item read per change of history".into(),
            );
        }
        // Status as a person who looked 20 changes ago.
        let seen = {
            let entries = index.entries();
            vec![entries[entries.len().saturating_sub(21)].hash]
        };
        let me = r.member_of(&w.people[1].key.device_id()).unwrap();
        push(
            "status",
            time(runs, || {
                let index = cached();
                r.status(&index, &me, Some(&seen), Timestamp(workload::T0))
            }),
            "seen 20 changes ago; cached index included".into(),
        );
        push(
            "status (never marked seen)",
            time(runs, || {
                let index = cached();
                r.status(&index, &me, None, Timestamp(workload::T0))
            }),
            "cached index included".into(),
        );
        push(
            "blame vision",
            time(runs, || {
                let index = cached();
                r.blame_vision(&index)
            }),
            format!(
                "{} characters; cached index included",
                r.view().vision.chars().count()
            ),
        );
        let before = {
            let entries = index.entries();
            vec![entries[entries.len().saturating_sub(101)].hash]
        };
        push(
            "diff (last 100 changes)",
            time(runs, || {
                let index = cached();
                r.diff(&index, &before)
            }),
            "cached index included".into(),
        );
        push(
            "conflicts (show)",
            time(runs, || r.field_conflicts(None)),
            "no text conflict noted at these heads".into(),
        );
        push(
            "conflicts with text conflicts",
            time(runs, || r.conflicts(Some(&index))),
            "through the index (show after a change, status)".into(),
        );
        push(
            "log (verifies every change)",
            time(runs.min(3), || r.log()),
            String::new(),
        );
    }
    rows
}
