"""Print a spec's `references:` block from a published run: the mean over seeds of each selected cell, with a
tolerance MEASURED, not chosen: max(between-seed range, largest shift of the mean under the kept numerics variants
(variation.csv)) + 1/n (one response), rounded up to 0.01.

    .venv/bin/python scripts/references.py artifacts/smoke --judge keyword:bigger-safer --tasks unseen \
        --metric rrr@min --metric rrr@max --metric compliance@max --metric benign_utility@max

Paste the output under `references:` in the spec; `rrs check` then compares every later run with it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--judge", required=True)
    ap.add_argument("--tasks", default=None, help="all, seen or unseen (grids with a tasks column)")
    ap.add_argument("--metric", action="append", required=True, help="METRIC@min or METRIC@max (attack steps)")
    args = ap.parse_args()
    grid = pd.read_csv(args.artifact / "results_grid.csv", dtype={"model": str, "attack": str, "judge": str})
    grid = grid[grid["judge"] == args.judge]
    if args.tasks is not None:
        grid = grid[grid["tasks"] == args.tasks]
    var_path = args.artifact / "variation.csv"
    var = pd.read_csv(var_path) if var_path.is_file() else None
    import json

    study = json.loads((args.artifact / "manifest.json").read_text())["study"]
    for item in args.metric:
        metric, at = item.split("@")
        for (model, attack), part in grid.groupby(["model", "attack"], sort=False):
            step = int(part["steps"].min() if at == "min" else part["steps"].max())
            cell = part[part["steps"] == step]
            value = float(cell[metric].mean())
            seed_range = float(cell[metric].max() - cell[metric].min())
            n_col = "over_refusal_n" if metric in ("benign_utility", "over_refusal") else "n"
            n = int(cell[n_col].min())
            shift = 0.0
            if var is not None:
                v = var[(var["table"] == "results_grid") & (var["model"] == model) & (var["attack"] == attack)
                        & (var["steps"] == step) & (var["judge"] == args.judge) & (var["metric"] == metric)]
                if "tasks" in var.columns and args.tasks is not None:
                    v = v[v["tasks"] == args.tasks]
                shift = float(v["spread"].max()) if len(v) else 0.0
            tol = math.ceil((max(seed_range, shift) + 1 / n) * 100 - 1e-9) / 100
            sel = f'model: {model}, attack: {attack}, steps: {step}, judge: "{args.judge}"'
            sel += f", tasks: {args.tasks}" if args.tasks else ""
            if var is not None:
                src = (f"artifacts/{study}, the published run: mean over seeds (n={n} per seed). Tolerance measured: "
                       f"max(between-seed range {seed_range:.4g}, largest shift of the mean under the kept numerics "
                       f"variants {shift:.4g}, artifacts/{study}/variation.csv) + 1/n, rounded up to 0.01")
            else:
                src = (f"artifacts/{study}, the published run: mean over seeds (n={n} per seed). Tolerance measured: "
                       f"between-seed range {seed_range:.4g} + 1/n, rounded up to 0.01 (no numerics variants measured "
                       f"when it was made)")
            print(f"  - {{metric: {metric}, select: {{{sel}}}, value: {round(value, 4):g}, tolerance: {tol:g},\n"
                  f"     source: \"{src}\"}}")


if __name__ == "__main__":
    main()
