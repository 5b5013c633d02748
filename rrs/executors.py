"""Scale-out: the cells of a study as submitit jobs (local subprocesses, SLURM, or in-process for debugging).

Jobs share the stage cache of a plain run, so finished cells are never submitted and a resubmission resumes.
Two waves keep jobs from racing on shared work: wave 1 = one job per model with anything missing (the model and
its baseline generation), wave 2 = one job per missing cell (attack + generations). The submitting process then
judges, scores and writes the outputs exactly as a plain run does (runner.finish), loading no model.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from rrs.errors import UserError


class ExecutorKind(StrEnum):
    inline = "inline"  # today's in-process runner
    local = "local"  # submitit.LocalExecutor: one subprocess per job
    slurm = "slurm"  # submitit.AutoExecutor on a SLURM cluster
    debug = "debug"  # submitit.DebugExecutor: jobs run in this process, one after the other


@dataclass(frozen=True)
class Resources:
    """What each job asks for; None = the executor's default."""

    partition: str | None = None
    gpus: int | None = None  # default: 0 for runtime.device cpu, else 1
    time_min: int | None = None  # default DEFAULT_TIME_MIN; a timed-out job is requeued and resumes
    mem_gb: float | None = None
    max_parallel: int | None = None  # local default: CPU cores // runtime.threads
    log_dir: Path | None = None  # default <cache>/submitit

    def given(self) -> list[str]:
        flags = {"partition": "--partition", "gpus": "--gpus", "time_min": "--time-min", "mem_gb": "--mem-gb",
                 "max_parallel": "--max-parallel", "log_dir": "--log-dir"}
        return [flag for field, flag in flags.items() if getattr(self, field) is not None]


DEFAULT_TIME_MIN = 240


def parse_executor(value: str) -> ExecutorKind:
    names = [k.value for k in ExecutorKind]
    if value not in names:
        from rrs.registry import did_you_mean

        raise UserError(f"--executor: unknown executor {value!r}.{did_you_mean(value, names)} Known: {', '.join(names)}")
    return ExecutorKind(value)


class JobsFailed(RuntimeError):
    """One line per failed job: what it computed, why it failed, where its log is."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


# ---- job functions (run in the job's process; top level and picklable, as submitit requires) ----

@contextmanager
def _job_env() -> Iterator[None]:
    saved = os.environ.get("RRS_QUIET")
    os.environ["RRS_QUIET"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RRS_QUIET", None)
        else:
            os.environ["RRS_QUIET"] = saved


def model_job(spec_path: str, cache: str, model: str, model_key: str) -> dict[str, float]:
    """Wave 1: build/load `model` and generate its baseline. Returns seconds per stage."""
    from rrs.runner import prepare
    from rrs.stages import run_model
    from rrs.timer import Timer

    with _job_env():
        plan = prepare(spec_path, cache)
        cell = next((c for c in plan.cells if c.model == model), None)
        _same_key(spec_path, f"model {model}", model_key, cell.model_key if cell else None)
        timer = Timer()
        run_model(plan, model, [], timer)
        return timer.as_dict()


def cell_job(spec_path: str, cache: str, model: str, attack: str, seed: int, attack_key: str) -> dict[str, float]:
    """Wave 2: the attack and the attacked generations of one cell. Returns seconds per stage."""
    from rrs.runner import prepare
    from rrs.stages import run_cell, run_model, setup_torch
    from rrs.timer import Timer

    with _job_env():
        plan = prepare(spec_path, cache)
        cell = next((c for c in plan.cells if (c.model, c.attack, c.seed) == (model, attack, seed)), None)
        _same_key(spec_path, f"cell {model}/{attack}/seed{seed}", attack_key, cell.attack_key if cell else None)
        timer = Timer()
        missing = plan.missing(cell)
        if 0 in missing or not plan.model_info_path(cell.model_key).is_file():
            run_model(plan, model, [cell], timer)  # wave 1's output is gone: redo it here
        elif missing:
            run_cell(plan, cell, missing, setup_torch(plan), timer)
        return timer.as_dict()


def _same_key(spec_path: str, what: str, expected: str, got: str | None) -> None:
    if got is None:
        raise ValueError(f"{spec_path}: the spec has no {what}")
    if got != expected:
        raise RuntimeError(f"{what}: this job computed cache key {got}, the submitting process {expected}: the spec "
                           f"or package versions differ between the two machines")


class Resumable:
    """A job function that submitit requeues on timeout or preemption (it calls `checkpoint`); the rerun resumes
    from the stage caches. Holds the function's name only, so it pickles by reference."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any) -> dict[str, float]:
        return globals()[self.name](*args)

    def checkpoint(self, *args: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args)


# ---- submitting ----

def slurm_available() -> bool:
    return shutil.which("sbatch") is not None


def make_executor(kind: ExecutorKind, folder: Path, res: Resources, study) -> Any:
    import submitit

    gpus = res.gpus if res.gpus is not None else (0 if study.runtime.device == "cpu" else 1)
    time_min = res.time_min or DEFAULT_TIME_MIN
    if kind is ExecutorKind.debug:
        return submitit.DebugExecutor(folder=str(folder))
    if kind is ExecutorKind.local:
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=time_min, gpus_per_node=gpus)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    params = {"name": f"rrs-{study.study}", "timeout_min": time_min, "gpus_per_node": gpus,
              "cpus_per_task": study.runtime.threads, "mem_gb": res.mem_gb, "slurm_partition": res.partition,
              "slurm_array_parallelism": res.max_parallel}
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


@dataclass
class Job:
    label: str  # "cell org-s/lora-r8/seed0"
    model: str
    fn: str  # name of a job function above
    args: tuple


def run_wave(executor: Any, jobs: list[Job], window: int | None = None, array: bool = False) -> list[dict | str]:
    """Submit `jobs` (at most `window` running at once; as one job array with `array`) and wait for all of them.

    Returns, per job, its stage seconds, or one line saying what failed and where its log is."""
    if array:
        with executor.batch():
            handles = [executor.submit(Resumable(j.fn), *j.args) for j in jobs]
    else:
        handles = []
        for j in jobs:
            while window and sum(not h.done() for h in handles) >= window:
                time.sleep(1)
            handles.append(executor.submit(Resumable(j.fn), *j.args))
    return [_outcome(j, h) for j, h in zip(jobs, handles, strict=True)]


def _outcome(job: Job, handle: Any) -> dict | str:
    err = handle.exception()  # waits; unlike result(), never opens a debugger for DebugExecutor jobs
    if err is None:
        return handle.result()
    return f"job for {job.label} failed: {_reason(err)}; log: {handle.paths.stderr}"


def _reason(err: BaseException) -> str:
    """The last line of the job's traceback (submitit wraps it between dashed lines), else the error itself."""
    text = str(err)
    if "----------------------" in text:
        trace = text.split("----------------------")[1]
        lines = [ln.strip() for ln in trace.splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def run_jobs(spec_path: str | Path, out: str | Path | None, cache: str | Path | None, strict: bool,
             kind: ExecutorKind, res: Resources, log: Callable[[str], None] | None = None) -> Path:
    """`rrs run --executor local|slurm|debug`: the missing work as jobs, then the outputs of a plain run."""
    from rrs.runner import finish, prepare
    from rrs.timer import Timer

    log = log or (lambda msg: print(f"rrs: {msg}", file=sys.stderr, flush=True))
    if kind is ExecutorKind.slurm and not slurm_available():
        raise UserError("--executor slurm: sbatch is not on PATH; run from a SLURM login node, or use "
                        "--executor local")
    t0 = time.perf_counter()
    timer = Timer()
    plan = prepare(spec_path, cache, strict)
    folder = (Path(res.log_dir) if res.log_dir else plan.cache / "submitit").resolve()
    spec_abs, cache_abs = str(Path(spec_path).resolve()), str(plan.cache.resolve())
    wave1, wave2 = _waves(plan, spec_abs, cache_abs)
    if wave1 or wave2:
        executor = make_executor(kind, folder, res, plan.study)
        window = _window(res, plan.study) if kind is ExecutorKind.local else None
        array = kind is ExecutorKind.slurm
        failed: list[str] = []
        broken: set[str] = set()  # models whose wave-1 job failed: their cells are not submitted
        for name, wave in (("wave 1 (models, baselines)", wave1), ("wave 2 (cells)", wave2)):
            wave = [j for j in wave if j.model not in broken]
            if not wave:
                continue
            log(f"{name}: {len(wave)} {kind.value} job(s); logs in {folder}")
            for job, outcome in zip(wave, run_wave(executor, wave, window, array), strict=True):
                if isinstance(outcome, str):
                    failed.append(outcome)
                    broken.add(job.model)
                else:
                    for stage, seconds in outcome.items():
                        timer.seconds[stage] += seconds
        if failed:
            raise JobsFailed(failed)
    return finish(plan, spec_path, out, timer, t0)


def _waves(plan, spec_abs: str, cache_abs: str) -> tuple[list[Job], list[Job]]:
    wave1, wave2 = [], []
    for m in plan.study.models:
        cells = [c for c in plan.cells if c.model == m.name]
        missing = [c for c in cells if plan.missing(c)]
        if missing or not plan.model_info_path(cells[0].model_key).is_file():
            wave1.append(Job(f"model {m.name} (model and baseline)", m.name, "model_job",
                             (spec_abs, cache_abs, m.name, cells[0].model_key)))
        wave2 += [Job(f"cell {c.model}/{c.attack}/seed{c.seed}", c.model, "cell_job",
                      (spec_abs, cache_abs, c.model, c.attack, c.seed, c.attack_key)) for c in missing]
    return wave1, wave2


def _window(res: Resources, study) -> int:
    return res.max_parallel or max(1, (os.cpu_count() or 1) // study.runtime.threads)
