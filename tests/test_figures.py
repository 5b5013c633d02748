"""Figures drawn from results_grid.csv alone: files, determinism, statistics, and the `rrs figures` verb."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from synthetic import copy_result_dir, invoke

from rrs.artifact.schemas import read_grid
from rrs.checks.figcompare import redraw
from rrs.figures.grid import DPI, FIGSIZE, FIGURES, make_figures, summarize
from rrs.figures.scaling_figure import FIGSIZE as FIT_FIGSIZE
from rrs.measure.intervals import mean_ci, t975

NAMES = sorted(f"{n}.{ext}" for n in FIGURES for ext in ("png", "pdf"))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """A synthetic result dir whose figures the `rrs figures` verb redrew into out/."""
    root = copy_result_dir(tmp_path_factory.mktemp("fig") / "smoke")
    out = root / "redrawn"
    code, text = invoke("figures", root, "--out", out)
    assert code == 0, text
    return root, out, text


def test_verb_writes_every_figure_as_png_and_pdf(drawn):
    root, out, text = drawn
    assert sorted(p.name for p in out.iterdir()) == NAMES
    assert text.split() == [str(out / name) for n in FIGURES for name in (f"{n}.png", f"{n}.pdf")]
    for n in FIGURES:
        size = FIT_FIGSIZE if n == "scaling_fit" else FIGSIZE  # two panels, s50 and auc
        with Image.open(out / f"{n}.png") as im:
            assert im.size == (round(size[0] * DPI), round(size[1] * DPI))


def test_output_is_deterministic(drawn, tmp_path):
    root, out, _ = drawn
    grid = read_grid(root / "results_grid.csv")
    earlier = redraw(grid)  # PNGs an earlier make_figures call drew for the synthetic dir (cached by content)
    for n in FIGURES:
        assert earlier[f"{n}.png"] == (out / f"{n}.png").read_bytes(), n
    make_figures(grid, tmp_path, formats=("pdf",), names=("RRR_compare",))
    pdf = (tmp_path / "RRR_compare.pdf").read_bytes()
    assert pdf == (out / "RRR_compare.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf


def test_unknown_judge_and_empty_grid_are_refused(drawn):
    grid = read_grid(drawn[0] / "results_grid.csv")
    with pytest.raises(ValueError, match="judges: keyword:bigger-safer, keyword:gcg-29"):
        make_figures(grid, drawn[1], judge="keyword:nope")
    with pytest.raises(ValueError, match="no rows"):
        make_figures(grid.iloc[:0], drawn[1])
    with pytest.raises(ValueError, match="unknown figure format or name"):
        make_figures(grid, drawn[1], formats=("svg",))


def test_verb_errors_are_one_line(tmp_path):
    code, msg = invoke("figures", tmp_path)
    assert code == 2 and msg == f"{tmp_path / 'results_grid.csv'}: no such file"
    pd.DataFrame({"model": ["a"], "judge": ["j"]}).to_csv(tmp_path / "results_grid.csv", index=False)
    code, msg = invoke("figures", tmp_path)
    assert code == 2 and "missing column" in msg and "\n" not in msg.strip()
    assert not (tmp_path / "figures").exists() or not any((tmp_path / "figures").iterdir())


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706205)
    assert t975(2) == pytest.approx(4.302653)
    assert t975(30) == pytest.approx(2.042272)
    assert t975(31) == pytest.approx(2.039513, abs=1e-5)  # expansion beyond the table
    assert t975(100) == pytest.approx(1.983972, abs=1e-5)
    with pytest.raises(ValueError):
        t975(0)


def test_mean_ci_is_a_t_interval_over_defined_values():
    m, lo, hi, n = mean_ci(np.array([1.0, 2.0, 3.0, math.nan]))
    half = 4.302653 / math.sqrt(3)  # sd = 1
    assert (m, n) == (2.0, 3) and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert mean_ci([0.5]) == (0.5, 0.5, 0.5, 1)
    assert math.isnan(mean_ci([math.nan])[0])


def test_summarize_keeps_first_appearance_order():
    grid = pd.DataFrame({"model": ["b", "b", "a", "a"], "steps": [0, 0, 0, 0], "rrr": [1.0, 0.0, 0.5, 0.5]})
    out = summarize(grid, "rrr", ["model", "steps"])
    assert out["model"].tolist() == ["b", "a"] and out["mean"].tolist() == [0.5, 0.5] and out["n"].tolist() == [2, 2]


def test_one_size_study_gets_no_scaling_figure(drawn, tmp_path):
    """A trend over size needs two sizes: with one, the scaling figures are not drawn (they would be empty), the
    check expects none (figure_names with the grid's sizes) and compares the rest."""
    from rrs.checks.figcompare import check_figures
    from rrs.figures.grid import SCALING_FIGURES, figure_names, model_sizes

    grid = read_grid(drawn[0] / "results_grid.csv")
    one = grid[grid["model"] == grid["model"].iloc[0]]
    assert model_sizes(one) == 1 and model_sizes(grid) == 3
    paths = make_figures(one, tmp_path / "one", formats=("png", "pdf"))
    assert sorted(paths_stems(paths)) == sorted(n for n in FIGURES if n not in SCALING_FIGURES)
    assert set(SCALING_FIGURES) <= set(figure_names(["rrr"], model_sizes(grid)))
    assert figure_names(["rrr"], 1) == ("RRR_compare",) and figure_names(None, 1) == paths_stems(paths)
    results = check_figures(one, tmp_path / "one", names=figure_names(None, model_sizes(one)))
    assert [r.name for r in results] == list(paths_stems(paths)) and all(r.ok for r in results)


def paths_stems(paths) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.stem for p in paths))  # each figure once (its .png and .pdf)


def _close_sizes_grid(drawn) -> pd.DataFrame:
    """The synthetic grid with its models renamed and resized like three of the embedded study's (82.1k and 111k
    close on a log axis that reaches 2.69M, long names)."""
    grid = read_grid(drawn[0] / "results_grid.csv")
    sizes = {"organism-s": ("organism-xs", 82_120), "organism-m": ("organism-s", 111_000),
             "organism-l": ("organism-xl", 2_690_000)}
    grid["model_params"] = grid["model"].map(lambda m: sizes[m][1])
    grid["model"] = grid["model"].map(lambda m: sizes[m][0])
    return grid


def test_scaling_figure_tick_labels_do_not_overlap_at_the_published_size(drawn, monkeypatch):
    import matplotlib.style

    from rrs.figures import grid as figures
    from rrs.figures.style import RC

    grid = _close_sizes_grid(drawn)
    part = grid[grid["judge"] == grid["judge"].iloc[0]]

    def ticklabels(fig):
        fig.draw_without_rendering()
        return [t for t in fig.axes[0].get_xticklabels() if t.get_text()]

    with matplotlib.style.context(["default", RC]):
        fig = figures._scaling_figure(part, part["judge"].iloc[0])
        assert len(ticklabels(fig)) == 3 and not figures.labels_overlap(ticklabels(fig))
        monkeypatch.setattr(figures, "untangle_xticklabels", lambda fig, ax: None)
        assert figures.labels_overlap(ticklabels(figures._scaling_figure(part, part["judge"].iloc[0])))
