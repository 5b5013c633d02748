"""Check one result directory (and optionally a fresh run against it): the closed set of files, schemas,
consistency, re-derived labels and numbers, references, claims, figures, evidence. Torch-free: imports pandas,
pandera, numpy, pyyaml, pydantic, matplotlib and jsonschema only.

A publication holds the results grid, the scaling tables, results.json, samples/, manifest.json, spec.resolved.yaml
(the spec as the runner loaded it: its references and claims are the ones checked), figures/ and the evidence
behind reproductions.csv and variation.csv (rrs/checks/evidence.py). Its manifest lists every other file with its
sha256 and size, and the check first verifies that closed set (rrs/artifact/inventory.py): a file that is not
listed, a missing or changed one, and anything that is not a regular file inside the directory (a folder, symlink,
FIFO or device where a file belongs) fail; with a special file there nothing is read further. Then every torch-free
judge is run again over every stored response and every number is recomputed from those labels (grid, scaling
tables, results.json, figures). A verdict over nothing fails: zero claims or zero comparable references, or a
missing expected file. Checking never writes into the directory: the report goes where the caller says.

With `fresh_dir`, the fresh run is checked on its own against the published spec's references and claims, its
spec must match the published one (references, claims, description and runtime aside), and it is compared with the
published run byte for byte (same numerics platform and runtime) or as a replication (another platform, device or
thread count): see rrs/checks/replication.py. Each side's report says where it ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rrs.artifact import inventory
from rrs.artifact.contract import FILES, GRID, REQUIRED
from rrs.artifact.scaling_schema import VALIDATORS, compare_tables, read_table
from rrs.artifact.schemas import read_grid, validate_grid, validate_references
from rrs.checks import evidence, results_file
from rrs.checks.claims import check_claims
from rrs.checks.consistency import manifest_failures, sample_failures
from rrs.checks.figcompare import FIG_RMS_TOL, check_figures
from rrs.checks.references import check_references, compare_grids
from rrs.checks.replication import choose_mode, compare_bytes, judge_replication, platform_note, read_variation
from rrs.checks.report import CheckReport, Failure, sort_failures
from rrs.errors import UserError
from rrs.figures.grid import figure_names, model_sizes
from rrs.measure import scaling
from rrs.numerics import describe
from rrs.spec import Study, load_spec

FOLDERS = tuple(f.name for f in FILES if f.kind == "folder")
MANIFEST = inventory.MANIFEST
SPEC_FILE = "spec.resolved.yaml"
RUN_FIELDS_EXCLUDED = {"references", "claims", "description", "runtime"}  # runtime: device and threads of a run


def _load_spec(result_dir: Path, report: CheckReport) -> Study | None:
    if not (result_dir / SPEC_FILE).is_file() or (result_dir / SPEC_FILE).is_symlink():
        return None
    try:
        return load_spec(result_dir / SPEC_FILE)
    except UserError as err:
        report.failures.append(Failure(SPEC_FILE, "-", "-", "-", str(err).removeprefix(f"{result_dir / SPEC_FILE}: ")))
        return None


def load_manifest(result_dir: Path) -> tuple[dict | None, str | None]:
    """(the manifest, None) or (None, one line saying why it is unusable): read with a size bound, never through
    a symlink or from a special file."""
    try:
        data = json.loads(inventory.read_bounded(result_dir / MANIFEST, inventory.MAX_MANIFEST_BYTES))
    except FileNotFoundError:
        return None, "missing: a result directory's manifest.json says what it holds"
    except inventory.NotRegular as err:
        return None, f"is {err}, not a regular file"
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, f"not valid JSON ({str(err)[:80]})"
    if not isinstance(data, dict) or not data:
        return None, f"holds {'a JSON ' + type(data).__name__ if data else 'nothing'}, not the manifest's JSON object"
    return data, None


def _inventory(result_dir: Path, manifest: dict | None, published: bool, report: CheckReport) -> bool:
    """Verify the closed set of files; True when every file can be read safely (nothing special in the tree)."""
    if manifest is not None and (published or inventory.FILES_KEY in manifest):
        problems = inventory.verify(result_dir, manifest.get(inventory.FILES_KEY))
    else:
        problems = inventory.walk(result_dir)[1]
    report.failures += [Failure(p.path, "-", "-", "-", p.what) for p in problems]
    unsafe = [p for p in problems if p.special]
    if unsafe:
        report.notes.append("the directory holds something other than regular files where files belong: nothing "
                            "is read or re-derived from it until that is fixed")  # fmt: skip
    return not unsafe


def check_dir(result_dir: str | Path, spec: Study | None = None, *, fresh_dir: str | Path | None = None,
              platform: bool = True, published: bool = True) -> CheckReport:
    """Check `result_dir` against `spec` (default: its own spec.resolved.yaml); with `fresh_dir`, also a fresh run.

    `published`: the directory is a publication, so its manifest must list every file (rrs/artifact/inventory.py);
    a fresh run's manifest need not (its files are verified when it lists them)."""
    start = time.perf_counter()
    result_dir = Path(result_dir)
    if not result_dir.is_dir():
        raise UserError("no such result directory", where=str(result_dir))
    report = CheckReport(study=result_dir.name, result_dir=str(result_dir), fig_tolerance=FIG_RMS_TOL)
    manifest, why = load_manifest(result_dir)
    if why is not None:
        report.failures.append(Failure(MANIFEST, "-", "-", "-", why))
    safe = _inventory(result_dir, manifest, published, report) if manifest is not None or not published else False
    if manifest is None and published:
        report.notes.append("without a readable manifest.json no file can be verified: nothing is re-derived")
    _check_required(result_dir, report)
    if not safe:  # the failures above name each file at fault; nothing else is read
        report.failures = sort_failures(report.failures)
        report.seconds = time.perf_counter() - start
        return report
    spec = spec if spec is not None else _load_spec(result_dir, report)
    if spec is not None:
        report.study = spec.study
        report.failures += validate_references(list(spec.references))
    _platform_notes(result_dir, manifest, platform, report)
    grid = _read_grid(result_dir, report)
    sound = grid is not None and _check_grid(result_dir, grid, spec, manifest, report)
    if published and sound and manifest is not None:  # variation is recomputed from a grid that is itself sound
        report.failures += evidence.failures(result_dir, grid, manifest)
    _nothing_evaluated(spec, report)
    if fresh_dir is not None:
        _check_fresh(Path(fresh_dir), grid, spec, report)
    report.failures = sort_failures(report.failures)
    report.seconds = time.perf_counter() - start
    return report


def _check_required(result_dir: Path, report: CheckReport) -> None:
    """Every required name other than the manifest exists, as a folder or a regular file as it should be."""
    for name in REQUIRED:
        path = result_dir / name
        if name == MANIFEST:
            continue
        if not path.exists() and not path.is_symlink():
            report.failures.append(Failure(name, "-", "-", "-", "file or directory missing"))
        elif name in FOLDERS and (path.is_symlink() or not path.is_dir()):
            report.failures.append(Failure(name, "-", "-", "-", "a folder (it is not one)"))
        elif name not in FOLDERS and (path.is_symlink() or not path.is_file()):
            report.failures.append(Failure(name, "-", "-", "-", "a regular file (it is not one)"))


def _platform_notes(result_dir: Path, manifest: dict | None, platform: bool, report: CheckReport) -> None:
    """Notes on this machine's platform (with `platform`) and on the platform the run was made on."""
    if platform:
        note = platform_note(result_dir)
        if note:
            report.notes.append(note)
    if manifest is not None:
        report.notes.append(f"ran on: {run_platform(manifest)}")


def _read_grid(result_dir: Path, report: CheckReport):
    """The results grid, or None (missing, or unreadable: a failure)."""
    grid = None
    if (result_dir / GRID).is_file():
        try:
            grid = read_grid(result_dir / GRID)
        except UserError as err:
            report.failures.append(Failure(GRID, "-", "-", "-", str(err).split(": ", 1)[-1]))
    return grid


def _nothing_evaluated(spec: Study | None, report: CheckReport) -> None:
    """A verdict over nothing is no pass: the spec must give claims and comparable references, and all are judged."""
    if not report.claims:
        report.failures.append(Failure(SPEC_FILE, "claims", "-", "0 evaluated",
                                       "at least one claim is evaluated (a verdict over nothing is no pass)"))
    if not [r for r in report.references if r.comparable]:
        report.failures.append(Failure(SPEC_FILE, "references", "-", "0 evaluated",
                                       "at least one comparable reference is evaluated (a verdict over nothing is "
                                       "no pass)"))  # fmt: skip
    if spec is not None and report.references and len(report.references) != len(spec.references):
        report.failures.append(Failure(SPEC_FILE, "references", "-", f"{len(report.references)} evaluated",
                                       f"every one of the spec's {len(spec.references)} references is evaluated"))


def run_platform(manifest: dict) -> str:
    """One line: where a run ran (numerics platform, device, threads), from its manifest."""
    numerics = manifest.get("numerics") if isinstance(manifest.get("numerics"), dict) else {}
    device = manifest.get("device") if isinstance(manifest.get("device"), dict) else {}
    fp = numerics.get("fingerprint") if isinstance(numerics.get("fingerprint"), dict) else None
    where = describe(fp) if fp else "no single numerics fingerprint"
    return f"{where}; threads {device.get('threads', '?')}; numerics {numerics.get('id') or '-'}"


def _check_grid(result_dir: Path, grid, spec: Study | None, manifest: dict | None, report: CheckReport) -> bool:
    """The grid's own checks and everything recomputed from it; False when its schema fails (nothing recomputed)."""
    schema = validate_grid(grid)
    report.failures += schema

    def tables() -> dict:  # the scaling tables of the grid: computed at most once per check, shared below
        if report.scaling_tables is None:
            report.scaling_tables = scaling.tables(grid)
        return report.scaling_tables

    if spec is not None:
        report.references = check_references(grid, list(spec.references))
        report.claims = check_claims(grid, list(spec.claims), tables)
    if schema:  # the manifest, samples and figures are compared with a grid that is itself sound
        report.notes.append(f"manifest, samples and figures are compared with {GRID} once its schema "
                            "failures are fixed")  # fmt: skip
        return False
    if spec is not None and manifest is not None:
        report.failures += manifest_failures(grid, manifest, list(spec.judges), spec.study)
    if (result_dir / "samples").is_dir():
        report.failures += sample_failures(result_dir, grid)
        if skipped := [j for j in sorted(set(grid["judge"])) if not j.startswith("keyword:")]:
            report.notes.append(f"labels of {', '.join(skipped)} are not re-judged (the judge needs torch): "
                                "their numbers are recomputed from the stored labels")
    report.failures += _scaling_failures(result_dir, tables())
    report.failures += results_file.failures(result_dir)
    if note := results_file.missing_note(result_dir):
        report.notes.append(note)
    if (result_dir / "figures").is_dir():
        names = figure_names(spec.metrics if spec is not None else None, model_sizes(grid))  # the spec's, drawable
        report.figures = check_figures(grid, result_dir / "figures", names=names, tables=tables())
    return True


def _scaling_failures(result_dir: Path, recomputed: dict) -> list[Failure]:
    """Each scaling table passes its schema and equals its recomputation from the results grid (`recomputed`)."""
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
    fresh = check_dir(fresh_dir, spec, platform=False, published=False)
    report.fresh = fresh
    mode = choose_mode(Path(report.result_dir), fresh_dir)
    report.compare_mode, report.compare_rule = mode.name, mode.why
    file = f"{fresh_dir.as_posix()}/{GRID}"
    fresh_spec_path = fresh_dir / SPEC_FILE
    if spec is not None and fresh_spec_path.is_file():
        try:
            differs = _run_fields_differ(spec, load_spec(fresh_spec_path))
        except UserError:
            differs = []  # the fresh run's own check reports its spec
        if differs:
            report.comparison.append(Failure(f"{fresh_dir.as_posix()}/{SPEC_FILE}", ", ".join(differs), "-", "-",
                                             "the fresh run used the published spec"))  # fmt: skip
    if grid is None or not (fresh_dir / GRID).is_file():
        report.comparison.append(Failure(file, "-", "-", "-", f"both runs have a readable {GRID}"))
        return
    try:
        fresh_grid = read_grid(fresh_dir / GRID)
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
        verdict = judge_replication(fresh_grid, grid, fresh_tables, tables, read_variation(Path(report.result_dir)), file)
        report.comparison += verdict.failures
        report.compare_rule += f"; {verdict.rule}"


def _run_fields_differ(published: Study, fresh: Study) -> list[str]:
    a = published.model_dump(mode="json", exclude=RUN_FIELDS_EXCLUDED)
    b = fresh.model_dump(mode="json", exclude=RUN_FIELDS_EXCLUDED)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
