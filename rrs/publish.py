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

from rrs.atomic import staged_dir
from rrs.errors import UserError

PUBLISHED = ("results_grid.csv", "manifest.json", "spec.resolved.yaml", "samples", "figures")


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


def publish(run: str | Path, dest: str | Path | None = None, *, cwd: Path | None = None) -> Path:
    """Copy `run` to `dest` (default artifacts/<run name>, relative to `cwd`); return the destination."""
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
    with staged_dir(dest, replace=True) as tmp:
        for name in PUBLISHED:
            if (src / name).is_dir():
                shutil.copytree(src / name, tmp / name, ignore=shutil.ignore_patterns(".*"))
            else:
                shutil.copy2(src / name, tmp / name)
    return dest
