"""The job list of a run: the work the stage cache is missing, as jobs that any executor runs.

Two waves keep jobs from racing on shared work: wave 1 = one job per model with anything missing (the model and its
baseline generation), wave 2 = one job per cell with missing generations (its attack and attacked generations). The
inline executor (rrs/engine/runner.py `execute`) runs them in this process, one model at a time; the submitit
executors (rrs/engine/executors.py) as local subprocesses, SLURM jobs, or in-process for debugging.
"""

from __future__ import annotations

from dataclasses import dataclass

from rrs.engine.plan import Cell, Plan


@dataclass
class Job:
    label: str  # "cell org-s/lora-r8/seed0"
    model: str
    fn: str  # the job function (rrs/engine/executors.py): "model_job" or "cell_job"
    args: tuple  # its arguments: (spec path, cache, model, model key) or (…, model, attack, seed, attack key)


def waves(plan: Plan, spec_abs: str, cache_abs: str, runtime: dict | None = None) -> tuple[list[Job], list[Job]]:
    """(wave 1, wave 2) of `plan`, in the study's model order and the plan's cell order. `runtime` (`rrs run
    --device/--threads`) is passed to every job, so that each plans with the same runtime."""
    wave1, wave2 = [], []
    extra = (runtime,) if runtime else ()
    for m in plan.study.models:
        cells = [c for c in plan.cells if c.model == m.name]
        missing = [c for c in cells if plan.store.missing(c)]
        if plan.store.model_missing(m, cells[0]):
            wave1.append(Job(f"model {m.name} (model and baseline)", m.name, "model_job",
                             (spec_abs, cache_abs, m.name, cells[0].model_key, *extra)))
        wave2 += [Job(f"cell {c.model}/{c.attack}/seed{c.seed}", c.model, "cell_job",
                      (spec_abs, cache_abs, c.model, c.attack, c.seed, c.attack_key, *extra)) for c in missing]
    return wave1, wave2


def cell_of(plan: Plan, job: Job) -> Cell:
    """The cell a wave-2 job computes."""
    model, attack, seed = job.args[2:5]
    return next(c for c in plan.cells if (c.model, c.attack, c.seed) == (model, attack, seed))
