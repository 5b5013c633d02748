"""`rrs report ARTIFACT [--html FILE] [--verdict FILE]`: the reviewer's page of one study (rrs/htmlreport.py).

The verdict comes from the same checks as `rrs check ARTIFACT --json` (run here, through rrs.checks, which only the
CLI imports), or from a saved `rrs check --json` output (--verdict). The page goes to FILE, by default to the
artifact's check folder: <artifacts>/.check/<study>/report.html, beside the artifact and never inside it, so a
published artifact does not change when it is reported on. A check made here is also kept there as
last_check.json (verdict and time), which `rrs list` shows. Exit 0 when the page is written (the verdict is on the
page and in the last line printed), 2 on bad input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from rrs.errors import UserError


def _verdict_for(artifact: Path, saved: Path | None) -> dict:
    if saved is not None:
        try:
            data = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read: {exc.strerror or exc}", where=str(saved)) from None
        except ValueError as exc:
            raise UserError(f"not JSON (expected `rrs check --json` output): {exc}", where=str(saved)) from None
        if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
            raise UserError("not a verdict: expected the object `rrs check --json` prints, with `studies`",
                            where=str(saved))
        return data
    from rrs.checks.run import check_dir
    from rrs.checks.verdict import verdict

    report = check_dir(artifact)
    return json.loads(json.dumps(verdict([report], Path("-"))))  # exactly what `rrs check --json` prints


def register(app: typer.Typer) -> None:
    @app.command("report", epilog="Examples: rrs report artifacts/smoke  ·  rrs report artifacts/smoke --html report.html")
    def report_cmd(
        artifact: Annotated[Path, typer.Argument(help="A published study, e.g. artifacts/smoke.")],
        html: Annotated[Path | None, typer.Option(
            "--html", help="Where to write the page; default <artifacts>/.check/<study>/report.html.")] = None,
        saved: Annotated[Path | None, typer.Option(
            "--verdict", help="Use this saved `rrs check --json` output instead of checking again.")] = None,
    ) -> None:
        """Write one self-contained HTML page of a study: verdict, claims, references, figures, per-category results,
        judge agreement, numerics and provenance (no JavaScript, no external requests; opens offline)."""
        from rrs.htmlreport import default_path, pick_study, record_check, write_page

        if not artifact.is_dir():
            raise UserError("no such result directory", where=str(artifact))
        path = html if html is not None else default_path(artifact)
        if path.is_dir():
            raise UserError("is a directory: name the HTML file to write", where=str(path))
        checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data = _verdict_for(artifact, saved)
        study = pick_study(data, artifact)
        write_page(data, artifact, path)
        if saved is None:  # a check made here: the artifact's last check, which `rrs list` shows
            record_check(artifact, data, checked_at)
        typer.echo(f"{'PASS' if study.get('ok') is True else 'FAIL'}: {study.get('summary', '')}")
        typer.echo(f"report written to {path}")
