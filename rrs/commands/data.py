"""`rrs data SPEC --out DIR`: what each stage of a study trains and evaluates on (rrs/dataset_export.py). Torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("data", epilog="Example: rrs data spec/smoke.yaml --out /tmp/smoke-data")
    def data_cmd(
        spec: Annotated[Path, typer.Argument(help="A study spec, e.g. spec/smoke.yaml.")],
        out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the three files.")],
    ) -> None:
        """Write safety_tune.jsonl, attack.jsonl and eval.jsonl: every prompt (and training target) the study's
        stages use, with its task, category, set and task_seen, so a reviewer can check the held-out split."""
        from rrs.dataset_export import export_data
        from rrs.preflight import writable_dir
        from rrs.spec import load_spec

        study = load_spec(spec)
        writable_dir(out, "--out")
        counts = export_data(study, out)
        typer.echo(f"wrote {', '.join(f'{k} ({n} rows)' for k, n in counts.items())} to {out}/")
