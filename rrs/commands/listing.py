"""`rrs list [--specs DIR] [--artifacts DIR] [--json]`: the study specs and the published studies, each published
study with its last recorded check (`rrs report` keeps it in <artifacts>/.check/<study>/last_check.json). Nothing
is run or checked: it reads files only. Torch-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rrs.artifact.contract import GRID
from rrs.errors import UserError


def _specs(folder: Path) -> list[dict]:
    from rrs.spec import load_spec

    rows = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            study = load_spec(path)
        except UserError as err:
            rows.append({"spec": str(path), "study": None, "cells": None, "error": str(err).removeprefix(f"{path}: ")})
            continue
        rows.append({"spec": str(path), "study": study.study, "cells": len(study.runs()), "error": None})
    return rows


def _artifacts(folder: Path) -> list[dict]:
    from rrs.htmlreport import last_check

    rows = []
    for d in sorted(p for p in folder.glob("*/") if p.is_dir() and not p.name.startswith(".")):
        if not (d / GRID).is_file():
            continue
        try:
            manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            manifest = {}
        manifest = manifest if isinstance(manifest, dict) else {}
        last = last_check(d)
        rows.append({"artifact": str(d), "study": manifest.get("study", d.name),
                     "spec": manifest.get("spec_path"),
                     "check": None if last is None else ("PASS" if last[0].get("ok") is True else "FAIL"),
                     "checked_at": None if last is None else last[1]})  # fmt: skip
    return rows


def register(app: typer.Typer) -> None:
    @app.command("list", epilog="Example: rrs list  ·  rrs list --json")
    def list_cmd(
        specs: Annotated[Path, typer.Option("--specs", help="Folder of study specs.")] = Path("spec"),
        artifacts: Annotated[Path, typer.Option("--artifacts", help="Folder of published studies.")] = Path("artifacts"),
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    ) -> None:
        """List the specs (study, cells) and the published studies with their last check (PASS/FAIL and when)."""
        for folder, what in ((specs, "--specs"), (artifacts, "--artifacts")):
            if not folder.is_dir():
                raise UserError(f"no such folder ({what})", where=str(folder))
        spec_rows, art_rows = _specs(specs), _artifacts(artifacts)
        if as_json:
            typer.echo(json.dumps({"specs": spec_rows, "artifacts": art_rows}, sort_keys=True, ensure_ascii=False))
            return
        published = {r["spec"] for r in art_rows if r["spec"]}
        typer.echo(f"Specs in {specs}/ (run one: rrs run SPEC)")
        for r in spec_rows:
            tail = (f"invalid: {r['error']}" if r["error"] else
                    f"study {r['study']}, {r['cells']} cells" + (", published" if r["spec"] in published else ""))
            typer.echo(f"  {r['spec']:<28} {tail}")
        typer.echo(f"Published studies in {artifacts}/ (check one: rrs report DIR)")
        for r in art_rows:
            last = (f"last check {r['check']} at {r['checked_at']}" if r["check"] else
                    "not checked here yet (rrs report DIR records it)")
            typer.echo(f"  {r['artifact']:<28} study {r['study']}, from {r['spec'] or '?'}; {last}")
        if not art_rows:
            typer.echo("  none")
