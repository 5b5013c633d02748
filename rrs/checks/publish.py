"""Publish a finished run: copy it into artifacts/<study>/ in one rename, only from a clean git tree, and only
what `rrs check` passes.

What is copied: the tables, results.json, manifest.json, spec.resolved.yaml, samples/ and figures/ (hidden temp
files skipped); beside them reproductions.csv, variation.csv and the evidence that backs them (evidence/: the
manifest and grid of each variant run, rrs/checks/evidence.py). The copy's manifest.json gets the list of every
file with its sha256 and size (rrs/artifact/inventory.py); then the staged copy is checked in the same process
(rrs.checks.run.check_dir) and published only when it passes. Refused, with one line and nothing written, when
tracked files have uncommitted changes (the published numbers must name a commit that produced them), when the
run's manifest says it ran from a dirty tree, when the run lacks one of those files, when the destination exists
and `replace` is not given, or when the destination holds a file that no publication wrote (never deleted).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from rrs.artifact import inventory
from rrs.artifact.contract import GRID, REQUIRED
from rrs.atomic import staged_dir, write_json, write_text
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

EVIDENCE = "evidence"
KEPT = ("manifest.json", GRID)  # what is kept of a variant or reproducing run
PUBLISHED = REQUIRED  # the contract's (rrs/artifact/contract.py)


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
    """A row of reproductions.csv for a finished run: its platform and the sha256 of its the results grid."""
    import datetime

    from rrs.numerics import describe

    man = _manifest(run)
    numerics = man.get("numerics") if isinstance(man.get("numerics"), dict) else {}
    if not numerics.get("id"):
        raise UserError("manifest.json names no single numerics fingerprint: cannot record its platform", where=str(run))
    return {"fingerprint_id": numerics["id"], "platform": describe(numerics["fingerprint"]),
            "results_grid_sha256": sha256_file(run / GRID),
            "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
            "rrs_commit": (man.get("git") or {}).get("commit") or "unknown",
            "fingerprint": json.dumps(numerics["fingerprint"], sort_keys=True)}


def _manifest(run: Path) -> dict:
    """The run's manifest.json as a dict, or one clear UserError (missing, not JSON, not an object)."""
    try:
        man = json.loads(inventory.read_bounded(run / "manifest.json", inventory.MAX_MANIFEST_BYTES))
    except FileNotFoundError:
        raise UserError("manifest.json missing: not a finished run", where=str(run)) from None
    except (OSError, ValueError, inventory.NotRegular) as err:
        raise UserError(f"manifest.json is not valid JSON ({str(err)[:80]})", where=str(run)) from None
    if not isinstance(man, dict):
        raise UserError(f"manifest.json holds a JSON {type(man).__name__}, not an object", where=str(run))
    return man


def _rows(published: Path) -> list[dict]:
    try:
        return read_reproductions(published)
    except (UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{REPRODUCTIONS} is not a UTF-8 CSV ({str(err)[:60]})", where=str(published)) from None


def _reproductions_csv(rows: list[dict]) -> str:
    return pd.DataFrame(rows, columns=list(REPRODUCTION_COLUMNS)).to_csv(index=False, lineterminator="\n")


def record_reproduction(run: str | Path, published: str | Path) -> dict:
    """Append `run`'s platform to published/reproductions.csv, only when every output file is byte-identical and
    `rrs check published --fresh run` passes; the run's manifest and grid are kept as the row's evidence
    (evidence/reproductions/<fingerprint_id>/) and the published manifest's file list is updated."""
    from rrs.checks.run import check_dir

    run, published = Path(run), Path(published)
    for d in (run, published):
        if not (d / GRID).is_file():
            raise UserError(f"no {GRID}: not a finished run", where=str(d))
    differ = compare_bytes(run, published)
    if differ:
        raise UserError(f"{len(differ)} output file(s) differ from the published ones (first: {differ[0].file}): "
                        "not a byte-for-byte reproduction; `rrs check` compares it as a replication")
    row = reproduction_row(run)
    rows = _rows(published)
    if any(r["fingerprint_id"] == row["fingerprint_id"] for r in rows):
        raise UserError(f"numerics {row['fingerprint_id']} is already on record", where=str(published / REPRODUCTIONS))
    report = check_dir(published, fresh_dir=run)
    if not report.ok:
        raise UserError(f"`rrs check {published} --fresh {run}` fails ({_first(report)}): not recorded")
    man = _manifest(published)
    kept = published / EVIDENCE / "reproductions" / row["fingerprint_id"]
    for name in KEPT:
        write_text(kept / name, inventory.read_bounded(run / name).decode("utf-8"))
    write_text(published / REPRODUCTIONS, _reproductions_csv(rows + [row]))
    man[inventory.FILES_KEY] = inventory.build(published)
    write_json(published / "manifest.json", man)
    return row


def _first(report) -> str:
    bad = report.failures + report.comparison + (report.fresh.failures if report.fresh is not None else [])
    if bad:
        f = bad[0]
        return f"{f.file}{'' if f.row == '-' else ' line ' + f.row}{'' if f.column == '-' else ' ' + f.column}: {f.rule}"
    failed = [c.id for c in report.claims if not c.ok] + [r.select for r in report.references if not r.ok]
    return f"failed: {', '.join(failed[:3])}" if failed else "see rrs check"


def ours(dest: Path) -> set[str]:
    """The files under an existing publication `dest` that a publication wrote: those its manifest lists, the
    manifest, and (a publication from before the file list) the published names, reproductions.csv,
    variation.csv and everything under samples/, figures/ and evidence/."""
    found: set[str] = {"manifest.json", REPRODUCTIONS, VARIATION}
    found |= {n for n in PUBLISHED if (dest / n).is_file()}
    try:
        listed = _manifest(dest).get(inventory.FILES_KEY)
    except UserError:
        listed = None
    if isinstance(listed, list):
        found |= {i["path"] for i in listed if isinstance(i, dict) and isinstance(i.get("path"), str)}
    else:
        for d in ("samples", "figures", EVIDENCE):
            if (dest / d).is_dir() and not (dest / d).is_symlink():
                found |= {p.relative_to(dest).as_posix() for p in (dest / d).rglob("*") if p.is_file()}
    return found


def publish(run: str | Path, dest: str | Path | None = None, *, cwd: Path | None = None,
            variants: list[Path] | None = None, replace: bool = False) -> Path:
    """Copy `run` to `dest` (default artifacts/<run name>, relative to `cwd`); return the destination.

    `variants`: finished runs of the same spec under other numerics settings; their spread around `run` is
    written to variation.csv (the between-platform part of `rrs check`'s replication tolerances), and `run`'s own
    platform starts reproductions.csv."""
    run = Path(run)
    base = Path(cwd) if cwd is not None else Path.cwd()
    dest = Path(dest) if dest is not None else Path("artifacts") / run.resolve().name
    dest = dest if dest.is_absolute() else base / dest
    src = run if run.is_absolute() else base / run
    _refuse_source(src, run)
    _refuse_destination(dest, replace)
    _refuse_unclean(src, run, base)
    variant_dirs = [v if Path(v).is_absolute() else base / v for v in variants or []]
    variation = _variation(src, variant_dirs)
    records, kept_variation, kept_dirs = _kept_records(src, dest, bool(variants))
    with staged_dir(dest, replace=True) as tmp:
        _stage(tmp, src, dest, records, kept_dirs)
        if variation is not None:
            write_text(tmp / VARIATION, variation.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
            for v in variant_dirs:
                for name in KEPT:
                    write_text(tmp / EVIDENCE / "variants" / v.resolve().name / name,
                               inventory.read_bounded(v / name).decode("utf-8"))
        elif kept_variation is not None:
            write_text(tmp / VARIATION, kept_variation)
        man = _manifest(tmp)
        man[inventory.FILES_KEY] = inventory.build(tmp)
        write_json(tmp / "manifest.json", man)
        _check_staged(tmp, run)
    return dest


def _refuse_source(src: Path, run: Path) -> None:
    """`src` must be a finished run: a directory holding every published name."""
    if not src.is_dir():
        raise UserError("no such run directory", where=str(run))
    for name in PUBLISHED:
        if not (src / name).exists():
            raise UserError(f"missing {name}: not a finished run", where=str(run))


def _refuse_destination(dest: Path, replace: bool) -> None:
    """An existing `dest` is replaced only with `replace`, only if it is a folder holding nothing but our files."""
    if dest.exists() or dest.is_symlink():
        if dest.is_symlink() or not dest.is_dir():
            raise UserError("exists and is not a folder: a publication is a folder (give --to DIR)", where=str(dest))
        if not replace:
            raise UserError("a publication exists there: pass --replace to replace it", where=str(dest))
        mine = ours(dest)
        files, special = inventory.walk(dest)
        foreign = [p.path for p in special] + [f for f in files if f not in mine]
        if foreign:
            raise UserError(f"holds {len(foreign)} file(s) no publication wrote (first: {foreign[0]}): move them "
                            "away; publish never deletes them", where=str(dest))  # fmt: skip


def _refuse_unclean(src: Path, run: Path, base: Path) -> None:
    """The git tree at `base` has no uncommitted tracked changes, and the run was made from a clean tree."""
    changes = tracked_changes(base)
    if changes:
        raise UserError(f"git tree has uncommitted changes to {len(changes)} tracked file(s) (first: "
                        f"{changes[0].strip()}): commit them, rerun, then publish")  # fmt: skip
    git = _manifest(src).get("git")
    dirty = git.get("dirty") if isinstance(git, dict) else None
    if dirty is not False:
        raise UserError(f"manifest.json: git.dirty is {json.dumps(dirty)}: the run was not made from a clean tree; "
                        "rerun it from a commit", where=str(run))  # fmt: skip


def _kept_records(src: Path, dest: Path, new_variants: bool) -> tuple[list[dict], str | None, list[Path]]:
    """The reproductions.csv rows (the run's own first), the kept variation.csv text (or None) and the evidence
    folders of `dest` to carry over into the new publication."""
    row = reproduction_row(src)
    records, kept_variation, kept_dirs = [row], None, []
    if _same_results(src, dest):
        # a republication of the same results (new provenance files, same grid bytes): the platforms on record
        # still describe these results, so they are kept with the evidence that backs them (a row without kept
        # evidence is dropped: it cannot be verified); without new variants, so is the measured spread
        for r in _rows(dest):
            backed = dest / EVIDENCE / "reproductions" / str(r["fingerprint_id"])
            if r["fingerprint_id"] == row["fingerprint_id"] and r["results_grid_sha256"] == row["results_grid_sha256"]:
                records[0] = r  # the publishing platform's row as first recorded (its date)
            elif backed.is_dir():
                records.append(r)
                kept_dirs.append(backed)
        if not new_variants and (dest / VARIATION).is_file() and (dest / EVIDENCE / "variants").is_dir():
            kept_variation = (dest / VARIATION).read_text(encoding="utf-8")
            kept_dirs.append(dest / EVIDENCE / "variants")
    return records, kept_variation, kept_dirs


def _stage(tmp: Path, src: Path, dest: Path, records: list[dict], kept_dirs: list[Path]) -> None:
    """Copy the run's published files, write reproductions.csv and carry over the kept evidence folders."""
    for name in PUBLISHED:
        if (src / name).is_dir():
            shutil.copytree(src / name, tmp / name, ignore=shutil.ignore_patterns(".*"))
        else:
            shutil.copy2(src / name, tmp / name)
    write_text(tmp / REPRODUCTIONS, _reproductions_csv(records))
    for kept in kept_dirs:
        shutil.copytree(kept, tmp / kept.relative_to(dest))


def _check_staged(tmp: Path, run: Path) -> None:
    """The staged publication passes `rrs check`, in this process, or nothing is published."""
    from rrs.checks.run import check_dir

    report = check_dir(tmp)
    if not report.ok:
        raise UserError(f"`rrs check` fails the publication ({_first(report)}): nothing was published", where=str(run))


def _same_results(src: Path, dest: Path) -> bool:
    """`dest` holds a published run whose results and samples are byte-identical to `src`'s."""
    if not (dest / GRID).is_file():
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
        if not (v / GRID).is_file():
            raise UserError(f"no {GRID}: not a finished run", where=str(v))
        if (v / "spec.resolved.yaml").read_text(encoding="utf-8").split("\n", 1)[1] != spec:
            raise UserError("spec.resolved.yaml differs from the published run's: not a variant of the same study",
                            where=str(v))
    return measure_variation(read_grid(src / GRID), [read_grid(v / GRID) for v in variants])
