"""The malformed-input corpus (tests/fixtures/malformed): every spec and score file is refused by the CLI with exit 2
and one line naming the field or file, no traceback, and nothing written to --out or the cache. In-process
(rrs.cli.main): each case fails while loading its input, before any model or torch import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "malformed"
SPECS = sorted((FIX / "specs").glob("*.yaml"))
SCORES = json.loads((FIX / "score" / "cases.json").read_text())


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def one_error_line(capsys) -> str:
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("rrs: error: ")
    return lines[0]


def test_corpus_sizes() -> None:
    assert len(SPECS) >= 60 and len(SCORES) >= 15


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_malformed_spec(spec: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)  # data paths in the corpus are relative to the repository root
    rel = spec.relative_to(ROOT)
    out, cache = tmp_path / "out", tmp_path / "cache"
    for argv in (["validate", str(rel)], ["plan", str(rel), "--cache", str(cache)],
                 ["reproduce", str(rel), "--out", str(out), "--cache", str(cache)]):
        assert main(argv) == 2, argv
        line = one_error_line(capsys)
        assert expected(spec) in line, argv
        assert str(rel) in line or "data." in line  # names the spec file, or the data file and its spec field
    assert not out.exists() and not cache.exists()


@pytest.mark.parametrize("case", SCORES, ids=[c["name"] for c in SCORES])
def test_malformed_score_input(case: dict, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(FIX / "score")
    out = tmp_path / "out"
    argv = ["score", *case["args"], "--judge", "keyword:gcg-29"]
    if "--out" not in case["args"]:
        argv += ["--out", str(out)]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert case["expect"] in line and case["names"] in line
    assert not out.exists()
