"""A fresh run against the published one: byte-identical on the same numerics platform, a replication elsewhere.

PyTorch promises bit-identical results only on one platform; across CPUs the vector path changes training, and near
the collapse step as much as a change of seed does. So the comparison has two modes, chosen from the manifests'
numerics fingerprints (rrs/numerics.py) and the published record of reproductions (reproductions.csv):

- identical: the fresh run's fingerprint is the published run's, or one on which the study has reproduced byte for
  byte before. Every output file (the results grid, the scaling tables, every samples file) must have the published
  bytes; the report names each file that differs.
- replication: another platform, or another runtime (device, thread count: not part of the fingerprint, but a
  run at another thread count takes other reduction orders). Per (model, attack, steps, judge, tasks) and metric in
  COMPARED, and per model for s50 and auc (curves.csv), the fresh mean over seeds is compared with the published
  one. The verdict does not cry wolf over ~1,000 comparisons:
  * per cell, an interval: max(between-seed range of either run, the between-platform spread measured at
    publication in variation.csv, recomputed from kept variant runs) + the measurement's resolution (one answer in
    n for a rate, so a flip of one answer never fails alone; RD_RESOLUTION for a drift; one step for s50) + for a
    rate z(1 - CELL_ALPHA/2) standard errors of the difference of two binomial means over seeds × n answers;
  * family-wise: with M cells compared, more than binom_upper(M, CELL_ALPHA, 1 - FAMILY_ALPHA) of them outside
    their interval fails (each outside cell is named); fewer pass;
  * a cell alone fails beyond a wider interval: z(1 - FAMILY_ALPHA / 2M) standard errors for a rate
    (Bonferroni), OUTER_FACTOR × its interval for a drift, s50 or auc.
  Claims and references must hold on the fresh run exactly as stated (its own check, in either mode).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from rrs.artifact.contract import GRID
from rrs.checks.report import Failure

COMPARED = ("rrr", "mixed", "compliance", "copied", "degenerate", "over_refusal", "benign_utility", "rd", "benign_rd")
DRIFTS = ("rd", "benign_rd")
RD_RESOLUTION = 0.01  # drift is a median of cosine distances; 0.01 is a hundredth of its range in practice
CELL = ("model", "attack", "steps", "judge", "tasks")
CURVE = ("model", "attack", "judge", "tasks")
QUANTITIES = ("s50", "auc")
BYTE_FILES = (GRID, "curves.csv", "robustness.csv", "scaling.csv")
VARIATION = "variation.csv"
REPRODUCTIONS = "reproductions.csv"
VARIATION_COLUMNS = ("table", "model", "attack", "steps", "judge", "tasks", "metric", "published", "spread",
                     "n_variants")
CELL_ALPHA = 0.01  # a per-cell interval of 99% sampling coverage (z 2.58 standard errors of a rate's difference)
FAMILY_ALPHA = 0.001  # the family-wise error rate of the verdict over all compared cells
OUTER_FACTOR = 2.0  # a drift, s50 or auc (no binomial error) fails alone beyond twice its interval
REPRODUCTION_COLUMNS = ("fingerprint_id", "platform", "results_grid_sha256", "date", "rrs_commit", "fingerprint")


@dataclass
class Mode:
    name: str  # "identical" | "replication"
    why: str


def _manifest(result_dir: Path) -> dict:
    from rrs.artifact.inventory import MAX_MANIFEST_BYTES, NotRegular, read_bounded

    try:
        man = json.loads(read_bounded(result_dir / "manifest.json", MAX_MANIFEST_BYTES))
    except (OSError, ValueError, NotRegular):
        return {}
    return man if isinstance(man, dict) else {}


def numerics_id(result_dir: Path) -> str | None:
    numerics = _manifest(result_dir).get("numerics")
    return numerics.get("id") if isinstance(numerics, dict) else None


def runtime(result_dir: Path) -> tuple[object, object]:
    """(device kind, threads) the run's manifest records: runtime settings, not part of the numerics fingerprint."""
    device = _manifest(result_dir).get("device")
    device = device if isinstance(device, dict) else {}
    return device.get("kind"), device.get("threads")


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
    if runtime(fresh) != runtime(published):
        (dev_f, thr_f), (dev_p, thr_p) = runtime(fresh), runtime(published)
        return Mode("replication", f"the fresh run ran on {dev_f} with {thr_f} thread(s), the published one on "
                                   f"{dev_p} with {thr_p}: another runtime is compared as a replication")
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


@dataclass(frozen=True)
class Cell:
    """One compared value: fresh and published means, the per-cell interval (`inner`) and the interval outside
    which the cell fails on its own (`outer`)."""

    file: str
    metric: str
    where: str
    fresh: float
    published: float
    inner: float
    outer: float
    why: str

    @property
    def delta(self) -> float:
        return self.fresh - self.published


def _sampling_se(metric: str, mean_f: float, mean_p: float, n: float, seeds: float) -> float:
    """Standard error of the difference of two rate means, each over `seeds` seeds of n answers (a pooled,
    add-one-smoothed proportion, so a cell at 0 or 1 still has a sampling allowance); 0 for a drift or s50/auc."""
    if metric in DRIFTS or metric in QUANTITIES or not (n and n == n and seeds):
        return 0.0
    total = n * seeds
    p = (mean_f * total + mean_p * total + 1.0) / (2.0 * total + 2.0)
    return math.sqrt(p * (1.0 - p) * 2.0 / total)


def _cells(fresh: pd.DataFrame, pub: pd.DataFrame, metric: str, by: tuple[str, ...], spread: pd.Series | None,
           n: pd.Series | None, file: str, z_cell: float, z_alone: float) -> tuple[list[Cell], list[Failure]]:
    f, p = _seed_stats(fresh, metric, by), _seed_stats(pub, metric, by)
    both = f.join(p, lsuffix="_f", rsuffix="_p", how="outer")
    cells, out = [], []
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
        n_cell = float(n.get(key, math.nan)) if n is not None else math.nan
        res = _resolution(metric, n_cell)
        base = max(_nz(r["range_p"]), _nz(r["range_f"]), plat) + res
        se = _sampling_se(metric, r["mean_f"], r["mean_p"], n_cell, min(_nz(r["n_f"]), _nz(r["n_p"])))
        inner = base + z_cell * se
        outer = base + z_alone * se if se else OUTER_FACTOR * base
        why = (f"max(seed range {_nz(r['range_p']):.3g} published, {_nz(r['range_f']):.3g} fresh, platform spread "
               f"{plat:.3g}) + resolution {res:.3g}" + (f" + {z_cell:.3g} × sampling SE {se:.3g}" if se else ""))
        cells.append(Cell(file, metric, where, float(r["mean_f"]), float(r["mean_p"]), inner, outer, why))
    return cells, out


def _beyond(delta: float, limit: float) -> bool:
    """|delta| beyond `limit`, which may hold a spread that variation.csv wrote with 6 significant digits: a kept
    variant, whose shift is that spread, lies on its limit, not beyond it."""
    return abs(delta) > limit * (1 + 1e-5) + 1e-9


def _nz(x: float) -> float:
    return 0.0 if x != x else float(x)


def binom_upper(m: int, alpha: float, level: float) -> int:
    """The smallest k with P(Binomial(m, alpha) > k) <= 1 - level: how many of m cells may fall outside a per-cell
    interval of coverage 1 - alpha before that many is itself improbable (exact, stdlib only)."""
    if m <= 0:
        return 0
    log_a, log_b = math.log(alpha), math.log1p(-alpha)
    cdf = 0.0
    for k in range(m + 1):
        cdf += math.exp(math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1) + k * log_a
                        + (m - k) * log_b)
        if cdf >= level:
            return k
    return m


@dataclass
class Replication:
    """The verdict of a replication: the failures (empty: it replicates) and the rule's numbers, for the report."""

    failures: list[Failure]
    compared: int
    outside: int
    allowed: int
    rule: str


def compare_replication(fresh_grid: pd.DataFrame, pub_grid: pd.DataFrame, fresh_tables: dict, pub_tables: dict,
                        variation: pd.DataFrame | None, file: str) -> list[Failure]:
    return judge_replication(fresh_grid, pub_grid, fresh_tables, pub_tables, variation, file).failures


def judge_replication(fresh_grid: pd.DataFrame, pub_grid: pd.DataFrame, fresh_tables: dict, pub_tables: dict,
                      variation: pd.DataFrame | None, file: str) -> Replication:
    """The family-wise replication rule (module docstring): per-cell intervals, a binomial bound on how many cells
    may fall outside them, and a wider interval outside which one cell fails alone."""
    out: list[Failure] = []
    cells: list[Cell] = []
    n = pub_grid.groupby(list(CELL), sort=False)["n"].first()
    parts = [(fresh_grid, pub_grid, m, CELL, spread_table(variation, "results_grid", m, CELL), n, file)
             for m in COMPARED if m in fresh_grid.columns and m in pub_grid.columns]
    curves_file = file.replace(GRID, "curves.csv")
    parts += [(fresh_tables["curves.csv"], pub_tables["curves.csv"], q, CURVE,
               spread_table(variation, "curves", q, CURVE), None, curves_file) for q in QUANTITIES]
    m_total = sum(len(_seed_stats(p, metric, by)) for _, p, metric, by, *_ in parts)
    z_cell = NormalDist().inv_cdf(1 - CELL_ALPHA / 2)
    z_alone = NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * max(m_total, 1)))
    for fresh, pub, metric, by, spread, n_, f in parts:
        found, bad = _cells(fresh, pub, metric, by, spread, n_, f, z_cell, z_alone)
        cells += found
        out += bad
    outside = [c for c in cells if _beyond(c.delta, c.inner)]
    allowed = binom_upper(len(cells), CELL_ALPHA, 1 - FAMILY_ALPHA)
    rule = (f"{len(outside)} of {len(cells)} cells outside their per-cell interval (at most {allowed} may be: "
            f"binomial bound at {1 - FAMILY_ALPHA:g} for intervals of {1 - CELL_ALPHA:g} coverage)")
    for c in outside:
        alone = _beyond(c.delta, c.outer)
        if alone or len(outside) > allowed:
            limit = (f"|Δ| <= {c.outer:.3g}, the interval outside which one cell fails alone"
                     if alone else f"|Δ| <= {c.inner:.3g} = {c.why}; {rule}")
            out.append(Failure(c.file, c.metric, c.where, f"fresh {c.fresh:.4g} vs published {c.published:.4g} "
                                                          f"(Δ {c.delta:+.3g})", limit))
    return Replication(out, len(cells), len(outside), allowed, rule)


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
                             "steps": cell.get("steps", np.nan), "judge": cell["judge"], "tasks": cell["tasks"],
                             "metric": metric,
                             "published": value, "spread": _nz(spread.get(key, 0.0)),
                             "n_variants": len(variant_grids)})
    return pd.DataFrame(rows, columns=list(VARIATION_COLUMNS))


def read_variation(published: Path) -> pd.DataFrame | None:
    path = published / VARIATION
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"model": str, "attack": str, "judge": str, "tasks": str, "table": str,
                                    "metric": str})
