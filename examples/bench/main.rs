//! alliance's benchmark harness: builds realistic signed alliances in memory and measures the
//! review commands against a baseline run in the same process.
//!
//! ```sh
//! cargo run --release --example bench            # 1k and 10k changes
//! cargo run --release --example bench -- --quick # 1k and 3k changes, fewer runs
//! cargo run --release --example bench -- --json  # machine-readable
//! cargo run --release --example bench -- --only sync  # one section: review, cli or sync
//! cargo run --release --example bench -- --sizes 1000,50000  # other alliance sizes
//! ```
//!
//! Every figure is the median of several runs. Ratios compare against `read view` (what
//! `alliance show` does once the document is loaded) on the same alliance; growth compares
//! the largest alliance with the smallest. See `docs/benchmarks.md`.

mod initial_sync;
mod workload;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use alliance::core::history::item_at;
use alliance::core::index::ChangeIndex;
use alliance::core::{ItemId, Replica, Timestamp};
use automerge::ChangeHash;

/// Median wall time of `runs` calls of `f`.
pub fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
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
pub struct Row {
    pub measure: &'static str,
    pub changes: usize,
    pub millis: f64,
    /// This measure over the section's baseline, on the same alliance.
    pub vs_view: f64,
    pub note: String,
}

pub fn ms(d: Duration) -> f64 {
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

/// Median wall time of running the real `alliance` binary `runs` times (process start to exit).
fn time_cli(bin: &std::path::Path, home: &std::path::Path, args: &[&str], runs: usize) -> Duration {
    time(runs, || {
        let out = std::process::Command::new(bin)
            .env("ALLIANCE_HOME", home)
            .args(args)
            .output()
            .expect("alliance runs");
        assert!(
            out.status.success(),
            "alliance {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
}

/// The review commands end to end on a stored alliance of `n` changes, as Ben's device: the
/// real binary, its store on disk (compacted into a snapshot), the index cache warm.
fn cli_section(sizes: &[usize], runs: usize) -> Vec<Row> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args(["build", "--release", "--quiet", "--bin", "alliance"])
        .status()
        .is_ok_and(|s| s.success());
    let exe = std::env::current_exe().expect("own path");
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("alliance"))
        .filter(|b| built && b.exists());
    let Some(bin) = bin else {
        eprintln!("skipping the CLI section: could not build target/release/alliance");
        return Vec::new();
    };
    let mut rows = Vec::new();
    for &n in sizes {
        eprintln!("storing an alliance of {n} signed changes...");
        let w = workload::build(n);
        let r = &w.replica;
        let dir = tempfile::tempdir().expect("temp dir");
        let home = alliance::store::Home::new(dir.path());
        home.init("Ben", [2; 32]).expect("identity");
        let (changes, _) = r.changes_since(&[]);
        home.create_alliance(&r.id(), &changes, Some(w.people[1].tag))
            .expect("store");
        home.open(&r.id(), alliance::store::LockMode::Exclusive)
            .expect("open")
            .compact()
            .expect("compact");
        let cache = dir
            .path()
            .join("alliances")
            .join(r.id().to_string())
            .join(alliance::store::INDEX_CACHE_FILE);
        let show = time_cli(&bin, dir.path(), &["show"], runs);
        let changes = r.len();
        let mut push = |measure: &'static str, d: Duration, note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / show.as_secs_f64(),
                note,
            })
        };
        push(
            "baseline: alliance show",
            show,
            "process start to exit".into(),
        );
        // Issue 5's yardstick for the CLI: the bare Automerge work on the same document, in
        // process (no process start, no signatures, no store).
        let saved = r.save();
        let load = time(runs, || automerge::Automerge::load(&saved).expect("loads"));
        push(
            "bare Automerge::load",
            load,
            format!(
                "in process; show = {:.1}x this",
                show.as_secs_f64() / load.as_secs_f64()
            ),
        );
        let load_commit_save = time(runs, || {
            let mut doc = automerge::Automerge::load(&saved).expect("loads");
            let mut tx = doc.transaction();
            automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "bench", 1)
                .expect("put");
            tx.commit();
            doc.save()
        });
        push(
            "bare load + commit + save",
            load_commit_save,
            "in process".into(),
        );
        let add = time_cli(
            &bin,
            dir.path(),
            &["expect", "add", "bench: a new expectation"],
            runs,
        );
        push(
            "alliance expect add",
            add,
            format!(
                "process start to exit; {:.1}x load + commit + save",
                add.as_secs_f64() / load_commit_save.as_secs_f64()
            ),
        );
        let cold = time(runs, || {
            let _ = std::fs::remove_file(&cache);
            time_cli(&bin, dir.path(), &["status"], 1)
        });
        push(
            "alliance status (no cache)",
            cold,
            "builds and writes the index".into(),
        );
        let since = {
            let i = ChangeIndex::build(r);
            let e = i.entries();
            e[e.len().saturating_sub(101)].hash.to_string()
        };
        let cases: [(&'static str, Vec<&str>); 6] = [
            ("alliance status", vec!["status"]),
            (
                "alliance history ID (typical)",
                vec!["history", w.typical.as_str()],
            ),
            ("alliance history ID (hot)", vec!["history", w.hot.as_str()]),
            ("alliance blame vision", vec!["blame", "vision"]),
            (
                "alliance diff (last 100 changes)",
                vec!["diff", "--since", &since],
            ),
            ("alliance log -n 20", vec!["log", "-n", "20"]),
        ];
        for (measure, args) in cases {
            push(
                measure,
                time_cli(&bin, dir.path(), &args, runs),
                "index cache warm".into(),
            );
        }
    }
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let (default_sizes, runs): (&[usize], usize) = if quick {
        (&[1_000, 3_000], 3)
    } else {
        (&[1_000, 10_000], 5)
    };
    // `--sizes 1000,10000` overrides the alliance sizes.
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map(|s| {
            s.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("--sizes takes numbers, e.g. 1000,10000")
                })
                .collect()
        })
        .unwrap_or_else(|| default_sizes.to_vec());
    let sizes = sizes.as_slice();
    // `--only review|cli|sync` runs one section.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let sections: Vec<(&str, &str, Vec<Row>)> = [
        (
            "review",
            "Review commands in the library (median of {runs} runs; ms)",
            "x read view",
        ),
        (
            "cli",
            "The same end to end: the real binary on a stored alliance (ms)",
            "x show",
        ),
        (
            "sync",
            "Initial sync to a fresh device, in memory (median of {runs} runs; ms)",
            "x limit (b)",
        ),
    ]
    .into_iter()
    .filter(|(name, _, _)| only.is_none_or(|o| o == *name))
    .map(|(name, title, ratio)| {
        let rows = match name {
            "review" => history_section(sizes, runs, 10_000),
            "cli" => cli_section(sizes, runs),
            _ => initial_sync::section(sizes, runs),
        };
        (title, ratio, rows)
    })
    .collect();
    if json {
        let all: Vec<&Row> = sections.iter().flat_map(|(_, _, r)| r).collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap());
        return;
    }
    for (title, ratio, rows) in &sections {
        print_table(rows, runs, title, ratio);
    }
}

fn print_table(rows: &[Row], runs: usize, title: &str, ratio: &str) {
    if rows.is_empty() {
        return;
    }
    println!("{}\n", title.replace("{runs}", &runs.to_string()));
    let (small, large) = (rows[0].changes, rows[rows.len() - 1].changes);
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>12}  note (largest)",
        "measure",
        format!("{small}"),
        format!("{large}"),
        "growth",
        ratio
    );
    let measures: Vec<&'static str> = {
        let mut m: Vec<&'static str> = Vec::new();
        for r in rows {
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
            "{:<34} {:>10} {:>10} {:>8} {:>12}  {}",
            m,
            cell(a),
            cell(b),
            growth,
            b.map_or("-".into(), |b| format!("{:.1}", b.vs_view)),
            b.or(a).map_or("", |r| r.note.as_str())
        );
    }
    println!(
        "\nHistory grew {:.1}x ({first} -> {last} changes).\n",
        last as f64 / first as f64
    );
}
