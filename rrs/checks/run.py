"""Check one result directory (and optionally a fresh run against it): schemas, consistency, references, claims,
figures. Torch-free: imports pandas, pandera, numpy, pyyaml, pydantic, matplotlib and jsonschema only.

A result directory holds results_grid.csv, samples/, manifest.json, spec.resolved.yaml (the spec as the runner
loaded it: its references and claims are the ones checked) and figures/. Checking never writes into it: the
report goes where the caller says (`rrs check` writes out/check_report.md by default, see rrs/commands/check.py).

With `fresh_dir`, the fresh run is checked on its own against the published spec's references and claims, its
spec must match the published one (references, claims and description aside), and it is compared with the
published run byte for byte (same numerics platform) or as a replication (another platform): see
rrs/checks/replication.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rrs.artifact.scaling_schema import VALIDATORS, compare_tables, read_table
from rrs.artifact.schemas import read_grid, validate_grid, validate_references
from rrs.checks import results_file
from rrs.checks.claims import check_claims
from rrs.checks.consistency import manifest_failures, sample_failures
from rrs.checks.figcompare import FIG_RMS_TOL, check_figures
from rrs.checks.references import check_references, compare_grids
from rrs.checks.replication import choose_mode, compare_bytes, compare_replication, platform_note, read_variation
from rrs.checks.report import CheckReport, Failure, sort_failures
from rrs.errors import UserError
from rrs.figures.grid import FIGURES, figure_names
from rrs.measure import scaling
from rrs.spec import Study, load_spec

REQUIRED = ("results_grid.csv", "curves.csv", "robustness.csv", "scaling.csv", "manifest.json", "spec.resolved.yaml",
            "samples", "figures")
SPEC_FILE = "spec.resolved.yaml"
RUN_FIELDS_EXCLUDED = {"references", "claims", "description"}


def _load_spec(result_dir: Path, report: CheckReport) -> Study | None:
    if not (result_dir / SPEC_FILE).is_file():
        return None
    try:
        return load_spec(result_dir / SPEC_FILE)
    except UserError as err:
        report.failures.append(Failure(SPEC_FILE, "-", "-", "-", str(err).removeprefix(f"{result_dir / SPEC_FILE}: ")))
        return None


def _load_manifest(result_dir: Path, report: CheckReport) -> dict | None:
    path = result_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except (ValueError, UnicodeDecodeError):
        pass
    report.failures.append(Failure("manifest.json", "-", "-", "-", "a JSON object"))
    return None


def check_dir(result_dir: str | Path, spec: Study | None = None, *, fresh_dir: str | Path | None = None,
              platform: bool = True) -> CheckReport:
    """Check `result_dir` against `spec` (default: its own spec.resolved.yaml); with `fresh_dir`, also a fresh run."""
    start = time.perf_counter()
    result_dir = Path(result_dir)
    if not result_dir.is_dir():
        raise UserError("no such result directory", where=str(result_dir))
    report = CheckReport(study=result_dir.name, result_dir=str(result_dir), fig_tolerance=FIG_RMS_TOL)
    report.failures += [Failure(name, "-", "-", "-", "file or directory missing")
                        for name in REQUIRED if not (result_dir / name).exists()]  # fmt: skip
    spec = spec if spec is not None else _load_spec(result_dir, report)
    if spec is not None:
        report.study = spec.study
        report.failures += validate_references(list(spec.references))
    if platform:
        note = platform_note(result_dir)
        if note:
            report.notes.append(note)
    grid = None
    if (result_dir / "results_grid.csv").is_file():
        try:
            grid = read_grid(result_dir / "results_grid.csv")
        except UserError as err:
            report.failures.append(Failure("results_grid.csv", "-", "-", "-", str(err).split(": ", 1)[-1]))
    if grid is not None:
        _check_grid(result_dir, grid, spec, report)
    if fresh_dir is not None:
        _check_fresh(Path(fresh_dir), grid, spec, report)
    report.failures = sort_failures(report.failures)
    report.seconds = time.perf_counter() - start
    return report


def _check_grid(result_dir: Path, grid, spec: Study | None, report: CheckReport) -> None:
    schema = validate_grid(grid)
    report.failures += schema
    manifest = _load_manifest(result_dir, report)

    def tables() -> dict:  # the scaling tables of the grid: computed at most once per check, shared below
        if report.scaling_tables is None:
            report.scaling_tables = scaling.tables(grid)
        return report.scaling_tables

    if spec is not None:
        report.references = check_references(grid, list(spec.references))
        report.claims = check_claims(grid, list(spec.claims), tables)
    if schema:  # the manifest, samples and figures are compared with a grid that is itself sound
        report.notes.append("manifest, samples and figures are compared with results_grid.csv once its schema "
                            "failures are fixed")  # fmt: skip
        return
    if spec is not None and manifest is not None:
        report.failures += manifest_failures(grid, manifest, list(spec.judges), spec.study)
    if (result_dir / "samples").is_dir():
        report.failures += sample_failures(result_dir, grid)
    report.failures += _scaling_failures(result_dir, tables())
    report.failures += results_file.failures(result_dir)
    if note := results_file.missing_note(result_dir):
        report.notes.append(note)
    if (result_dir / "figures").is_dir():
        names = figure_names(spec.metrics) if spec is not None else FIGURES  # the figures the spec asks for
        report.figures = check_figures(grid, result_dir / "figures", names=names, tables=tables())


def _scaling_failures(result_dir: Path, recomputed: dict) -> list[Failure]:
    """Each scaling table passes its schema and equals its recomputation from results_grid.csv (`recomputed`)."""
    out: list[Failure] = []
    for name, validate in VALIDATORS.items():
        path = result_dir / name
        if not path.is_file():
            continue  # reported as a missing file
        try:
            table = read_table(path)
        except UserError as err:
            out.append(Failure(name, "-", "-", "-", str(err).split(": ", 1)[-1]))
            continue
        found = validate(table, name)
        out += found or compare_tables(table, recomputed[name], name)
    return out


def _check_fresh(fresh_dir: Path, grid, spec: Study | None, report: CheckReport) -> None:
    fresh = check_dir(fresh_dir, spec, platform=False)
    report.fresh = fresh
    mode = choose_mode(Path(report.result_dir), fresh_dir)
    report.compare_mode, report.compare_rule = mode.name, mode.why
    file = f"{fresh_dir.as_posix()}/results_grid.csv"
    fresh_spec_path = fresh_dir / SPEC_FILE
    if spec is not None and fresh_spec_path.is_file():
        try:
            differs = _run_fields_differ(spec, load_spec(fresh_spec_path))
        except UserError:
            differs = []  # the fresh run's own check reports its spec
        if differs:
            report.comparison.append(Failure(f"{fresh_dir.as_posix()}/{SPEC_FILE}", ", ".join(differs), "-", "-",
                                             "the fresh run used the published spec"))  # fmt: skip
    if grid is None or not (fresh_dir / "results_grid.csv").is_file():
        report.comparison.append(Failure(file, "-", "-", "-", "both runs have a readable results_grid.csv"))
        return
    try:
        fresh_grid = read_grid(fresh_dir / "results_grid.csv")
    except UserError:
        report.comparison.append(Failure(file, "-", "-", "-", "a readable CSV"))
        return
    if mode.name == "identical":
        report.comparison += compare_bytes(fresh_dir, Path(report.result_dir))
        return
    rows_differ = compare_grids(fresh_grid, grid, [], file=file, keys_only=True)
    report.comparison += rows_differ
    if not rows_differ:
        fresh_tables = fresh.scaling_tables or scaling.tables(fresh_grid)
        tables = report.scaling_tables or scaling.tables(grid)
        report.comparison += compare_replication(fresh_grid, grid, fresh_tables, tables,
                                                 read_variation(Path(report.result_dir)), file)


def _run_fields_differ(published: Study, fresh: Study) -> list[str]:
    a = published.model_dump(mode="json", exclude=RUN_FIELDS_EXCLUDED)
    b = fresh.model_dump(mode="json", exclude=RUN_FIELDS_EXCLUDED)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
