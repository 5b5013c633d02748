"""`rrs export ARTIFACT --format inspect --out DIR`: a published study's samples as inspect_ai eval logs
(rrs/export.py; the mapping is in docs/REVIEWING.md). Torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rrs.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("export", epilog="Example: rrs export artifacts/smoke --format inspect --out /tmp/smoke-logs")
    def export_cmd(
        artifact: Annotated[Path, typer.Argument(help="A published study, e.g. artifacts/smoke.")],
        fmt: Annotated[str, typer.Option("--format", help="inspect: inspect_ai eval logs (JSON, version 2).")],
        out: Annotated[Path, typer.Option("--out", help="A new (or empty) folder for the logs.")],
    ) -> None:
        """Write the study's samples and scores in another tool's format: one inspect_ai eval log per model ×
        attack × steps × prompt set, each sample with every judge's label (read them with inspect view)."""
        from rrs.export import export

        if not artifact.is_dir():
            raise UserError("no such result directory", where=str(artifact))
        paths = export(artifact, fmt, out)
        typer.echo(f"wrote {len(paths)} inspect eval logs to {out}/ (read one: inspect view --log-dir {out})")
