"""Scale-out executors: submitit jobs fill the same stage cache as a plain run and give byte-identical outputs;
finished cells are not submitted; SLURM parameters reach submitit; a failed job names its cell and its log."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rrs.cli import main
from rrs.engine import executors
from rrs.engine.executors import (
    FAILED,
    FINISHED,
    ExecutorKind,
    Resources,
    Resumable,
    SlurmWatch,
    make_executor,
    run_jobs,
    run_wave,
    signal_delay_s,
)
from rrs.engine.jobs import Job, waves
from rrs.engine.runner import prepare

ROOT = Path(__file__).resolve().parents[1]


def _rrs(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"RRS_QUIET": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "rrs.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _outputs(out: Path) -> dict[str, bytes]:
    files = [out / "results_grid.csv", *sorted((out / "samples").rglob("*.jsonl"))]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    """spec/tiny.yaml reduced to one smaller model, two seeds (two cells), fewer prompts, one thread per job."""
    d = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
    d |= {"study": "tiny-exec", "models": d["models"][:1], "seeds": [0, 1]}
    d["models"][0]["tune_steps"] = 30
    d["data"]["eval"]["per_category"] = d["data"]["benign"]["per_category"] = 1
    d["runtime"]["threads"] = 1
    path = tmp_path_factory.mktemp("spec") / "tiny-exec.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def plain(spec, tmp_path_factory) -> tuple[Path, Path]:
    """One plain in-process run (--executor inline, the default), shared by every test here."""
    base = tmp_path_factory.mktemp("plain")
    proc = _rrs("run", str(spec), "--out", str(base / "out"), "--cache", str(base / "cache"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return base / "out", base / "cache"


def _partial_cache(spec: Path, plain_cache: Path, dst: Path) -> Path:
    """A copy of the plain run's cache as a run interrupted in seed 1's attack leaves it: its last attack
    checkpoint and last generation gone."""
    from rrs.store import checkpoint_dir

    shutil.copytree(plain_cache, dst)
    plan = prepare(spec, dst)
    cell = next(c for c in plan.cells if c.seed == 1)
    plan.store.gen_path(cell.gen_keys[cell.steps[-1]]).unlink()
    shutil.rmtree(checkpoint_dir(plan.store.attack_dir(cell.attack_key), cell.steps[-1]))
    assert [bool(plan.store.missing(c)) for c in plan.cells] == [False, True]
    return dst


@pytest.mark.e2e
def test_local_executor_matches_plain_run(spec, plain, tmp_path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = _rrs("run", str(spec), "--executor", "local", "--max-parallel", "2", "--out", str(out),
                "--cache", str(cache))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wave 1 (models, baselines): 1 local job(s)" in proc.stderr
    assert "wave 2 (cells): 2 local job(s)" in proc.stderr
    assert _outputs(out) == _outputs(plain[0])
    assert len(list((cache / "submitit").glob("*_0_log.err"))) == 3
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert {"model", "baseline", "attack", "generate"} <= set(stages)  # timed inside the jobs


class _Stop(Exception):
    pass


def test_inline_and_submitted_runs_share_one_pipeline_and_one_job_list(spec, tmp_path, monkeypatch) -> None:
    from rrs.engine import runner

    seen: list[list[str]] = []

    def record(plan, jobs, timer):
        seen.append([j.label for j in jobs])
        raise _Stop

    with pytest.raises(_Stop):
        runner.reproduce(spec, tmp_path / "out", tmp_path / "cache", executor=record)
    plan = prepare(spec, tmp_path / "cache")
    wave1, wave2 = waves(plan, str(spec.resolve()), str(plan.store.root.resolve()))
    assert wave1 and wave2 and seen == [[j.label for j in wave1 + wave2]]
    monkeypatch.setattr(runner, "reproduce", lambda *args, executor, **kw: executor(plan, wave1 + wave2, None))
    monkeypatch.setattr(executors, "submit", lambda plan, jobs, *rest: seen.append([j.label for j in jobs]))
    executors.run_jobs(spec, tmp_path / "out", tmp_path / "cache", False, ExecutorKind.debug, Resources())
    assert seen[1] == seen[0]


def test_complete_cache_submits_nothing(spec, plain) -> None:
    plan = prepare(spec, plain[1])
    assert waves(plan, str(spec), str(plain[1])) == ([], [])


def test_jobs_plan_with_the_runs_device_and_threads(spec, tmp_path) -> None:
    """`rrs run --threads 2 --executor ...` on a spec that says 1: every job gets the runtime and computes the
    submitter's keys with it."""
    runtime = {"threads": 2}
    plan = prepare(spec, tmp_path / "cache", runtime=runtime)
    wave1, wave2 = waves(plan, str(spec), str(tmp_path / "cache"), runtime)
    assert wave1 and wave2 and all(j.args[-1] == runtime for j in wave1 + wave2)
    again = prepare(spec, tmp_path / "cache", runtime=wave2[0].args[-1])
    assert again.study.runtime.threads == 2 and again.cells[0].attack_key == wave2[0].args[5]
    assert prepare(spec, tmp_path / "cache").cells[0].attack_key != wave2[0].args[5]  # the spec's own 1 thread


def test_a_model_job_only_where_the_models_own_outputs_are_missing(spec, plain, tmp_path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(plain[1], cache)
    plan = prepare(spec, cache)
    first = plan.cells[0]
    plan.store.gen_path(first.gen_keys[first.steps[-1]]).unlink()  # one cell's last generation: no model job
    wave1, wave2 = waves(plan, str(spec), str(cache))
    assert (len(wave1), [j.label for j in wave2]) == (0, ["cell org-xs/lora-r8/seed0"])
    plan.store.gen_path(first.gen_keys[0]).unlink()  # the baseline too: the model job comes back
    assert [j.label for j in waves(plan, str(spec), str(cache))[0]] == [
        "model org-xs (model and baseline)"]


class FakeSlurm:
    """Stands in for submitit.AutoExecutor: records its parameters and runs each job in this process."""

    made: list[FakeSlurm] = []

    def __init__(self, folder: str, cluster: str | None = None, **kw) -> None:
        import submitit

        self.inner = submitit.DebugExecutor(folder=folder)
        self.cluster, self.ctor, self.params, self.submitted = cluster, kw, {}, []
        FakeSlurm.made.append(self)

    def update_parameters(self, **kw) -> None:
        self.params.update(kw)

    def batch(self):
        return self.inner.batch()

    def submit(self, fn, *args):
        self.submitted.append((fn.name, args[2:]))
        return self.inner.submit(fn, *args)


def test_slurm_gets_its_parameters_and_resumes_only_missing_cells(spec, plain, tmp_path, monkeypatch) -> None:
    import submitit

    cache = _partial_cache(spec, plain[1], tmp_path / "cache")
    monkeypatch.setattr(submitit, "AutoExecutor", FakeSlurm)
    monkeypatch.setattr(executors, "slurm_available", lambda: True)
    FakeSlurm.made.clear()
    res = Resources(partition="gpu-a100", gpus=1, time_min=30, mem_gb=16, max_parallel=4)
    out = run_jobs(spec, tmp_path / "out", cache, False, ExecutorKind.slurm, res, log=lambda _: None)
    [ex] = FakeSlurm.made
    assert ex.cluster == "slurm" and ex.ctor == {"slurm_max_num_timeout": 3}
    assert ex.params == {"name": "rrs-tiny-exec", "timeout_min": 30, "gpus_per_node": 1, "cpus_per_task": 1,
                         "mem_gb": 16, "slurm_partition": "gpu-a100", "slurm_array_parallelism": 4,
                         "slurm_signal_delay_s": 90}
    plan = prepare(spec, cache)
    keys = {c.seed: c for c in plan.cells}
    # seed 0 was finished and the model's own work (weights, baseline) is cached: one job, seed 1's cell
    assert ex.submitted == [("cell_job", ("org-xs", "lora-r8", 1, keys[1].attack_key))]
    assert "attack" in json.loads((out / "manifest.json").read_text())["stages"]  # resumed from its checkpoint
    assert _outputs(out) == _outputs(plain[0])


def test_slurm_without_sbatch_is_a_user_error(spec, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(executors, "slurm_available", lambda: False)
    assert main(["run", str(spec), "--executor", "slurm", "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sbatch is not on PATH" in err[0]
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--executor", "slrum"], "Did you mean 'slurm'?"),
    (["--partition", "gpu", "--mem-gb", "8"], "--partition, --mem-gb: only with --executor local, slurm or debug"),
])
def test_bad_executor_flags_are_user_errors(spec, tmp_path, capsys, args, message) -> None:
    assert main(["run", str(spec), "--cache", str(tmp_path / "c"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_failed_job_names_its_cell_and_log_and_exits_1(spec, plain, tmp_path, monkeypatch, capsys) -> None:
    def boom(*args):
        raise RuntimeError("attack diverged")

    cache = _partial_cache(spec, plain[1], tmp_path / "cache")
    monkeypatch.setattr(executors, "model_job", lambda *a: {})
    monkeypatch.setattr(executors, "cell_job", boom)
    rc = main(["run", str(spec), "--executor", "debug", "--cache", str(cache), "--out", str(tmp_path / "out")])
    assert rc == 1
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("rrs: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("rrs: error: job for cell org-xs/lora-r8/seed1 failed: RuntimeError: attack diverged;"
                                f" log: {cache.resolve() / 'submitit'}/")
    assert not (tmp_path / "out").exists()


def test_failed_subprocess_job_reports_its_last_traceback_line_and_its_log(spec, tmp_path) -> None:
    study = prepare(spec, tmp_path / "c").study
    ex = make_executor(ExecutorKind.local, tmp_path / "logs", Resources(time_min=5), study)
    job = Job("cell org-xs/lora-r8/seed0", "org-xs", "cell_job", (str(spec),))  # fails at once: arguments missing
    [line] = run_wave(ex, [job], window=1)
    assert line.startswith("job for cell org-xs/lora-r8/seed0 failed: TypeError: cell_job() missing 5 required")
    log = Path(line.rsplit("; log: ", 1)[1])
    assert log.parent == (tmp_path / "logs") and "TypeError" in log.read_text()


def test_jobs_pickle_by_name_and_requeue_themselves(monkeypatch) -> None:
    job = pickle.loads(pickle.dumps(Resumable("cell_job")))
    again = job.checkpoint("spec.yaml", "cache", "m", "a", 0, "k")  # what submitit requeues on timeout
    assert again.function is job and again.args == ("spec.yaml", "cache", "m", "a", 0, "k")
    monkeypatch.setattr(executors, "cell_job", lambda *a: {"args": len(a)})
    assert job("spec.yaml", "cache") == {"args": 2}


def test_signal_comes_early_enough_and_short_limits_keep_most_of_their_time() -> None:
    assert signal_delay_s(240) == signal_delay_s(10) == 90  # submitit's default
    assert [signal_delay_s(t) for t in (1, 2, 5, 9)] == [10, 18, 45, 81]


class FakeHandle:
    def __init__(self, folder: Path, job_id: str) -> None:
        from submitit.core.utils import JobPaths

        self.job_id = job_id
        self.paths = JobPaths(folder, job_id=job_id, task_id=0)


def test_slurm_watch_needs_no_accounting_and_sees_jobs_that_end_without_a_result(tmp_path, monkeypatch) -> None:
    """squeue, not sacct: a finished job is its result file; a cancelled one fails once squeue still says so
    `grace` seconds later; a requeued one is alive; squeue failing changes nothing."""
    clock = [1000.0]
    answers = [{"7_0": "RUNNING", "7_1": "RUNNING", "7_2": "PENDING"},
               {"7_0": "COMPLETED", "7_1": "CANCELLED", "7_2": "REQUEUED"},
               None,
               {"7_1": "CANCELLED", "7_2": "RUNNING"}]  # 7_0 purged from the queue, its result is there
    monkeypatch.setattr(executors.time, "time", lambda: clock[0])
    monkeypatch.setattr(executors, "squeue_states", lambda user: answers.pop(0))
    jobs = [FakeHandle(tmp_path, f"7_{i}") for i in range(3)]
    watch = SlurmWatch(user="me", grace=20)
    assert watch.poll(jobs, force=True) == ["running", "running", "pending"]
    jobs[0].paths.result_pickle.write_bytes(b"")
    clock[0] += 5
    assert watch.poll(jobs) == [FINISHED, "ending", "requeued"]
    clock[0] += 10
    assert watch.poll(jobs) == [FINISHED, "ending", "requeued"]  # squeue failed: the last answer stands
    clock[0] += 10
    assert watch.poll(jobs) == [FINISHED, FAILED, "running"]
    assert watch.why(jobs[1]) == "SLURM ended it (CANCELLED) before it wrote a result"
    assert watch.why(FakeHandle(tmp_path, "8")) == "it left the SLURM queue without writing a result"


def test_progress_is_one_plain_line_per_change_off_a_terminal(monkeypatch) -> None:
    monkeypatch.delenv("RRS_QUIET", raising=False)
    lines: list[str] = []
    show = executors._Progress("wave 2 (cells)", 3, lines.append)
    for states in (["pending"] * 3, ["pending"] * 3, ["running", "running", "pending"],
                   [FINISHED, "running", "pending"], [FINISHED, FAILED, FINISHED]):
        show.update(states)
    assert [ln.rsplit(" (", 1)[0] for ln in lines] == [
        "wave 2 (cells): 0/3 done, 3 pending",
        "wave 2 (cells): 0/3 done, 1 pending, 2 running",
        "wave 2 (cells): 1/3 done, 1 pending, 1 running",
        "wave 2 (cells): 3/3 done, 1 failed"]
