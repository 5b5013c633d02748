"""Preflight: bad output and cache paths fail in one line before any compute; stale temp entries of killed runs are
removed by the next run, never while another run uses the cache."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rrs.engine.runner
from rrs import preflight
from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "spec" / "tiny.yaml"


@pytest.fixture
def no_compute(monkeypatch):
    """Any compute fails the test: the preflight must refuse before it."""

    def boom(*a, **k):
        raise AssertionError("compute started")

    monkeypatch.setattr(rrs.engine.runner, "reproduce", boom)
    monkeypatch.setattr("rrs.engine.executors.run_jobs", boom)


def _err(capsys) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    return lines[0]


@pytest.mark.parametrize("verb", [["reproduce"], ["run", "--executor", "local"]])
def test_bad_paths_refused_before_compute(verb, tmp_path, monkeypatch, capsys, no_compute):
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["--out", str(afile)], {}, f"--out {afile}: exists and is not a directory"),
        (["--out", str(afile / "sub")], {}, f"--out {afile / 'sub'}: {afile} is a file, not a directory"),
        (["--out", "/proc/rrs-out"], {}, "--out /proc/rrs-out: /proc is not writable"),
        (["--out", str(tmp_path / "o"), "--cache", str(afile)], {}, f"--cache {afile}: exists and is not a directory"),
        (["--out", str(tmp_path / "o"), "--cache", str(afile / "c")], {}, f"--cache {afile / 'c'}: {afile} is a file"),
        (["--out", str(tmp_path / "o")], {"RRS_CACHE": str(afile)}, f"RRS_CACHE {afile}: exists and is not a directory"),
        (["--out", str(tmp_path / "o")], {"RRS_CACHE": "/proc/rrs-cache"}, "RRS_CACHE /proc/rrs-cache: /proc is not"),
    ]
    for args, env, needle in cases:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert main([*verb, str(TINY), *args]) == 2
        assert needle in _err(capsys)
        for k in env:
            monkeypatch.delenv(k)
    assert not (tmp_path / "o").exists() and afile.read_text() == "x"


def test_staging_folder_beside_out_must_be_writable(tmp_path, monkeypatch, capsys, no_compute):
    out = tmp_path / "ro" / "out"
    out.mkdir(parents=True)
    real = preflight._probe
    monkeypatch.setattr(preflight, "_probe", lambda d: "Read-only file system" if d == out.parent else real(d))
    assert main(["reproduce", str(TINY), "--out", str(out), "--cache", str(tmp_path / "c")]) == 2
    assert f"--out {out}: outputs are staged beside it, in {out.parent}, which is not writable" in _err(capsys)


def test_read_only_folder_refused(tmp_path, monkeypatch, capsys):
    """chmod stops a non-root user; root writes anyway, so the probe (not the mode bits) decides either way."""
    calls = []
    monkeypatch.setattr(rrs.engine.runner, "reproduce", lambda *a: calls.append(a) or a[1])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        probe_fails = preflight._probe(ro) is not None
        rc = main(["reproduce", str(TINY), "--out", str(ro / "out"), "--cache", str(tmp_path / "c")])
    finally:
        ro.chmod(0o755)
    assert (rc, len(calls)) == ((2, 0) if probe_fails else (0, 1))
    if probe_fails:
        assert "is not writable" in _err(capsys)


def test_cli_refuses_in_under_5_seconds(tmp_path):
    """The whole CLI process, imports included. Its CPU time is asserted (the wall time on a shared machine measures
    the other processes too); neither torch nor pandas is imported before the refusal."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    code = ("import sys; from rrs.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules)); sys.exit(rc)")
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "reproduce", str(TINY), "--out", str(afile)],
                          capture_output=True, text=True, cwd=ROOT)
    wall, after = time.perf_counter() - t0, os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"rrs: error: --out {afile}: exists and is not a directory"]
    assert proc.stdout.strip() == "[]"
    assert cpu < 5, (cpu, wall)


def test_cache_default_is_the_stores(monkeypatch):
    from rrs.store import cache_root

    for given, env in ((None, None), (None, "/tmp/c"), ("/x/y", "/tmp/c")):
        if env is None:
            monkeypatch.delenv("RRS_CACHE", raising=False)
        else:
            monkeypatch.setenv("RRS_CACHE", env)
        assert preflight.cache_dir(given, write=False) == cache_root(given)


def test_plan_refuses_a_file_as_cache(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["plan", str(TINY), "--cache", str(afile)]) == 2
    assert f"--cache {afile}: exists and is not a directory" in _err(capsys)


def _kill_inside_staged_dir(target: Path) -> None:
    """A child process enters atomic.staged_dir (as an organism build does) and is killed there."""
    code = ("import os, sys; from rrs.atomic import staged_dir\n"
            "with staged_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'model.safetensors').write_bytes(b'partial'); os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == -9


def test_stale_temp_entries_of_killed_runs_are_removed(tmp_path):
    cache = tmp_path / "cache"
    _kill_inside_staged_dir(cache / "organisms" / "abc123")
    (cache / "generations").mkdir(parents=True)
    stale_file = cache / "generations" / ".k.json.a1b2c3d4.tmp"
    stale_file.write_text("{")
    keep = [cache / "organisms" / "done", cache / "generations" / "k.json", cache / "generations" / ".hidden"]
    keep[0].mkdir()
    keep[1].write_text("{}")
    keep[2].write_text("")
    stale = preflight.stale_entries(cache)
    assert len(stale) == 2 and stale_file in stale
    assert preflight.claim_cache(cache) == stale
    assert preflight.stale_entries(cache) == [] and all(p.exists() for p in keep)


def test_stale_entries_kept_while_another_run_holds_the_cache(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    other = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_SH)  # another run (its own open file description)
    entry = cache / "organisms" / ".key.abcdefgh.tmp"
    entry.mkdir(parents=True)
    try:
        assert preflight.claim_cache(cache) == [] and entry.exists()
    finally:
        os.close(other)
    assert preflight.claim_cache(cache) == [entry] and not entry.exists()


def test_reproduce_cleans_the_cache_before_compute(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    _kill_inside_staged_dir(cache / "organisms" / "k")
    assert preflight.stale_entries(cache)
    seen = []
    monkeypatch.setattr(rrs.engine.runner, "execute",
                        lambda plan, jobs, timer: seen.append(preflight.stale_entries(plan.store.root)))
    monkeypatch.setattr(rrs.engine.runner, "finish", lambda *a: tmp_path / "out")
    rrs.engine.runner.reproduce(TINY, tmp_path / "out", cache)
    assert seen == [[]]


def test_figures_refuses_a_file_as_out(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["figures", str(ROOT / "artifacts" / "smoke"), "--out", str(afile / "figs")]) == 2
    assert f"--out {afile / 'figs'}: {afile} is a file, not a directory" in _err(capsys)
