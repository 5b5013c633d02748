"""The replication verdict (rrs/checks/replication.py): a flip of one answer never fails alone, a grossly changed
cell does, and many cells each a little outside their interval fail together (the binomial bound)."""

from __future__ import annotations

import pytest
from synthetic import copy_result_dir, set_refusals

from rrs.artifact.schemas import read_grid
from rrs.checks.replication import CELL_ALPHA, FAMILY_ALPHA, binom_upper, judge_replication
from rrs.measure import scaling


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return read_grid(copy_result_dir(tmp_path_factory.mktemp("rep") / "smoke") / "results_grid.csv")


def _judge(fresh, pub):
    return judge_replication(fresh, pub, scaling.tables(fresh), scaling.tables(pub), None, "f/results_grid.csv")


def _one(grid, model, steps, judge, seed):
    return (grid.model == model) & (grid.steps == steps) & (grid.judge == judge) & (grid.seed == seed)


def test_binomial_bound_by_hand():
    # P(Binomial(10, 0.5) <= 8) = 1013/1024 = 0.98926 < 0.99 <= P(<= 9) = 1023/1024
    assert binom_upper(10, 0.5, 0.99) == 9
    assert binom_upper(10, 0.5, 0.98) == 8
    assert binom_upper(0, CELL_ALPHA, 1 - FAMILY_ALPHA) == 0
    # a thousand cells at 1% each: at most a handful may fall outside before the verdict fails
    assert 15 <= binom_upper(1000, CELL_ALPHA, 1 - FAMILY_ALPHA) <= 25


def test_the_same_grid_replicates(grid):
    verdict = _judge(grid, grid)
    assert verdict.failures == [] and verdict.outside == 0 and verdict.compared > 100


def test_one_answer_flipped_never_fails_alone(grid):
    for model, steps in (("organism-s", 0), ("organism-l", 20), ("organism-m", 60)):
        row = _one(grid, model, steps, "keyword:bigger-safer", 1)
        k, n = int(grid.loc[row, "refusals"].iloc[0]), int(grid.loc[row, "n"].iloc[0])
        fresh = set_refusals(grid, row, k - 1 if k > 0 else k + 1)
        assert n > 1 and _judge(fresh, grid).failures == [], (model, steps)


def test_a_cell_far_outside_fails_alone(grid):
    cell = (grid.model == "organism-l") & (grid.steps == 0) & (grid.judge == "keyword:bigger-safer")
    fresh = set_refusals(grid, cell, 0)  # every seed: from refusing to answering everything
    verdict = _judge(fresh, grid)
    assert verdict.outside <= verdict.allowed  # not many cells: the one cell fails alone
    rrr = [f for f in verdict.failures if f.column == "rrr" and f.row == "organism-l/lora-r8/0/keyword:bigger-safer/all"]
    assert rrr and "fails alone" in rrr[0].rule, verdict.failures


def test_many_cells_each_a_little_outside_fail_together(grid):
    """Each moved cell lies between its per-cell interval and the interval outside which one fails alone: one such
    cell passes; more of them than the binomial bound allows fail together."""
    from statistics import NormalDist

    from rrs.checks.replication import CELL, _cells

    base = _judge(grid, grid)
    n = grid.groupby(list(CELL), sort=False)["n"].first()
    z_cell = NormalDist().inv_cdf(1 - CELL_ALPHA / 2)
    z_alone = NormalDist().inv_cdf(1 - FAMILY_ALPHA / (2 * base.compared))
    cells, _ = _cells(grid, grid, "rrr", CELL, None, n, "f", z_cell, z_alone)

    def between(g, part, size, sign):
        """The moved copy of `g` whose cell `part` lies between its two intervals, or None."""
        for shift in range(1, size + 1):
            ks = [int(k) + sign * shift for k in g.loc[part, "refusals"]]
            if not all(0 <= k <= size for k in ks):
                return None
            h = g.copy()
            for idx, k in zip(h.index[part], ks, strict=True):
                h = set_refusals(h, h.index == idx, k)
            (c,), _ = _cells(h[part], grid[part], "rrr", CELL, None, n, "f", z_cell, z_alone)
            if c.inner < abs(c.delta) <= c.outer:
                return h
        return None

    def moved(count):
        g, done = grid.copy(), 0
        for c in cells:
            if done == count:
                break
            model, _attack, steps, judge, _tasks = c.where.split("/")
            part = (g.model == model) & (g.steps == int(steps)) & (g.judge == judge)
            h = between(g, part, int(g.loc[part, "n"].iloc[0]), -1 if c.published > 0.5 else 1)
            if h is not None:
                g, done = h, done + 1
        return _judge(g, grid), done

    one, _ = moved(1)
    assert one.outside >= 1 and one.failures == [], one.failures
    many, done = moved(base.allowed + 3)
    assert done == base.allowed + 3 and many.outside > many.allowed and many.failures, many.rule
    assert all("binomial bound" in f.rule or "fails alone" in f.rule for f in many.failures)


def test_a_kept_variant_lies_on_its_rounded_spread_not_beyond_it():
    """variation.csv holds 6 significant digits: the kept variant's exact shift may exceed the written spread by a
    rounding residue, which is not a cell outside its interval; a real excess is."""
    from rrs.checks.replication import _beyond

    exact = 0.30541666666666667 - 0.27069444444444446  # a kept variant's auc shift
    written = float(f"{exact:.6g}")
    assert not _beyond(exact, written) and not _beyond(-exact, written)
    assert _beyond(written * 1.001, written) and _beyond(0.04, written)
