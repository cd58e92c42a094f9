#!/usr/bin/env python3
"""Plot tokens/s over time from one or more `--stats-json` files (tokstream encode/split/bench).

    python3 scripts/plot_tokens_per_s.py OUT.svg RUN.json [LABEL=RUN2.json ...]

Each JSON file's "per_second" series (units delivered in each second of wall time; the last
entry is a partial second and is left out) is drawn as a line, with its sustained median as a
dashed line. Needs matplotlib (pip install matplotlib). PNG or SVG by OUT's extension.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    out, runs = argv[1], argv[2:]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for run in runs:
        label, _, path = run.rpartition("=")
        with open(path) as f:
            v = json.load(f)
        series = v["per_second"][:-1] or v["per_second"]
        label = label or f"-j {v['workers']}"
        unit = v.get("unit", "tokens")
        xs = list(range(1, len(series) + 1))
        ys = [n / 1e6 for n in series]
        line, = ax.plot(xs, ys, lw=1.2, label=f"{label}: {v['bytes'] / 1e9:.1f} GB in {v['wall_seconds']:.0f} s")
        med = v.get("sustained_median_per_s")
        if med:
            ax.axhline(med / 1e6, ls="--", lw=0.8, color=line.get_color(),
                       label=f"{label}: sustained median {med / 1e6:.2f} M {unit}/s, "
                             f"min {v['sustained_min_per_s'] / 1e6:.2f} M")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(f"million {unit} / s (each second)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("tokstream: tokens per second over time")
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv)
