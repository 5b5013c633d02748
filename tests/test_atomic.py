"""Atomic writes: the destination holds the old or the new content, never a partial file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rrs.atomic import staged_dir, write_text


def test_write_text_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "a" / "f.txt"
    write_text(p, "one")
    write_text(p, "two")
    assert p.read_text() == "two"
    assert os.listdir(p.parent) == ["f.txt"]


def test_write_with_tmp_dir_keeps_destination_clean(tmp_path: Path, monkeypatch) -> None:
    dest, stage = tmp_path / "out", tmp_path / ".out.staging"
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(sorted(os.listdir(dest)) if dest.exists() else [])
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_text(dest / "x.csv", "a,b\n", tmp_dir=stage)
    assert seen == [[]]  # nothing was visible in out/ before the rename
    assert (dest / "x.csv").read_text() == "a,b\n"


def test_failed_write_keeps_old_content(tmp_path: Path, monkeypatch) -> None:
    p = tmp_path / "f.txt"
    write_text(p, "old")

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # the new bytes are written, then the write fails
    with pytest.raises(OSError):
        write_text(p, "new content")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]


def test_staged_dir_is_all_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with staged_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not target.exists() and os.listdir(tmp_path) == []
    with staged_dir(target) as tmp:
        (tmp / "w.bin").write_bytes(b"x")
    assert (target / "w.bin").read_bytes() == b"x"


def test_staged_dir_keeps_a_concurrent_finishers_copy_unless_replacing(tmp_path: Path) -> None:
    target = tmp_path / "key"
    with staged_dir(target) as tmp:
        (tmp / "a").write_text("first")
    with staged_dir(target) as tmp:  # a second process finishing the same content-keyed folder
        (tmp / "a").write_text("second")
    assert (target / "a").read_text() == "first" and os.listdir(tmp_path) == ["key"]
    with staged_dir(target, replace=True) as tmp:
        (tmp / "a").write_text("third")
    assert (target / "a").read_text() == "third" and os.listdir(tmp_path) == ["key"]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_outputs_honour_the_umask(tmp_path: Path, umask_022) -> None:
    """Under umask 022 files are 0644 and folders 0755 (tempfile alone would leave 0600 / 0700)."""
    from rrs.atomic import current_umask, staged_file, write_json

    assert current_umask() == 0o022
    write_json(tmp_path / "sub" / "r.json", {"a": 1})
    with staged_file(tmp_path / "fig.png", suffix=".png") as tmp:
        tmp.write_bytes(b"png")
    with staged_dir(tmp_path / "cache" / "key") as d:
        (d / "x").write_text("x")
    assert _mode(tmp_path / "sub" / "r.json") == 0o644
    assert _mode(tmp_path / "fig.png") == 0o644
    assert _mode(tmp_path / "cache" / "key") == 0o755
    assert _mode(tmp_path / "sub") == 0o755


def test_a_stricter_umask_is_kept(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_text(tmp_path / "private.txt", "x")
        with staged_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "private.txt") == 0o600
    assert _mode(tmp_path / "d") == 0o700
