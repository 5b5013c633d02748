"""The spec refuses typos with one line naming the file and field; every shipped spec validates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rrs.errors import UserError
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "spec").glob("*.yaml"))


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
    mutate(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("spec", SPECS, ids=[p.name for p in SPECS])
def test_every_shipped_spec_loads_and_says_how_to_run_it(spec: Path) -> None:
    study = load_spec(spec)
    first = spec.read_text().splitlines()[0]
    assert first.startswith("# Run: rrs reproduce") and spec.name in first
    assert study.models and study.attacks and study.seeds


CASES = {
    "misspelt key": (lambda r: r["models"][0].update(hiden=r["models"][0].pop("hidden")),
                     "models[0].hiden: unknown key. Did you mean 'hidden'?"),
    "misspelt top key": (lambda r: r.update(judgs=r.pop("judges")), "judgs: unknown key. Did you mean 'judges'?"),
    "wrong type": (lambda r: r["attacks"][0].update(rank="eight"), "attacks[0].rank: Input should be a valid integer"),
    "unknown judge": (lambda r: r["judges"].append("keyword:gcg29"),
                      "judges: unknown judge 'keyword:gcg29'. Did you mean 'keyword:gcg-29'?"),
    "steps not from 0": (lambda r: r["attacks"][0].update(steps=[10, 20]), "attacks[0].steps: must start with 0"),
    "missing key": (lambda r: r.pop("seeds"), "seeds: required key is missing"),
    "unknown model kind": (lambda r: r["models"][0].update(kind="gguf"), "models[0]"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_spec_gives_one_line_naming_file_and_field(tmp_path: Path, case: str) -> None:
    mutate, expected = CASES[case]
    path = _write(tmp_path, mutate)
    with pytest.raises(UserError) as err:
        load_spec(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and expected in msg and "\n" not in msg


def test_validate_cli_exit_2_no_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda r: r["models"][0].update(layer=1))
    proc = subprocess.run([sys.executable, "-m", "rrs.cli", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "models[0].layer: unknown key. Did you mean 'layers'?" in lines[0]
    assert "Traceback" not in proc.stderr


def test_validate_cli_missing_file_and_yaml_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("study: x\nmodels: [\n")
    for path, needle in ((tmp_path / "nope.yaml", "no such spec file"), (bad, "YAML syntax error")):
        proc = subprocess.run([sys.executable, "-m", "rrs.cli", "validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 2 and needle in proc.stderr and str(path) in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_validate_cli_accepts_shipped_spec() -> None:
    proc = subprocess.run([sys.executable, "-m", "rrs.cli", "validate", str(ROOT / "spec" / "smoke.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout and "unseen 0%" in proc.stdout  # no unseen eval task is trained on
