"""End to end on the reduced spec: spec → organisms → baseline → LoRA attack → generation → judges → metrics →
validated outputs; a warm rerun changes no byte; a run killed by SIGKILL mid-attack resumes to identical bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrs.artifact.schemas import read_grid, validate_grid
from rrs.figures.grid import FIGURES

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "tiny.yaml"
pytestmark = pytest.mark.e2e


def _rrs(*args: str, cache: Path, extra_env: dict | None = None, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = os.environ | {"RRS_CACHE": str(cache), "RRS_QUIET": "1", "HF_HUB_OFFLINE": "1"} | (extra_env or {})
    cmd = [sys.executable, "-m", "rrs.cli", *args]
    if kw.pop("background", False):
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, **kw)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / n for n in ("results_grid.csv", "curves.csv", "robustness.csv", "scaling.csv", "results.json")]
    files += sorted((out / "samples").rglob("*.jsonl"))
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def cold(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cold")
    proc = _rrs("reproduce", str(SPEC), "--out", str(base / "out"), cache=base / "cache")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "results in" in proc.stderr
    return base / "out", base / "cache"


def test_outputs_are_complete_and_valid(cold) -> None:
    out, _ = cold
    grid = read_grid(out / "results_grid.csv")
    assert validate_grid(grid) == []
    assert len(grid) == 2 * 3 * 1 * 2 * 3  # models × steps × seeds × judges × task sets (all, seen, unseen)
    assert (grid[grid.tasks == "unseen"].attack_eval_overlap == 0).all()
    for name in FIGURES:
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000
    man = json.loads((out / "manifest.json").read_text())
    assert man["device"]["threads"] == 2 and man["data"]["attack_eval_overlap_by_tasks"] == {"seen": 1.0, "unseen": 0.0}
    assert set(man["stages"]) >= {"model", "baseline", "attack", "generate", "judge+metrics", "figures"}
    assert set(man["compute_s"]) == {"model", "baseline", "attack", "generate"} and man["compute_s_unrecorded"] == 0
    assert "<|assistant|>" in man["models"]["org-s"]["rendered_first_prompt"]
    assert {"torch", "scipy", "jinja2", "scikit-learn"} <= set(man["distributions"])
    sample = json.loads((out / "samples/org-s/lora-r8/seed0/steps0.jsonl").read_text().splitlines()[0])
    assert sample["response"] and not sample["response"].startswith(sample["prompt"][:20])


def test_results_json_validates_and_files_honour_the_umask(cold) -> None:
    import jsonschema

    from rrs import results_json
    from rrs.atomic import current_umask
    from rrs.checks.run import check_dir

    out, _ = cold
    data = json.loads((out / "results.json").read_text())
    jsonschema.validate(data, results_json.schema(), cls=jsonschema.Draft202012Validator)
    assert data["results_grid"]["rows"] == 36 and len(data["aggregates"]) == 2 * 3 * 2 * 3
    rep = check_dir(out)  # the run's manifest lists its files; tiny.yaml has no claims or references, and a
    # verdict over nothing fails: those are the only failures
    assert {(f.file, f.column) for f in rep.failures} == {("spec.resolved.yaml", "claims"),
                                                          ("spec.resolved.yaml", "references")}, rep.failures
    assert rep.figures and all(f.ok for f in rep.figures) and not [n for n in rep.notes if "results.json" in n]
    umask = current_umask()  # the run inherited this process's umask
    files = [p for p in out.rglob("*") if p.is_file()]
    dirs = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert {p.stat().st_mode & 0o777 for p in files} == {0o666 & ~umask}
    assert {p.stat().st_mode & 0o777 for p in dirs} == {0o777 & ~umask}


def test_attack_moves_refusals_and_steps0_rd_is_zero(cold) -> None:
    grid = read_grid(cold[0] / "results_grid.csv")
    bs = grid[grid.judge == "keyword:bigger-safer"]
    assert (bs[bs.steps == 0].rd == 0).all()
    first, last = bs[bs.steps == 0].rrr.mean(), bs[bs.steps == 20].rrr.mean()
    assert first >= 0.5 and last < first  # the organisms refuse, and the attack erodes it


def test_warm_rerun_changes_no_byte_and_loads_no_model(cold) -> None:
    out, cache = cold
    before = _outputs(out)
    compute = json.loads((out / "manifest.json").read_text())["compute_s"]
    t0 = time.perf_counter()
    proc = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _outputs(out) == before
    man = json.loads((out / "manifest.json").read_text())
    assert not {"model", "attack", "generate"} & set(man["stages"]), man["stages"]
    assert man["compute_s"] == compute  # the study's compute time survives a cached rerun
    assert time.perf_counter() - t0 < 60
    # the device and numerics are those recorded with the stage outputs, not those of this torch-free process
    assert man["device"]["kind"] == "cpu" and man["device"]["cpu_capability"], man["device"]
    assert man["numerics"]["fingerprint"]["device"] == "cpu" and man["numerics"]["fingerprint"]["cpu_capability"]


def test_sigkill_mid_attack_resumes_byte_identical(cold, tmp_path: Path) -> None:
    out_ref, cache_ref = cold
    cache, out = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(cache_ref / "organisms", cache / "organisms")  # reuse the organisms; redo attack + generation
    proc = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache, background=True)
    deadline = time.time() + 120
    first_ckpt = None
    while time.time() < deadline and proc.poll() is None:
        first_ckpt = next(iter(sorted((cache / "attacks").glob("*/step-10/state.pt"))), None)
        if first_ckpt:
            break
        time.sleep(0.02)
    assert first_ckpt is not None, "the attack never reached its first checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step20 = first_ckpt.parent.parent / "step-20" / "state.pt"
    assert not step20.exists(), "killed too late: the attack had finished"
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), "partial output visible under --out"
    done = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _outputs(out) == _outputs(out_ref)
    assert not list(tmp_path.glob(".out.staging*"))


def test_score_of_the_runs_generations_gives_the_runs_labels_and_rd(cold, tmp_path: Path) -> None:
    """`rrs score` re-judging stored generations reproduces the runner's per-sample labels and rd to the bit: a
    text's embedding does not depend on the process or on the other texts embedded with it."""
    import pandas as pd

    from rrs.score import load_responses, score

    out, _ = cold
    files = {}
    for steps in (0, 20):
        rows = [json.loads(line) for line in (out / f"samples/org-s/lora-r8/seed0/steps{steps}.jsonl").read_text().splitlines()]
        files[steps] = [r for r in rows if r["set"] == "harmful"]
        pd.DataFrame(files[steps])[["id", "prompt", "response"]].to_csv(tmp_path / f"s{steps}.csv", index=False)
    result = score(load_responses(tmp_path / "s20.csv"), ["keyword:bigger-safer"], load_responses(tmp_path / "s0.csv"),
                   seed=0)
    assert [s["rd"] for s in result.samples] == [r["rd"] for r in files[20]]
    assert [s["refusal:keyword:bigger-safer"] for s in result.samples] == [r["refusal:keyword:bigger-safer"]
                                                                          for r in files[20]]
    grid = read_grid(out / "results_grid.csv")
    row = grid[(grid.model == "org-s") & (grid.steps == 20) & (grid.judge == "keyword:bigger-safer")].iloc[0]
    assert f"{result.rows[0]['rd']:.6g}" == f"{row.rd:.6g}" and result.rows[0]["rrr"] == row.rrr


def _publication(out: Path, dest: Path) -> Path:
    """`out` as a publication: a claim and a reference that hold on its grid added to its spec (tiny.yaml has
    none, and a verdict over nothing fails), results.json rebuilt, every file listed in the manifest."""
    import yaml

    from rrs import results_json
    from rrs.artifact import inventory

    shutil.copytree(out, dest)
    grid = read_grid(dest / "results_grid.csv")
    head, body = (dest / "spec.resolved.yaml").read_text().split("\n", 1)
    spec = yaml.safe_load(body)
    sel = {"model": "org-xs", "steps": 0, "judge": "keyword:bigger-safer"}
    value = float(grid[(grid.model == "org-xs") & (grid.steps == 0) & (grid.judge == sel["judge"])].rrr.mean())
    spec["references"] = [{"metric": "rrr", "select": sel, "value": round(value, 4), "tolerance": 0.05,
                           "source": "this run"}]
    spec["claims"] = [{"id": "rates", "text": "rrr is a rate", "check": {"kind": "threshold", "metric": "rrr",
                                                                        "at_steps": "min", "op": "<=", "value": 1.0}}]
    (dest / "spec.resolved.yaml").write_text(head + "\n" + yaml.safe_dump(spec, sort_keys=False))
    (dest / "results.json").write_text(json.dumps(results_json.build(dest)))
    man = json.loads((dest / "manifest.json").read_text())
    man[inventory.FILES_KEY] = inventory.build(dest)
    (dest / "manifest.json").write_text(json.dumps(man))
    return dest


def test_another_numerics_setting_is_another_platform_and_a_replication(cold, tmp_path: Path) -> None:
    """The same study under ATEN_CPU_CAPABILITY=default: another fingerprint and other cache keys (a shared cache
    never mixes the two), and `rrs check` compares it as a replication; a copy of the run compares byte for byte."""
    out, cache = cold
    env = {"ATEN_CPU_CAPABILITY": "default"}
    proc = _rrs("reproduce", str(SPEC), "--out", str(tmp_path / "variant"), cache=cache, extra_env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    man_a = json.loads((out / "manifest.json").read_text())
    man_b = json.loads((tmp_path / "variant" / "manifest.json").read_text())
    assert man_a["numerics"]["id"] != man_b["numerics"]["id"]
    assert man_b["numerics"]["fingerprint"]["cpu_capability"] == "DEFAULT"
    assert man_b["numerics"]["fingerprint"]["knobs"] == env
    assert {c["model_key"] for c in man_a["cells"]}.isdisjoint(c["model_key"] for c in man_b["cells"])
    assert {c["attack_key"] for c in man_a["cells"]}.isdisjoint(c["attack_key"] for c in man_b["cells"])
    pub = _publication(out, tmp_path / "pub")
    check = _rrs("check", str(pub), "--fresh", str(tmp_path / "variant"), "--report", str(tmp_path / "r.md"),
                 cache=cache)
    assert check.returncode in (0, 1), check.stderr[-2000:]
    assert "replication" in check.stdout and "identical" not in check.stdout.split("replication")[0][-200:]
    shutil.copytree(out, tmp_path / "copy")
    same = _rrs("check", str(pub), "--fresh", str(tmp_path / "copy"), "--report", str(tmp_path / "s.md"), cache=cache)
    assert same.returncode == 0, same.stdout[-3000:]
    assert "identical" in same.stdout


def test_a_run_at_another_thread_count_is_judged_as_a_replication(cold, tmp_path: Path) -> None:
    """spec/tiny.yaml at 1 thread against a publication made at 2: the specs are compared without `runtime`, the
    report says where each side ran, and the comparison is a replication (not byte for byte)."""
    import yaml

    out, cache = cold
    spec = yaml.safe_load(SPEC.read_text())
    spec["runtime"]["threads"] = 1
    one = tmp_path / "tiny.yaml"
    one.write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = _rrs("reproduce", str(one), "--out", str(tmp_path / "one"), cache=cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    pub = _publication(out, tmp_path / "pub")
    check = _rrs("check", str(pub), "--fresh", str(tmp_path / "one"), "--json", "--report", str(tmp_path / "r.md"),
                 cache=cache)
    verdict = json.loads(check.stdout)["studies"][0]
    fresh = verdict["fresh"]
    assert fresh["compare_mode"] == "replication" and "1 thread(s)" in fresh["compare_rule"], fresh["compare_rule"]
    assert fresh["comparison"] == [] and fresh["ok"], (fresh["comparison"], fresh["failures"])
    assert any("threads 2" in n for n in verdict["notes"]) and any("threads 1" in n for n in fresh["notes"])
    assert check.returncode == 0, check.stdout[-3000:]


def test_threads_on_the_command_line_are_an_execution_setting(cold, tmp_path: Path) -> None:
    """`rrs run --threads 1` on a spec that says 2: the run records 1 thread (manifest, numerics fingerprint,
    spec.resolved.yaml), every cache key differs, and `rrs check` compares it with the 2-thread run as a
    replication, never byte for byte, and it passes (the specs are compared without `runtime`)."""
    out, cache = cold
    proc = _rrs("reproduce", str(SPEC), "--out", str(tmp_path / "t1"), "--threads", "1", cache=cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    man_a = json.loads((out / "manifest.json").read_text())
    man_b = json.loads((tmp_path / "t1" / "manifest.json").read_text())
    assert man_a["device"]["threads"] == 2 and man_a["device"]["set_by"] == {"device": "spec", "threads": "spec"}
    assert man_b["device"]["threads"] == 1 and man_b["device"]["set_by"]["threads"] == "command line"
    assert (man_a["numerics"]["fingerprint"]["threads"], man_b["numerics"]["fingerprint"]["threads"]) == (2, 1)
    assert man_a["numerics"]["id"] != man_b["numerics"]["id"]
    assert {c["attack_key"] for c in man_a["cells"]}.isdisjoint(c["attack_key"] for c in man_b["cells"])
    resolved = (tmp_path / "t1" / "spec.resolved.yaml").read_text()
    assert "--threads 1\n" in resolved.splitlines(keepends=True)[0] and "threads: 1\n" in resolved
    pub = _publication(out, tmp_path / "pub")
    check = _rrs("check", str(pub), "--fresh", str(tmp_path / "t1"), "--json", "--report", str(tmp_path / "r.md"),
                 cache=cache)
    fresh = json.loads(check.stdout)["studies"][0]["fresh"]
    assert fresh["compare_mode"] == "replication" and fresh["ok"], (fresh["comparison"], fresh["failures"])
    assert check.returncode == 0, check.stdout[-3000:]


def _run_files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_rerun_removes_its_own_stale_files_and_keeps_the_users(cold, tmp_path: Path) -> None:
    out_ref, cache = cold
    out = tmp_path / "out"
    shutil.copytree(out_ref, out)
    stale = ["samples/org-s/lora-r8/seed7/steps10.jsonl", "samples/gone/lora-r8/seed0/steps0.jsonl"]
    foreign = {"figures/OLD_compare.png": "not a figure rrs draws", "figures/my_notes.txt": "the user's",
               "samples/org-s/notes.md": "the user's"}  # no run of rrs writes these paths: they stay
    for rel, text in {r: "{}\n" for r in stale}.items() | foreign.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    from rrs.artifact import inventory

    manifest = json.loads((out / "manifest.json").read_text())  # as an earlier run that wrote the stale files left it
    manifest[inventory.FILES_KEY] = [f for f in inventory.build(out) if f["path"] not in foreign]
    (out / "manifest.json").write_text(json.dumps(manifest))
    proc = _rrs("reproduce", str(SPEC), "--out", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _run_files(out) == _run_files(out_ref) | set(foreign)
    assert all((out / rel).read_text() == text for rel, text in foreign.items())
    assert f"rrs: kept 3 file(s) in {out} that no run of rrs wrote" in proc.stderr
    assert not (out / "samples" / "gone").exists() and not (out / "samples/org-s/lora-r8/seed7").exists()
    assert _outputs(out) == _outputs(out_ref)


def test_a_run_writing_while_another_stages_into_the_same_out(cold, tmp_path: Path, monkeypatch) -> None:
    """Run B, start to end, while run A's outputs are staged (A is drawing its figures): neither destroys the
    other's staging, both end without error, and --out holds the outputs of a solo run."""
    import rrs.figures.grid
    from rrs.engine.runner import reproduce

    out_ref, cache = cold
    out = tmp_path / "out"
    monkeypatch.setenv("RRS_QUIET", "1")
    draw = rrs.figures.grid.make_figures
    nested: list = []

    def draw_and_let_b_run(*args, **kw):
        if not nested:
            nested.append("B started")
            nested.append(reproduce(SPEC, out, cache))  # run B, while A's staging is half written
        return draw(*args, **kw)

    monkeypatch.setattr(rrs.figures.grid, "make_figures", draw_and_let_b_run)
    assert reproduce(SPEC, out, cache) == out  # run A
    assert nested == ["B started", out]
    assert _outputs(out) == _outputs(out_ref) and _run_files(out) == _run_files(out_ref)
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]


def test_two_runs_at_once_on_one_cache_and_one_out(cold, tmp_path: Path) -> None:
    """Two `rrs reproduce` started together on a cache holding the organisms only: each output is computed once
    (the second process waits for it, saying so in one line), both exit 0, --out holds a solo run's outputs."""
    out_ref, cache_ref = cold
    cache, out = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(cache_ref / "organisms", cache / "organisms")
    shutil.copytree(cache_ref / "models", cache / "models")
    procs = [_rrs("reproduce", str(SPEC), "--out", str(out), cache=cache, background=True) for _ in range(2)]
    errs = [p.communicate(timeout=600)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert _outputs(out) == _outputs(out_ref) and _run_files(out) == _run_files(out_ref)
    for err in errs:
        assert "Traceback" not in err, err
        assert all(line.startswith("rrs: waiting for another process working on ") for line in err.splitlines()
                   if "waiting" in line), err
    records = list((cache / "compute").glob("attack-*.json"))
    assert records and all(json.loads(r.read_text())["device"] == "cpu" for r in records)
