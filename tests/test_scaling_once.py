"""`rrs check` computes the scaling tables (the bootstrap fits) of a grid once and passes them to the claims, the
scaling-table comparison and the figures, instead of recomputing them in each."""

from __future__ import annotations

from synthetic import copy_result_dir

from rrs.checks.run import check_dir
from rrs.measure import scaling


def test_one_computation_per_result_directory(tmp_path, monkeypatch) -> None:
    published = copy_result_dir(tmp_path / "published")
    fresh = copy_result_dir(tmp_path / "fresh")
    real, calls = scaling.tables, []
    monkeypatch.setattr(scaling, "tables", lambda grid, *a, **k: calls.append(len(grid)) or real(grid, *a, **k))
    report = check_dir(published)
    assert report.ok, report.failures
    assert report.claims and report.figures and len(calls) == 1  # claims, the tables and scaling_fit.png share it
    calls.clear()
    report = check_dir(published, fresh_dir=fresh)
    assert report.ok and len(calls) == 2, calls  # one per directory, reused by the comparison of the two
