//! The real binary end to end (process start to exit) on a stored alliance, against a bare
//! Automerge load of the same document: `show`, `expect add` and the review commands.

use std::time::Duration;

use alliance::core::index::ChangeIndex;

use crate::measure::{time, time_and_peak, time_cli};
use crate::{Row, ms, workload};

/// The review commands end to end on a stored alliance of `n` changes, as Ben's device: the
/// real binary, its store on disk (compacted into a snapshot), the index cache warm.
pub fn section(sizes: &[usize], runs: usize) -> Vec<Row> {
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
        let w = workload::load_or_build(n);
        let r = &w.replica;
        // BENCH_KEEP_HOME=1 keeps each home, to profile a command on it afterwards.
        let tmp = tempfile::tempdir().expect("temp dir");
        let (_cleanup, root) = if std::env::var_os("BENCH_KEEP_HOME").is_some() {
            let kept = tmp.keep();
            eprintln!("keeping the home of {n} changes: {}", kept.display());
            (None, kept)
        } else {
            let root = tmp.path().to_path_buf();
            (Some(tmp), root)
        };
        let home = alliance::store::Home::new(&root);
        home.init("Ben", [2; 32]).expect("identity");
        // As Ben's device holds it after syncing: his own changes with their signatures, the
        // others' vouched for by their newest (only those signatures travel).
        let held = as_synced_by(r, &w.people[1].key.device_id());
        home.create_alliance_from(&held, Some(w.people[1].tag))
            .expect("store");
        let cache = root
            .join(alliance::store::layout::ALLIANCES_DIR)
            .join(r.id().to_string())
            .join(alliance::store::layout::INDEX_CACHE);
        let show = time_cli(&bin, root.as_path(), &["show"], runs);
        let changes = r.len();
        let mut push = |measure: &'static str, (d, peak): (Duration, Option<f64>), note: String| {
            rows.push(Row {
                measure,
                changes,
                millis: ms(d),
                vs_view: d.as_secs_f64() / show.0.as_secs_f64(),
                peak_mib: peak,
                bytes: None,
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
        let load = time_and_peak(runs, || automerge::Automerge::load(&saved).expect("loads"));
        let load = (load.0, Some(load.1));
        push(
            "bare Automerge::load",
            load,
            format!(
                "in process; show = {:.2}x this",
                show.0.as_secs_f64() / load.0.as_secs_f64()
            ),
        );
        let load_commit_save = time_and_peak(runs, || {
            let mut doc = automerge::Automerge::load(&saved).expect("loads");
            let mut tx = doc.transaction();
            automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "bench", 1)
                .expect("put");
            tx.commit();
            doc.save()
        });
        let load_commit_save = (load_commit_save.0, Some(load_commit_save.1));
        push(
            "bare load + commit + save",
            load_commit_save,
            "in process".into(),
        );
        let add = time_cli(
            &bin,
            root.as_path(),
            &["expect", "add", "bench: a new expectation"],
            runs,
        );

        push(
            "alliance expect add",
            add,
            format!(
                "process start to exit; {:.2}x load + commit + save",
                add.0.as_secs_f64() / load_commit_save.0.as_secs_f64()
            ),
        );
        // A command run with one cache file removed before each run: what it costs the first
        // time.
        let without = |file: &std::path::Path, args: &[&str]| {
            let mut most = None;
            let d = time(runs, || {
                let _ = std::fs::remove_file(file);
                let (d, peak) = time_cli(&bin, root.as_path(), args, 1);
                most = match (most, peak) {
                    (Some(a), Some(b)) => Some(f64::max(a, b)),
                    (a, b) => a.or(b),
                };
                d
            });
            (d, most)
        };
        push(
            "alliance status (no cache)",
            without(&cache, &["status"]),
            "builds and writes the index".into(),
        );
        let verdicts = cache.with_file_name(alliance::store::layout::VERDICTS_CACHE);
        push(
            "alliance log (all, no verdicts)",
            without(&verdicts, &["log"]),
            "verifies every change, keeps the verdicts".into(),
        );
        let since = {
            let i = ChangeIndex::build(r);
            let e = i.entries();
            e[e.len().saturating_sub(101)].hash.to_string()
        };
        let cases: [(&'static str, Vec<&str>); 7] = [
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
            ("alliance log (all)", vec!["log"]),
        ];
        for (measure, args) in cases {
            push(
                measure,
                time_cli(&bin, root.as_path(), &args, runs),
                "index and verdicts cached".into(),
            );
        }
    }
    rows
}

/// `r` as the device `me` holds it after receiving it: the signatures of its own changes, and
/// of the others' only those that travel (each author's newest, which vouch for the rest).
pub fn as_synced_by(
    r: &alliance::core::Replica,
    me: &alliance::core::DeviceId,
) -> alliance::core::Replica {
    let sent = r.for_sending(r.changes_since(&[]));
    let mut kept: std::collections::HashMap<_, _> = sent
        .iter()
        .filter_map(|c| Some((c.hash(), *c.signature()?)))
        .collect();
    for c in r.changes_since(&[]) {
        if c.author() == *me
            && let Some(sig) = c.signature()
        {
            kept.insert(c.hash(), *sig);
        }
    }
    alliance::core::Replica::from_store(r.id(), Some(&r.save()), kept, Default::default(), vec![])
        .expect("the workload's own document loads")
}
