"""The result of checking one result directory, rendered as one screen of markdown (check_report.md) or rich tables.

Failure rows are (file, column, row, value, rule); `row` is the line number in the file (the CSV header is line
1), "-" when the failure is about a whole file or column. Identical failures appear once; in the rendered views,
failures that differ only in their row are folded into one line listing the first rows and a count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rrs.artifact.contract import GRID
from rrs.artifact.failures import Failure, _sort_key, sort_failures  # noqa: F401  (re-exported to the checks)
from rrs.atomic import write_text

SHOWN_ROWS = 3  # rows listed per folded failure line
MAX_LINES = 25  # failure lines shown per section before "… N more"


@dataclass(frozen=True)
class RefResult:
    metric: str
    select: str
    value: float
    reference: float
    tolerance: float
    ok: bool
    source: str
    note: str = ""
    comparable: bool = True  # False: reported beside the fresh value, never a failure (the source says why)

    @property
    def delta(self) -> float:
        return self.value - self.reference


@dataclass(frozen=True)
class ClaimResult:
    id: str
    text: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class FigResult:
    name: str
    rms: float | None
    tolerance: float
    ok: bool
    note: str = ""


@dataclass
class CheckReport:
    study: str
    result_dir: str
    failures: list[Failure] = field(default_factory=list)
    references: list[RefResult] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)
    figures: list[FigResult] = field(default_factory=list)
    fig_tolerance: float = 0.0
    fresh: CheckReport | None = None
    comparison: list[Failure] = field(default_factory=list)
    compare_rule: str = ""
    compare_mode: str = ""  # "identical" | "replication" (rrs/checks/replication.py), with compare_rule saying why
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    scaling_tables: dict | None = field(default=None, repr=False, compare=False)  # computed once, shared by checks

    @property
    def ok(self) -> bool:
        refs = [r for r in self.references if r.comparable]
        own = not self.failures and all(r.ok for r in refs) and all(c.ok for c in self.claims)
        own = own and all(f.ok for f in self.figures) and not self.comparison
        return own and (self.fresh is None or self.fresh.ok)

    def summary(self) -> str:
        def frac(items: Sequence) -> str:
            return f"{sum(i.ok for i in items)}/{len(items)}"

        status = "PASS" if self.ok else "FAIL"
        return (
            f"{self.study} ({self.result_dir}): {status} — schema/consistency failures {len(self.failures)}, "
            f"claims {frac(self.claims)}, references {frac([r for r in self.references if r.comparable])}"
            + (f" (+{n} not comparable, reported only)" if (n := sum(not r.comparable for r in self.references)) else "")
            + ", "
            f"figures {frac(self.figures) if self.figures else 'not compared'}"
            + (f", fresh run {self.fresh.result_dir} ({self.compare_mode}): {'PASS' if self.fresh.ok and not self.comparison else 'FAIL'}"
               if self.fresh else "")
            + f" ({self.seconds:.1f} s)"
        )

    def reason(self) -> str:
        """One line: the first thing that fails (a failure row, a claim, a reference, a figure, the comparison)."""
        for f in self.failures + self.comparison:
            where = f.file + ("" if f.row == "-" else f" line {f.row}") + ("" if f.column == "-" else f" [{f.column}]")
            return f"{where}: {'' if f.value == '-' else f.value + ' — '}{f.rule}"
        for c in self.claims:
            if not c.ok:
                return f"claim {c.id}: {c.detail}"
        for x in self.references:
            if x.comparable and not x.ok:
                return f"reference {x.metric} {x.select}: {fmt(x.value)} vs {fmt(x.reference)} ±{fmt(x.tolerance)}"
        for fig in self.figures:
            if not fig.ok:
                return f"figure {fig.name}: {fig.note or f'RMS {fig.rms}'}"
        if self.fresh is not None and not self.fresh.ok:
            return f"fresh run {self.fresh.reason()}"
        return ""

    def sections(self) -> list[Section]:
        out = [
            Section("Claims", ["id", "status", "claim", "numbers"],
                    [[c.id, _status(c.ok), c.text, c.detail] for c in self.claims], "no claims in the spec"),
            Section("References", ["metric", "select", "value", "reference", "delta", "tolerance", "status", "source"],
                    [[r.metric, r.select, fmt(r.value), fmt(r.reference), fmt(r.delta), f"±{fmt(r.tolerance)}",
                      (_status(r.ok) if r.comparable else f"INFO ({'within' if r.ok else 'outside'} tolerance; "
                       "not comparable)") + (f" ({r.note})" if r.note else ""), r.source] for r in self.references],
                    "no references in the spec"),
            Section("Schema and consistency failures (row = line in the file)", ["file", "column", "row", "value", "rule"],
                    fold(self.failures), "none"),
            Section(f"Figures (regenerated from {GRID}; pass: RMS ≤ {self.fig_tolerance:g} on 0–255)",
                    ["figure", "RMS", "tolerance", "status"],
                    [[f.name, "-" if f.rms is None else f"{f.rms:.3f}", f"{f.tolerance:g}",
                      _status(f.ok) + (f" ({f.note})" if f.note else "")] for f in self.figures], "not compared"),
        ]
        if self.fresh is not None:
            empty = ("every compared file byte-identical" if self.compare_mode == "identical"
                     else "every value within its measured tolerance")
            out.append(Section(f"Fresh run {self.fresh.result_dir} vs published — {self.compare_mode}: "
                               f"{self.compare_rule}", ["file", "column", "row", "value", "rule"],
                               fold(self.comparison), empty))
        return out

    def to_markdown(self) -> str:
        lines = [f"## {self.study} ({self.result_dir}): {'PASS' if self.ok else 'FAIL'}", ""]
        lines += [f"- {n}" for n in self.notes] + ([""] if self.notes else [])
        for sec in self.sections():
            lines += sec.markdown()
        if self.fresh is not None:
            lines += [f"### Fresh run {self.fresh.result_dir}, checked on its own: {_status(self.fresh.ok)}", ""]
            lines += [f"- {n}" for n in self.fresh.notes] + ([""] if self.fresh.notes else [])
            for sec in self.fresh.sections():
                if any("FAIL" in " ".join(row) for row in sec.rows) or (sec.rows and sec.title.startswith("Schema")):
                    lines += sec.markdown()
        return "\n".join(lines) + "\n"


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    empty: str

    def markdown(self) -> list[str]:
        out = [f"### {self.title}", ""]
        if not self.rows:
            return out + [f"_{self.empty}_", ""]
        out.append("| " + " | ".join(self.headers) + " |")
        out.append("|" + "---|" * len(self.headers))
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows]
        return out + [""]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NaN"
    return f"{x:.4g}"


def fold(failures: Iterable[Failure]) -> list[list[str]]:
    """Failures grouped by (file, column, rule): the first rows and value, then a count; at most MAX_LINES lines."""
    groups: dict[tuple[str, str, str], list[Failure]] = {}
    for f in sorted(set(failures), key=_sort_key):
        groups.setdefault((f.file, f.column, f.rule), []).append(f)
    lines = []
    for (file, column, rule), items in groups.items():
        rows = ", ".join(f.row for f in items[:SHOWN_ROWS])
        more = f" (+{len(items) - SHOWN_ROWS} more)" if len(items) > SHOWN_ROWS else ""
        lines.append([file, column, rows + more, items[0].value, rule])
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [["…", "", "", "", f"{len(lines) - MAX_LINES} more kinds of failure"]]
    return lines


def render_markdown(reports: Sequence[CheckReport]) -> str:
    status = "PASS" if all(r.ok for r in reports) else "FAIL"
    head = [f"# rrs check: {status}", ""] + [f"- {r.summary()}" for r in reports] + [""]
    return "\n".join(head) + "\n" + "\n".join(r.to_markdown() for r in reports)


def refuse_unsafe_target(path: Path) -> None:
    """UserError when `path` is a symlink, or exists and is no regular file, or a parent is no folder."""
    import os
    import stat

    from rrs.errors import UserError

    for p in [path, *path.parents]:
        try:
            mode = os.lstat(p).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode) and p == path:
            raise UserError("is a symlink: the report is not written through it", where=str(path))
        if p == path and not stat.S_ISREG(mode):
            raise UserError("exists and is not a regular file: the report is not written onto it", where=str(path))
        if p != path and not stat.S_ISDIR(os.stat(p).st_mode):
            raise UserError(f"{p} is not a folder: the report cannot be written there", where=str(path))


def write_report(reports: Sequence[CheckReport], path: str | Path) -> Path:
    """Write the markdown report atomically beside `path` (a temp file renamed onto it); never through a symlink
    or onto a FIFO, device or folder: such a `path` is refused (UserError) and nothing is written."""
    path = Path(path)
    refuse_unsafe_target(path)
    write_text(path, render_markdown(reports))
    return path
