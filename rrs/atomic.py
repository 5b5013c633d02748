"""Atomic file output: write to a temp file in the same directory, fsync, then rename.

tempfile creates its files 0600 and folders 0700 whatever the umask; every temp file and folder here is given the
mode a plain open()/mkdir() would have (0644 / 0755 under umask 022), so a shared cache or a mounted /out stays
readable by the other users the umask lets in.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc), else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _tmp_beside(path: Path, suffix: str = ".tmp", tmp_dir: Path | None = None) -> Path:
    """A fresh temp file in `tmp_dir` (same filesystem as `path`) or, by default, beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    where = Path(tmp_dir) if tmp_dir is not None else path.parent
    where.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=where)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    return Path(name)


def write_bytes(path: str | Path, data: bytes, tmp_dir: Path | None = None) -> None:
    """Write `data` to `path` atomically. With `tmp_dir` (e.g. a staging folder beside an output folder), the
    unfinished file is never visible inside the destination folder, not even after a crash."""
    path = Path(path)
    tmp = _tmp_beside(path, tmp_dir=tmp_dir)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, tmp_dir: Path | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), tmp_dir)


def dumps_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any, tmp_dir: Path | None = None) -> None:
    write_text(path, dumps_json(obj), tmp_dir)


def dumps_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)


def write_jsonl(path: str | Path, rows: list[dict], tmp_dir: Path | None = None) -> None:
    write_text(path, dumps_jsonl(rows), tmp_dir)


@contextmanager
def staged_file(path: str | Path, suffix: str = "", tmp_dir: Path | None = None) -> Iterator[Path]:
    """Yield a temp path for a writer that wants a filename (e.g. savefig); rename onto `path` on success."""
    path = Path(path)
    tmp = _tmp_beside(path, suffix=f".tmp{suffix}", tmp_dir=tmp_dir)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_dir(path: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside `path`; on success it becomes `path` in one rename.

    Cache folders are content-keyed, so by default, when another process finished the same `path` first, its
    copy is kept (ours is identical by construction) and a reader of that copy is never disturbed. With
    `replace`, an existing `path` is removed first (publishing a new version of a folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        if replace and path.exists():
            shutil.rmtree(path)
        try:
            os.rename(tmp, path)  # fails if path exists and is not empty
        except OSError:
            if not path.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
