"""Publish a finished run: copy it into artifacts/<study>/ in one rename, only from a clean git tree.

What is copied: results_grid.csv, manifest.json, spec.resolved.yaml, samples/ and figures/ (hidden temp files
skipped). Refused, with one line and nothing written, when tracked files have uncommitted changes (the published
numbers must name a commit that produced them), when the run's manifest says it ran from a dirty tree, or when
the run lacks one of those files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from rrs.atomic import staged_dir, write_text
from rrs.checks.replication import (
    REPRODUCTION_COLUMNS,
    REPRODUCTIONS,
    VARIATION,
    compare_bytes,
    file_digests,
    measure_variation,
    read_reproductions,
)
from rrs.errors import UserError
from rrs.hashing import sha256_file

PUBLISHED = ("results_grid.csv", "curves.csv", "robustness.csv", "scaling.csv", "results.json", "manifest.json",
             "spec.resolved.yaml", "samples", "figures")


def tracked_changes(cwd: Path | None = None) -> list[str]:
    """`git status --porcelain` lines for tracked files (untracked files do not count)."""
    try:
        proc = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise UserError("git is not installed: cannot tell whether the tree is clean") from None
    if proc.returncode != 0:
        raise UserError(f"not a git work tree ({proc.stderr.strip().splitlines()[0] if proc.stderr else 'git failed'})",
                        where=str(cwd or Path.cwd()))  # fmt: skip
    return [line for line in proc.stdout.splitlines() if line.strip()]


def reproduction_row(run: Path) -> dict:
    """A row of reproductions.csv for a finished run: its platform and the sha256 of its results_grid.csv."""
    import datetime

    from rrs.numerics import describe

    man = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    numerics = man.get("numerics") or {}
    if not numerics.get("id"):
        raise UserError("manifest.json names no single numerics fingerprint: cannot record its platform", where=str(run))
    return {"fingerprint_id": numerics["id"], "platform": describe(numerics["fingerprint"]),
            "results_grid_sha256": sha256_file(run / "results_grid.csv"),
            "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
            "rrs_commit": (man.get("git") or {}).get("commit") or "unknown",
            "fingerprint": json.dumps(numerics["fingerprint"], sort_keys=True)}


def _reproductions_csv(rows: list[dict]) -> str:
    return pd.DataFrame(rows, columns=list(REPRODUCTION_COLUMNS)).to_csv(index=False, lineterminator="\n")


def record_reproduction(run: str | Path, published: str | Path) -> dict:
    """Append `run`'s platform to published/reproductions.csv, only when every output file is byte-identical."""
    run, published = Path(run), Path(published)
    for d in (run, published):
        if not (d / "results_grid.csv").is_file():
            raise UserError("no results_grid.csv: not a finished run", where=str(d))
    differ = compare_bytes(run, published)
    if differ:
        raise UserError(f"{len(differ)} output file(s) differ from the published ones (first: {differ[0].file}): "
                        "not a byte-for-byte reproduction; `rrs check` compares it as a replication")
    row = reproduction_row(run)
    rows = read_reproductions(published)
    if any(r["fingerprint_id"] == row["fingerprint_id"] for r in rows):
        raise UserError(f"numerics {row['fingerprint_id']} is already on record", where=str(published / REPRODUCTIONS))
    write_text(published / REPRODUCTIONS, _reproductions_csv(rows + [row]))
    return row


def publish(run: str | Path, dest: str | Path | None = None, *, cwd: Path | None = None,
            variants: list[Path] | None = None) -> Path:
    """Copy `run` to `dest` (default artifacts/<run name>, relative to `cwd`); return the destination.

    `variants`: finished runs of the same spec under other numerics settings; their spread around `run` is
    written to variation.csv (the between-platform part of `rrs check`'s replication tolerances), and `run`'s own
    platform starts reproductions.csv."""
    run = Path(run)
    base = Path(cwd) if cwd is not None else Path.cwd()
    dest = Path(dest) if dest is not None else Path("artifacts") / run.resolve().name
    dest = dest if dest.is_absolute() else base / dest
    src = run if run.is_absolute() else base / run
    if not src.is_dir():
        raise UserError("no such run directory", where=str(run))
    for name in PUBLISHED:
        if not (src / name).exists():
            raise UserError(f"missing {name}: not a finished run", where=str(run))
    changes = tracked_changes(base)
    if changes:
        raise UserError(f"git tree has uncommitted changes to {len(changes)} tracked file(s) (first: "
                        f"{changes[0].strip()}): commit them, rerun, then publish")  # fmt: skip
    try:
        dirty = json.loads((src / "manifest.json").read_text(encoding="utf-8")).get("git", {}).get("dirty")
    except (ValueError, AttributeError):
        raise UserError("manifest.json is not a JSON object", where=str(run)) from None
    if dirty is not False:
        raise UserError(f"manifest.json: git.dirty is {json.dumps(dirty)}: the run was not made from a clean tree; "
                        "rerun it from a commit", where=str(run))  # fmt: skip
    variation = _variation(src, [v if Path(v).is_absolute() else base / v for v in variants or []])
    row = reproduction_row(src)
    records, kept_variation = [row], None
    if not variants and _same_results(src, dest):
        # a republication of the same results (new provenance files, same grid bytes): the platforms on record and
        # the spread measured under other numerics settings still describe these results, so they are kept
        records += [r for r in read_reproductions(dest) if r["fingerprint_id"] != row["fingerprint_id"]]
        if (dest / VARIATION).is_file():
            kept_variation = (dest / VARIATION).read_text(encoding="utf-8")
    with staged_dir(dest, replace=True) as tmp:
        for name in PUBLISHED:
            if (src / name).is_dir():
                shutil.copytree(src / name, tmp / name, ignore=shutil.ignore_patterns(".*"))
            else:
                shutil.copy2(src / name, tmp / name)
        write_text(tmp / REPRODUCTIONS, _reproductions_csv(records))
        if variation is not None:
            write_text(tmp / VARIATION, variation.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
        elif kept_variation is not None:
            write_text(tmp / VARIATION, kept_variation)
    return dest


def _same_results(src: Path, dest: Path) -> bool:
    """`dest` holds a published run whose results and samples are byte-identical to `src`'s."""
    if not (dest / "results_grid.csv").is_file():
        return False
    a, b = file_digests(src), file_digests(dest)
    a.pop("results.json", None), b.pop("results.json", None)  # new with this publication when the old run lacks it
    return a == b


def _variation(src: Path, variants: list[Path]) -> pd.DataFrame | None:
    from rrs.artifact.schemas import read_grid

    if not variants:
        return None
    spec = (src / "spec.resolved.yaml").read_text(encoding="utf-8").split("\n", 1)[1]
    for v in variants:
        if not (v / "results_grid.csv").is_file():
            raise UserError("no results_grid.csv: not a finished run", where=str(v))
        if (v / "spec.resolved.yaml").read_text(encoding="utf-8").split("\n", 1)[1] != spec:
            raise UserError("spec.resolved.yaml differs from the published run's: not a variant of the same study",
                            where=str(v))
    return measure_variation(read_grid(src / "results_grid.csv"), [read_grid(v / "results_grid.csv") for v in variants])
