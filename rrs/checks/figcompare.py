"""Published figures against figures regenerated from results_grid.csv, by RMS pixel difference.

matplotlib.testing.compare.compare_images gives the RMS of the pixel difference on the 0–255 scale. FIG_RMS_TOL
is the largest RMS that passes: the same code, data and pinned matplotlib (with its bundled DejaVu fonts and
FreeType) give RMS 0, also when the published figure was drawn from full-precision numbers and the check redraws
from the CSV's 6 digits. Editing one plotted mean by 0.01 gives RMS > 4 on the synthetic study (tests plant such
an edit), so 2.0 leaves room for anti-aliasing noise without hiding a changed number.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
from matplotlib.testing.compare import compare_images
from matplotlib.testing.exceptions import ImageComparisonFailure

from rrs.checks.report import FigResult
from rrs.figures.grid import FIGURES, make_figures

FIG_RMS_TOL = 2.0


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


_REDRAWN: dict[str, dict[str, bytes]] = {}  # grid content hash -> PNG bytes per figure (a fresh run often equals
_REDRAWN_MAX = 4  # the published one, so `rrs check --all` draws each distinct grid once per process)


def redraw(grid: pd.DataFrame, names: tuple[str, ...] = FIGURES, tables: dict | None = None) -> dict[str, bytes]:
    """PNG bytes of each figure of `names` drawn from `grid` (cached by the grid's content and the names)."""
    key = hashlib.sha256(grid.to_csv(index=False).encode("utf-8")).hexdigest() + ",".join(names)
    if key not in _REDRAWN:
        with tempfile.TemporaryDirectory(prefix="rrs-figures-") as tmp:
            make_figures(grid, Path(tmp), formats=("png",), names=names, tables=tables)
            _REDRAWN[key] = {name: (Path(tmp) / f"{name}.png").read_bytes() for name in names}
        while len(_REDRAWN) > _REDRAWN_MAX:
            _REDRAWN.pop(next(iter(_REDRAWN)))
    return _REDRAWN[key]


def check_figures(grid: pd.DataFrame, figdir: Path, tol: float = FIG_RMS_TOL,
                  names: tuple[str, ...] = FIGURES, tables: dict | None = None) -> list[FigResult]:
    """Regenerate the figures `names` (the study's: rrs.figures.grid.figure_names) from `grid` and compare each with
    `figdir/<name>.png`."""
    try:
        drawn = redraw(grid, names, tables)
    except (KeyError, TypeError, ValueError) as exc:  # a malformed grid: the schema section names the cause
        return [FigResult(name, None, tol, False, f"cannot redraw ({type(exc).__name__}: {exc})") for name in names]
    with tempfile.TemporaryDirectory(prefix="rrs-figcompare-") as tmp:
        results = []
        for name, data in drawn.items():
            actual = Path(tmp) / f"{name}.png"
            actual.write_bytes(data)  # scratch copy for compare_images, deleted with the temp dir
            results.append(compare_figure(Path(figdir) / f"{name}.png", actual, tol))
        return results
