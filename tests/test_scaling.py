"""rrs.measure.scaling (s50, auc, curves, robustness, fits), its schemas and the scaling_fit figure (torch-free)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rrs.artifact.scaling_schema import (
    compare_tables,
    read_table,
    validate_curves,
    validate_robustness,
    validate_scaling,
)
from rrs.figures.scaling_figure import scaling_fit_figure
from rrs.measure.scaling import (
    CURVE_COLUMNS,
    ROBUSTNESS_COLUMNS,
    SCALING_COLUMNS,
    auc,
    bootstrap_lines,
    curves,
    fit_band,
    fits,
    predict,
    robustness,
    s50,
    tables,
    to_csv,
    write_tables,
)

# ---------------------------------------------------------------- a synthetic grid with a known power law

PARAMS = {"m-1e6": 1_000_000, "m-1e4": 10_000, "m-3e4": 31_623, "m-1e5": 100_000, "m-3e5": 316_228}  # grid order
STEPS = tuple(range(0, 401, 20))
SEEDS = (0, 1, 2)
JUDGE = "keyword:gcg-29"
POWER = {"lora-r8": (3.0, 0.3), "full-ft": (10.0, 0.15)}  # s50 = coef * params ** expo (times per-seed noise)
NOISE = 1 + np.random.default_rng(7).uniform(-0.04, 0.04, size=(len(PARAMS), len(SEEDS)))
N_BOOT = 400  # enough for stable CIs here, fast on two shared cores


def target_s50(attack: str, i: int, seed: int) -> float:
    coef, expo = POWER[attack]
    return coef * list(PARAMS.values())[i] ** expo * NOISE[i, seed]


def make_grid(models: dict[str, int] = PARAMS, attacks: tuple[str, ...] = ("lora-r8", "full-ft", "weak"),
              seeds: tuple[int, ...] = SEEDS) -> pd.DataFrame:  # fmt: skip
    """rrr falls linearly from 1 to 0 at 2·s50 (so the interpolated s50 is exact); "weak" never halves."""
    rows = []
    for i, (model, params) in enumerate(models.items()):
        for attack in attacks:
            for seed in seeds:
                for t in STEPS:
                    if attack == "weak":
                        rrr = 1 - 0.45 * (params / 1e4) ** -0.1 * NOISE[i % len(PARAMS), seed] * t / STEPS[-1]
                    else:
                        rrr = min(1.0, max(0.0, 1 - t / (2 * target_s50(attack, i % len(PARAMS), seed))))
                    rows.append({"model": model, "model_kind": "organism", "model_params": params, "attack": attack,
                                 "steps": t, "seed": seed, "judge": JUDGE, "tasks": "all", "rrr": rrr})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def grid() -> pd.DataFrame:
    return make_grid()


@pytest.fixture(scope="module")
def out(grid) -> dict[str, pd.DataFrame]:
    return tables(grid, seed=0, n_boot=N_BOOT)


# ---------------------------------------------------------------- s50 and auc on hand-computed curves


def test_s50_interpolates_between_the_bracketing_steps():
    assert s50([0, 10, 20], [1, 0.8, 0.2]) == (pytest.approx(15.0), "")  # 10 + 10 * (0.8 - 0.5) / (0.8 - 0.2)
    assert s50([0, 10, 20, 30], [0.8, 0.6, 0.5, 0.1])[0] == pytest.approx(22.5)  # 20 + 10 * (0.5 - 0.4) / 0.4
    assert s50([0, 5], [1.0, 0.0])[0] == pytest.approx(2.5)


def test_s50_value_exactly_at_half_is_not_below():
    value, reason = s50([0, 10, 20], [1, 0.5, 0.5])
    assert math.isnan(value)
    assert reason == "rrr never falls below half its steps-0 value (1 → < 0.5; lowest 0.5 at steps 10) by steps 20"
    # the crossing lies after the step that sits exactly on the threshold: interpolated from there
    assert s50([0, 10, 20], [1, 0.5, 0.3]) == (pytest.approx(10.0), "")


def test_s50_undefined_when_already_collapsed_or_never_falling():
    value, reason = s50([0, 10, 20], [0.0, 0.0, 0.0])
    assert math.isnan(value) and reason == "already collapsed: rrr at steps 0 is 0"
    value, reason = s50([0, 10], [math.nan, 0.2])
    assert math.isnan(value) and "steps 0 is undefined" in reason
    value, reason = s50([0, 30, 60], [0.5, 0.4, 0.3])
    assert math.isnan(value)
    assert "(0.5 → < 0.25; lowest 0.3 at steps 60) by steps 60" in reason


@pytest.mark.parametrize(("steps", "values"), [([5, 10], [1, 0.1]), ([0, 20, 10], [1, 0.6, 0.1]), ([0, 10], [1.0])])
def test_s50_rejects_a_malformed_curve(steps, values):
    with pytest.raises(ValueError):
        s50(steps, values)


def test_auc_on_known_curves():
    assert auc([0, 10, 30], [1, 0.5, 0.5]) == pytest.approx((10 * 0.75 + 20 * 0.5) / 30)
    assert auc([0, 10, 20], [1, 1, 1]) == pytest.approx(1.0)
    assert auc([0, 100], [1, 0]) == pytest.approx(0.5)
    assert math.isnan(auc([0], [1.0]))
    assert math.isnan(auc([0, 10], [1.0, math.nan]))


# ---------------------------------------------------------------- tables


def test_curves_recover_the_constructed_s50_in_grid_order(grid, out):
    c = out["curves.csv"]
    assert tuple(c.columns) == CURVE_COLUMNS
    assert len(c) == len(PARAMS) * 3 * len(SEEDS)
    assert list(dict.fromkeys(c["model"])) == list(PARAMS)  # first appearance, not alphabetical
    assert c[["model", "attack", "judge"]].drop_duplicates().shape[0] == len(c) // len(SEEDS)
    assert c.groupby(["model", "attack"], sort=False)["seed"].apply(list).map(lambda s: s == [0, 1, 2]).all()
    for i, model in enumerate(PARAMS):
        for attack in POWER:
            for seed in SEEDS:
                row = c[(c.model == model) & (c.attack == attack) & (c.seed == seed)].iloc[0]
                assert row.s50 == pytest.approx(target_s50(attack, i, seed), rel=1e-9)
                assert row.s50_reason == ""
                assert row.auc == pytest.approx(target_s50(attack, i, seed) / STEPS[-1], rel=0.02)
    weak = c[c.attack == "weak"]
    assert weak.s50.isna().all() and weak.s50_reason.str.startswith("rrr never falls below half").all()
    noise = [NOISE[list(PARAMS).index(m), k] for m, k in zip(weak.model, weak.seed, strict=True)]
    slope = 0.45 * (weak.model_params / 1e4) ** -0.1 * noise
    assert weak.auc.to_numpy() == pytest.approx(1 - slope.to_numpy() / 2)  # a straight line: the trapezoid is exact


def test_curves_shuffled_grid_keeps_first_appearance_order(grid):
    shuffled = grid.sample(frac=1.0, random_state=3)
    c = curves(shuffled)
    assert list(dict.fromkeys(c["model"])) == list(dict.fromkeys(shuffled["model"]))
    back = c.set_index(["model", "attack", "judge", "seed"]).sort_index()
    ref = curves(grid).set_index(["model", "attack", "judge", "seed"]).sort_index()
    pd.testing.assert_frame_equal(back, ref)


def test_curves_without_a_steps0_row_are_undefined_with_a_reason(grid):
    c = curves(grid[grid.steps > 0])
    assert c.s50.isna().all() and c.auc.isna().all()
    assert (c.s50_reason == "no steps 0 row: the unattacked rrr is unknown").all()


def test_robustness_means_and_bootstrap_cis(out):
    r = out["robustness.csv"]
    c = out["curves.csv"]
    assert tuple(r.columns) == ROBUSTNESS_COLUMNS
    assert len(r) == len(PARAMS) * 3 and (r.n_seeds == 3).all()
    row = r[(r.model == "m-1e5") & (r.attack == "lora-r8")].iloc[0]
    per_seed = c[(c.model == "m-1e5") & (c.attack == "lora-r8")].s50
    assert row.s50_mean == pytest.approx(per_seed.mean())
    assert per_seed.min() <= row.s50_ci_low < row.s50_mean < row.s50_ci_high <= per_seed.max()
    assert row.s50_reason == ""
    weak = r[r.attack == "weak"].iloc[0]
    assert math.isnan(weak.s50_mean) and math.isnan(weak.s50_ci_low)
    assert weak.s50_reason.startswith("s50 undefined for 3 of 3 seeds (seed 0: rrr never falls below half")
    assert weak.auc_ci_low <= weak.auc_mean <= weak.auc_ci_high


def test_robustness_one_seed_ci_is_the_value_and_partial_undefined_is_named():
    c = pd.DataFrame({"model": ["a", "b", "b"], "model_params": [10, 20, 20], "attack": "x", "judge": "j",
                      "tasks": "all", "seed": [0, 0, 1], "s50": [12.0, 30.0, math.nan], "s50_reason": ["", "", "already collapsed"],
                      "auc": [0.4, 0.5, 0.3]})  # fmt: skip
    r = robustness(c, n_boot=50)
    one = r.iloc[0]
    assert (one.s50_mean, one.s50_ci_low, one.s50_ci_high) == (12.0, 12.0, 12.0)
    assert (one.auc_mean, one.auc_ci_low, one.auc_ci_high) == (0.4, 0.4, 0.4)
    two = r.iloc[1]
    assert math.isnan(two.s50_mean) and two.s50_reason == "s50 undefined for 1 of 2 seeds (seed 1: already collapsed)"
    assert two.auc_mean == pytest.approx(0.4) and two.auc_ci_low <= 0.4 <= two.auc_ci_high


def test_fits_recover_the_known_slope(out):
    f = out["scaling.csv"]
    assert tuple(f.columns) == SCALING_COLUMNS
    assert list(zip(f.attack, f.quantity, strict=True)) == [(a, q) for a in ("lora-r8", "full-ft", "weak")
                                                            for q in ("s50", "auc")]  # fmt: skip
    for attack, (coef, expo) in POWER.items():
        for q in ("s50", "auc"):
            row = f[(f.attack == attack) & (f.quantity == q)].iloc[0]
            assert row.n_models == 5 and row.reason == ""
            assert row.slope_ci_low <= expo <= row.slope_ci_high, (attack, q, row.to_dict())
            assert abs(row.slope - expo) < 0.02, (attack, q, row.slope)
            assert row.r2 > 0.95
            assert row.slope_ci_high - row.slope_ci_low < 0.05  # ±4% noise on 3 seeds: a narrow interval
        s = f[(f.attack == attack) & (f.quantity == "s50")].iloc[0]
        assert s.intercept == pytest.approx(math.log10(coef), abs=0.1)
        assert s.intercept_ci_low <= s.intercept <= s.intercept_ci_high
    weak = f[(f.attack == "weak") & (f.quantity == "s50")].iloc[0]
    assert math.isnan(weak.slope) and weak.n_models == 0
    assert weak.reason.startswith("needs ≥ 3 models with a defined mean s50 > 0; 0 of 5 have one (m-1e6: s50 undefined")
    weak_auc = f[(f.attack == "weak") & (f.quantity == "auc")].iloc[0]
    assert weak_auc.reason == "" and weak_auc.slope > 0  # rrr falls less for bigger models: auc grows


def test_fits_undefined_below_three_models_or_one_size():
    two = make_grid({"a": 10_000, "b": 100_000}, attacks=("lora-r8",))
    f = fits(curves(two), n_boot=50)
    assert f.slope.isna().all() and (f.n_models == 2).all()
    assert f.reason.str.startswith("needs ≥ 3 models").all()
    same = make_grid({"a": 1000, "b": 1000, "c": 1000}, attacks=("lora-r8",))
    f = fits(curves(same), n_boot=50)
    assert f.slope.isna().all() and (f.reason == "all 3 models have model_params 1000: no slope to fit").all()
    assert f.r2.isna().all() and f.slope_ci_low.isna().all()


def test_predict_and_band_follow_the_fit(out):
    c, f = out["curves.csv"], out["scaling.csv"]
    row = f[(f.attack == "lora-r8") & (f.quantity == "s50")].iloc[0]
    xs = np.array([1e4, 1e5, 1e6])
    y = predict(row, xs)
    assert y == pytest.approx(10 ** (row.intercept + row.slope * np.log10(xs)))
    assert y == pytest.approx(3.0 * xs**0.3, rel=0.05)
    lo, hi = fit_band(c, "lora-r8", JUDGE, "s50", xs, seed=0, n_boot=N_BOOT)
    assert np.all(lo < y) and np.all(y < hi)
    slopes, _ = bootstrap_lines(c, "lora-r8", JUDGE, "s50", seed=0, n_boot=N_BOOT)
    assert np.percentile(slopes, 2.5) == pytest.approx(row.slope_ci_low)  # the band comes from the same refits
    lo, hi = fit_band(c, "weak", JUDGE, "s50", xs, n_boot=50)
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_tables_are_deterministic_and_seeded(grid, out):
    again = tables(grid, seed=0, n_boot=N_BOOT)
    for name, df in out.items():
        assert to_csv(df) == to_csv(again[name]), name
    other = tables(grid, seed=1, n_boot=N_BOOT)
    assert to_csv(other["curves.csv"]) == to_csv(out["curves.csv"])  # no randomness in the curves
    assert to_csv(other["scaling.csv"]) != to_csv(out["scaling.csv"])  # the bootstrap does depend on its seed


def test_written_tables_pass_their_schemas_and_equal_their_recomputation(grid, out, tmp_path):
    paths = write_tables(tables(grid, seed=0, n_boot=N_BOOT), tmp_path)
    assert [p.name for p in paths] == ["curves.csv", "robustness.csv", "scaling.csv"]
    assert paths[0].read_bytes() == to_csv(out["curves.csv"]).encode()
    validators = {"curves.csv": validate_curves, "robustness.csv": validate_robustness,
                  "scaling.csv": validate_scaling}  # fmt: skip
    for p in paths:
        written = read_table(p)
        assert validators[p.name](written) == [], p.name
        assert compare_tables(written, out[p.name], p.name) == [], p.name


# ---------------------------------------------------------------- schema rejections


def _rules(failures) -> set[tuple[str, str]]:
    return {(f.column, f.rule) for f in failures}


def test_schema_rejects_a_negative_s50(out):
    c = out["curves.csv"].copy()
    c.loc[2, "s50"] = -1.0
    failures = validate_curves(c)
    assert ("s50", "s50 >= 0") in _rules(failures)
    assert any(f.row == "4" and f.value == "-1" for f in failures)


def test_schema_rejects_an_auc_above_one(out):
    c = out["curves.csv"].copy()
    c.loc[0, "auc"] = 1.5
    assert ("auc", "auc <= 1") in _rules(validate_curves(c))
    r = out["robustness.csv"].copy()
    r.loc[0, "auc_ci_high"] = 1.5
    assert ("auc_ci_high", "auc_ci_high <= 1") in _rules(validate_robustness(r))


def test_schema_rejects_a_nan_without_reason_and_a_reason_without_nan(out):
    c = out["curves.csv"].copy()
    c.loc[0, "s50"] = math.nan
    c.loc[1, "s50_reason"] = "made up"
    failures = [f for f in validate_curves(c) if f.rule == "s50 is NaN exactly when s50_reason is given"]
    assert [(f.column, f.row) for f in failures] == [("s50", "2"), ("s50", "3")]
    s = out["scaling.csv"].copy()
    s.loc[0, "reason"] = ""
    s.loc[0, ["slope", "slope_ci_low", "slope_ci_high", "intercept", "intercept_ci_low", "intercept_ci_high", "r2"]] = (
        math.nan)  # fmt: skip
    assert ("slope", "slope is NaN exactly when reason is given") in _rules(validate_scaling(s))


def test_schema_rejects_a_duplicate_key(out):
    c = out["curves.csv"]
    dup = pd.concat([c, c.iloc[[0]]], ignore_index=True)
    failures = validate_curves(dup)
    assert {f.row for f in failures if f.rule == "no duplicate (model, attack, judge, tasks, seed)"} == {"2", str(len(c) + 2)}
    s = out["scaling.csv"]
    assert ("attack", "no duplicate (attack, judge, tasks, quantity)") in _rules(
        validate_scaling(pd.concat([s, s.iloc[[1]]], ignore_index=True)))


def test_schema_rejects_a_missing_column(out):
    failures = validate_robustness(out["robustness.csv"].drop(columns=["auc_ci_low"]))
    assert ("auc_ci_low", "missing column (the contract requires it)") in _rules(failures)


def test_schema_rejects_a_ci_that_misses_its_estimate_and_r2_above_one(out):
    r = out["robustness.csv"].copy()
    r.loc[0, "s50_ci_high"] = r.loc[0, "s50_mean"] / 2
    assert ("s50_mean", "s50_mean CI [s50_ci_low, s50_ci_high] contains s50_mean") in _rules(validate_robustness(r))
    s = out["scaling.csv"].copy()
    s.loc[0, "r2"] = 1.2
    s.loc[1, "slope_ci_low"] = s.loc[1, "slope"] + 0.1
    rules = _rules(validate_scaling(s))
    assert ("r2", "r2 <= 1") in rules
    assert ("slope", "slope CI [slope_ci_low, slope_ci_high] contains slope") in rules


def test_compare_tables_catches_a_changed_value_and_a_missing_row(out):
    r = out["robustness.csv"]
    assert compare_tables(r, r.copy(), "robustness.csv") == []
    near = r.copy()
    near.loc[0, "s50_mean"] = float(f"{r.loc[0, 's50_mean']:.6g}")  # what writing 6 significant digits does
    assert near.loc[0, "s50_mean"] != r.loc[0, "s50_mean"]
    assert compare_tables(near, r, "robustness.csv") == []
    near.loc[0, "s50_mean"] = r.loc[0, "s50_mean"] * (1 + 2e-5)  # beyond the 6th significant digit
    assert [f.column for f in compare_tables(near, r, "robustness.csv")] == ["s50_mean"]
    changed = r.copy()
    changed.loc[3, "auc_mean"] += 0.01
    failures = compare_tables(changed, r, "robustness.csv")
    assert [(f.column, f.row) for f in failures] == [("auc_mean", "5")]
    assert failures[0].rule.startswith("equals its recomputation from results_grid.csv")
    failures = compare_tables(r.drop(index=2), r, "robustness.csv")
    assert len(failures) == 1 and failures[0].rule.startswith("recomputed row missing")
    assert failures[0].value == "/".join(r.loc[2, ["model", "attack", "judge", "tasks"]].astype(str))
    text = r.copy()
    text.loc[0, "s50_reason"] = "other"
    assert [f.column for f in compare_tables(text, r, "robustness.csv")] == ["s50_reason"]


# ---------------------------------------------------------------- figure and torch-freedom


def test_figure_writes_png_and_pdf_with_identical_bytes_twice(out, tmp_path):
    args = (out["curves.csv"], out["robustness.csv"], out["scaling.csv"])
    first = scaling_fit_figure(*args, tmp_path / "a", seed=0, n_boot=N_BOOT)
    second = scaling_fit_figure(*args, tmp_path / "b", judge=JUDGE, seed=0, n_boot=N_BOOT)
    assert [p.name for p in first] == ["scaling_fit.png", "scaling_fit.pdf"]
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and first[1].read_bytes()[:5] == b"%PDF-"
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    with pytest.raises(ValueError, match="judge 'nope' has no curves"):
        scaling_fit_figure(*args, tmp_path / "c", judge="nope")


def test_scaling_modules_import_without_torch():
    code = ("import sys\nfor n in ('torch', 'transformers', 'peft', 'sentence_transformers'):\n    sys.modules[n] = None\n"
            "import rrs.measure.scaling, rrs.figures.scaling_figure, rrs.artifact.scaling_schema\nprint('ok')")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
