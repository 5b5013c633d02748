"""`rrs check [DIR ...] [--all] [--fresh DIR] [--report PATH] [--json]` and `rrs publish RUN [--to DIR]`.

`rrs check` verifies published results on a laptop without torch: schemas and cross-file consistency, reference
numbers, claims and figures (rrs/checks/run.py). `--all` (the default when no DIR is given) checks every artifacts/<study>/ and, where out/<study>/
holds a finished run (the results grid), compares that fresh reproduction with the published one. It prints one
table per section and writes the same as markdown to out/check_report.md (or --report), and beside it one
self-contained HTML page per study (out/check_report.<study>.html, rrs/htmlreport.py): never into the checked
directories, so a published artifact does not change when it is checked. With --json, stdout is one JSON object, the
verdict (rrs/checks/verdict.py), instead of the tables. Exit status: 0 when everything holds, 1 when any check
fails, 2 on bad input (a missing directory, conflicting options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rrs.artifact.contract import GRID
from rrs.errors import UserError

DEFAULT_REPORT = Path("out/check_report.md")


def _targets(dirs: list[Path], all_: bool, fresh: Path | None, artifacts: Path, out: Path) -> tuple[list, list[str]]:
    """(published dir, fresh dir or None) pairs, and notes for the console."""
    if all_ and dirs:
        raise UserError("give result directories or --all, not both")
    if fresh is not None and (all_ or len(dirs) != 1):
        raise UserError("--fresh compares one fresh run with one published DIR: give exactly one DIR")
    if dirs:
        return [(d, fresh) for d in dirs], []
    studies = sorted(d for d in artifacts.glob("*/") if d.is_dir() and not d.name.startswith("."))
    if not studies:
        raise UserError(f"no published study (expected artifacts/<study>/{GRID})", where=str(artifacts))
    pairs, notes = [], []
    for d in studies:
        run = out / d.name
        if (run / GRID).is_file():
            pairs.append((d, run))
        else:
            pairs.append((d, None))
            if run.exists():
                notes.append(f"{run}: no {GRID} (an unfinished run?): not compared")
    return pairs, notes


def _print(reports: list, notes: list[str], report_path: Path) -> None:
    """One screen: per study a summary line, claims, references, failures and figure RMS; details in the report."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if _is_tty() else 220)

    def table(title: str, headers: list[str], rows: list[list[str]]) -> None:
        t = Table(*headers, title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for row in rows:
            t.add_row(*[_colored(c) for c in row])
        console.print(t)

    for note in notes:
        console.print(f"[yellow]note[/]: {note}")
    for rep in reports:
        for r in [rep] + ([rep.fresh] if rep.fresh is not None else []):
            _print_report(console, table, r, every=r is rep)
    ok = all(r.ok for r in reports)
    console.print(f"[bold {'green' if ok else 'red'}]{_ok(ok)}[/]: report written to {report_path}")



def _print_report(console, table, r, *, every: bool) -> None:
    """One report's section: summary rule, reason, notes, claims and references (`every` one, else only failing
    ones), failures, figure RMS and the comparison with its fresh run."""
    from rich.markup import escape

    from rrs.checks.report import fmt, fold

    console.rule(f"[bold {'green' if r.ok else 'red'}]{r.summary()}", align="left")
    if not r.ok and (why := r.reason()):
        console.print(f"[red]reason[/]: {escape(why)}", soft_wrap=True)
    for note in r.notes:
        console.print(f"[yellow]note[/]: {note}")
    shown = (lambda items: items) if every else (lambda items: [i for i in items if not i.ok])
    if shown(r.claims):
        table("Claims", ["id", "status", "numbers"],
              [[c.id, _ok(c.ok), c.detail if c.ok else f"{c.text!r}: {c.detail}"] for c in shown(r.claims)])  # fmt: skip
    if shown(r.references):
        table("References", ["metric", "select", "value", "reference", "delta", "tolerance", "status"],
              [[x.metric, x.select, fmt(x.value), fmt(x.reference), fmt(x.delta), f"±{fmt(x.tolerance)}",
                _ok(x.ok) + (f" ({x.note})" if x.note and not x.ok else "")] for x in shown(r.references)])  # fmt: skip
    if r.failures:
        table("Schema and consistency failures (row = line in the file)", ["file", "column", "row", "value", "rule"],
              fold(r.failures))  # fmt: skip
    if r.figures:
        rms = ", ".join(f"{f.name} {'-' if f.rms is None else f'{f.rms:.3f}'}" + ("" if f.ok else f" [red]FAIL[/]{' ' + f.note if f.note else ''}")
                        for f in r.figures)  # fmt: skip
        console.print(f"Figures, RMS vs regenerated (pass ≤ {r.fig_tolerance:g} on 0–255): {rms}")
    if r.fresh is not None:
        _print_fresh(console, table, r, fold)


def _print_fresh(console, table, r, fold) -> None:
    """The comparison of `r` with its fresh run: the differences, or that there are none."""
    if r.comparison:
        table(f"Fresh run {r.fresh.result_dir} vs published — {r.compare_mode}: {r.compare_rule}",
              ["file", "column", "row", "value", "rule"], fold(r.comparison))  # fmt: skip
    else:
        same = ("every compared file byte-identical" if r.compare_mode == "identical"
                else "every value within its measured tolerance")
        console.print(f"Fresh run {r.fresh.result_dir} vs published — {r.compare_mode}: [green]{same}[/] "
                      f"({r.compare_rule})")  # fmt: skip

def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


def _ok(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _colored(cell: str) -> str:
    from rich.markup import escape

    text = escape(str(cell))
    if text.startswith("PASS"):
        return f"[green]{text}[/]"
    if text.startswith("FAIL"):
        return f"[red]{text}[/]"
    return text


def _check(dirs: list[Path] | None, all_: bool, fresh: Path | None, report: Path, artifacts: Path, fresh_root: Path,
           old_out: Path | None, as_json: bool) -> None:
    """The body of `rrs check`: check each target, write the report, print the verdict; exit 1 unless all pass."""
    import json

    from rrs.checks.report import refuse_unsafe_target, write_report
    from rrs.checks.run import check_dir
    from rrs.checks.verdict import verdict

    if old_out is not None:
        typer.echo("rrs: warning: `check --out` is deprecated (it names fresh runs to read): use --fresh-root",
                   err=True)
        fresh_root = old_out
    pairs, notes = _targets(list(dirs or []), all_, fresh, artifacts, fresh_root)
    refuse_unsafe_target(report)
    reports = [check_dir(d, fresh_dir=f) for d, f in pairs]
    write_report(reports, report)
    data = verdict(reports, report, notes)
    pages = _write_pages(data, [d for d, _ in pairs], report)
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True, ensure_ascii=False))
    else:
        _print(reports, notes, report)
        for page in pages:
            typer.echo(f"HTML report: {page}")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def html_path(report: Path, study: str) -> Path:
    """The HTML page of one checked study, beside the markdown report: out/check_report.md → out/check_report.smoke.html."""
    return report.with_name(f"{report.stem}.{study}.html")


def _write_pages(data: dict, dirs: list[Path], report: Path) -> list[Path]:
    """One self-contained HTML page per checked study (rrs/htmlreport.py), written beside the markdown report."""
    from rrs.htmlreport import write_page

    pages = []
    for d, study in zip(dirs, data.get("studies") or [], strict=False):
        if Path(d).is_dir():
            pages.append(write_page(data, d, html_path(report, str(study.get("study") or Path(d).name))))
    return pages


def register(app: typer.Typer) -> None:
    @app.command("check", epilog="Examples: rrs check --all  ·  rrs check artifacts/smoke --fresh out/smoke --json")
    def check_cmd(
        dirs: Annotated[list[Path] | None, typer.Argument(help="Result directories, e.g. artifacts/smoke.")] = None,
        all_: Annotated[
            bool, typer.Option("--all", help="Every artifacts/<study>/, each compared with out/<study>/ if finished.")
        ] = False,
        fresh: Annotated[Path | None, typer.Option("--fresh", help="A fresh run to compare with the one DIR.")] = None,
        report: Annotated[Path, typer.Option("--report", help="Where to write the markdown report.")] = DEFAULT_REPORT,
        artifacts: Annotated[Path, typer.Option("--artifacts", help="Published studies (for --all).")] = Path("artifacts"),
        fresh_root: Annotated[Path, typer.Option(
            "--fresh-root", help="Where fresh runs are read from (for --all): <root>/<study>/.")] = Path("out"),
        old_out: Annotated[Path | None, typer.Option("--out", hidden=True, help="Deprecated: --fresh-root.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as one JSON object.")] = False,
    ) -> None:
        """Verify published results: schemas, references, claims, results.json and figures (no torch needed)."""
        _check(dirs, all_, fresh, report, artifacts, fresh_root, old_out, as_json)

    @app.command("publish", epilog="Example: rrs publish out/smoke --variant out/smoke-avx2")
    def publish_cmd(
        run: Annotated[Path, typer.Argument(help="A finished run, e.g. out/smoke.")],
        to: Annotated[Path | None, typer.Option("--to", help="Destination; default artifacts/<run name>.")] = None,
        variant: Annotated[list[Path] | None, typer.Option(
            "--variant", help="A run of the same spec under other numerics settings (repeatable): their spread "
            "becomes variation.csv, the between-platform part of replication tolerances.")] = None,
        replace: Annotated[bool, typer.Option("--replace", help="Replace an existing publication.")] = False,
    ) -> None:
        """Copy a finished run into artifacts/<study>/, only when `rrs check` passes the copy (refused when tracked
        files have uncommitted changes)."""
        from rrs.checks.publish import publish

        dest = publish(run, to, variants=list(variant or []), replace=replace)
        typer.echo(f"published {run} -> {dest}; review and commit it: git add {dest}")

    @app.command("record-reproduction", epilog="Example: rrs record-reproduction out/smoke")
    def record_cmd(
        run: Annotated[Path, typer.Argument(help="A finished run byte-identical to the published one, e.g. out/smoke.")],
        to: Annotated[Path | None, typer.Option("--to", help="The published study; default artifacts/<run name>.")] = None,
    ) -> None:
        """Add this run's numerics platform to the published study's reproductions.csv (only when byte-identical)."""
        from rrs.checks.publish import record_reproduction

        row = record_reproduction(run, to or Path("artifacts") / run.resolve().name)
        typer.echo(f"recorded numerics {row['fingerprint_id']} ({row['platform']}) in "
                   f"{to or Path('artifacts') / run.resolve().name}/reproductions.csv")
