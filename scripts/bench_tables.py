#!/usr/bin/env python3
"""Markdown tables of a benchmark run, one per section, every size as a column.

    cargo run --release --example bench -- --save bench.json
    python3 scripts/bench_tables.py bench.json

The tables in docs/benchmarks.md are this script's output for the run recorded there.
"""

import json
import sys

RATIO = {
    "sync": "x limit (b)",
    "live": "x Automerge",
    "reconnect": "x Automerge",
    "cli": "x show",
    "converge": "x 2 devices",
    "review": "x read view",
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = json.load(open(sys.argv[1]))
    sections = []
    for r in rows:
        if r["section"] not in sections:
            sections.append(r["section"])
    for section in sections:
        mine = [r for r in rows if r["section"] == section]
        sizes = sorted({r["changes"] for r in mine})
        measures = []
        for r in mine:
            if r["measure"] not in measures:
                measures.append(r["measure"])
        unit = "devices" if section == "converge" else "changes"
        head = [f"measure (ms)"] + [f"{s:,} {unit}" for s in sizes]
        head += [f"{RATIO[section]} at {sizes[-1]:,}", "peak MiB", "note"]
        print(f"### {section}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" + "---:|" * (len(sizes) + 2) + "---|")
        for m in measures:
            cells = [m.strip()]
            last = None
            for s in sizes:
                r = next((r for r in mine if r["measure"] == m and r["changes"] == s), None)
                cells.append(f"{r['millis']:.2f}" if r else "-")
                last = r or last
            cells.append(f"{last['vs_view']:.2f}" if last else "-")
            peak = last.get("peak_mib") if last else None
            cells.append(f"{peak:.1f}" if peak is not None else "-")
            cells.append(last["note"] if last else "")
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
