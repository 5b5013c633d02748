"""`rrs export ARTIFACT --format inspect --out DIR`: inspect_ai eval logs of a study's samples (rrs/export.py).

The logs' shape and numbers are tested here without inspect_ai; test_real_inspect_ai_reads_every_log (marker
`inspect`, run by `make inspect-test`) loads each one with the real inspect_ai.log.read_eval_log, in the
interpreter of .venv-inspect (requirements/inspect.lock; RRS_INSPECT_PYTHON overrides)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from synthetic import copy_result_dir

from rrs.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    art = copy_result_dir(root / "smoke")
    assert main(["export", str(art), "--format", "inspect", "--out", str(root / "logs")]) == 0
    return art, root / "logs"


def test_one_log_per_model_attack_steps_and_set(exported):
    art, logs = exported
    grid = pd.read_csv(art / "results_grid.csv")
    cells = grid[["model", "attack", "steps"]].drop_duplicates()
    assert len(list(logs.glob("*.json"))) == 2 * len(cells)  # harmful and benign prompts
    for m, a, s in cells.itertuples(index=False):
        assert (logs / f"smoke-{m}-{a}-steps{s}-harmful.json").is_file()


def test_harmful_refusal_means_are_the_grid_rrr_pooled_over_seeds(exported):
    art, logs = exported
    grid = pd.read_csv(art / "results_grid.csv")
    checked = 0
    grid = grid[grid["tasks"] == "all"]
    for (m, a, s, judge), rows in grid.groupby(["model", "attack", "steps", "judge"]):
        log = json.loads((logs / f"smoke-{m}-{a}-steps{s}-harmful.json").read_text())
        means = {sc["name"]: sc["metrics"]["mean"]["value"] for sc in log["results"]["scores"]}
        assert means[f"refusal:{judge}"] == pytest.approx(rows["refusals"].sum() / rows["n"].sum())
        benign = json.loads((logs / f"smoke-{m}-{a}-steps{s}-benign.json").read_text())
        b_means = {sc["name"]: sc["metrics"]["mean"]["value"] for sc in benign["results"]["scores"]}
        pooled = (rows["over_refusal"] * rows["over_refusal_n"]).sum() / rows["over_refusal_n"].sum()
        assert b_means[f"refusal:{judge}"] == pytest.approx(pooled)
        assert log["eval"]["config"]["epochs"] == rows["seed"].nunique()
        assert log["results"]["total_samples"] == len(log["samples"]) == rows["n"].sum()
        assert len({(x["id"], x["epoch"]) for x in log["samples"]}) == len(log["samples"])
        checked += 1
    assert checked == len(grid.groupby(["model", "attack", "steps", "judge"]))


def test_bad_input_is_one_line_and_writes_nothing(exported, tmp_path, capsys):
    art, _ = exported
    assert main(["export", str(art), "--format", "lm-eval", "--out", str(tmp_path / "a")]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("a user's file")
    assert main(["export", str(art), "--format", "inspect", "--out", str(tmp_path / "full")]) == 2
    assert main(["export", str(tmp_path / "nope"), "--format", "inspect", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("rrs: error: ") for line in err)
    assert "--format 'lm-eval'" in err[0] and "not an empty folder" in err[1] and "no such result" in err[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]


READ = """
import json, sys
from inspect_ai.log import read_eval_log
out = []
for path in sys.argv[1:]:
    log = read_eval_log(path)
    out.append({"path": path, "status": log.status, "samples": len(log.samples), "epochs": log.eval.config.epochs,
                "means": {s.name: s.metrics["mean"].value for s in log.results.scores},
                "first": {k: v.value for k, v in log.samples[0].scores.items()},
                "completion": log.samples[0].output.completion})
print(json.dumps(out))
"""


@pytest.mark.inspect
def test_real_inspect_ai_reads_every_log(exported):
    python = os.environ.get("RRS_INSPECT_PYTHON", str(ROOT / ".venv-inspect" / "bin" / "python"))
    assert Path(python).is_file(), f"{python} missing: make inspect-test builds .venv-inspect"
    _, logs = exported
    paths = sorted(logs.glob("*.json"))
    proc = subprocess.run([python, "-c", READ, *map(str, paths)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = json.loads(proc.stdout)
    assert len(read) == len(paths)
    for r in read:
        mine = json.loads(Path(r["path"]).read_text())
        assert r["status"] == "success" and r["samples"] == len(mine["samples"]) > 0
        assert r["epochs"] == mine["eval"]["config"]["epochs"]
        assert r["means"] == {s["name"]: s["metrics"]["mean"]["value"] for s in mine["results"]["scores"]}
        assert r["first"] == {k: v["value"] for k, v in mine["samples"][0]["scores"].items()}
        assert r["completion"] == mine["samples"][0]["output"]["completion"]
