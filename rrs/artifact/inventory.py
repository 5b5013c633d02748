"""The manifest's file list: a published result directory is a closed, hashed set of regular files.

`build(root)` lists every regular file under `root` except manifest.json itself (which holds the list) as
{"path", "sha256", "size"}; the producer (rrs publish) writes it into manifest.json under FILES_KEY.
`verify(root, listed)` is the check's side: every listed file is a regular file inside `root` (no symlink, no
directory, FIFO or device in its place, no path leaving `root`) with the listed size and sha256, and nothing
else is there. Files are opened with O_NOFOLLOW|O_NONBLOCK and only after lstat says they are regular, and read
with a size bound (`read_bounded`), so a FIFO never blocks and /dev/zero is never read. Torch-free, stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FILES_KEY = "files"
MANIFEST = "manifest.json"
MAX_FILE_BYTES = 64 * 2**20  # no file of a publication is near this; a larger one is refused, never read whole
MAX_MANIFEST_BYTES = 16 * 2**20
CHUNK = 2**20


class NotRegular(Exception):
    """A path that is not a regular file inside the artifact (its message says what it is instead)."""


@dataclass(frozen=True)
class Problem:
    path: str
    what: str  # one line: what is wrong
    special: bool = False  # not a regular file inside the artifact: nothing there is read


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _inside(root: Path, rel: str) -> Path:
    p = PurePosixPath(rel)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        raise NotRegular(f"a path outside the artifact ({rel!r})")
    path = root.joinpath(*p.parts)
    for parent in list(reversed(path.relative_to(root).parents))[1:]:  # every folder on the way must be a real one
        try:
            mode = os.lstat(root / parent).st_mode
        except FileNotFoundError:
            raise FileNotFoundError(rel) from None
        if not stat.S_ISDIR(mode):
            raise NotRegular(f"under {parent.as_posix()}, which is {_kind(mode)}")
    return path


def open_regular(path: Path) -> tuple[int, int]:
    """(fd, size) of a regular file, never following a symlink and never blocking on a FIFO."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(_kind(st.st_mode))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    st2 = os.fstat(fd)
    if not stat.S_ISREG(st2.st_mode) or (st2.st_ino, st2.st_dev) != (st.st_ino, st.st_dev):
        os.close(fd)
        raise NotRegular("replaced while being opened")
    return fd, st2.st_size


def read_bounded(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (NotRegular, or ValueError when larger)."""
    fd, size = open_regular(Path(path))
    try:
        if size > limit:
            raise ValueError(f"{size} bytes, more than the {limit} a file of a publication may have")
        chunks, total = [], 0
        while chunk := os.read(fd, CHUNK):
            total += len(chunk)
            if total > limit:
                raise ValueError(f"more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _digest(path: Path) -> tuple[str, int]:
    fd, size = open_regular(path)
    h, total = hashlib.sha256(), 0
    try:
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{size} bytes, more than the {MAX_FILE_BYTES} a file of a publication may have")
        while chunk := os.read(fd, CHUNK):
            total += len(chunk)
            if total > MAX_FILE_BYTES:
                raise ValueError(f"more than {MAX_FILE_BYTES} bytes")
            h.update(chunk)
    finally:
        os.close(fd)
    return h.hexdigest(), total


def walk(root: Path) -> tuple[list[str], list[Problem]]:
    """Every regular file under `root` (relative POSIX paths, sorted) and every entry that is not a regular file
    or a real folder (symlinks are never followed)."""
    files, problems = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = base / name
            rel = p.relative_to(root).as_posix()
            mode = os.lstat(p).st_mode
            if stat.S_ISDIR(mode):
                continue
            if stat.S_ISREG(mode):
                files.append(rel)
            else:
                problems.append(Problem(rel, f"is {_kind(mode)}: an artifact holds regular files only", True))
        dirnames[:] = [d for d in dirnames if not os.path.islink(base / d)]  # a symlinked folder was reported
    return sorted(files), problems


def build(root: str | Path, exclude: tuple[str, ...] = (MANIFEST,)) -> list[dict]:
    """The file list of `root`: {"path", "sha256", "size"} for every regular file but `exclude`, sorted by path.
    Refuses (NotRegular) a tree that holds anything but regular files and folders."""
    root = Path(root)
    files, problems = walk(root)
    if problems:
        raise NotRegular(f"{problems[0].path} {problems[0].what}")
    out = []
    for rel in files:
        if rel in exclude:
            continue
        sha, size = _digest(root / rel)
        out.append({"path": rel, "sha256": sha, "size": size})
    return out


def verify(root: str | Path, listed: object) -> list[Problem]:
    """Problems of `root` against the manifest's file list `listed` (empty: the tree is exactly the listed files)."""
    root = Path(root)
    if not isinstance(listed, list) or not listed:
        return [Problem(MANIFEST, f"has no list of files ({FILES_KEY!r}: every file with its sha256 and size)")]
    out: list[Problem] = []
    wanted: dict[str, dict] = {}
    for i, item in enumerate(listed):
        ok = (isinstance(item, dict) and isinstance(item.get("path"), str) and isinstance(item.get("sha256"), str)
              and isinstance(item.get("size"), int) and not isinstance(item.get("size"), bool))
        if not ok:
            return [Problem(MANIFEST, f"{FILES_KEY}[{i}] is not {{path, sha256, size}}")]
        if item["path"] in wanted or item["path"] == MANIFEST:
            return [Problem(MANIFEST, f"{FILES_KEY}[{i}] lists {item['path']} twice or lists the manifest itself")]
        wanted[item["path"]] = item
    for rel, item in sorted(wanted.items()):
        try:
            sha, size = _digest(_inside(root, rel))
        except FileNotFoundError:
            out.append(Problem(rel, "is missing (listed in manifest.json)"))
            continue
        except NotRegular as err:
            out.append(Problem(rel, f"is {err}: an artifact holds regular files only", True))
            continue
        except (OSError, ValueError) as err:
            out.append(Problem(rel, f"cannot be read ({err})"))
            continue
        if size != item["size"] or sha != item["sha256"]:
            out.append(Problem(rel, f"has sha256 {sha[:12]}… ({size} bytes), manifest.json lists "
                                    f"{item['sha256'][:12]}… ({item['size']} bytes)"))
    files, special = walk(root)
    out += [p for p in special if p.path not in wanted]
    out += [Problem(rel, "is not listed in manifest.json (an artifact is a closed set of files)")
            for rel in files if rel not in wanted and rel != MANIFEST]
    return out
