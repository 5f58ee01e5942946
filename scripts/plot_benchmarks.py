#!/usr/bin/env python3
"""Plots the growth curves of a benchmark run into a PNG.

    cargo run --release --example bench -- --save bench.json
    cargo run --release --example bench -- --workload text --save bench-text.json
    python3 -m pip install matplotlib        # once
    python3 scripts/plot_benchmarks.py bench.json [bench-text.json ...] docs/benchmarks.png

Four panels, each against the size of the alliance (or the number of devices), with the
baselines measured in the same run: initial sync, CPU per live edit, bytes to reconnect after
10 offline edits on each side, and convergence of devices that each made 500 offline edits.

Runs of several workloads (rows carry a `workload`: `family`, `text`, `trace`; rows saved
before workloads were named are the family's) share the panels: a measure keeps its colour,
each workload has its own line style and marker (family solid with circles, text dashed with
squares).
"""

import json
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("needs matplotlib: python3 -m pip install matplotlib")


STYLE = {"family": ("-", "o"), "text": ("--", "s"), "trace": (":", "^")}


def series(rows, section, measure, workload, value=lambda r: r["millis"]):
    points = sorted(
        (r["changes"], value(r))
        for r in rows
        if r["section"] == section
        and r["measure"].strip() == measure
        and r["workload"] == workload
    )
    return [p[0] for p in points], [p[1] for p in points]


def note_bytes(row):
    if row.get("bytes") is not None:
        return row["bytes"]
    m = re.search(r"(\d+) bytes", row["note"])
    return int(m.group(1)) if m else None


def panel(ax, rows, section, lines, title, ylabel, xlabel="changes in the history", value=None):
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    for i, (measure, label) in enumerate(lines):
        color = f"C{i}"
        for workload in workloads:
            xs, ys = series(rows, section, measure, workload, value or (lambda r: r["millis"]))
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if pts:
                style, marker = STYLE.get(workload, ("-.", "x"))
                name = label if workloads == ["family"] else f"{label} [{workload}]"
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    color=color,
                    marker=marker,
                    label=name,
                )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if section != "converge":
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = []
    for path in sys.argv[1:-1]:
        for r in json.load(open(path)):
            r.setdefault("workload", "family")
            rows.append(r)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    panel(
        axes[0][0],
        rows,
        "sync",
        [
            ("alliance sync over iroh", "alliance over iroh (signed)"),
            ("alliance sync, in memory", "alliance in memory (signed)"),
            ("(c) samod over iroh", "samod over iroh (unsigned)"),
            ("(b) limit: (a) + batch verify", "limit: Automerge + batch verify"),
            ("(a) Automerge sync, in memory", "Automerge sync in memory"),
        ],
        "Initial sync to a fresh device",
        "ms",
    )
    panel(
        axes[0][1],
        rows,
        "live",
        [
            ("alliance live edit (push), CPU", "alliance, pushed change (signed)"),
            ("alliance over the sync protocol", "alliance over the sync protocol"),
            ("Automerge sync protocol, CPU", "Automerge sync protocol"),
            ("floor: commit + bare apply", "floor: commit + apply_changes"),
        ],
        "CPU per live edit (in memory)",
        "ms per edit",
    )
    panel(
        axes[1][0],
        rows,
        "reconnect",
        [
            ("alliance, persisted state", "alliance, kept sync state"),
            ("alliance, fresh state", "alliance, fresh sync state"),
            ("Automerge, persisted state", "Automerge, kept sync state"),
        ],
        "Reconnect after 10 offline edits each side",
        "bytes exchanged",
        value=note_bytes,
    )
    panel(
        axes[1][1],
        rows,
        "converge",
        [("converge (star, in memory)", "alliance, star through one device")],
        "Convergence, 500 offline edits per device",
        "ms",
        xlabel="devices",
    )
    fig.tight_layout()
    fig.savefig(sys.argv[-1], dpi=110)
    print(f"wrote {sys.argv[-1]}")


if __name__ == "__main__":
    main()
