"""A fresh run against the published one: byte-identical on the same numerics platform, a replication elsewhere.

PyTorch promises bit-identical results only on one platform; across CPUs the vector path changes training, and near
the collapse step as much as a change of seed does. So the comparison has two modes, chosen from the manifests'
numerics fingerprints (rrs/numerics.py) and the published record of reproductions (reproductions.csv):

- identical: the fresh run's fingerprint is the published run's, or one on which the study has reproduced byte for
  byte before. Every output file (results_grid.csv, the scaling tables, every samples file) must have the published
  bytes; the report names each file that differs.
- replication: another platform. Per (model, attack, steps, judge) and metric in COMPARED, the fresh mean over seeds
  must lie within the tolerance of the published mean, and so must each model's mean s50 and auc (robustness.csv).
  The tolerance is measured, not chosen: the largest of the between-seed range of the published run, that of the
  fresh run, and the between-platform spread measured at publication (variation.csv: the published run against
  the same study under other numerics settings), plus the measurement's resolution (one response in n for a rate,
  RD_RESOLUTION for a drift, one attack step for s50). The fresh run's own claims are checked separately and must
  all hold in either mode.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rrs.checks.report import Failure

COMPARED = ("rrr", "compliance", "degenerate", "over_refusal", "benign_utility", "rd", "benign_rd")
DRIFTS = ("rd", "benign_rd")
RD_RESOLUTION = 0.01  # drift is a median of cosine distances; 0.01 is a hundredth of its range in practice
CELL = ("model", "attack", "steps", "judge")
CURVE = ("model", "attack", "judge")
QUANTITIES = ("s50", "auc")
BYTE_FILES = ("results_grid.csv", "curves.csv", "robustness.csv", "scaling.csv")
VARIATION = "variation.csv"
REPRODUCTIONS = "reproductions.csv"
VARIATION_COLUMNS = ("table", "model", "attack", "steps", "judge", "metric", "published", "spread", "n_variants")
REPRODUCTION_COLUMNS = ("fingerprint_id", "platform", "results_grid_sha256", "date", "rrs_commit", "fingerprint")


@dataclass
class Mode:
    name: str  # "identical" | "replication"
    why: str


def numerics_id(result_dir: Path) -> str | None:
    try:
        man = json.loads((result_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ((man.get("numerics") or {}) if isinstance(man, dict) else {}).get("id")


def read_reproductions(published: Path) -> list[dict]:
    path = published / REPRODUCTIONS
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def choose_mode(published: Path, fresh: Path) -> Mode:
    pub, new = numerics_id(published), numerics_id(fresh)
    if new is None:
        return Mode("replication", "the fresh run's manifest names no numerics fingerprint")
    if new == pub:
        return Mode("identical", f"same numerics fingerprint {new} as the published run: bytes must match")
    for row in read_reproductions(published):
        if row.get("fingerprint_id") == new:
            return Mode("identical", f"numerics fingerprint {new} ({row.get('platform')}) reproduced this study byte "
                                     f"for byte on {row.get('date')} (reproductions.csv): bytes must match")
    return Mode("replication", f"numerics fingerprint {new} differs from the published {pub} and is not in "
                               f"{REPRODUCTIONS}: compared as a replication, within measured tolerances")


def platform_note(published: Path) -> str | None:
    """Torch-free: is this machine's CPU and numerics knobs those of a platform the study reproduced on?"""
    from rrs.numerics import cpu, knobs

    known = []
    try:
        man = json.loads((published / "manifest.json").read_text(encoding="utf-8"))
        fp = (man.get("numerics") or {}).get("fingerprint")
        if fp:
            known.append((man["numerics"]["id"], fp.get("cpu"), fp.get("knobs") or {}, "the published run"))
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    for row in read_reproductions(published):
        try:
            fp = json.loads(row.get("fingerprint", "") or "{}")
        except ValueError:
            continue
        known.append((row.get("fingerprint_id"), fp.get("cpu"), fp.get("knobs") or {}, f"a reproduction on {row.get('date')}"))
    if not known:
        return None
    here, my_knobs = cpu(), knobs()
    for fid, c, k, what in known:
        if c == here and k == my_knobs:
            return (f"this machine ({here['vendor']} {here['model']}, knobs {my_knobs or 'none'}) matches the platform "
                    f"of {what} (numerics {fid}): a fresh run here is expected to be byte-identical")
    return (f"this machine ({here['vendor']} {here['model']}, knobs {my_knobs or 'none'}) is not on record "
            f"({REPRODUCTIONS}): a fresh run here is compared as a replication")


# ---------------------------------------------------------------- identical


def file_digests(result_dir: Path) -> dict[str, str]:
    """sha256 of every compared output file, by its path relative to result_dir."""
    names = [n for n in BYTE_FILES if (result_dir / n).is_file()]
    names += sorted(p.relative_to(result_dir).as_posix() for p in (result_dir / "samples").rglob("*.jsonl"))
    return {n: hashlib.sha256((result_dir / n).read_bytes()).hexdigest() for n in names}


def compare_bytes(fresh: Path, published: Path) -> list[Failure]:
    a, b = file_digests(fresh), file_digests(published)
    out = [Failure(f"{fresh.as_posix()}/{n}", "-", "-", f"sha256 {a[n][:12]}… vs published {b[n][:12]}…",
                   "byte-identical to the published file (same numerics platform)")
           for n in sorted(a.keys() & b.keys()) if a[n] != b[n]]
    out += [Failure(f"{fresh.as_posix()}/{n}", "-", "-", "missing", "the published run has this file")
            for n in sorted(b.keys() - a.keys())]
    out += [Failure(f"{fresh.as_posix()}/{n}", "-", "-", "extra", "the published run has no such file")
            for n in sorted(a.keys() - b.keys())]
    return out


# ---------------------------------------------------------------- replication


def _seed_stats(grid: pd.DataFrame, metric: str, by: tuple[str, ...]) -> pd.DataFrame:
    g = grid.groupby(list(by), sort=False)[metric]
    return pd.DataFrame({"mean": g.mean(), "range": g.max() - g.min(), "n": g.count()})


def _resolution(metric: str, n: float) -> float:
    if metric in DRIFTS:
        return RD_RESOLUTION
    if metric in QUANTITIES:
        return 1.0 if metric == "s50" else 0.0
    return 1.0 / n if n and n == n else 0.0


def spread_table(variation: pd.DataFrame | None, table: str, metric: str, by: tuple[str, ...]) -> pd.Series | None:
    if variation is None or variation.empty:
        return None
    part = variation[(variation["table"] == table) & (variation["metric"] == metric)]
    if part.empty:
        return None
    part = part.astype({"steps": float}) if "steps" in by else part
    return part.set_index(list(by))["spread"]


def _compare(fresh: pd.DataFrame, pub: pd.DataFrame, metric: str, by: tuple[str, ...], spread: pd.Series | None,
             n: pd.Series | None, file: str) -> list[Failure]:
    f, p = _seed_stats(fresh, metric, by), _seed_stats(pub, metric, by)
    both = f.join(p, lsuffix="_f", rsuffix="_p", how="outer")
    out = []
    for key, r in both.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        where = "/".join(str(k) for k in key)
        if math.isnan(r["mean_f"]) != math.isnan(r["mean_p"]):
            out.append(Failure(file, metric, where, f"fresh {r['mean_f']:.4g} vs published {r['mean_p']:.4g}",
                               "defined in both runs or in neither"))
            continue
        if math.isnan(r["mean_f"]):
            continue
        lookup = tuple(float(k) if by[i] == "steps" else k for i, k in enumerate(key))
        plat = float(spread.get(lookup, 0.0)) if spread is not None else 0.0
        res = _resolution(metric, float(n.get(key, math.nan)) if n is not None else math.nan)
        tol = max(_nz(r["range_p"]), _nz(r["range_f"]), plat) + res
        delta = r["mean_f"] - r["mean_p"]
        if abs(delta) > tol + 1e-9:
            out.append(Failure(file, metric, where, f"fresh {r['mean_f']:.4g} vs published {r['mean_p']:.4g} "
                                                    f"(Δ {delta:+.3g})",
                               f"|Δ| <= {tol:.3g} = max(seed range {_nz(r['range_p']):.3g} published, "
                               f"{_nz(r['range_f']):.3g} fresh, platform spread {plat:.3g}) + resolution {res:.3g}"))
    return out


def _nz(x: float) -> float:
    return 0.0 if x != x else float(x)


def compare_replication(fresh_grid: pd.DataFrame, pub_grid: pd.DataFrame, fresh_tables: dict, pub_tables: dict,
                        variation: pd.DataFrame | None, file: str) -> list[Failure]:
    out: list[Failure] = []
    n = pub_grid.groupby(list(CELL), sort=False)["n"].first()
    for metric in COMPARED:
        if metric in fresh_grid.columns and metric in pub_grid.columns:
            out += _compare(fresh_grid, pub_grid, metric, CELL, spread_table(variation, "results_grid", metric, CELL),
                            n, file)
    curves_f, curves_p = fresh_tables["curves.csv"], pub_tables["curves.csv"]
    for q in QUANTITIES:
        out += _compare(curves_f, curves_p, q, CURVE, spread_table(variation, "curves", q, CURVE), None,
                        file.replace("results_grid.csv", "curves.csv"))
    return out


# ---------------------------------------------------------------- measuring the spread between platforms


def measure_variation(published_grid: pd.DataFrame, variant_grids: list[pd.DataFrame]) -> pd.DataFrame:
    """variation.csv: per cell and metric, the largest |variant mean − published mean| over the variants."""
    from rrs.measure.scaling import curves

    rows = []
    for table, by, metrics, get in (
        ("results_grid", CELL, COMPARED, lambda g: g),
        ("curves", CURVE, QUANTITIES, curves),
    ):
        pub = get(published_grid)
        for metric in metrics:
            base = pub.groupby(list(by), sort=False)[metric].mean()
            diffs = [(get(v).groupby(list(by), sort=False)[metric].mean() - base).abs() for v in variant_grids]
            spread = pd.concat(diffs, axis=1).max(axis=1, skipna=True) if diffs else base * 0
            for key, value in base.items():
                key = key if isinstance(key, tuple) else (key,)
                cell = dict(zip(by, key, strict=True))
                rows.append({"table": table, "model": cell["model"], "attack": cell["attack"],
                             "steps": cell.get("steps", np.nan), "judge": cell["judge"], "metric": metric,
                             "published": value, "spread": _nz(spread.get(key, 0.0)),
                             "n_variants": len(variant_grids)})
    return pd.DataFrame(rows, columns=list(VARIATION_COLUMNS))


def read_variation(published: Path) -> pd.DataFrame | None:
    path = published / VARIATION
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"model": str, "attack": str, "judge": str, "table": str, "metric": str})
