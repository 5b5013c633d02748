"""The figures' shared style and writer: pinned rc settings, markers, formats, and the atomic, timestamp-free save."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from rrs.atomic import staged_file

DPI = 100
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "rrs",
}
BAND_ALPHA = 0.13
FORMATS = ("png", "pdf")
# no timestamps or version strings in the files: bytes depend on the data and the pinned matplotlib only
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")


def human_params(n: float) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def save(fig: Figure, outdir: Path, name: str, formats: tuple[str, ...]) -> list[Path]:
    paths = []
    for ext in formats:
        meta = _METADATA[ext]
        path = outdir / f"{name}.{ext}"
        with staged_file(path, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, metadata=meta)
        paths.append(path)
    return paths
