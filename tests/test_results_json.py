"""results.json: built from a result directory's files, valid against its schema, checked by `rrs check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from synthetic import seal

from rrs import results_json
from rrs.artifact.schemas import read_grid
from rrs.atomic import write_json
from rrs.checks.run import check_dir

PUBLISHED = Path(__file__).resolve().parents[1] / "artifacts" / "smoke"


@pytest.fixture(scope="module")
def with_results(tmp_path_factory) -> Path:
    """A copy of the published run with results.json built into it (until artifacts/smoke is republished)."""
    d = shutil.copytree(PUBLISHED, tmp_path_factory.mktemp("pub") / "smoke")
    write_json(d / "results.json", results_json.build(d))
    return d


def _copy(src: Path, tmp_path: Path) -> Path:
    return shutil.copytree(src, tmp_path / "smoke")


def test_schema_is_valid_and_the_built_file_validates(with_results) -> None:
    jsonschema.Draft202012Validator.check_schema(results_json.schema())
    data = json.loads((with_results / "results.json").read_text())
    jsonschema.validate(data, results_json.schema(), cls=jsonschema.Draft202012Validator)
    assert data["study"] == "smoke" and data["provenance"]["numerics_id"]


def test_aggregates_are_the_means_over_seeds_of_the_grid(with_results) -> None:
    data = json.loads((with_results / "results.json").read_text())
    grid = read_grid(with_results / "results_grid.csv")
    means = grid.groupby(["model", "attack", "steps", "judge", "tasks"])["rrr"].agg(["mean", "count"])
    assert len(data["aggregates"]) == len(means)
    for a in data["aggregates"]:
        m = means.loc[(a["model"], a["attack"], a["steps"], a["judge"], a["tasks"])]
        rrr = a["metrics"]["rrr"]
        assert rrr["mean"] == pytest.approx(m["mean"], rel=1e-5) and rrr["n_seeds"] == m["count"] == grid.seed.nunique()
        assert rrr["ci_low"] <= rrr["mean"] <= rrr["ci_high"]
    undefined = [a["metrics"]["parroting"] for a in data["aggregates"]]
    assert all(p["mean"] is None and p["reason"] for p in undefined)  # organisms: per-prompt targets
    spec_sha = __import__("hashlib").sha256((with_results / "spec.resolved.yaml").read_bytes()).hexdigest()
    assert data["spec"]["sha256"] == spec_sha


def test_check_passes_with_it_and_notes_its_absence(with_results) -> None:
    rep = check_dir(with_results)
    assert rep.ok, rep.failures
    assert not any("results.json" in n for n in rep.notes)
    if not (PUBLISHED / "results.json").is_file():  # the committed run predates results.json
        assert any(n.startswith("results.json missing") for n in check_dir(PUBLISHED).notes)


def test_check_fails_on_an_edited_number(with_results, tmp_path) -> None:
    d = _copy(with_results, tmp_path)
    data = json.loads((d / "results.json").read_text())
    data["aggregates"][5]["metrics"]["rrr"]["mean"] = 0.123
    write_json(d / "results.json", data)
    seal(d)  # the manifest's hashes updated too: results.json is still rebuilt and compared
    rep = check_dir(d)
    assert not rep.ok
    assert [f.column for f in rep.failures if f.file == "results.json"] == ["$.aggregates[5].metrics.rrr.mean"]


def test_check_fails_on_a_schema_violation(with_results, tmp_path) -> None:
    d = _copy(with_results, tmp_path)
    data = json.loads((d / "results.json").read_text())
    del data["provenance"]
    data["aggregates"][0]["metrics"]["rrr"]["mean"] = "high"
    write_json(d / "results.json", data)
    seal(d)
    fails = [f for f in check_dir(d).failures if f.file == "results.json"]
    assert {f.column for f in fails} == {"$", "$.aggregates[0].metrics.rrr.mean"}
    assert all(f.rule.startswith("results.schema.json") for f in fails)


def test_check_fails_when_it_names_another_grid(with_results, tmp_path) -> None:
    d = _copy(with_results, tmp_path)
    data = json.loads((d / "results.json").read_text())
    data["results_grid"]["sha256"] = "0" * 64
    write_json(d / "results.json", data)
    seal(d)
    fails = [f for f in check_dir(d).failures if f.file == "results.json"]
    assert [f.column for f in fails] == ["$.results_grid.sha256"]


def test_manifest_lists_every_installed_distribution() -> None:
    from importlib import metadata

    from rrs.manifest import distributions

    found = distributions()
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in metadata.distributions()}
    assert set(found) == installed
    for name in ("scikit-learn", "scipy", "jinja2", "pillow", "pandas", "jsonschema"):
        assert found[name] == metadata.version(name), name


def test_higher_is_better_comes_from_the_metrics_table(with_results) -> None:
    from rrs.artifact.metrics import BY_NAME

    data = json.loads((with_results / "results.json").read_text())
    assert data["higher_is_better"]["rrr"] is True and data["higher_is_better"]["ce"] is False
    assert data["higher_is_better"]["benign_utility"] is True and data["higher_is_better"]["rd_mean"] is False
    for name, better in data["higher_is_better"].items():
        owner = BY_NAME.get(name) or BY_NAME[name.rsplit("_", 1)[0]]  # rd_mean is summarised with rd
        assert better is owner.higher_is_better, name
    assert set(data["higher_is_better"]) == {m for a in data["aggregates"] for m in a["metrics"]}


def test_the_schema_names_exactly_the_tables_metrics() -> None:
    assert results_json.schema()["$defs"]["metric_name"]["enum"] == list(results_json.METRICS)
    assert results_json.schema()["properties"]["schema_version"]["const"] == results_json.SCHEMA_VERSION


def test_lm_eval_layout_holds_the_same_means_per_cell(with_results) -> None:
    """results/configs/versions/n-samples as lm-evaluation-harness lays them out, one task per cell, with the same
    means as the aggregates and the metrics table's higher_is_better."""
    data = json.loads((with_results / "results.json").read_text())
    assert set(data["results"]) == set(data["configs"]) == set(data["versions"]) == set(data["n-samples"])
    assert len(data["results"]) == len(data["aggregates"])
    for a in data["aggregates"]:
        name = results_json.cell_name(a["model"], a["attack"], a["steps"], a["judge"], a["tasks"])
        row, config = data["results"][name], data["configs"][name]
        assert row["alias"] == name and config["task"] == name and config["steps"] == a["steps"]
        for metric, m in a["metrics"].items():
            if m["mean"] is None:
                assert f"{metric},none" not in row
                continue
            assert row[f"{metric},none"] == m["mean"]
            se = row[f"{metric}_stderr,none"]
            assert se == "N/A" if m["n_seeds"] < 2 else se >= 0
        assert {x["metric"]: x["higher_is_better"] for x in config["metric_list"]} == {
            k: v for k, v in data["higher_is_better"].items() if k in a["metrics"]}
        assert data["n-samples"][name] == {"original": a["n"], "effective": a["n"]}
        assert config["repeats"] == len(a["seeds"]) and config["output_type"] == "generate_until"
