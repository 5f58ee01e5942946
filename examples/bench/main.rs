//! alliance's benchmark harness: builds realistic signed alliances in memory and measures the
//! review commands against a baseline run in the same process.
//!
//! ```sh
//! cargo run --release --example bench            # 1k and 10k changes
//! cargo run --release --example bench -- --quick # 1k and 3k changes, fewer runs
//! cargo run --release --example bench -- --json  # machine-readable
//! ```
//!
//! Every figure is the median of several runs. Ratios compare against `read view` (what
//! `alliance show` does once the document is loaded) on the same alliance; growth compares
//! the largest alliance with the smallest. See `docs/benchmarks.md`.

mod workload;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use alliance::core::history::item_at;
use alliance::core::index::ChangeIndex;
use alliance::core::{ItemId, Replica, Timestamp};
use automerge::ChangeHash;

/// Median wall time of `runs` calls of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

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

#[derive(serde::Serialize)]
struct Row {
    measure: &'static str,
    changes: usize,
    millis: f64,
    /// This measure over the baseline (read view) on the same alliance.
    vs_view: f64,
    note: String,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn history_section(sizes: &[usize], runs: usize, replay_up_to: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("building an alliance of {n} signed changes...");
        let w = workload::build(n);
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
            time(runs, || r.conflicts(None)),
            String::new(),
        );
        push(
            "log (verifies every change)",
            time(runs.min(3), || r.log()),
            String::new(),
        );
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let (sizes, runs): (&[usize], usize) = if quick {
        (&[1_000, 3_000], 3)
    } else {
        (&[1_000, 10_000], 5)
    };
    let rows = history_section(sizes, runs, 10_000);
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
        return;
    }
    let (small, large) = (sizes[0], sizes[sizes.len() - 1]);
    println!("Review commands (median of {runs} runs; times in ms)\n");
    println!(
        "{:<30} {:>10} {:>10} {:>8} {:>12}  note (largest)",
        "measure",
        format!("{}k", small / 1000),
        format!("{}k", large / 1000),
        "growth",
        "x read view"
    );
    let measures: Vec<&'static str> = {
        let mut m: Vec<&'static str> = Vec::new();
        for r in &rows {
            if !m.contains(&r.measure) {
                m.push(r.measure);
            }
        }
        m
    };
    let mut by_size: Vec<usize> = rows.iter().map(|r| r.changes).collect();
    by_size.dedup();
    let (first, last) = (by_size[0], by_size[by_size.len() - 1]);
    for m in measures {
        let a = rows.iter().find(|r| r.measure == m && r.changes == first);
        let b = rows.iter().find(|r| r.measure == m && r.changes == last);
        let cell = |r: Option<&Row>| r.map_or("-".to_string(), |r| format!("{:.2}", r.millis));
        let growth = match (a, b) {
            (Some(a), Some(b)) => format!("{:.1}x", b.millis / a.millis),
            _ => "-".into(),
        };
        println!(
            "{:<30} {:>10} {:>10} {:>8} {:>12}  {}",
            m,
            cell(a),
            cell(b),
            growth,
            b.map_or("-".into(), |b| format!("{:.1}", b.vs_view)),
            b.or(a).map_or("", |r| r.note.as_str())
        );
    }
    println!(
        "\nHistory grew {:.1}x ({first} -> {last} changes).",
        last as f64 / first as f64
    );
}
