"""Published figures against figures regenerated from the results grid, by RMS pixel difference.

matplotlib.testing.compare.compare_images gives the RMS of the pixel difference on the 0–255 scale. FIG_RMS_TOL
is the largest RMS that passes: the same code, data and pinned matplotlib (with its bundled DejaVu fonts and
FreeType) give RMS 0, also when the published figure was drawn from full-precision numbers and the check redraws
from the CSV's 6 digits. Editing one plotted mean by 0.01 gives RMS > 4 on the synthetic study (tests plant such
an edit), so 2.0 leaves room for anti-aliasing noise without hiding a changed number.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zlib
from pathlib import Path

import pandas as pd
from matplotlib.testing.compare import compare_images
from matplotlib.testing.exceptions import ImageComparisonFailure

from rrs.checks.report import FigResult
from rrs.figures.grid import FIGURES, make_figures

FIG_RMS_TOL = 2.0
PDF_TOL = 0.05  # points (1/72 inch)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_NUM = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)")
_TEXT = re.compile(rb"\((?:\\.|[^\\)])*\)|<[0-9a-fA-F\s]*>")


def compare_figure(expected: Path, actual: Path, tol: float = FIG_RMS_TOL) -> FigResult:
    name = expected.stem
    if not expected.is_file():
        return FigResult(name, None, tol, False, f"missing: {expected.parent.name}/{expected.name}")
    if not actual.is_file():
        return FigResult(name, None, tol, False, "not regenerated")
    try:
        diff = compare_images(str(expected), str(actual), tol=0, in_decorator=True)
    except ImageComparisonFailure as exc:  # e.g. different image sizes
        return FigResult(name, None, tol, False, str(exc).splitlines()[0])
    except (OSError, ValueError) as exc:  # an unreadable PNG
        return FigResult(name, None, tol, False, f"unreadable: {exc}")
    rms = 0.0 if diff is None else float(diff["rms"])
    return FigResult(name, rms, tol, rms <= tol)


def _streams(data: bytes) -> list[bytes]:
    out = []
    for m in _STREAM.finditer(data):
        try:
            out.append(zlib.decompress(m.group(1)))
        except zlib.error:
            out.append(m.group(1))
    return out


def pdf_difference(expected: bytes, actual: bytes) -> str | None:
    """None when the PDF `expected` draws what `actual` (redrawn) does, else one line saying where it differs."""
    a, b = _streams(expected), _streams(actual)
    if len(a) != len(b):
        return f"{len(a)} content streams, the redrawn figure has {len(b)}"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if _TEXT.findall(x) != _TEXT.findall(y):
            return f"stream {i}: its text differs from the redrawn figure's (another figure, or relabelled)"
        if _NUM.split(x) != _NUM.split(y):
            continue  # other vertices (a re-bootstrapped band): judged by its text
        worst = max((abs(float(u) - float(v)) for u, v in zip(_NUM.findall(x), _NUM.findall(y), strict=True)),
                    default=0.0)
        if worst > PDF_TOL:
            return f"stream {i}: a coordinate differs by {worst:.3g} pt from the redrawn figure (> {PDF_TOL:g})"
    return None


_REDRAWN: dict[str, dict[str, bytes]] = {}  # grid content hash -> PNG bytes per figure (a fresh run often equals
_REDRAWN_MAX = 4  # the published one, so `rrs check --all` draws each distinct grid once per process)


def redraw(grid: pd.DataFrame, names: tuple[str, ...] = FIGURES, tables: dict | None = None) -> dict[str, bytes]:
    """PNG and PDF bytes of each figure of `names` drawn from `grid`, by file name (cached by the grid's content
    and the names)."""
    key = hashlib.sha256(grid.to_csv(index=False).encode("utf-8")).hexdigest() + ",".join(names)
    if key not in _REDRAWN:
        with tempfile.TemporaryDirectory(prefix="rrs-figures-") as tmp:
            make_figures(grid, Path(tmp), formats=("png", "pdf"), names=names, tables=tables)
            _REDRAWN[key] = {f"{name}.{ext}": (Path(tmp) / f"{name}.{ext}").read_bytes()
                             for name in names for ext in ("png", "pdf")}
        while len(_REDRAWN) > _REDRAWN_MAX:
            _REDRAWN.pop(next(iter(_REDRAWN)))
    return _REDRAWN[key]


def check_figures(grid: pd.DataFrame, figdir: Path, tol: float = FIG_RMS_TOL,
                  names: tuple[str, ...] = FIGURES, tables: dict | None = None) -> list[FigResult]:
    """Regenerate the figures `names` (the study's: rrs.figures.grid.figure_names) from `grid` and compare each with
    `figdir/<name>.png` (RMS) and `figdir/<name>.pdf` (pdf_difference)."""
    try:
        drawn = redraw(grid, names, tables)
    except (KeyError, TypeError, ValueError) as exc:  # a malformed grid: the schema section names the cause
        return [FigResult(name, None, tol, False, f"cannot redraw ({type(exc).__name__}: {exc})") for name in names]
    with tempfile.TemporaryDirectory(prefix="rrs-figcompare-") as tmp:
        results = []
        for name in names:
            actual = Path(tmp) / f"{name}.png"
            actual.write_bytes(drawn[f"{name}.png"])  # scratch copy for compare_images, deleted with the temp dir
            result = compare_figure(Path(figdir) / f"{name}.png", actual, tol)
            results.append(_with_pdf(result, Path(figdir) / f"{name}.pdf", drawn[f"{name}.pdf"]))
        return results


def _with_pdf(result: FigResult, pdf: Path, redrawn: bytes) -> FigResult:
    from rrs.artifact.inventory import NotRegular, read_bounded

    try:
        why = pdf_difference(read_bounded(pdf), redrawn)
    except FileNotFoundError:
        why = f"missing: {pdf.parent.name}/{pdf.name}"
    except (NotRegular, OSError, ValueError) as exc:
        why = f"{pdf.name} unreadable ({exc})"
    if why is None:
        return result
    note = "; ".join(x for x in (result.note, f"{pdf.name}: {why}") if x)
    return FigResult(result.name, result.rms, result.tolerance, False, note)
