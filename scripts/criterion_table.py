#!/usr/bin/env python3
"""Print a markdown table of criterion medians (MB/s) from target/criterion/GROUP/.

usage: scripts/criterion_table.py GROUP [CRITERION_DIR]
Rows are the inputs (corpora), columns the functions (levels), in the order first seen.
MB = 10^6 bytes; the throughput is criterion's `Bytes` divided by the median time.
"""
import json, os, sys

group = sys.argv[1]
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
base = os.path.join(root, group)
cells, rows, cols = {}, [], []
for fn in sorted(os.listdir(base)):
    d = os.path.join(base, fn)
    if not os.path.isdir(d) or fn == "report":
        continue
    for inp in sorted(os.listdir(d)):
        est = os.path.join(d, inp, "new", "estimates.json")
        bench = os.path.join(d, inp, "new", "benchmark.json")
        if not os.path.exists(est):
            continue
        median_ns = json.load(open(est))["median"]["point_estimate"]
        tp = json.load(open(bench)).get("throughput") or {}
        nbytes = tp.get("Bytes") or tp.get("BytesDecimal")
        if not nbytes:
            continue
        cells[(inp, fn)] = nbytes / median_ns * 1e3  # bytes/ns -> MB/s
        if inp not in rows:
            rows.append(inp)
        if fn not in cols:
            cols.append(fn)
order = ["reference", "scalar", "sse4.2", "avx2", "avx512", "neon"]
cols.sort(key=lambda c: order.index(c) if c in order else len(order))
corpus_order = ["en", "zh", "ja", "ko", "code", "mixed"]
rows.sort(key=lambda r: corpus_order.index(r) if r in corpus_order else len(corpus_order))
print("| input | " + " | ".join(cols) + " |")
print("|---|" + "---|" * len(cols))
for r in rows:
    print(f"| {r} | " + " | ".join(f"{cells[(r, c)]:.0f}" if (r, c) in cells else "" for c in cols) + " |")
