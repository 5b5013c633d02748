"""Verbs that execute a study: `run` (alias `reproduce`), `plan`, `validate`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rrs.artifact.contract import GRID

DEFAULT_SPEC = Path("spec/smoke.yaml")
SpecArg = Annotated[Path, typer.Argument(help="Study spec (YAML).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder; default out/<study>/.")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Stage cache; default $RRS_CACHE or .cache/rrs.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Refuse what validate only warns about.")]


RUN_EXAMPLE = ("Examples: rrs run spec/smoke.yaml  ·  rrs run spec/smoke.yaml --device cuda  ·  rrs run "
               "spec/study.yaml --executor slurm --partition gpu --time-min 240")


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


def register(app: typer.Typer) -> None:
    app.command("run", epilog=RUN_EXAMPLE)(run)
    app.command("reproduce", epilog=RUN_EXAMPLE.replace("rrs run", "rrs reproduce"),
                help="Alias of `rrs run` (same arguments and options).")(run)
    app.command("plan", epilog="Example: rrs plan spec/smoke.yaml")(plan)
    app.command("validate", epilog="Example: rrs validate spec/study.yaml")(validate)


def _done(path: Path) -> None:
    Console(stderr=True).print(f"[green]done[/green]: results in {path}/ ({GRID}, results.json, samples/, "
                               f"manifest.json, figures/). Compare with the published run: make check")


def run(spec: SpecArg = DEFAULT_SPEC, out: OutOpt = None, cache: CacheOpt = None, strict: StrictOpt = False,
        executor: Annotated[str, typer.Option(
            "--executor", help="inline (in this process, the default) | local (one subprocess per job) | slurm "
            "(one SLURM job per cell through submitit) | debug (submitit, in this process). Jobs share the stage "
            "cache (on SLURM it must be on a shared filesystem): finished cells are skipped, a rerun resumes.")]
        = "inline",
        partition: Annotated[str | None, typer.Option("--partition", help="SLURM partition.")] = None,
        gpus: Annotated[int | None, typer.Option(
            "--gpus", min=0, help="GPUs per job; default 0 for runtime.device cpu, else 1.")] = None,
        time_min: Annotated[int | None, typer.Option(
            "--time-min", min=1, help="Time limit per job in minutes (default 240); a job that runs out is "
            "requeued and resumes.")] = None,
        mem_gb: Annotated[float | None, typer.Option("--mem-gb", min=0.1, help="Memory per job (GB).")] = None,
        max_parallel: Annotated[int | None, typer.Option(
            "--max-parallel", min=1, help="Jobs running at once; local default: CPU cores // runtime.threads.")]
        = None,
        log_dir: Annotated[Path | None, typer.Option(
            "--log-dir", help="submitit folder for job pickles and logs; default <cache>/submitit.")] = None,
        max_requeues: Annotated[int | None, typer.Option(
            "--max-requeues", min=0, help="Times a job that hits its time limit is requeued to resume from its "
            "last checkpoint (default 3); raise it where the partition's limit is shorter than a cell.")] = None,
        device: Annotated[Device | None, typer.Option(
            "--device", help="Where models run, replacing the spec's runtime.device: cpu | cuda | auto (cuda when a "
            "GPU is visible). An execution setting: recorded in the manifest, the numerics fingerprint and every "
            "cache key.")] = None,
        threads: Annotated[int | None, typer.Option(
            "--threads", min=1, max=1024, help="torch CPU threads, replacing the spec's runtime.threads (results "
            "depend on it: recorded like --device).")] = None,
        ) -> None:
    """Run every cell of SPEC (default spec/smoke.yaml; cached stages are skipped), in this process or as jobs
    (--executor), then write the results grid, results.json, samples, manifest and figures to --out."""
    from rrs.engine.executors import ExecutorKind, Resources, parse_executor

    kind = parse_executor(executor)
    runtime = {k: v for k, v in (("device", device.value if device else None), ("threads", threads)) if v is not None}
    res = Resources(partition, gpus, time_min, mem_gb, max_parallel, log_dir, max_requeues)
    if kind is ExecutorKind.inline:
        _run_inline(spec, out, cache, strict, runtime, res)
        return
    _run_as_jobs(spec, out, cache, strict, kind, res, runtime)


def _run_inline(spec: Path, out: Path | None, cache: Path | None, strict: bool, runtime: dict, res) -> None:
    """`rrs run --executor inline`: refuse job-only options and a missing GPU, then run in this process."""
    from rrs.errors import UserError
    from rrs.preflight import remove_dead_staging, study_paths

    if runtime.get("device") == "cuda":
        from rrs.numerics import has_gpu

        if not has_gpu():
            raise UserError("--device cuda: no CUDA device is visible here (no /dev/nvidia0, or "
                            "CUDA_VISIBLE_DEVICES hides it); use --device cpu or auto")
    if res.given():
        raise UserError(f"{', '.join(res.given())}: only with --executor local, slurm or debug")
    # before any compute or heavy import: sizes, --out, its staging folder, the cache; then what killed runs left
    remove_dead_staging(study_paths(spec, out, cache))
    from rrs.engine.runner import reproduce as _reproduce

    _done(_reproduce(spec, out, cache, strict, runtime))


def _run_as_jobs(spec: Path, out: Path | None, cache: Path | None, strict: bool, kind, res, runtime: dict) -> None:
    """`rrs run` with a job executor: run the cells as jobs; on failure name them, say how to resume, exit 1."""
    from rrs.engine.executors import JobsFailed, run_jobs
    from rrs.preflight import remove_dead_staging, study_paths

    remove_dead_staging(study_paths(spec, out, cache))
    try:
        path = run_jobs(spec, out, cache, strict, kind, res, runtime=runtime)
    except JobsFailed as err:
        for line in err.lines:
            typer.echo(f"rrs: error: {line}", err=True)
        typer.echo("rrs: what finished is cached; rerun the same command to resume", err=True)
        raise typer.Exit(1) from None
    _done(path)

def validate(spec: SpecArg) -> None:
    """Check SPEC without running it: keys, types, judges, metrics, chat templates, data files. A data file the user
    must still place (e.g. data/raw/redteam_eval.csv) is a warning naming its sha256 and origin; `reproduce` refuses."""
    from rrs.data import resolve
    from rrs.errors import UserError
    from rrs.fetch import missing_files
    from rrs.preflight import bounds
    from rrs.spec import HFModel, load_spec, spec_warnings
    from rrs.templates import chat_template

    study = load_spec(spec)
    bounds(study, spec)
    for i, m in enumerate(study.models):
        if isinstance(m, HFModel) and m.chat_template is not None:
            try:
                chat_template(m.chat_template)
            except UserError as err:
                raise UserError(f"{spec}: models[{i}].chat_template: {err}") from None
    missing = missing_files(study)
    data = None if missing else resolve(study)
    for w in spec_warnings(study) + [f.missing_line(spec) for f in missing]:
        typer.echo(f"warning: {spec}: {w}", err=True)
    head = f"{spec}: valid — study {study.study!r}: {_cells_line(study)}; "
    if data is None:
        typer.echo(head + f"data not checked until {', '.join(str(f.path) for f in missing)} is in place")
        return
    by_tasks = "".join(f", {k} {v:.0%}" for k, v in data.overlap_by_tasks().items())
    typer.echo(head + f"eval n={len(data.harmful.prompts)}, attack n={len(data.attack.examples)}, "
               f"overlap {data.overlap:.0%}" + (f" (by task: all {data.overlap:.0%}{by_tasks})" if by_tasks else ""))


def _cells_line(study) -> str:
    """'3 models × 1 attacks × 3 seeds = 9 cells', or, when attacks are paired with models or carry their own seeds,
    each model with its attacks and their seeds."""
    cells = len(study.runs())
    if all(a.models is None and a.seeds is None for a in study.attacks):
        return (f"{len(study.models)} models × {len(study.attacks)} attacks × {len(study.seeds)} seeds = "
                f"{cells} cells")
    per_model = "; ".join(
        f"{m.name}: " + ", ".join(f"{a.name} × seed{'s' if len(study.seeds_of(a)) > 1 else ''} "
                                  f"{','.join(map(str, study.seeds_of(a)))}" for a in study.attacks_of(m.name))
        for m in study.models)
    return f"{len(study.models)} models, each with its own attacks = {cells} cells ({per_model})"


def plan(spec: SpecArg, cache: CacheOpt = None) -> None:
    """List every cell of SPEC, its cache keys and what is already cached."""
    from rrs.engine.runner import prepare
    from rrs.preflight import cache_dir
    from rrs.store import resume_step

    cache_dir(cache, write=False)
    p = prepare(spec, cache, require_files=False)  # a pinned data file not yet placed stands in by its sha256
    table = Table(title=f"{p.study.study}: {len(p.cells)} cells (cache {p.store.root})")
    for col in ("model", "attack", "seed", "steps", "attack key", "attack ckpt", "generations cached", "est. work"):
        table.add_column(col)
    for c in p.cells:
        a = p.study.attack(c.attack)
        done = len(c.gen_keys) - len(p.store.missing(c))
        table.add_row(c.model, c.attack, str(c.seed), ",".join(map(str, c.steps)), c.attack_key,
                      f"{resume_step(p.store.attack_dir(c.attack_key), a)}/{c.steps[-1]}", f"{done}/{len(c.gen_keys)}",
                      _estimate(p, c))
    import sys

    Console(width=None if sys.stdout.isatty() else 160).print(table)


def _estimate(p, cell) -> str:
    from rrs.estimate import estimate

    return estimate(p.study, cell)
