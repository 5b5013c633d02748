"""Verbs that execute a study: `reproduce`, `run`, `plan`, `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

DEFAULT_SPEC = Path("spec/smoke.yaml")
SpecArg = Annotated[Path, typer.Argument(help="Study spec (YAML).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Output folder; default out/<study>/.")]
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Stage cache; default $RRS_CACHE or .cache/rrs.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Refuse what validate only warns about.")]


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
    app.command("run")(run)
    app.command("plan")(plan)
    app.command("validate")(validate)


def reproduce(spec: SpecArg = DEFAULT_SPEC, out: OutOpt = None, cache: CacheOpt = None,
              strict: StrictOpt = False) -> None:
    """Run every cell of SPEC (cached stages are skipped) and write results, samples, manifest, figures."""
    from rrs.runner import reproduce as _reproduce

    path = _reproduce(spec, out, cache, strict)
    Console(stderr=True).print(f"[green]done[/green]: results in {path}/ (results_grid.csv, samples/, "
                               f"manifest.json, figures/). Compare with the published run: make check")


def run(spec: SpecArg, out: OutOpt = None, cache: CacheOpt = None, strict: StrictOpt = False) -> None:
    """Alias of reproduce with a required SPEC."""
    reproduce(spec, out, cache, strict)


def validate(spec: SpecArg) -> None:
    """Check SPEC without running it: keys, types, judges, metrics, data files."""
    from rrs.data import resolve
    from rrs.spec import load_spec, spec_warnings

    study = load_spec(spec)
    data = resolve(study)
    for w in spec_warnings(study):
        typer.echo(f"warning: {spec}: {w}", err=True)
    cells = len(study.models) * len(study.attacks) * len(study.seeds)
    typer.echo(f"{spec}: valid — study {study.study!r}: {len(study.models)} models × {len(study.attacks)} attacks × "
               f"{len(study.seeds)} seeds = {cells} cells; eval n={len(data.harmful.prompts)}, "
               f"attack n={len(data.attack.examples)}, overlap {data.overlap:.0%}")


def plan(spec: SpecArg, cache: CacheOpt = None) -> None:
    """List every cell of SPEC, its cache keys and what is already cached."""
    from rrs.attack import resume_step
    from rrs.runner import prepare

    p = prepare(spec, cache)
    table = Table(title=f"{p.study.study}: {len(p.cells)} cells (cache {p.cache})")
    for col in ("model", "attack", "seed", "steps", "attack key", "attack ckpt", "generations cached", "est. work"):
        table.add_column(col)
    for c in p.cells:
        a = p.study.attack(c.attack)
        done = len(c.gen_keys) - len(p.missing(c))
        table.add_row(c.model, c.attack, str(c.seed), ",".join(map(str, c.steps)), c.attack_key,
                      f"{resume_step(p.attack_dir(c.attack_key), a)}/{c.steps[-1]}", f"{done}/{len(c.gen_keys)}",
                      _estimate(p, c))
    Console().print(table)


def _estimate(p, cell) -> str:
    from rrs.estimate import estimate

    return estimate(p.study, cell)
