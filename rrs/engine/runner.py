"""The runner: spec → plan → the job list, run by an executor (inline here; rrs/engine/executors.py for local
processes and SLURM) → from the stage caches, the results grid, scaling tables, samples, figures, manifest.

Outputs are assembled in a staging folder of this run's own beside --out and moved in file by file (each rename
atomic), so no partial file is ever visible under --out; files of an earlier run that this one does not write are
removed before the manifest moves in. One run at a time writes into an --out (a second waits, saying so); a killed
run resumes from the stage caches.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from rrs import preflight
from rrs.artifact.contract import GRID, GRID_COLUMNS, OUTPUT_DIRS, run_files, sample_path
from rrs.atomic import write_json, write_jsonl, write_text
from rrs.data import resolve
from rrs.engine.jobs import Job, cell_of, waves
from rrs.engine.plan import Plan, make_plan
from rrs.engine.results import EmbeddingCache, cell_results
from rrs.errors import UserError
from rrs.progress import progress
from rrs.spec import Runtime, Study, load_spec, spec_warnings
from rrs.store import built_here, cache_root, out_lock
from rrs.timer import Timer


def prepare(spec_path: str | Path, cache: str | Path | None = None, strict: bool = False,
            require_files: bool = True, runtime: dict | None = None) -> Plan:
    """The plan of the spec at `spec_path`. `runtime` ({"device": ..., "threads": ...}, from `rrs run --device
    --threads`) replaces the spec's runtime fields it names: they are execution settings, recorded in the manifest,
    the numerics fingerprint and every cache key, not the study's identity."""
    study = with_runtime(load_spec(spec_path), runtime)
    warnings = spec_warnings(study)
    if strict and warnings:
        raise UserError(f"{spec_path}: --strict: {warnings[0]}")
    return make_plan(study, resolve(study, require_files), cache_root(cache), tuple(sorted(runtime or {})))


def with_runtime(study: Study, runtime: dict | None) -> Study:
    if not runtime:
        return study
    return study.model_copy(update={"runtime": Runtime(**(study.runtime.model_dump() | runtime))})


Executor = Callable[[Plan, list[Job], Timer], None]  # runs a job list, filling the stage caches


def execute(plan: Plan, jobs: list[Job], timer: Timer) -> None:
    """The inline executor: the job list in this process, one model at a time, each model loaded once for its jobs
    (a model without jobs is never loaded)."""
    from rrs.engine.stages import run_model

    for m in plan.study.models:
        mine = [j for j in jobs if j.model == m.name]
        if mine:
            run_model(plan, m.name, [cell_of(plan, j) for j in mine if j.fn == "cell_job"], timer)


def collect(plan: Plan, timer: Timer) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    embed = EmbeddingCache(plan.store.embeddings_dir(), plan.study.runtime.threads, plan.platform)
    rows, samples = [], {}
    with timer("judge+metrics"):
        for cell, step in progress([(c, s) for c in plan.cells for s in c.steps], desc="judge + metrics"):
            r, s = cell_results(plan, cell, step, embed)
            rows.extend(r)
            samples[sample_path(cell.model, cell.attack, cell.seed, step)] = s
    grid = pd.DataFrame(rows, columns=GRID_COLUMNS)
    order = {"model": [m.name for m in plan.study.models], "attack": [a.name for a in plan.study.attacks],
             "judge": list(plan.study.judges)}
    keys = grid.assign(**{k: grid[k].map({n: i for i, n in enumerate(v)}) for k, v in order.items()})
    grid = grid.loc[keys.sort_values(["model", "attack", "steps", "seed", "judge"], kind="stable").index]
    return grid.reset_index(drop=True), samples


def grid_csv(grid: pd.DataFrame) -> str:
    return grid.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def validate_staged_grid(path: Path) -> None:
    """The pandera schema, on the CSV exactly as written, before it is moved into --out."""
    from rrs.artifact.schemas import read_grid, validate_grid

    failures = validate_grid(read_grid(path))
    if failures:
        lines = "\n".join(f"  {f.column} row {f.row}: {f.value} ({f.rule})" for f in failures[:10])
        raise RuntimeError(f"{GRID} failed its schema; nothing was written to --out:\n{lines}")


def write_scaling_tables(stage: Path) -> None:
    """curves.csv, robustness.csv and scaling.csv, computed from the grid as written (what `rrs check`
    recomputes them from), each validated by its schema before anything moves into --out."""
    from rrs.artifact.scaling_schema import VALIDATORS
    from rrs.artifact.schemas import read_grid
    from rrs.measure import scaling

    computed = scaling.tables(read_grid(stage / GRID))
    for name, table in computed.items():
        failures = VALIDATORS[name](table)
        if failures:
            raise RuntimeError(f"{name} failed its schema; nothing was written to --out: {failures[0]}")
    scaling.write_tables(computed, stage)


def write_outputs(plan: Plan, out: Path, spec_path: Path, grid: pd.DataFrame, samples: dict, timer: Timer,
                  t0: float) -> None:
    from rrs import manifest, results_json
    from rrs.artifact import inventory
    from rrs.figures.grid import figure_names, make_figures

    out.parent.mkdir(parents=True, exist_ok=True)
    preflight.remove_dead_staging(out)  # the staging folders of killed runs
    stage = Path(tempfile.mkdtemp(prefix=preflight.staging_prefix(out), dir=out.parent))  # this run's own
    try:
        csv = grid_csv(grid)
        for rel, rows in samples.items():
            write_jsonl(preflight.inside(stage / rel, stage, "--out"), rows)
        write_text(stage / GRID, csv)
        validate_staged_grid(stage / GRID)
        write_scaling_tables(stage)
        write_text(stage / "spec.resolved.yaml", _resolved(plan.study, spec_path, plan.runtime_set))
        with timer("figures"):
            make_figures(grid, stage / "figures", names=figure_names(plan.study.metrics))
        outputs = _outputs(plan)
        numerics = manifest.numerics_info(plan.store.fingerprints(outputs))
        man = manifest.build(plan, spec_path, timer.as_dict(), time.perf_counter() - t0, _models(plan), numerics)
        man["compute_s"], man["compute_s_unrecorded"] = plan.store.totals(outputs)
        write_json(stage / "manifest.json", man)
        write_json(stage / "results.json", results_json.build(stage))
        man[inventory.FILES_KEY] = inventory.build(stage)  # every other file with its sha256 and size
        write_json(stage / "manifest.json", man)
        with out_lock(out):
            _move_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _outputs(plan: Plan) -> list[tuple[str, str]]:
    """Every cached stage output the results come from, as (stage, key)."""
    out: list[tuple[str, str]] = []
    for c in plan.cells:
        if built_here(plan.study.model(c.model)):
            out.append(("model", c.model_key))
        out += [("baseline", c.gen_keys[0]), ("attack", c.attack_key)]
        out += [("generate", k) for s, k in c.gen_keys.items() if s > 0]
    return out


def _models(plan: Plan) -> dict:
    out = {}
    for m in plan.study.models:
        cell = next(c for c in plan.cells if c.model == m.name)
        base = json.loads(plan.store.gen_path(cell.gen_keys[0]).read_text())
        out[m.name] = json.loads(plan.store.model_info_path(cell.model_key).read_text()) | {
            "key": cell.model_key, "rendered_first_prompt": base.get("rendered_first_prompt")}
    return out


def _resolved(study: Study, spec_path: Path, runtime_set: tuple[str, ...] = ()) -> str:
    head = f"# Resolved from {spec_path}: every default filled in. Re-run: rrs reproduce {spec_path}\n"
    if runtime_set:  # the runtime this run executed with, as `rrs run --device/--threads` set it
        opts = " ".join(f"--{k} {getattr(study.runtime, k)}" for k in runtime_set)
        head = head.replace("\n", f" {opts}\n")
    return head + yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _move_in(stage: Path, out: Path) -> None:
    """Rename every staged file into out/, remove the files an earlier run of rrs wrote there and this one does not
    (a dropped seed's samples), then the manifest last, so a complete manifest means a complete run. Only files an
    earlier run wrote are removed (rrs.preflight.written_by_rrs); any other file is kept, and said so in one line."""
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    new = {p.relative_to(stage) for p in files}
    files.sort(key=lambda p: p.name == "manifest.json")
    for src in files:  # every destination proven inside out/ (no symlinked folder leads out) before any move
        preflight.inside(out / src.relative_to(stage), out, "--out")
    for src in files:
        if src.name == "manifest.json":
            earlier = preflight.written_by_rrs(out)
            for stale in sorted(earlier - new):
                (out / stale).unlink(missing_ok=True)
            _prune_empty(out, earlier - new)
            foreign = sorted(run_files(out) - earlier - new)
            if foreign:
                print(f"rrs: kept {len(foreign)} file(s) in {out} that no run of rrs wrote, e.g. {foreign[0]}",
                      file=sys.stderr, flush=True)
        dst = out / src.relative_to(stage)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def _prune_empty(out: Path, removed: set[Path]) -> None:
    """Remove the folders under samples/ and figures/ that the removal of stale files left empty."""
    dirs = {p for rel in removed for p in (out / rel).parents if p != out and out in p.parents
            and p.relative_to(out).parts[0] in OUTPUT_DIRS}
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def finish(plan: Plan, spec_path: str | Path, out: str | Path | None, timer: Timer, t0: float) -> Path:
    """Judge + metrics from the (complete) caches, then write every output. Loads no model."""
    out = Path(out) if out else Path("out") / plan.study.study
    missing = [f"{c.model}/{c.attack}/seed{c.seed}" for c in plan.cells if plan.store.missing(c)]
    if missing:
        raise RuntimeError(f"cannot write results: cells not finished: {', '.join(missing)}")
    grid, samples = collect(plan, timer)
    write_outputs(plan, out, Path(spec_path), grid, samples, timer, t0)
    return out


def reproduce(spec_path: str | Path, out: str | Path | None = None, cache: str | Path | None = None,
              strict: bool = False, runtime: dict | None = None, executor: Executor | None = None) -> Path:
    """The one pipeline of `rrs run`: plan → the job list of what is missing → `executor` (default: inline) →
    results from the caches → every output into --out. `runtime`: `rrs run --device/--threads`."""
    t0 = time.perf_counter()
    timer = Timer()
    plan = prepare(spec_path, cache, strict, runtime=runtime)
    preflight.claim_cache(plan.store.root)  # removes the temp entries of killed runs when no other run uses the cache
    wave1, wave2 = waves(plan, str(Path(spec_path).resolve()), str(plan.store.root.resolve()), runtime)
    if wave1 or wave2:
        (executor or execute)(plan, wave1 + wave2, timer)
    return finish(plan, spec_path, out, timer, t0)
