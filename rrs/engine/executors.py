"""Scale-out: the cells of a study as submitit jobs (local subprocesses, SLURM, or in-process for debugging).

The run's job list (rrs/engine/jobs.py: wave 1 = one job per model with anything missing, wave 2 = one job per
missing cell) goes through the same pipeline as an inline run (runner.reproduce); only the executor differs. Jobs
share the stage cache of a plain run, so finished cells are never submitted and a resubmission resumes. The
submitting process then judges, scores and writes the outputs exactly as a plain run does, loading no model.
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
from typing import TYPE_CHECKING, Any

from rrs.errors import UserError

if TYPE_CHECKING:
    from rrs.engine.jobs import Job  # imported lazily: the CLI imports this module before refusing bad paths


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
    max_requeues: int | None = None  # default DEFAULT_MAX_REQUEUES: times a job that hits its time limit is requeued

    def given(self) -> list[str]:
        flags = {"partition": "--partition", "gpus": "--gpus", "time_min": "--time-min", "mem_gb": "--mem-gb",
                 "max_parallel": "--max-parallel", "log_dir": "--log-dir", "max_requeues": "--max-requeues"}
        return [flag for field, flag in flags.items() if getattr(self, field) is not None]


DEFAULT_TIME_MIN = 240
DEFAULT_MAX_REQUEUES = 3  # submitit's default


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


def model_job(spec_path: str, cache: str, model: str, model_key: str, runtime: dict | None = None) -> dict[str, float]:
    """Wave 1: build/load `model` and generate its baseline. Returns seconds per stage."""
    from rrs.engine.runner import prepare
    from rrs.engine.stages import run_model
    from rrs.timer import Timer

    with _job_env():
        plan = prepare(spec_path, cache, runtime=runtime)
        cell = next((c for c in plan.cells if c.model == model), None)
        _same_key(spec_path, f"model {model}", model_key, cell.model_key if cell else None)
        timer = Timer()
        run_model(plan, model, [], timer)
        return timer.as_dict()


def cell_job(spec_path: str, cache: str, model: str, attack: str, seed: int, attack_key: str,
             runtime: dict | None = None) -> dict[str, float]:
    """Wave 2: the attack and the attacked generations of one cell. Returns seconds per stage."""
    from rrs.engine.runner import prepare
    from rrs.engine.stages import attack_cell, run_model, setup_torch
    from rrs.timer import Timer

    with _job_env():
        plan = prepare(spec_path, cache, runtime=runtime)
        cell = next((c for c in plan.cells if (c.model, c.attack, c.seed) == (model, attack, seed)), None)
        _same_key(spec_path, f"cell {model}/{attack}/seed{seed}", attack_key, cell.attack_key if cell else None)
        timer = Timer()
        _say_resume(plan, cell, plan.store.missing(cell))
        if plan.store.model_missing(plan.study.model(model), cell):
            run_model(plan, model, [cell], timer)  # wave 1's output is gone: redo it here
        else:
            attack_cell(plan, cell, setup_torch(plan), timer)
        return timer.as_dict()


def _say_resume(plan, cell, missing: list[int]) -> None:
    """One line in the job's log when it picks up work a killed, timed-out or preempted job left behind."""
    from rrs.store import resume_step

    attacked = [s for s in cell.steps if s > 0]  # step 0 is the baseline, wave 1's work
    step = resume_step(plan.store.attack_dir(cell.attack_key), plan.study.attack(cell.attack))
    done = sum(s not in missing for s in attacked)
    if step or done:
        print(f"rrs job: cell {cell.model}/{cell.attack}/seed{cell.seed} resumes: attack checkpoint at step {step} of "
              f"{attacked[-1]}, {done} of {len(attacked)} attacked generations cached", file=sys.stderr, flush=True)


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
    requeues = res.max_requeues if res.max_requeues is not None else DEFAULT_MAX_REQUEUES
    if kind is ExecutorKind.debug:
        return submitit.DebugExecutor(folder=str(folder))
    if kind is ExecutorKind.local:
        ex = submitit.LocalExecutor(folder=str(folder), max_num_timeout=requeues)
        ex.update_parameters(timeout_min=time_min, gpus_per_node=gpus)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm", slurm_max_num_timeout=requeues)
    params = {"name": f"rrs-{study.study}", "timeout_min": time_min, "gpus_per_node": gpus,
              "cpus_per_task": study.runtime.threads, "mem_gb": res.mem_gb, "slurm_partition": res.partition,
              "slurm_array_parallelism": res.max_parallel, "slurm_signal_delay_s": signal_delay_s(time_min)}
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def signal_delay_s(time_min: int) -> int:
    """Seconds before its time limit that SLURM warns a job (SIGUSR2), which then requeues itself and exits.

    slurmctld looks at time limits every 30 s and may warn up to one look early, so a job is warned when fewer than
    S + 30 s remain: S = 90 (submitit's default) for limits of 10 minutes and more; less for shorter ones, so that a
    job still gets a useful part of its time (with --time-min 1: warned 20 to 50 s after it starts)."""
    return 90 if time_min >= 10 else max(10, 9 * time_min)


FINISHED, FAILED = "finished", "failed"
# squeue states of a job that may still write its result; any other state (COMPLETED, CANCELLED, TIMEOUT, FAILED,
# OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, ...) or none (the job left the queue) is final.
SLURM_LIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "COMPLETING", "CONFIGURING",
              "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"}


class SlurmWatch:
    """Which SLURM jobs are still alive, from `squeue` (works with and without accounting).

    submitit learns a job's state from `sacct`: where accounting is off (no slurmdbd) it logs a warning at every
    poll and never learns that a job ended without a result (scancel, node failure, out of memory), so it would
    wait for ever. So a wave is watched here instead: a job is finished when its result file exists, and ended
    when squeue shows it in a final state or no longer lists it for `grace` seconds with no result file."""

    def __init__(self, user: str | None = None, grace: float = 20.0) -> None:
        import getpass

        self.user = user or getpass.getuser()
        self.grace = grace
        self.states: dict[str, str] = {}
        self.final_since: dict[str, float] = {}
        self.last = float("-inf")
        self.t0 = time.time()

    def poll(self, handles: list[Any], force: bool = False) -> list[str]:
        """Per job: FINISHED (its result file is there), FAILED (it ended without one: see `why`), or the
        lowercased SLURM state."""
        now = time.time()
        if force or now - self.last >= min(30.0, max(5.0, (now - self.t0) / 10)):
            self.last = now
            states = squeue_states(self.user)
            if states is not None:  # None: squeue failed (controller busy?); keep the last answer
                self.states = states
        out = []
        for h in handles:
            if h.paths.result_pickle.exists():
                out.append(FINISHED)
                continue
            state = self.states.get(h.job_id)
            if state in SLURM_LIVE:
                self.final_since.pop(h.job_id, None)
                out.append(state.lower())
                continue
            since = self.final_since.setdefault(h.job_id, now)  # final once squeue still says so `grace` s later
            out.append(FAILED if self.last - since >= self.grace else "ending")
        return out

    def why(self, handle: Any) -> str:
        state = self.states.get(handle.job_id)
        if state:
            return f"SLURM ended it ({state}) before it wrote a result"
        return "it left the SLURM queue without writing a result"


def squeue_states(user: str) -> dict[str, str] | None:
    """job id (array tasks as 123_4) -> state, for every job of `user` that squeue still lists."""
    import subprocess

    cmd = ["squeue", "--noheader", "--array", "--states=all", f"--user={user}", "--format=%i|%T"]
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return dict(line.strip().split("|", 1) for line in text.splitlines() if "|" in line)


def run_wave(executor: Any, jobs: list[Job], window: int | None = None, array: bool = False, name: str = "jobs",
             log: Callable[[str], None] | None = None) -> list[dict | str]:
    """Submit `jobs` (at most `window` running at once; as one job array with `array`), show progress while they
    run, and wait for all of them.

    Returns, per job, its stage seconds, or one line saying what failed and where its log is."""
    import submitit

    log = log or _stderr
    handles: list[Any] = []
    if array:
        with executor.batch():
            handles = [executor.submit(Resumable(j.fn), *j.args) for j in jobs]
    elif not window:
        handles = [executor.submit(Resumable(j.fn), *j.args) for j in jobs]
    submitted = [time.time()] * len(handles)
    if any(isinstance(h, submitit.DebugJob) for h in handles):  # they run in this process when asked for a result
        return [_outcome(j, h) for j, h in zip(jobs, handles, strict=True)]
    watch = SlurmWatch() if any(isinstance(h, submitit.SlurmJob) for h in handles) else None
    show = _Progress(name, len(jobs), log)
    states: list[str] = []
    try:
        while True:
            states = watch.poll(handles, force=not show.shown) if watch else [
                FINISHED if h.done() else "running" for h in handles]
            live = sum(s not in (FINISHED, FAILED) for s in states)
            while len(handles) < len(jobs) and (not window or live < window):
                j = jobs[len(handles)]
                handles.append(executor.submit(Resumable(j.fn), *j.args))
                submitted.append(time.time())
                states.append("pending")
                live += 1
            show.update(states)
            if len(handles) == len(jobs) and live == 0:
                break
            time.sleep(1)
    except KeyboardInterrupt:
        if watch:
            left = [h.job_id for h, s in zip(handles, states, strict=False) if s not in (FINISHED, FAILED)]
            if left:
                log(f"{len(left)} job(s) still on the cluster; to stop them: scancel {' '.join(left)}")
        raise
    show.close()
    outcomes = [_outcome(j, h) if s == FINISHED else f"job for {j.label} failed: {watch.why(h)}; log: {h.paths.stderr}"
                for j, h, s in zip(jobs, handles, states, strict=True)]
    show.summary(outcomes, handles, submitted)
    return outcomes


def _stderr(msg: str) -> None:
    print(f"rrs: {msg}", file=sys.stderr, flush=True)


class _Progress:
    """Finished jobs / total of a wave: a tqdm bar on a terminal, else one plain line whenever the counts change
    (nothing with RRS_QUIET=1)."""

    def __init__(self, name: str, total: int, log: Callable[[str], None]) -> None:
        self.name, self.total, self.log = name, total, log
        self.quiet = os.environ.get("RRS_QUIET") == "1"
        self.bar = None
        if not self.quiet and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=name, unit="job", leave=False, dynamic_ncols=True)
        self.last = ""
        self.shown = False
        self.t0 = time.perf_counter()

    def update(self, states: list[str]) -> None:
        self.shown = True
        done = sum(s in (FINISHED, FAILED) for s in states)
        counts: dict[str, int] = {}
        for s in states:
            if s != FINISHED:
                counts[s] = counts.get(s, 0) + 1
        rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        line = f"{done}/{self.total} done" + (f", {rest}" if rest else "")
        if line == self.last or self.quiet:
            return
        self.last = line
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.set_postfix_str(rest)
        else:
            self.log(f"{self.name}: {line} ({time.perf_counter() - self.t0:.0f} s)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def summary(self, outcomes: list[dict | str], handles: list[Any], submitted: list[float]) -> None:
        """Wall time of the wave and, per finished job, its compute (the stage seconds it reports) and its overhead:
        the rest of the time from submission to its result file (queueing, start-up, imports, cache keys; for a
        requeued job also its earlier attempts and waits)."""
        compute, overhead = [], []
        for out, h, t in zip(outcomes, handles, submitted, strict=True):
            if isinstance(out, dict):
                seconds = sum(out.values())
                compute.append(seconds)
                overhead.append(h.paths.result_pickle.stat().st_mtime - t - seconds)
        line = f"{self.name}: {len(outcomes)} job(s) done in {time.perf_counter() - self.t0:.0f} s"
        if compute:
            line += (f"; per job: compute {sum(compute) / len(compute):.1f} s, overhead "
                     f"{sum(overhead) / len(overhead):.1f} s (queue, start-up, imports, cache keys, requeues)")
        if not self.quiet:
            self.log(line)


def _outcome(job: Job, handle: Any) -> dict | str:
    err = handle.exception()  # waits; unlike result(), never opens a debugger for DebugExecutor jobs
    if err is None:
        return handle.result()
    reason = _reason(err)
    if "timed-out too many times" in reason:
        reason += " (raise --time-min or --max-requeues)"
    return f"job for {job.label} failed: {reason}; log: {handle.paths.stderr}"


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
             kind: ExecutorKind, res: Resources, log: Callable[[str], None] | None = None,
             runtime: dict | None = None) -> Path:
    """`rrs run --executor local|slurm|debug`: the run's pipeline (runner.reproduce) with its job list submitted."""
    from rrs.engine.runner import reproduce

    log = log or _stderr
    if kind is ExecutorKind.slurm and not slurm_available():
        raise UserError("--executor slurm: sbatch is not on PATH; run from a SLURM login node, or use "
                        "--executor local")
    return reproduce(spec_path, out, cache, strict, runtime=runtime, executor=lambda plan, jobs, timer: submit(
        plan, jobs, timer, kind, res, log))


def submit(plan, jobs: list[Job], timer, kind: ExecutorKind, res: Resources, log: Callable[[str], None]) -> None:
    """The submitit executors: wave 1 (models) then wave 2 (cells) as jobs; the cells of a model whose wave-1 job
    failed are not submitted. Raises JobsFailed with one line per failed job."""
    folder = (Path(res.log_dir) if res.log_dir else plan.store.root / "submitit").resolve()
    executor = make_executor(kind, folder, res, plan.study)
    window = _window(res, plan.study) if kind is ExecutorKind.local else None
    array = kind is ExecutorKind.slurm
    failed: list[str] = []
    broken: set[str] = set()  # models whose wave-1 job failed: their cells are not submitted
    for name, fn in (("wave 1 (models, baselines)", "model_job"), ("wave 2 (cells)", "cell_job")):
        wave = [j for j in jobs if j.fn == fn and j.model not in broken]
        if not wave:
            continue
        log(f"{name}: {len(wave)} {kind.value} job(s); logs in {folder}")
        for job, outcome in zip(wave, run_wave(executor, wave, window, array, name, log), strict=True):
            if isinstance(outcome, str):
                failed.append(outcome)
                broken.add(job.model)
            else:
                for stage, seconds in outcome.items():
                    timer.seconds[stage] += seconds
    if failed:
        raise JobsFailed(failed)


def _window(res: Resources, study) -> int:
    return res.max_parallel or max(1, (os.cpu_count() or 1) // study.runtime.threads)
