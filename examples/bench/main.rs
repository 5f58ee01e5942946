//! alliance's benchmark harness: builds realistic signed alliances (or replays an editing
//! trace) and measures alliance against baselines run in the same process: Automerge's own
//! sync, the limit of Automerge plus batch signature checks, samod over iroh, a bare
//! `Automerge::load`.
//!
//! ```sh
//! cargo run --release --example bench                  # every section, full sizes
//! cargo run --release --example bench -- --quick       # small sizes, fewer runs
//! cargo run --release --example bench -- --json        # machine-readable rows
//! cargo run --release --example bench -- --save FILE   # the tables, and the rows as JSON
//! cargo run --release --example bench -- --only sync,live    # some sections
//! cargo run --release --example bench -- --sizes 1000,50000  # other alliance sizes
//! cargo run --release --example bench -- --trace FILE  # replay an automerge-perf trace
//! cargo run --release --example bench -- --workload text  # a long essay typed key by key
//! ```
//!
//! Sections: `sync` (initial sync), `shapes` (the shape a whole history travels in), `busy` (the page and a live session while the device joins a large alliance), `live` (live edits), `reconnect`, `cli`, `converge`,
//! `review`, `page` (the family's page), `typing` (a keystroke burst between two pages). Every figure is a median of several runs; ratios compare against a baseline
//! measured in the same process on the same alliance; growth compares the largest size with
//! the smallest. Workloads are cached under `target/bench-cache/`. See `docs/benchmarks.md`.
//!
//! Workloads: `--workload family` (the default: a family's alliance, `workload.rs`),
//! `--workload text` (a synthetic keystroke trace, `keystrokes.rs`, replayed into the vision
//! one signed change per key; the sync, live, reconnect and CLI sections then run at 10,000,
//! 100,000 and 200,000 changes), or `--trace FILE`. Every row says which (`workload`).

mod busy;
mod cli;
mod clients;
mod converge;
mod initial_sync;
mod keeper;
mod keystrokes;
mod live;
mod measure;
mod page;
mod pair;
mod reconnect;
mod review;
mod samod_sync;
mod shapes;
mod workload;

use std::time::Duration;

#[derive(serde::Serialize)]
pub struct Row {
    pub measure: &'static str,
    pub changes: usize,
    pub millis: f64,
    /// This measure over the section's baseline, on the same alliance.
    pub vs_view: f64,
    /// Peak memory of one run on top of what the process held before (MiB), where measured.
    pub peak_mib: Option<f64>,
    /// Bytes exchanged (both directions), where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
    pub note: String,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One section of the harness: its name (for `--only`), title, what its ratio column compares
/// against, and the alliance sizes it runs at by default and with `--quick`.
struct Section {
    name: &'static str,
    title: &'static str,
    ratio: &'static str,
    sizes: &'static [usize],
    quick: &'static [usize],
    unit: &'static str,
}

const SECTIONS: [Section; 11] = [
    Section {
        name: "sync",
        title: "Initial sync to a fresh device (median of {runs} runs; ms)",
        ratio: "x limit (b)",
        sizes: &[1_000, 10_000, 100_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "shapes",
        title: "What a whole history costs to send and take, by shape, in memory (median of {runs} runs; ms)",
        ratio: "x document",
        sizes: &[10_000, 100_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "busy",
        title: "A device's page and live session while it joins a large alliance (ms)",
        ratio: "x idle p50",
        sizes: &[100_000],
        quick: &[3_000],
        unit: "changes",
    },
    Section {
        name: "live",
        title: "Live edits between two connected devices (per edit; ms)",
        ratio: "x Automerge",
        sizes: &[1_000, 10_000, 50_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "reconnect",
        title: "Reconnect after 10 offline edits on each side (median of {runs} runs; ms)",
        ratio: "x Automerge",
        sizes: &[10_000, 100_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "cli",
        title: "The real binary on a stored alliance, process start to exit (ms)",
        ratio: "x show",
        sizes: &[10_000, 100_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "converge",
        title: "Convergence of devices that each made 500 offline edits (ms)",
        ratio: "x 2 devices",
        sizes: &[2, 4, 8],
        quick: &[2, 4],
        unit: "devices",
    },
    Section {
        name: "review",
        title: "Review commands in the library (median of {runs} runs; ms)",
        ratio: "x read view",
        sizes: &[1_000, 10_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "page",
        title: "The family's page (`alliance app`): request to HTML received (median of {runs} runs; ms)",
        ratio: "x show",
        sizes: &[1_000, 10_000],
        quick: &[1_000, 3_000],
        unit: "changes",
    },
    Section {
        name: "typing",
        title: "A keystroke burst in one page until the other page shows it, two devices (ms)",
        ratio: "x 300 ms",
        sizes: &[2],
        quick: &[2],
        unit: "devices",
    },
    Section {
        name: "keeper",
        title: "A coach's keeper, the real binary: start-up, its memory holding 40 alliances, reconnect through it (median of {runs} runs; ms, MiB of the keeper)",
        ratio: "x baseline",
        sizes: &[10_000],
        quick: &[1_000],
        unit: "changes",
    },
];

/// The sections issue 17 runs on the text workload, and their sizes there.
const TEXT_SECTIONS: [&str; 4] = ["sync", "live", "reconnect", "cli"];
const TEXT_SIZES: [usize; 3] = [10_000, 100_000, 200_000];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let runs = if quick { 3 } else { 5 };
    // `--sizes 1000,10000` overrides every section's alliance sizes.
    let sizes: Option<Vec<usize>> = value("--sizes").map(|s| {
        s.split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("--sizes takes numbers, e.g. 1000,10000")
            })
            .collect()
    });
    // `--trace FILE` replays an editing trace into the vision instead of the synthetic
    // workload; sizes are then prefixes of the trace (all of it by default).
    if let Some(path) = value("--trace") {
        let trace = workload::Trace::read(std::path::Path::new(path)).unwrap_or_else(|e| {
            eprintln!("cannot read the trace: {e}");
            std::process::exit(2);
        });
        workload::use_trace(trace);
    }
    // `--workload text` replays the synthetic keystroke trace (`keystrokes.rs`).
    match value("--workload") {
        None | Some("family") => {}
        Some("text") if value("--trace").is_none() => workload::use_text(),
        Some(other) => {
            eprintln!("--workload takes `family` or `text` (not with --trace), not `{other}`");
            std::process::exit(2);
        }
    }
    let text = workload::name() == "text";
    // `--only sync,live` runs some sections.
    let only: Option<Vec<&str>> = value("--only").map(|o| o.split(',').collect());
    let sections: Vec<(&Section, Vec<Row>)> = SECTIONS
        .iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.contains(&s.name)))
        .map(|section| {
            let sizes: Vec<usize> = match (&sizes, workload::trace_len()) {
                _ if section.unit == "devices" => {
                    if quick { section.quick } else { section.sizes }.to_vec()
                }
                (Some(s), _) => s.clone(),
                (None, Some(n)) => vec![n],
                (None, None) if quick => section.quick.to_vec(),
                (None, None) if text && TEXT_SECTIONS.contains(&section.name) => {
                    TEXT_SIZES.to_vec()
                }
                (None, None) => section.sizes.to_vec(),
            };
            let rows = match section.name {
                "sync" => initial_sync::section(&sizes, runs),
                "live" => live::section(&sizes, runs),
                "shapes" => shapes::section(&sizes, runs),
                "busy" => busy::section(&sizes, runs),
                "reconnect" => reconnect::section(&sizes, runs),
                "cli" => cli::section(&sizes, runs),
                "converge" => converge::section(&sizes, runs),
                "page" => page::section(&sizes, runs),
                "typing" => page::typing_section(if quick { 10 } else { 40 }),
                "keeper" => keeper::section(&sizes, runs, if quick { 8 } else { 40 }),
                _ => review::section(&sizes, runs, 10_000),
            };
            (section, rows)
        })
        .collect();
    let all: Vec<serde_json::Value> = sections
        .iter()
        .flat_map(|(s, rows)| {
            rows.iter().map(|r| {
                let mut v = serde_json::to_value(r).expect("serialises");
                v["section"] = s.name.into();
                v["workload"] = workload::name().into();
                v
            })
        })
        .collect();
    // `--save FILE` also writes the rows as JSON (what `scripts/plot_benchmarks.py` reads).
    if let Some(path) = value("--save") {
        std::fs::write(path, serde_json::to_string_pretty(&all).unwrap())
            .unwrap_or_else(|e| eprintln!("cannot write {path}: {e}"));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap());
        return;
    }
    println!("Workload: {}\n", workload::name());
    for (s, rows) in &sections {
        print_table(rows, runs, s.title, s.ratio, s.unit);
    }
}

fn print_table(rows: &[Row], runs: usize, title: &str, ratio: &str, unit: &str) {
    if rows.is_empty() {
        return;
    }
    println!("{}\n", title.replace("{runs}", &runs.to_string()));
    let (small, large) = (rows[0].changes, rows[rows.len() - 1].changes);
    println!(
        "{:<34} {:>10} {:>10} {:>8} {:>12} {:>9}  note (largest)",
        "measure",
        format!("{small}"),
        format!("{large}"),
        "growth",
        ratio,
        "peak MiB"
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
            "{:<34} {:>10} {:>10} {:>8} {:>12} {:>9}  {}",
            m,
            cell(a),
            cell(b),
            growth,
            b.map_or("-".into(), |b| format!("{:.2}", b.vs_view)),
            b.and_then(|b| b.peak_mib)
                .map_or("-".into(), |p| format!("{p:.1}")),
            b.or(a).map_or("", |r| r.note.as_str())
        );
    }
    println!(
        "\n{unit} grew {:.1}x ({first} -> {last}).\n",
        last as f64 / first as f64
    );
}
