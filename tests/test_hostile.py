"""Hostile input, as a careless or malicious user would give it: every case is refused by the CLI with exit 2, one
line on stderr, no traceback, and nothing written anywhere but (at most) the temporary --out. In-process
(rrs.cli.main) in a temporary working folder, so a relative path that escaped would land in the snapshot; no model is
built. Also: what a run may delete in --out (only files an earlier run of rrs wrote), the staging folders of dead
runs, the linear-time stutter rule, and -q."""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
CLAIM = {"id": "c1", "text": "fixture", "check": {"kind": "threshold", "metric": "rrr", "op": "<=", "value": 1.0}}


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def spec_with(change: Callable[[dict], None]) -> Callable[[Path], str]:
    """A case's setup: tiny.yaml with one change, written to work/spec.yaml."""

    def setup(work: Path) -> str:
        s = copy.deepcopy(TINY)
        change(s)
        (work / "spec.yaml").write_text(yaml.safe_dump(s, allow_unicode=True))
        return "spec.yaml"

    return setup


def m0(**kw):
    return spec_with(lambda s: s["models"][0].update(kw))


def a0(**kw):
    return spec_with(lambda s: s["attacks"][0].update(kw))


def top(**kw):
    return spec_with(lambda s: s.update(kw))


def raw_spec(data: bytes) -> Callable[[Path], str]:
    def setup(work: Path) -> str:
        (work / "spec.yaml").write_bytes(data)
        return "spec.yaml"

    return setup


def one_point_attack(s: dict) -> None:
    s["attacks"].append({**s["attacks"][0], "name": "flat", "steps": [0]})
    s["claims"] = [{**CLAIM, "check": {"kind": "monotone", "metric": "rrr", "direction": "non_increasing",
                                       "select": {"attack": "flat"}}}]


# ---------------------------------------------------------------- spec cases: `rrs validate` and `rrs run`

SPEC_CASES = {  # name: (setup, text the one error line must contain)
    "model-name-parent": (m0(name="../x"), "models[0].name: '../x' is not a valid name"),
    "model-name-deep-parent": (m0(name="../../../x"), "is not a valid name"),
    "model-name-empty": (m0(name=""), "models[0].name: '' is not a valid name"),
    "model-name-nul": (m0(name="a\0b"), "models[0].name: 'a\\x00b' is not a valid name"),
    "model-name-newline": (m0(name="a\nb"), "models[0].name: 'a\\nb' is not a valid name"),
    "model-name-escape": (m0(name="a\x1b[2Jb"), "is not a valid name"),
    "model-name-dot": (m0(name="."), "models[0].name: '.' is not a valid name"),
    "model-name-dotdot": (m0(name=".."), "models[0].name: '..' is not a valid name"),
    "model-name-too-long": (m0(name="m" * 65), "is not a valid name"),
    "model-name-slash": (m0(name="a/b"), "is not a valid name"),
    "attack-name-parent": (a0(name="../../etc"), "attacks[0].name: '../../etc' is not a valid name"),
    "study-name-absolute": (top(study="/tmp/x"), "study: '/tmp/x' is not a valid name"),
    "study-name-dotdot": (top(study=".."), "study: '..' is not a valid name"),
    "hidden-absurd": (m0(hidden=65536, heads=1, layers=1024, intermediate=1 << 20), "GiB of memory; this machine has"),
    "tune-batch-absurd": (m0(tune_batch=65536, vocab_size=1 << 20), "GiB of memory; this machine has"),
    "tune-steps-absurd": (m0(tune_steps=10**9), "days of CPU time"),
    "attack-steps-absurd": (a0(steps=[0, 10**9], train_size=10**9), "days of CPU time"),
    "claim-ids-duplicate": (top(claims=[CLAIM, CLAIM]), "claims: duplicate id 'c1'"),
    "judges-duplicate": (top(judges=["keyword:gcg-29", "keyword:gcg-29"]), "judges: duplicate entry"),
    "metrics-duplicate": (top(metrics=["rrr", "rrr"]), "metrics: duplicate entry 'rrr'"),
    "lora-target-unknown": (a0(targets=["c_attn"]), "attacks[0].targets: 'c_attn' matches no module"),
    "curve-claim-one-point-grid": (spec_with(one_point_attack), "a monotone claim needs a curve"),
    "yaml-nested-deep": (raw_spec(b"study: " + b"[" * 20000 + b"]" * 20000 + b"\n"), "spec.yaml"),
    "yaml-nul-byte": (raw_spec(b"study: a\0b\n"), "spec.yaml"),
    "yaml-not-utf8": (raw_spec(b"study: \xff\xfe\n"), "not UTF-8"),
    "yaml-not-a-mapping": (raw_spec(b"- a\n- b\n"), "a spec is a YAML mapping"),
    "yaml-syntax-error-line": (raw_spec(b"study: tiny\nmodels:\n  - a\n  b: c\n"), "spec.yaml:4: YAML syntax error"),
    "yaml-duplicate-key-line": (raw_spec(b"study: tiny\nstudy: x\n"), "spec.yaml:2: duplicate key 'study' (first at "
                                "line 1)"),
}


def run_case(tmp_path: Path, monkeypatch, capsys, argv_of: Callable[[Path], list[str]]) -> tuple[int, str, Path]:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("RRS_CACHE", str(work / "cache"))
    argv = argv_of(work)
    before = snapshot(tmp_path)
    rc = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err[:2000]
    assert lines[0].startswith("rrs: error: ") and len(lines[0]) < 2100
    new = snapshot(tmp_path) - before
    assert not {p for p in new if not p.startswith("work/out")}, new  # nothing outside --out
    return rc, lines[0], work


@pytest.mark.parametrize("verb", ["validate", "run"])
@pytest.mark.parametrize("case", SPEC_CASES, ids=list(SPEC_CASES))
def test_hostile_spec(case: str, verb: str, tmp_path: Path, monkeypatch, capsys) -> None:
    setup, expect = SPEC_CASES[case]

    def argv(work: Path) -> list[str]:
        spec = setup(work)
        return ["validate", spec] if verb == "validate" else ["run", spec, "--out", str(work / "out")]

    rc, line, work = run_case(tmp_path, monkeypatch, capsys, argv)
    assert rc == 2
    assert expect in line
    assert not (work / "out").exists() and not (work / "cache").exists()


# ---------------------------------------------------------------- paths: --out and --cache


def _tiny(work: Path) -> str:
    shutil.copy(ROOT / "spec" / "tiny.yaml", work / "tiny.yaml")
    return "tiny.yaml"


def _dangling(work: Path) -> Path:
    (work / "gone").symlink_to(work / "nowhere")
    return work / "gone"


def _file(work: Path) -> Path:
    (work / "afile").write_text("mine\n")
    return work / "afile"


def _under_file(work: Path) -> Path:
    return _file(work) / "sub"


PATH_CASES = {  # name: (argv builder, text the one error line must contain)
    "run-out-empty": (lambda w: ["run", _tiny(w), "--out", ""], "name a folder"),
    "run-out-dot": (lambda w: ["run", _tiny(w), "--out", "."], "name a folder"),
    "run-out-dangling-symlink": (lambda w: ["run", _tiny(w), "--out", str(_dangling(w))], "does not exist"),
    "run-out-is-file": (lambda w: ["run", _tiny(w), "--out", str(_file(w))], "exists and is not a directory"),
    "run-out-under-file": (lambda w: ["run", _tiny(w), "--out", str(_under_file(w))], "is a file, not a directory"),
    "run-out-inside-cache": (lambda w: ["run", _tiny(w), "--out", str(w / "cache" / "res")],
                             "is inside the stage cache"),
    "run-cache-is-file": (lambda w: ["run", _tiny(w), "--out", str(w / "out"), "--cache", str(_file(w))],
                          "exists and is not a directory"),
    "run-cache-dangling-symlink": (lambda w: ["run", _tiny(w), "--out", str(w / "out"), "--cache",
                                              str(_dangling(w))], "does not exist"),
    "plan-cache-is-file": (lambda w: ["plan", _tiny(w), "--cache", str(_file(w))], "exists and is not a directory"),
    "score-out-empty": (lambda w: ["score", _responses(w), "--judge", "keyword:gcg-29", "--out", ""],
                        "name a folder"),
    "score-out-dangling-symlink": (lambda w: ["score", _responses(w), "--judge", "keyword:gcg-29", "--out",
                                              str(_dangling(w))], "does not exist"),
    "figures-out-is-file": (lambda w: ["figures", str(w), "--out", str(_file(w))], "exists and is not a directory"),
}


@pytest.mark.parametrize("case", PATH_CASES, ids=list(PATH_CASES))
def test_hostile_paths(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    argv_of, expect = PATH_CASES[case]
    rc, line, work = run_case(tmp_path, monkeypatch, capsys, argv_of)
    assert rc == 2
    assert expect in line
    assert not (work / "cache").is_dir()


def test_full_disk_is_refused_before_compute(tmp_path: Path, monkeypatch, capsys) -> None:
    import rrs.preflight

    monkeypatch.setattr(rrs.preflight.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1 << 30, 1 << 30, 1 << 20))
    rc, line, _ = run_case(tmp_path, monkeypatch, capsys, lambda w: ["run", _tiny(w), "--out", str(w / "out")])
    assert rc == 2 and "1 MiB free on its filesystem; a run needs at least 64 MiB" in line


def test_no_space_during_a_run_is_one_line(monkeypatch, capsys) -> None:
    import errno

    import rrs.commands.run

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", "/out/results_grid.csv")

    monkeypatch.setattr(rrs.commands.run, "validate", full)
    from rrs import cli

    monkeypatch.setattr(cli, "app", lambda **k: full())
    assert main(["validate", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["rrs: error: no space left on the device: /out/results_grid.csv; free some and rerun "
                                "(finished stages are cached)"]


# ---------------------------------------------------------------- `rrs score` input


def _responses(work: Path) -> str:
    (work / "ok.jsonl").write_text(json.dumps({"prompt": "p", "response": "I cannot help."}) + "\n")
    return "ok.jsonl"


def _write(name: str, data: bytes) -> Callable[[Path], list[str]]:
    def argv(work: Path) -> list[str]:
        (work / name).write_bytes(data)
        return ["score", name, "--judge", "keyword:gcg-29", "--out", str(work / "out")]

    return argv


def _baseline(data: bytes) -> Callable[[Path], list[str]]:
    def argv(work: Path) -> list[str]:
        (work / "base.jsonl").write_bytes(data)
        return ["score", _responses(work), "--baseline", "base.jsonl", "--judge", "keyword:gcg-29",
                "--out", str(work / "out")]

    return argv


NESTED = b'{"response": ' + b"[" * 100000 + b"]" * 100000 + b"}\n"
BIG = "x" * 1_000_000
SCORE_CASES = {  # name: (argv builder, text the one error line must contain)
    "jsonl-nested-deep": (_write("r.jsonl", NESTED), "r.jsonl: line 1: JSON nested too deeply"),
    "json-array-nested-deep": (_write("r.json", b"[" * 100000 + b"]" * 100000), "r.json: JSON nested too deeply"),
    "jsonl-lone-surrogate": (_write("r.jsonl", b'{"response": "a\\ud800b"}\n'),
                             "r.jsonl: record 1: field response: value holds a lone surrogate"),
    "jsonl-surrogate-key": (_write("r.jsonl", b'{"response": "a", "\\udfff": 1}\n'), "key holds a lone surrogate"),
    "jsonl-nul-escape": (_write("r.jsonl", b'{"response": "a\\u0000b"}\n'), "value holds a NUL character"),
    "jsonl-nul-byte": (_write("r.jsonl", b'{"response": "ok"}\n{"response": "a\0b"}\n'),
                       "r.jsonl: line 2 holds a NUL byte"),
    "csv-nul-byte": (_write("r.csv", b"prompt,response\np,a\0b\n"), "r.csv: line 2 holds a NUL byte"),
    "csv-extra-column-every-row": (_write("r.csv", b"prompt,response\np,r,extra\nq,s,extra\n"),
                                   "r.csv: cannot parse as CSV: line 2 has 3 fields, more than the header's 2"),
    "csv-missing-column": (_write("r.csv", b"prompt,response\np,r\nq\n"), "line 3 has 1 fields, fewer than"),
    "csv-duplicate-header": (_write("r.csv", b"response,response\na,b\n"), "header names column 'response' twice"),
    "csv-huge-field-quoted": (_write("r.csv", f"prompt,response,set\np,r,{BIG}\n".encode()),
                              "column 'set' is 'xxxx"),
    "csv-unterminated-quote": (_write("r.csv", b'prompt,response\np,"never closed\n'), "cannot parse as CSV"),
    "not-utf8": (_write("r.jsonl", b'{"response": "\xff"}\n'), "not UTF-8 text (byte 0xff"),
    "utf16": (_write("r.csv", "prompt,response\np,r\n".encode("utf-16")), "not UTF-8 text"),
    "jsonl-not-object": (_write("r.jsonl", b"[1, 2]\n"), "record 1 is not a JSON object"),
    "jsonl-truncated": (_write("r.jsonl", b'{"response": "a"\n'), "line 1 is not valid JSON"),
    "empty-file": (_write("r.jsonl", b"\n\n"), "file is empty"),
    "no-response-column": (_write("r.jsonl", json.dumps({f"c{i}" * 50: 1 for i in range(500)}).encode() + b"\n"),
                           "no response column"),
    "response-col-huge-name": (lambda w: ["score", _responses(w), "--response-col", BIG, "--judge",
                                          "keyword:gcg-29"], "no response column 'xxxx"),
    "baseline-nested-deep": (_baseline(NESTED), "base.jsonl: line 1: JSON nested too deeply"),
    "responses-is-directory": (lambda w: ["score", str(w), "--judge", "keyword:gcg-29"], "is a directory"),
    "judge-unknown-long": (lambda w: ["score", _responses(w), "--judge", "k" * 100000], "unknown judge"),
}


@pytest.mark.parametrize("case", SCORE_CASES, ids=list(SCORE_CASES))
def test_hostile_score_input(case: str, tmp_path: Path, monkeypatch, capsys) -> None:
    argv_of, expect = SCORE_CASES[case]
    rc, line, work = run_case(tmp_path, monkeypatch, capsys, argv_of)
    assert rc == 2
    assert expect in line, line[:300]
    assert len(line) < 1200  # every quoted field is cut
    assert not (work / "out").exists() or not any((work / "out").iterdir())


def test_case_count() -> None:
    assert len(SPEC_CASES) + len(PATH_CASES) + len(SCORE_CASES) >= 40


def test_a_ten_thousand_digit_id_is_text(tmp_path: Path, capsys) -> None:
    f = tmp_path / "r.jsonl"
    ident = "9" * 10000
    f.write_text(f'{{"id": {ident}, "response": "I cannot."}}\n')
    from rrs.score import load_responses

    assert load_responses(f).table["id"].tolist() == [ident]


# ---------------------------------------------------------------- what a run may delete in --out


def _stage(tmp_path: Path, files: dict[str, str]) -> Path:
    stage = tmp_path / ".out.staging.1.x"
    for rel, text in files.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_text(text)
    return stage


def test_user_files_in_out_are_kept(tmp_path: Path, capsys) -> None:
    from rrs.engine.runner import _move_in

    out = tmp_path / "out"
    old = {"results_grid.csv": "old", "manifest.json": "{}", "figures/RRR_compare.png": "old",
           "figures/CE_compare.png": "old", "samples/m/a/seed1/steps0.jsonl": "old"}
    mine = {"figures/my_notes.txt": "mine", "figures/RRR_compare.svg": "mine", "samples/m/a/seed1/notes.md": "mine",
            "samples/readme.txt": "mine", "notes.txt": "mine"}
    for rel, text in (old | mine).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    _move_in(_stage(tmp_path, {"results_grid.csv": "new", "manifest.json": "{}", "figures/RRR_compare.png": "new"}),
             out)
    for rel, text in mine.items():
        assert (out / rel).read_text() == text, rel  # a foreign file stays
    assert not (out / "figures/CE_compare.png").exists()  # a figure of the contract the new run does not write
    assert not (out / "samples/m/a/seed1/steps0.jsonl").exists()  # a dropped seed's samples
    assert (out / "figures/RRR_compare.png").read_text() == "new"
    assert "kept 4 file(s)" in capsys.readouterr().err  # in figures/ and samples/; notes.txt is not looked at


def test_only_files_the_manifest_lists_are_removed(tmp_path: Path) -> None:
    from rrs.engine.runner import _move_in

    out = tmp_path / "out"
    (out / "samples/m/a/seed0").mkdir(parents=True)
    (out / "samples/m/a/seed0/steps0.jsonl").write_text("listed")
    (out / "samples/m/a/seed0/steps5.jsonl").write_text("not listed: the user's")
    (tmp_path / "outside.txt").write_text("keep")
    listed = [{"path": "samples/m/a/seed0/steps0.jsonl"}, {"path": "../outside.txt"}, {"path": str(tmp_path)}]
    (out / "manifest.json").write_text(json.dumps({"files": listed}))
    _move_in(_stage(tmp_path, {"manifest.json": "{}"}), out)
    assert not (out / "samples/m/a/seed0/steps0.jsonl").exists()
    assert (out / "samples/m/a/seed0/steps5.jsonl").exists()
    assert (tmp_path / "outside.txt").read_text() == "keep"


def test_a_symlinked_output_folder_is_not_followed_out(tmp_path: Path) -> None:
    from rrs.engine.runner import _move_in
    from rrs.errors import UserError

    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "samples").symlink_to(elsewhere)
    stage = _stage(tmp_path, {"samples/m/a/seed0/steps0.jsonl": "x", "manifest.json": "{}"})
    with pytest.raises(UserError, match="resolves outside it"):
        _move_in(stage, out)
    assert not any(elsewhere.iterdir()) and not (out / "manifest.json").exists()


def test_staging_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    import subprocess
    import sys

    from rrs.preflight import STAGING_STALE_S, remove_dead_staging, staging_prefix

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "out"
    gone = tmp_path / f".out.staging.{dead.stdout.strip()}.abc"
    live = tmp_path / f"{staging_prefix(out)}def"
    legacy_old, legacy_new = tmp_path / ".out.staging.oldfmt1", tmp_path / ".out.staging.newfmt2"
    other = tmp_path / ".other.staging.1.x"
    for d in (gone, live, legacy_old, legacy_new, other):
        d.mkdir()
    os.utime(legacy_old, (0, 0))
    assert STAGING_STALE_S < 10**9
    assert remove_dead_staging(out) == sorted([gone, legacy_old])
    assert live.exists() and legacy_new.exists() and other.exists() and not gone.exists()


# ---------------------------------------------------------------- linear-time judging, -q


def test_stutter_rule_unchanged_where_the_regex_is_exact() -> None:
    import random

    from rrs.measure.quality import STUTTER, _stutters

    rng = random.Random(0)
    for _ in range(3000):
        n = rng.choice([6, 30, 65, 200, 386])
        alpha = rng.choice(["ab", "abc", "aé1_b", "xyz'"])
        piece = "".join(rng.choice(alpha) for _ in range(rng.randint(2, max(2, n // 3))))
        w = (piece * rng.randint(2, 4))[:n] if rng.random() < 0.5 else "".join(rng.choice(alpha) for _ in range(n))
        assert _stutters(w) == (STUTTER.search(w) is not None), w


def test_stutter_found_in_a_long_word() -> None:
    from rrs.measure.quality import degenerate

    thue_morse = "".join("ab"[bin(i).count("1") % 2] for i in range(5000))  # cube-free
    assert not degenerate(thue_morse)
    assert degenerate(thue_morse + "bread" * 3)


def test_the_spec_loader_is_libyamls_where_present() -> None:
    from rrs import spec

    assert issubclass(spec._Loader, yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_quiet_turns_off_library_progress_bars(monkeypatch, capsys) -> None:
    for k in ("RRS_QUIET", "TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(k, raising=False)
    assert main(["-q", "validate", str(ROOT / "spec" / "tiny.yaml")]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "valid" in cap.out
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
