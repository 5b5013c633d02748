"""The locks `make` installs: requirements/dev.lock (`make setup`) and requirements/check.lock (`make check`), both
exact and hashed, made by scripts/lock.sh from pyproject.toml, in agreement with the container's cpu.lock."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from test_container import lock_disagreements, lock_hashes, parse_lock

ROOT = Path(__file__).resolve().parents[1]
REQ = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
HEAVY = ("torch", "transformers", "peft", "sentence-transformers", "accelerate", "tokenizers", "safetensors")


@pytest.mark.parametrize("lock,least", [("dev", 60), ("check", 20), ("tools", 1)])
def test_every_entry_is_exact_and_hashed_and_made_by_the_script(lock, least) -> None:
    text = (REQ / f"{lock}.lock").read_text()
    versions, hashes, loose = parse_lock(text)
    assert loose == [] and len(versions) >= least
    assert [n for n, c in hashes.items() if c == 0] == []
    assert text.splitlines()[1].strip("# ") == "scripts/lock.sh"
    assert "rrs" not in versions


def test_dev_lock_is_cpu_lock_plus_every_extra_but_gpu() -> None:
    extras = sorted(set(PYPROJECT["project"]["optional-dependencies"]) - {"gpu"})
    dev, cpu = (REQ / "dev.lock").read_text(), (REQ / "cpu.lock").read_text()
    assert lock_disagreements(PYPROJECT, dev, extras) == []
    dev_v, cpu_v = parse_lock(dev)[0], parse_lock(cpu)[0]
    assert dev_v["torch"] == "2.13.0+cpu"
    assert {n: v for n, v in cpu_v.items() if dev_v.get(n) != v} == {}  # every cpu.lock pin, the same version
    dev_h, cpu_h = lock_hashes(dev), lock_hashes(cpu)
    assert [n for n in cpu_h if dev_h[n] != cpu_h[n]] == []


def test_check_lock_is_torch_free_and_matches_the_project_pins() -> None:
    check = (REQ / "check.lock").read_text()
    versions = parse_lock(check)[0]
    assert [n for n in HEAVY if n in versions] == []
    pins = {canonicalize_name(Requirement(r).name): str(Requirement(r).specifier).removeprefix("==")
            for r in PYPROJECT["project"]["dependencies"]}
    group = [Requirement(r) for r in PYPROJECT["dependency-groups"]["check"]]
    for req in group:
        name = canonicalize_name(req.name)
        assert versions[name] == str(req.specifier).removeprefix("=="), name
        if name in pins:
            assert pins[name] == versions[name], f"{name}: the check group and [project] pin different versions"
    cpu_v = parse_lock((REQ / "cpu.lock").read_text())[0]
    assert {n: v for n, v in versions.items() if cpu_v.get(n, v) != v} == {}  # same figure libraries as the runs


def test_make_installs_every_environment_from_its_lock_with_hashes_required() -> None:
    make = (ROOT / "Makefile").read_text()
    assert "scripts/venv.sh .venv requirements/dev.lock" in make
    assert "scripts/venv.sh .venv-check requirements/check.lock" in make
    assert re.search(r"^check: check-setup$", make, re.M)  # make check never builds the torch environment
    assert re.search(r"^lock:\n\tscripts/lock.sh$", make, re.M)
    script = (ROOT / "scripts" / "venv.sh").read_text()
    installs = [line for line in script.splitlines() if "pip install" in line and not line.startswith("#")]
    assert len(installs) == 2 and all("--no-deps" in line for line in installs)
    assert "--require-hashes" in installs[0] and '-r "$lock"' in installs[0]
    assert "--no-build-isolation -e ." in installs[1]
    lock_script = (ROOT / "scripts" / "lock.sh").read_text()
    assert "compile dev" in lock_script and "compile check --group pyproject.toml:check" in lock_script
    # uv, which makes the locks, comes from a hashed lock too
    assert "pip install -q --require-hashes --no-deps -r requirements/tools.lock" in lock_script
    assert parse_lock((REQ / "tools.lock").read_text())[0] == {"uv": re.search(r"UV_VERSION=(\S+)", lock_script)[1]}
