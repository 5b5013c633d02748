"""Figures of a study, drawn from its results grid alone (torch-free; used by the runner and by `rrs check`).

Every figure is a mean across seeds with a 95% Student-t interval, for one judge (default: the first judge in
the grid, in row order). Output is deterministic: a fresh Agg canvas per figure, matplotlib's default style with
pinned sizes, DejaVu Sans (shipped with matplotlib), no timestamp in the PDF, each file written atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.style
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rrs.artifact.metrics import BY_NAME, METRICS
from rrs.figures.style import BAND_ALPHA, DPI, FORMATS, LINESTYLES, MARKERS, RC, human_params, save
from rrs.figures.ticks import labels_overlap, untangle_xticklabels  # noqa: F401 (labels_overlap: tests)
from rrs.measure.intervals import mean_ci

FIGURES = ("RRR_compare", "CE_compare", "RD_compare", "COMPLIANCE_compare", "DEGENERATE_compare",
           "UTILITY_compare", "scaling_rrr", "scaling_fit")
FIGSIZE = (7.0, 5.0)  # inches

# compare figure -> (metric, title); the axis label and whether the metric is a rate come from the metrics table
_COMPARE = {
    "RRR_compare": ("rrr", "Refusal rate under attack"),
    "CE_compare": ("ce", "Compliance error under attack"),
    "RD_compare": ("rd", "Response drift from the unattacked model"),
    "COMPLIANCE_compare": ("compliance", "Harmful requests really answered"),
    "DEGENERATE_compare": ("degenerate", "What the attack broke: looping output"),
    "UTILITY_compare": ("benign_utility", "What the attack cost: benign answers"),
}
JUDGE_FREE = tuple(m.name for m in METRICS if not m.judged)
SCALING_FIGURES = ("scaling_rrr", "scaling_fit")


def figure_names(metrics: list[str] | tuple[str, ...] | None, sizes: int | None = None) -> tuple[str, ...]:
    """The figures of a study: the compare figure of each metric in its spec's `metrics` that has one (every one
    for None), and the scaling figures, in FIGURES order. With `sizes` (the number of distinct model sizes in the
    grid) below 2 there are no scaling figures: a trend over size needs two sizes, and one would be drawn empty."""
    wanted = {name for name, (metric, *_) in _COMPARE.items() if metrics is None or metric in metrics}
    if sizes is None or sizes >= 2:
        wanted |= set(SCALING_FIGURES)
    return tuple(n for n in FIGURES if n in wanted)


def model_sizes(grid: pd.DataFrame) -> int:
    """The number of distinct model sizes (model_params) in a results grid."""
    return int(grid["model_params"].nunique())


def summarize(grid: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Mean and 95% t-interval of `metric` across the rows of each group (groups in first-appearance order)."""
    rows = []
    for key, part in grid.groupby(by, sort=False):
        m, lo, hi, n = mean_ci(part[metric])
        rows.append({**dict(zip(by, key, strict=True)), "mean": m, "low": lo, "high": hi, "n": n})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


def _order(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def headline_tasks(grid: pd.DataFrame) -> str:
    """The task set the figures show: the unseen tasks where the study splits its tasks, else all."""
    return "unseen" if "tasks" in grid.columns and (grid["tasks"] == "unseen").any() else "all"


def _subtitle(grid: pd.DataFrame, judge: str, metric: str) -> str:
    seeds = ", ".join(str(s) for s in sorted(set(grid["seed"].tolist())))
    who = "independent of the judge" if metric in JUDGE_FREE else f"judge {judge}"
    tasks = grid["tasks"].iloc[0] if "tasks" in grid.columns else "all"
    over = "seeds" if grid["model"].nunique() == grid["model_params"].nunique() else "organisms × seeds"
    return f"{tasks} eval tasks · {who} · mean over {over} {{{seeds}}} ± 95% t-interval"


def _by_size(grid: pd.DataFrame) -> pd.DataFrame:
    """Where several models (organisms) share a size, one line per size: `model` becomes the size's label."""
    if grid["model"].nunique() == grid["model_params"].nunique():
        return grid
    count = grid.groupby("model_params")["model"].nunique()
    label = {p: f"{human_params(p)} × {count[p]} organisms" for p in count.index}
    out = grid.sort_values("model_params", kind="stable").copy()
    out["model"] = out["model_params"].map(label)
    return out


def _new_figure() -> tuple[Figure, object]:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _compare_figure(grid: pd.DataFrame, judge: str, name: str) -> Figure:
    metric, title = _COMPARE[name]
    ylabel, is_rate = BY_NAME[metric].label, BY_NAME[metric].kind == "rate"
    fig, ax = _new_figure()
    subtitle = _subtitle(grid, judge, metric)
    sized = _by_size(grid)
    grouped = sized is not grid
    grid = sized
    models, attacks = _order(grid["model"]), _order(grid["attack"])
    params = dict(zip(grid["model"], grid["model_params"], strict=False))
    stats = summarize(grid, metric, ["attack", "model", "steps"])
    limits = (0.0, 1.0) if is_rate else (0.0, 2.0)  # the metric's range: a t-band does not know it
    for (attack, model), part in stats.groupby(["attack", "model"], sort=False):
        part = part.dropna(subset=["mean"]).sort_values("steps")
        i, j = models.index(model), attacks.index(attack)
        color = matplotlib.colormaps["tab10"](i % 10)
        label = (model if grouped else f"{model} ({human_params(params[model])})") + (
            f" · {attack}" if len(attacks) > 1 else "")
        ax.plot(part["steps"].to_numpy(float), part["mean"].to_numpy(float), color=color, marker=MARKERS[i % len(MARKERS)],
                linestyle=LINESTYLES[j % len(LINESTYLES)], label=label)
        x, lo, hi = part["steps"].to_numpy(float), part["low"].clip(*limits), part["high"].clip(*limits)
        ax.fill_between(x, lo.to_numpy(float), hi.to_numpy(float), color=color, alpha=BAND_ALPHA, linewidth=0)
    ax.set_xlabel(f"attack steps ({', '.join(attacks)})")
    ax.set_ylabel(ylabel if metric in JUDGE_FREE else f"{ylabel}\njudge {judge}")
    if is_rate:
        ax.set_ylim(-0.03, 1.03)
    else:
        ax.set_ylim(bottom=-0.02)
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    fig.legend(loc="outside lower center", ncols=min(3, len(stats.groupby(["attack", "model"]))),
               title="model (parameters)", fontsize=8)
    return fig


def _scaling_figure(grid: pd.DataFrame, judge: str) -> Figure:
    fig, ax = _new_figure()
    attacks = _order(grid["attack"])
    stats = summarize(grid, "rrr", ["attack", "steps", "model_params"])
    steps_all = sorted(set(stats["steps"].tolist()))
    cmap = matplotlib.colormaps["viridis"]
    for (attack, steps), part in stats.groupby(["attack", "steps"], sort=False):
        part = part.dropna(subset=["mean"]).sort_values("model_params")
        k = steps_all.index(steps)
        color = cmap(k / max(1, len(steps_all) - 1) * 0.9)
        label = f"{steps} steps" + (f" · {attack}" if len(attacks) > 1 else "")
        x = part["model_params"].to_numpy(float)
        ax.plot(x, part["mean"].to_numpy(float), color=color, marker="o",
                linestyle=LINESTYLES[attacks.index(attack) % len(LINESTYLES)], label=label)
        lo, hi = part["low"].clip(0, 1).to_numpy(float), part["high"].clip(0, 1).to_numpy(float)
        ax.fill_between(x, lo, hi, color=color, alpha=BAND_ALPHA, linewidth=0)
    ax.set_xscale("log")
    ax.margins(x=0.08)
    sizes = _by_size(grid).drop_duplicates("model_params")[["model", "model_params"]].sort_values("model_params")
    ax.set_xticks(sizes["model_params"].tolist(),
                  [f"{m}\n{human_params(p)}" if m != human_params(p) and "organisms" not in m else m
                   for m, p in zip(sizes["model"], sizes["model_params"], strict=True)])
    ax.minorticks_off()
    untangle_xticklabels(fig, ax)
    ax.set_xlabel("model parameters (log scale)")
    ax.set_ylabel(f"refusal rate (rrr)\njudge {judge}")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"Refusal rate vs model size, one line per attack budget\n{_subtitle(grid, judge, 'rrr')}",
                 fontsize=10)
    fig.legend(loc="outside lower center", ncols=min(6, len(steps_all) * len(attacks)), title="attack steps",
               fontsize=8)
    return fig


def make_figures(
    grid: pd.DataFrame,
    outdir: Path,
    judge: str | None = None,
    *,
    formats: tuple[str, ...] = FORMATS,
    names: tuple[str, ...] = FIGURES,
    tables: dict[str, pd.DataFrame] | None = None,
) -> list[Path]:
    """Write every figure of FIGURES (.png and .pdf) into `outdir`; return the paths.

    `formats` and `names` narrow the output (`rrs check` compares PNGs only and skips the slower PDFs). `tables`:
    the grid's scaling tables (rrs/measure/scaling.py `tables`), when the caller has them already.
    """
    if unknown := (set(formats) - set(FORMATS)) | (set(names) - set(FIGURES)):
        raise ValueError(f"unknown figure format or name {sorted(unknown)}: use {FORMATS} and {FIGURES}")
    if grid.empty:
        raise ValueError("results grid has no rows: nothing to draw")
    judge = judge if judge is not None else str(grid["judge"].iloc[0])
    tasks = headline_tasks(grid)
    part = grid[(grid["judge"] == judge) & (grid["tasks"] == tasks)] if "tasks" in grid.columns else grid[grid["judge"] == judge]
    if part.empty:
        raise ValueError(f"judge {judge!r} has no rows in the grid (judges: {', '.join(_order(grid['judge']))})")
    if model_sizes(part) < 2:  # no scaling figure for one size (figure_names says the same to the check)
        names = tuple(n for n in names if n not in SCALING_FIGURES)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with matplotlib.style.context(["default", RC]):  # ignore any user matplotlibrc
        for name in names:
            if name == "scaling_fit":
                continue
            fig = _scaling_figure(part, judge) if name == "scaling_rrr" else _compare_figure(part, judge, name)
            paths += save(fig, outdir, name, formats)
    if "scaling_fit" in names:
        from rrs.figures.scaling_figure import scaling_fit_figure
        from rrs.measure import scaling

        t = tables if tables is not None else scaling.tables(grid)
        paths += scaling_fit_figure(t["curves.csv"], t["robustness.csv"], t["scaling.csv"], outdir, judge,
                                    formats=formats, tasks=tasks)
    return paths
