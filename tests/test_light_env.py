"""In the light environment of `make check` (no torch, transformers or peft), every verb that needs them says so in
one line naming `make setup`, exit 2, before it writes anything. The light environment is simulated the way
tests/test_check_torchfree.py does it: the blocked packages' sys.modules entries are None, so importing them raises
ModuleNotFoundError, in a subprocess that runs the real entry point rrs.cli.main."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rrs.cli import FULL_VERBS

ROOT = Path(__file__).resolve().parents[1]
LIGHT = ("torch", "transformers", "peft", "sentence_transformers", "accelerate", "bitsandbytes")

SCRIPT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from rrs.cli import main
sys.exit(main(sys.argv[1:]))
"""

ARGS = {
    "run": ["spec/tiny.yaml", "--out", "{tmp}/out"],
    "reproduce": ["spec/tiny.yaml", "--out", "{tmp}/out"],
    "score": ["{tmp}/responses.csv", "--out", "{tmp}/out"],
    "fetch": ["spec/tiny.yaml"],
}


def _light(tmp_path: Path, *args: str, blocked: tuple[str, ...] = LIGHT) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", SCRIPT.format(blocked=blocked), *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)  # fmt: skip


def test_every_full_verb_has_arguments_here():
    assert set(ARGS) == set(FULL_VERBS)


@pytest.mark.parametrize("verb", FULL_VERBS)
def test_full_verb_in_light_environment_is_one_line(tmp_path, verb):
    (tmp_path / "responses.csv").write_text("prompt,response\nplaceholder request,placeholder answer\n")
    args = [a.format(tmp=tmp_path) for a in ARGS[verb]]
    proc = _light(tmp_path, "-q", verb, *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"rrs: error: `rrs {verb}` needs the full environment (torch is not installed here): make setup"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_help_of_a_full_verb_still_works_in_light_environment(tmp_path):
    proc = _light(tmp_path, "run", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Run every cell of SPEC" in proc.stdout


def test_a_missing_package_reached_by_another_verb_is_one_line(tmp_path):
    """The fallback: any verb whose import chain meets a missing third-party package (here matplotlib) ends in one
    line naming it and `make setup`, not a traceback."""
    proc = _light(tmp_path, "figures", str(ROOT / "artifacts" / "smoke"), "--out", str(tmp_path / "figs"),
                  blocked=("matplotlib",))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [
        "rrs: error: `rrs figures` needs the full environment (matplotlib is not installed here): make setup"]


def test_plan_is_not_refused_in_light_environment(tmp_path):
    """`rrs plan` imports no torch: it lists the cells without the full environment."""
    proc = _light(tmp_path, "plan", "spec/tiny.yaml", "--cache", str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "org-xs" in proc.stdout


def test_validate_is_not_refused_in_light_environment(tmp_path):
    proc = _light(tmp_path, "validate", "spec/tiny.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "valid" in proc.stdout
