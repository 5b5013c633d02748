"""Verb `fetch`: download the pinned model snapshots and data files a spec needs (the one networked step)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SpecArg = Annotated[Path, typer.Argument(help="Study spec (YAML).")]


def register(app: typer.Typer) -> None:
    app.command("fetch", epilog="Example: HF_HUB_OFFLINE=0 rrs fetch spec/study.yaml")(fetch)


def fetch(spec: SpecArg) -> None:
    """Download every hub model of SPEC at its pinned revision into the HF cache, and every missing data file whose
    origin is an https URL (sha256-checked). Needs the network; afterwards runs work with HF_HUB_OFFLINE=1."""
    from rrs.fetch import fetch as _fetch
    from rrs.spec import HEX40, load_spec

    study = load_spec(spec)
    done = _fetch(study)
    if not done:
        typer.echo(f"{spec}: nothing to fetch (every model is a local folder, every data file is present)")
    for f in done:
        typer.echo(f"{f.what}: {f.source} -> {f.path} ({f.resolved})")
        requested = f.source.rsplit("@", 1)[-1]
        if f.what.startswith("models[") and "@" in f.source and not HEX40.match(requested):
            typer.echo(f"warning: {f.what}: revision {requested!r} resolved to {f.resolved}; pin it in {spec} "
                       f"(revision: {f.resolved})", err=True)
