"""Reproductions and variation are evidence, not assertions: each is backed by run files kept in the artifact.

- evidence/variants/<name>/{manifest.json, the results grid}: the runs variation.csv was measured from (the same
  spec under other numerics settings). variation.csv is recomputed from them (rrs.checks.replication.
  measure_variation, the producer's own function) and must equal it: a spread the evidence does not show fails.
- evidence/reproductions/<fingerprint_id>/{manifest.json, the results grid}: a byte-for-byte reproduction on
  another numerics platform. Its row in reproductions.csv is accepted only when the kept manifest has that
  fingerprint (and the fingerprint hashes to the id) and the kept grid has the published grid's sha256. The row of
  the publishing platform itself is backed by the publication (its manifest and grid).

The artifact's manifest hashes these files like every other (rrs/artifact/inventory.py). Torch-free.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path

import pandas as pd

from rrs.artifact import inventory
from rrs.artifact.contract import GRID
from rrs.checks.replication import (
    REPRODUCTION_COLUMNS,
    REPRODUCTIONS,
    VARIATION,
    VARIATION_COLUMNS,
    measure_variation,
)
from rrs.checks.report import Failure
from rrs.errors import UserError

EVIDENCE = "evidence"
VARIANTS = f"{EVIDENCE}/variants"
REPRODUCED = f"{EVIDENCE}/reproductions"
KEPT = ("manifest.json", GRID)
REL_TOL = 1e-5  # variation.csv holds 6 significant digits


def _sha(path: Path) -> str:
    return hashlib.sha256(inventory.read_bounded(path)).hexdigest()


def _kept(folder: Path, rel: str) -> tuple[dict | None, pd.DataFrame | None, list[Failure]]:
    """A kept run's manifest and grid, or the failures saying why they are unusable."""
    from rrs.artifact.schemas import read_grid, validate_grid

    out = [Failure(f"{rel}/{n}", "-", "-", "-", "kept evidence holds this file") for n in KEPT
           if not (folder / n).is_file()]
    if out:
        return None, None, out
    try:
        man = json.loads(inventory.read_bounded(folder / "manifest.json", inventory.MAX_MANIFEST_BYTES))
        if not isinstance(man, dict):
            raise ValueError("not an object")
    except (OSError, ValueError, inventory.NotRegular) as err:
        return None, None, [Failure(f"{rel}/manifest.json", "-", "-", "-", f"a JSON object ({str(err)[:60]})")]
    try:
        grid = read_grid(folder / GRID)
    except UserError as err:
        return man, None, [Failure(f"{rel}/{GRID}", "-", "-", "-", str(err).split(": ", 1)[-1])]
    schema = validate_grid(grid)
    if schema:
        return man, None, [Failure(f"{rel}/{GRID}", f.column, f.row, f.value, f.rule) for f in schema[:5]]
    return man, grid, []


def _fingerprint_failures(man: dict, rel: str) -> list[Failure]:
    from rrs.numerics import fingerprint_id

    numerics = man.get("numerics") if isinstance(man.get("numerics"), dict) else {}
    fp, fid = numerics.get("fingerprint"), numerics.get("id")
    if not isinstance(fp, dict) or not isinstance(fid, str):
        return [Failure(f"{rel}/manifest.json", "numerics", "-", "-", "one numerics fingerprint and its id")]
    if fingerprint_id(fp) != fid:
        return [Failure(f"{rel}/manifest.json", "numerics.id", "-", fid,
                        f"the id of its fingerprint ({fingerprint_id(fp)})")]
    return []


def failures(result_dir: Path, grid: pd.DataFrame, manifest: dict) -> list[Failure]:
    return _variation(result_dir, grid, manifest) + _reproductions(result_dir, manifest)


def _same_study(man: dict, manifest: dict, rel: str) -> list[Failure]:
    out = []
    for key in ("study", "spec_sha256"):
        if man.get(key) != manifest.get(key):
            out.append(Failure(f"{rel}/manifest.json", key, "-", str(man.get(key))[:16],
                               f"the published run's {key} ({str(manifest.get(key))[:16]}): the same study"))
    return out


def _variation(result_dir: Path, grid: pd.DataFrame, manifest: dict) -> list[Failure]:
    folder = result_dir / VARIANTS
    names = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    path = result_dir / VARIATION
    if not path.is_file():
        return ([Failure(VARIANTS, "-", "-", ", ".join(names), "variant runs are kept only beside variation.csv")]
                if names else [])
    if not names:
        return [Failure(VARIATION, "-", "-", "-", f"backed by the variant runs it was measured from, kept in "
                                                  f"{VARIANTS}/<name>/ (manifest.json, {GRID})")]
    out, variants = [], []
    pub_id = (manifest.get("numerics") or {}).get("id") if isinstance(manifest.get("numerics"), dict) else None
    for name in names:
        rel = f"{VARIANTS}/{name}"
        man, vgrid, bad = _kept(folder / name, rel)
        out += bad
        if man is None or vgrid is None:
            continue
        out += _same_study(man, manifest, rel) + _fingerprint_failures(man, rel)
        if (man.get("numerics") or {}).get("id") == pub_id:
            out.append(Failure(f"{rel}/manifest.json", "numerics.id", "-", str(pub_id),
                               "a variant ran under other numerics settings than the published run"))
        variants.append(vgrid)
    if out:
        return out
    try:
        stated = pd.read_csv(io.StringIO(inventory.read_bounded(path).decode("utf-8")),
                             dtype={"model": str, "attack": str, "judge": str, "tasks": str, "table": str,
                                    "metric": str})
    except (ValueError, UnicodeDecodeError) as err:
        return [Failure(VARIATION, "-", "-", "-", f"a readable UTF-8 CSV ({str(err)[:60]})")]
    if list(stated.columns) != list(VARIATION_COLUMNS):
        return [Failure(VARIATION, "-", "1", ",".join(map(str, stated.columns))[:60],
                        f"columns {','.join(VARIATION_COLUMNS)}")]
    rebuilt = measure_variation(grid, variants)
    if len(stated) != len(rebuilt):
        return [Failure(VARIATION, "-", "-", f"{len(stated)} rows",
                        f"{len(rebuilt)} rows, as recomputed from the {len(names)} kept variant runs")]
    for i, (a, b) in enumerate(zip(stated.itertuples(index=False), rebuilt.itertuples(index=False), strict=True)):
        for col in VARIATION_COLUMNS:
            x, y = getattr(a, col), getattr(b, col)
            if isinstance(y, float | int) and not isinstance(y, bool):
                same = (_nan(x) and _nan(y)) or (not _nan(x) and not _nan(y) and
                                                  math.isclose(float(x), float(y), rel_tol=REL_TOL, abs_tol=1e-9))
            else:
                same = str(x) == str(y)
            if not same:
                out.append(Failure(VARIATION, col, str(i + 2), f"{x} vs recomputed {y:.6g}" if isinstance(y, float)
                                   else f"{x} vs recomputed {y}",
                                   f"equal to its recomputation from the kept variant runs ({', '.join(names)})"))
    return out


def _nan(x: object) -> bool:
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def _reproductions(result_dir: Path, manifest: dict) -> list[Failure]:
    folder = result_dir / REPRODUCED
    kept = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    path = result_dir / REPRODUCTIONS
    if not path.is_file():
        return [Failure(f"{REPRODUCED}/{k}", "-", "-", "-", f"a kept reproduction has its row in {REPRODUCTIONS}")
                for k in kept]
    try:
        rows = list(csv.DictReader(io.StringIO(inventory.read_bounded(path).decode("utf-8"))))
        header = next(csv.reader(io.StringIO(inventory.read_bounded(path).decode("utf-8"))), [])
    except (ValueError, UnicodeDecodeError, csv.Error) as err:
        return [Failure(REPRODUCTIONS, "-", "-", "-", f"a readable UTF-8 CSV ({str(err)[:60]})")]
    if tuple(header) != REPRODUCTION_COLUMNS:
        return [Failure(REPRODUCTIONS, "-", "1", ",".join(header)[:60], f"columns {','.join(REPRODUCTION_COLUMNS)}")]
    numerics = manifest.get("numerics") if isinstance(manifest.get("numerics"), dict) else {}
    pub_sha = _sha(result_dir / GRID)
    out, seen = [], set()
    for i, row in enumerate(rows):
        fid = row.get("fingerprint_id") or ""
        seen.add(fid)
        out += _reproduction_row(row, str(i + 2), fid, pub_sha, numerics, kept, folder, manifest)
    out += [Failure(f"{REPRODUCED}/{k}", "-", "-", "-", f"a kept reproduction has its row in {REPRODUCTIONS}")
            for k in kept if k not in seen]
    return out


def _reproduction_row(row: dict, line: str, fid: str, pub_sha: str, numerics: dict, kept: list[str], folder: Path,
                      manifest: dict) -> list[Failure]:
    """The failures of one reproductions.csv row (at `line`): its grid's hash, and its fingerprint, backed by the
    publication itself (the publishing platform) or by a reproduction's kept files."""
    out: list[Failure] = []
    if row.get("results_grid_sha256") != pub_sha:
        return [Failure(REPRODUCTIONS, "results_grid_sha256", line, (row.get("results_grid_sha256") or "")[:12],
                        f"the published {GRID}'s sha256 {pub_sha[:12]}… (a byte-for-byte "
                        "reproduction)")]  # fmt: skip
    try:
        row_fp = json.loads(row.get("fingerprint") or "")
    except ValueError:
        row_fp = None
    if fid == numerics.get("id"):  # the publishing platform: backed by the publication itself
        if row_fp != numerics.get("fingerprint"):
            out.append(Failure(REPRODUCTIONS, "fingerprint", line, fid, "the published manifest's fingerprint"))
        return out
    rel = f"{REPRODUCED}/{fid}"
    if fid not in kept:
        return [Failure(REPRODUCTIONS, "fingerprint_id", line, fid,
                        f"a reproduction is backed by its run's files kept in {rel}/ (manifest.json, "
                        f"{GRID})")]  # fmt: skip
    man, _, bad = _kept(folder / fid, rel)
    out += bad
    if man is None:
        return out
    out += _same_study(man, manifest, rel) + _fingerprint_failures(man, rel)
    kept_numerics = man.get("numerics") if isinstance(man.get("numerics"), dict) else {}
    if kept_numerics.get("id") != fid or kept_numerics.get("fingerprint") != row_fp:
        out.append(Failure(REPRODUCTIONS, "fingerprint", line, fid, f"the fingerprint of the kept {rel}/manifest.json"))
    if not bad and _sha(folder / fid / GRID) != pub_sha:
        out.append(Failure(f"{rel}/{GRID}", "-", "-", "-",
                           f"byte-identical to the published {GRID} (a reproduction)"))
    return out
