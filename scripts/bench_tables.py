#!/usr/bin/env python3
"""Markdown tables of benchmark runs, one per section and workload, every size as a column,
then the ratios issue 17 sets targets for.

    cargo run --release --example bench -- --save bench.json
    cargo run --release --example bench -- --workload text --save bench-text.json
    python3 scripts/bench_tables.py bench.json [bench-text.json ...]

Rows carry their workload (`family`, `text` or `trace`); rows saved before workloads were
named are the family's. The tables in docs/benchmarks.md are this script's output for the runs
recorded there.
"""

import json
import re
import sys

RATIO = {
    "sync": "x limit (b)",
    "live": "x Automerge",
    "reconnect": "x Automerge",
    "cli": "x show",
    "converge": "x 2 devices",
    "review": "x read view",
    "page": "x show",
    "typing": "x 300 ms",
    "keeper": "x baseline",
}


def load(paths):
    rows = []
    for path in paths:
        for r in json.load(open(path)):
            r.setdefault("workload", "family")
            rows.append(r)
    return rows


def tables(rows):
    groups = []
    for r in rows:
        if (r["section"], r["workload"]) not in groups:
            groups.append((r["section"], r["workload"]))
    workloads = {w for _, w in groups}
    for section, workload in groups:
        mine = [r for r in rows if r["section"] == section and r["workload"] == workload]
        sizes = sorted({r["changes"] for r in mine})
        measures = []
        for r in mine:
            if r["measure"] not in measures:
                measures.append(r["measure"])
        with_bytes = any(r.get("bytes") is not None for r in mine)
        unit = "devices" if section in ("converge", "typing") else "changes"
        head = ["measure (ms)"] + [f"{s:,} {unit}" for s in sizes]
        head += [f"{RATIO.get(section, 'ratio')} at {sizes[-1]:,}"]
        if with_bytes:
            head += [f"bytes at {sizes[-1]:,}"]
        head += ["peak MiB", "note"]
        title = section if workloads == {"family"} else f"{section} ({workload} workload)"
        print(f"### {title}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" + "---:|" * (len(sizes) + 2 + with_bytes) + "---|")
        for m in measures:
            cells = [m.strip()]
            last = None
            for s in sizes:
                r = next((r for r in mine if r["measure"] == m and r["changes"] == s), None)
                cells.append(f"{r['millis']:.2f}" if r else "-")
                last = r or last
            cells.append(f"{last['vs_view']:.2f}" if last else "-")
            if with_bytes:
                b = last.get("bytes") if last else None
                cells.append(f"{b:,}" if b is not None else "-")
            peak = last.get("peak_mib") if last else None
            cells.append(f"{peak:.1f}" if peak is not None else "-")
            cells.append(last["note"] if last else "")
            print("| " + " | ".join(cells) + " |")
        print()


def find(rows, workload, section, measure, size):
    return next(
        (
            r
            for r in rows
            if r["workload"] == workload
            and r["section"] == section
            and r["measure"].strip() == measure
            and r["changes"] == size
        ),
        None,
    )


def note_ms(row, label):
    m = re.search(label + r" ([\d.]+) ms", row["note"]) if row else None
    return float(m.group(1)) if m else None


def targets(rows):
    """The ratios of issue 17's targets, per workload and size, where the run has them."""
    checks = [
        ("initial sync over iroh / Automerge's in-memory sync (a)", "<= 1.2",
         lambda f: ratio(f("sync", "alliance sync over iroh"), f("sync", "(a) Automerge sync, in memory"))),
        ("initial sync over iroh / samod over iroh", "<= 0.7",
         lambda f: ratio(f("sync", "alliance sync over iroh"), f("sync", "(c) samod over iroh"))),
        ("initial sync bytes / Automerge's", "<= 1.3",
         lambda f: ratio(f("sync", "alliance sync, in memory"), f("sync", "(a) Automerge sync, in memory"), "bytes")),
        ("(samod's bytes / Automerge's)", "",
         lambda f: ratio(f("sync", "(c) samod over iroh"), f("sync", "(a) Automerge sync, in memory"), "bytes")),
        ("reconnect, kept state / Automerge's persisted state", "<= 1.5",
         lambda f: ratio(f("reconnect", "alliance, persisted state"), f("reconnect", "Automerge, persisted state"))),
        ("reconnect bytes, kept state", "< 4,096",
         lambda f: bytes_of(f("reconnect", "alliance, persisted state"))),
        ("live over iroh p99 / p50", "<= 2",
         lambda f: live_tail(f("live", "alliance live over iroh, p50"))),
    ]
    cells = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        for size in sorted({r["changes"] for r in rows if r["workload"] == workload}):
            f = lambda section, measure: find(rows, workload, section, measure, size)  # noqa: E731
            values = [check(f) for _, _, check in checks]
            if any(v is not None for v in values):
                cells.append((f"{workload} {size:,}", values))
    if not cells:
        return
    print("### issue 17's targets\n")
    print("| ratio | target | " + " | ".join(c[0] for c in cells) + " |")
    print("|---|---|" + "---:|" * len(cells))
    for i, (name, target, _) in enumerate(checks):
        vals = [c[1][i] for c in cells]
        shown = [
            "-" if v is None else (f"{v:,.0f}" if "bytes, kept" in name else f"{v:.2f}")
            for v in vals
        ]
        print(f"| {name} | {target} | " + " | ".join(shown) + " |")
    print()


def ratio(a, b, field="millis"):
    get = bytes_of if field == "bytes" else (lambda r: r.get(field) if r else None)
    x, y = get(a), get(b)
    return x / y if x is not None and y else None


def bytes_of(row):
    """The row's bytes; in runs saved before rows had them, the first "N bytes" of the note."""
    if not row:
        return None
    if row.get("bytes") is not None:
        return row["bytes"]
    m = re.search(r"(\d+) bytes", row["note"])
    return int(m.group(1)) if m else None


def live_tail(row):
    p99 = note_ms(row, "p99")
    return p99 / row["millis"] if p99 is not None else None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1:])
    tables(rows)
    targets(rows)


if __name__ == "__main__":
    main()
