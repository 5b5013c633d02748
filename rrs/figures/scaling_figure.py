"""scaling_fit.png/.pdf: refusal robustness (s50, auc) against model size on log–log axes, with the fitted power law.

Drawn from the scaling tables alone (rrs.measure.scaling; torch-free), for one judge (default: the first in curves.csv).
Per attack one colour: points are the per-model mean over seeds with its bootstrap 95% CI, the line is the
least-squares fit of log10(mean) on log10(model_params) with the pointwise 2.5–97.5% band of the bootstrap refits
behind scaling.csv's CIs (same seed and n_boot). Undefined fits are drawn as points only, with the reason in a
note. Same deterministic output as rrs/figures/grid.py: a fresh Agg canvas, pinned style, no timestamps, atomic writes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.style
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rrs.figures.style import BAND_ALPHA, DPI, FORMATS, MARKERS, RC, human_params, save
from rrs.figures.ticks import untangle_xticklabels
from rrs.measure.scaling import N_BOOT, QUANTITIES, fit_band, predict

NAME = "scaling_fit"
FIGSIZE = (11.0, 6.4)  # inches
_PANELS = {
    "s50": ("s50: attack steps until rrr < ½ its steps-0 value", "Steps to halve the refusal rate (s50)"),
    "auc": ("auc: mean rrr over [0, max steps]", "Area under the refusal-rate curve (auc)"),
}
_JITTER = 0.025  # decades between attacks at the same model size, so error bars do not overlap


class _PlainLog(matplotlib.ticker.LogFormatterSciNotation):
    """Log-axis labels as plain numbers (40, 0.2), on the ticks matplotlib's log formatter would label."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def _order(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def _ci_text(x: float, lo: float, hi: float) -> str:
    return f"{x:.3f} [{lo:.3f}, {hi:.3f}]"


def _panel(ax, q: str, curves_df: pd.DataFrame, rob: pd.DataFrame, fit: pd.DataFrame, judge: str,
           attacks: list, seed: int, n_boot: int, tasks: str) -> None:  # fmt: skip
    notes, drawn = [], False
    for j, attack in enumerate(attacks):
        color = matplotlib.colormaps["tab10"](j % 10)
        r = rob[rob["attack"] == attack].sort_values("model_params", kind="stable")
        mean = r[f"{q}_mean"].to_numpy(float)
        ok = np.isfinite(mean) & (mean > 0)
        shift = 10 ** (_JITTER * (j - (len(attacks) - 1) / 2))
        x = r["model_params"].to_numpy(float)[ok] * shift
        y = mean[ok]
        drawn |= bool(ok.any())
        lo, hi = r[f"{q}_ci_low"].to_numpy(float)[ok], r[f"{q}_ci_high"].to_numpy(float)[ok]
        yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
        row = fit[fit["attack"] == attack]
        s = row.iloc[0] if len(row) else None
        if s is not None and np.isfinite(s["slope"]):
            label = (f"{attack}: slope {_ci_text(s['slope'], s['slope_ci_low'], s['slope_ci_high'])}, "
                     f"R² {s['r2']:.3f}, {int(s['n_models'])} models")  # fmt: skip
            if np.isfinite(s.get("loo_slope_min", np.nan)):
                label += f", leave-one-size-out {s['loo_slope_min']:.3f}…{s['loo_slope_max']:.3f}"
            xs = np.geomspace(x.min() / shift, x.max() / shift, 64)
            band_lo, band_hi = fit_band(curves_df, attack, judge, q, xs, seed, n_boot, tasks)
            ax.fill_between(xs, band_lo, band_hi, color=color, alpha=BAND_ALPHA, linewidth=0)
            ax.plot(xs, predict(s, xs), color=color, linewidth=1.5)
        else:
            label = f"{attack}: no fit"
            notes.append(f"{attack}: no fit — {s['reason'] if s is not None else 'not in scaling.csv'}")
        if (~ok).any():
            notes.append(f"{attack}: {int((~ok).sum())} model(s) without a defined mean {q} > 0 not drawn")
        ax.errorbar(x, y, yerr=yerr, fmt=MARKERS[j % len(MARKERS)], color=color, capsize=3, markersize=5,
                    linestyle="none", label=label)  # fmt: skip
    ax.set_xscale("log")
    if drawn:  # a log axis needs a positive value; with none there is nothing to draw but the notes
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_PlainLog())
        ax.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False))
    sizes = rob.drop_duplicates("model")[["model", "model_params"]].sort_values("model_params", kind="stable")
    ticks = sorted(set(sizes["model_params"].tolist()))
    ax.set_xticks(ticks, [human_params(p) for p in ticks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.margins(x=0.08)
    ax.set_xlabel("model parameters (log scale)")
    ax.set_ylabel(f"{_PANELS[q][0]} (log scale)")
    ax.set_title(_PANELS[q][1], fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, title_fontsize=8,
              title="attack: log–log slope [95% CI], R², models in the fit")  # fmt: skip
    if notes:
        text = "\n".join(textwrap.fill(n, 70, subsequent_indent="  ") for n in notes)
        ax.text(0.98, 0.02, text, transform=ax.transAxes, ha="right", va="bottom", multialignment="left", fontsize=7,
                bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})  # fmt: skip


def scaling_fit_figure(
    curves_df: pd.DataFrame,
    robustness_df: pd.DataFrame,
    scaling_df: pd.DataFrame,
    out_dir: Path,
    judge: str | None = None,
    *,
    seed: int = 0,
    n_boot: int = N_BOOT,
    formats: tuple[str, ...] = FORMATS,
    tasks: str = "all",
) -> list[Path]:
    """Write scaling_fit.png and .pdf into `out_dir`; return their paths (for the rows of one task set).

    `seed` and `n_boot` must be those that made scaling_df: the band is recomputed from the same bootstrap.
    """
    if curves_df.empty:
        raise ValueError("curves table has no rows: nothing to draw")
    if unknown := set(formats) - set(FORMATS):
        raise ValueError(f"unknown figure format {sorted(unknown)}: use {FORMATS}")
    judge = judge if judge is not None else str(curves_df["judge"].iloc[0])
    curves_j = curves_df[(curves_df["judge"] == judge) & (curves_df["tasks"] == tasks)]
    if curves_j.empty:
        raise ValueError(f"judge {judge!r} has no curves on {tasks} tasks "
                         f"(judges: {', '.join(map(str, _order(curves_df['judge'])))})")
    rob = robustness_df[(robustness_df["judge"] == judge) & (robustness_df["tasks"] == tasks)]
    fit = scaling_df[(scaling_df["judge"] == judge) & (scaling_df["tasks"] == tasks)]
    attacks = _order(curves_j["attack"])
    seeds = ", ".join(str(s) for s in sorted(set(curves_j["seed"].tolist())))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.style.context(["default", RC]):  # ignore any user matplotlibrc
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(QUANTITIES))
        for ax, q in zip(axes, QUANTITIES, strict=True):
            _panel(ax, q, curves_j, rob, fit[fit["quantity"] == q], judge, attacks, seed, n_boot, tasks)
            untangle_xticklabels(fig, ax)
        fig.suptitle(
            f"Refusal robustness vs model size · {tasks} eval tasks · judge {judge}\n"
            f"points: each model's mean over seeds {{{seeds}}} ± 95% bootstrap CI · lines: least squares on log–log "
            f"axes ± 95% bootstrap band\n(bootstrap: {n_boot} resamples of the models within each size and of the "
            f"seeds within each model, rng seed {seed})",
            fontsize=10,
        )
        return save(fig, out_dir, NAME, formats)
