"""The command-line surface: --version, -q/-v, an example in every verb's help, `check --json`, renamed options."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import copy_result_dir, edit_grid, invoke

import rrs
from rrs import results_json
from rrs.atomic import write_json
from rrs.cli import app, main

ROOT = Path(__file__).resolve().parents[1]


def _rrs(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rrs.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def _help(verb: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [verb, "--help"])
    return result.exit_code, result.output


def test_version() -> None:
    proc = _rrs("--version")
    assert proc.returncode == 0 and proc.stdout == f"rrs {rrs.__version__}\n"


def test_every_verb_has_an_example_in_its_help() -> None:
    import typer.main

    verbs = sorted(typer.main.get_command(app).commands)
    assert {"run", "reproduce", "check", "score", "plan", "validate", "figures", "fetch", "publish"} <= set(verbs)
    for verb in verbs:
        code, text = _help(verb)
        assert code == 0 and "Example" in text, verb


def test_reproduce_is_an_alias_of_run() -> None:
    import typer.main

    commands = typer.main.get_command(app).commands
    assert [p.opts for p in commands["reproduce"].params] == [p.opts for p in commands["run"].params]
    assert "Alias of `rrs run`" in commands["reproduce"].help
    assert "--executor" in _help("reproduce")[1]


def test_quiet_and_verbose_exclude_each_other(capsys) -> None:
    assert main(["-q", "-v", "validate", "spec/tiny.yaml"]) == 2
    assert "-q and -v" in capsys.readouterr().err


@pytest.mark.parametrize("flag,var", [("-q", "RRS_QUIET"), ("-v", "RRS_VERBOSE")])
def test_verbosity_flags_reach_the_environment(flag, var, monkeypatch) -> None:
    monkeypatch.delenv(var, raising=False)
    assert main([flag, "validate", str(ROOT / "spec" / "tiny.yaml")]) == 0
    assert os.environ.pop(var) == "1"


def test_check_json_prints_one_parsable_verdict(tmp_path) -> None:
    good = copy_result_dir(tmp_path / "good")
    write_json(good / "results.json", results_json.build(good))
    bad = copy_result_dir(tmp_path / "bad")
    edit_grid(bad, lambda g: g.assign(ce=g.ce.where(g.index != 3, 0.9)))
    proc = _rrs("check", str(good), "--json", "--report", str(tmp_path / "good.md"))
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout)
    assert proc.stdout.count("\n") == 1  # one JSON object on one line, nothing else on stdout
    assert verdict["ok"] is True and verdict["report"] == str(tmp_path / "good.md")
    (study,) = verdict["studies"]
    assert study["ok"] and study["counts"]["failures"] == 0 and study["counts"]["claims"] == len(study["claims"])
    proc = _rrs("check", str(bad), "--json", "--report", str(tmp_path / "bad.md"))
    assert proc.returncode == 1
    verdict = json.loads(proc.stdout)
    assert verdict["ok"] is False
    assert any(f["column"] == "ce" for f in verdict["studies"][0]["failures"])


def test_check_out_is_a_deprecated_alias_of_fresh_root(tmp_path) -> None:
    copy_result_dir(tmp_path / "artifacts" / "smoke")
    shutil.copytree(tmp_path / "artifacts" / "smoke", tmp_path / "runs" / "smoke")
    code, text = invoke("check", "--all", "--artifacts", tmp_path / "artifacts", "--out", tmp_path / "runs",
                        "--report", tmp_path / "r.md")
    assert code == 0 and "deprecated" in text and "--fresh-root" in text
    assert "fresh run" in (tmp_path / "r.md").read_text()


def test_run_refuses_a_bad_device_or_thread_count_in_one_line(monkeypatch, capsys) -> None:
    from rrs import numerics

    monkeypatch.setattr(numerics, "has_gpu", lambda: False)
    assert main(["run", str(ROOT / "spec" / "tiny.yaml"), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rrs: error: --device cuda: no CUDA device is visible") and err.count("\n") == 1
    proc = _rrs("run", "spec/tiny.yaml", "--threads", "0")
    assert proc.returncode == 2 and "--threads" in proc.stderr and "Traceback" not in proc.stderr
    proc = _rrs("run", "spec/tiny.yaml", "--device", "tpu")
    assert proc.returncode == 2 and "--device" in proc.stderr and "Traceback" not in proc.stderr
