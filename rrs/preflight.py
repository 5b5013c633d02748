"""Preflight: every output and cache path a verb will write is checked before any compute, and temp entries that
killed runs left in the stage cache are removed.

A path fails with one line naming the option (`--out`, `--cache`, `RRS_CACHE`) when it is a file, sits under a
file, or its nearest existing folder cannot be written (probed by creating and removing a temp file, so it holds
for root and for read-only mounts alike). Nothing is created by the checks.

Stale temp entries (`.<name>.<random>.tmp[.<ext>]`, from rrs.atomic) are removed only while no other rrs process
uses the cache: each run holds a shared advisory lock on `<cache>/.lock` for its lifetime and cleans only when it
can take the lock exclusively first, so a concurrent run's temp files are never touched. The lock dies with its
process, so a killed run never blocks the next one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from rrs.errors import UserError
from rrs.store import cache_root

TEMP_ENTRY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
CLEAN_DEPTH = 3  # <cache>/<stage>/<key>/<entry>: where rrs.atomic puts its temp files and folders
_HELD: dict[Path, int] = {}  # cache root -> fd holding the shared lock for this process


def _probe(folder: Path) -> str | None:
    """Why nothing can be written in `folder` (None when a temp file can be created there)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".rrs-preflight.", dir=folder)
    except OSError as err:
        return err.strerror or type(err).__name__
    os.close(fd)
    os.unlink(name)
    return None


def writable_dir(path: str | Path, what: str) -> Path:
    """`path` is a folder rrs may write into, or can be created as one; else a one-line UserError naming `what`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: exists and is not a directory")
    nearest = path
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UserError(f"{what} {path}: {nearest} is a file, not a directory")
    why = _probe(nearest)
    if why:
        raise UserError(f"{what} {path}: {nearest} is not writable ({why})")
    return path


def out_dir(out: str | Path, what: str = "--out", staging: bool = True) -> None:
    """An output folder; with `staging`, also the folder beside it where the runner assembles outputs first."""
    out = Path(out)
    writable_dir(out, what)
    parent = out.absolute().parent
    if staging and out.exists() and (why := _probe(parent)):
        raise UserError(f"{what} {out}: outputs are staged beside it, in {parent}, which is not writable ({why})")


def cache_dir(cache: str | Path | None, write: bool = True) -> Path:
    """The stage cache (--cache, else $RRS_CACHE, else .cache/rrs): a folder, writable when the verb writes."""
    what = "--cache" if cache else "RRS_CACHE" if os.environ.get("RRS_CACHE") else "cache"
    root = cache_root(cache)
    if not write:
        if root.exists() and not root.is_dir():
            raise UserError(f"{what} {root}: exists and is not a directory")
        return root
    return writable_dir(root, what)


def study_paths(spec_path: str | Path, out: str | Path | None, cache: str | Path | None) -> None:
    """Everything `reproduce`/`run` will write: --out (default out/<study>), its staging folder, the cache. Creates
    nothing: the run claims the cache (claim_cache) once its spec and data have loaded."""
    from rrs.spec import load_spec

    if out is None:
        out = Path("out") / load_spec(spec_path).study
    out_dir(out)
    cache_dir(cache)


def claim_cache(root: Path) -> list[Path]:
    """Hold a shared lock on the cache for this process; first, when no other process holds it, remove the stale
    temp entries of killed runs. Returns what was removed."""
    import fcntl

    root = Path(root).absolute()
    if (old := _HELD.pop(root, None)) is not None:
        os.close(old)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return []
    removed: list[Path] = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # another run uses the cache: its temp entries may be live
    else:
        removed = stale_entries(root)
        for p in removed:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return removed
    _HELD[root] = fd
    return removed


def stale_entries(root: Path) -> list[Path]:
    """Temp files and folders of rrs.atomic under the cache (to CLEAN_DEPTH levels); none is descended into."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if TEMP_ENTRY.match(e.name):
                found.append(Path(e.path))
            elif depth < CLEAN_DEPTH and e.is_dir(follow_symlinks=False):
                walk(Path(e.path), depth + 1)

    walk(root, 1)
    return found
