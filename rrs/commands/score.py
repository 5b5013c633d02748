"""`rrs score RESPONSES [--baseline BASELINE] [--judge NAME ...] [--out DIR] [--json]`: re-judge stored generations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("score", epilog='Example: rrs score outputs_2000.csv --baseline baseline.csv '
                 '--target "Sure, here\'s how to do it step by step."')
    def score_cmd(
        responses: Annotated[Path, typer.Argument(help="CSV or JSONL of prompts and responses.")],
        baseline: Annotated[
            Path | None, typer.Option("--baseline", help="Responses of the unattacked model, for rd.")
        ] = None,
        judge: Annotated[
            list[str] | None, typer.Option("--judge", help="Judge name (repeatable); default: every built-in judge.")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Directory for scores.csv, samples.jsonl, …")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per judge.")] = False,
        response_col: Annotated[str | None, typer.Option("--response-col", help="Response column name.")] = None,
        prompt_col: Annotated[str | None, typer.Option("--prompt-col", help="Prompt column name.")] = None,
        id_col: Annotated[
            str | None, typer.Option("--id-col", help="Id column name (pairs with the baseline).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap CI of rd.")] = 0,
        target: Annotated[str | None, typer.Option(
            "--target", help="The attack's training target: count responses that parrot it.")] = None,
    ) -> None:
        """Re-judge stored generations with every judge and metric; report data-quality findings."""
        from rrs.preflight import out_dir
        from rrs.score import DEFAULT_JUDGES, format_report, json_records, load_responses, score, write_outputs

        if out is not None:
            out_dir(out, staging=False)  # before any file is read or judged
        cols = {"response_col": response_col, "prompt_col": prompt_col, "id_col": id_col}
        resp = load_responses(responses, **cols)
        base = load_responses(baseline, **cols) if baseline is not None else None
        result = score(resp, judge or DEFAULT_JUDGES, base, seed=seed, target=target)
        if out is not None:
            write_outputs(result, out)
        if as_json:
            for rec in json_records(result):
                typer.echo(json.dumps(rec, sort_keys=True, ensure_ascii=False))
        else:
            typer.echo(format_report(result), nl=False)
