"""`rrs data`: the held-out split of the embedded study, checked from the exported files alone (by task, by text)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rrs import corpus
from rrs.cli import app, main


def _export(spec: str, out: Path) -> dict[str, list[dict]]:
    result = CliRunner().invoke(app, ["data", spec, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {name: [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]
            for name in ("safety_tune.jsonl", "attack.jsonl", "eval.jsonl")}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict[str, list[dict]]:
    return _export("spec/smoke.yaml", tmp_path_factory.mktemp("d") / "smoke")


def test_no_unseen_task_in_training_data(smoke) -> None:
    unseen = {r["task"] for r in smoke["eval.jsonl"] if r["task_seen"] is False}
    assert unseen, "the embedded study evaluates unseen tasks"
    trained = smoke["safety_tune.jsonl"] + smoke["attack.jsonl"]
    assert not unseen & {r["task"] for r in trained}  # by task
    texts = [r["prompt"] + " " + (r["target"] or "") for r in trained]
    assert not [t for t in unseen if any(t in x for x in texts)]  # by text: no training prompt or target names one
    assert not [t for t in unseen if any(t in x for x in corpus.tokenizer_corpus("tasks-v2"))]  # nor the tokenizer's
    seen = {r["task"] for r in smoke["eval.jsonl"] if r["task_seen"] is True}
    assert seen and seen <= {r["task"] for r in trained}  # a "seen" flag is true to the data


def test_a_quarter_of_every_category_is_unseen(smoke) -> None:
    tasks: dict[tuple[str, str], set[str]] = defaultdict(set)
    unseen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in smoke["safety_tune.jsonl"] + smoke["eval.jsonl"]:
        tasks[r["set"], r["category"]].add(r["task"])
        if r["task_seen"] is False:
            unseen[r["set"], r["category"]].add(r["task"])
    assert len(tasks) == len(corpus.GRIDS_V2) + len(corpus.BENIGN_GRIDS_V2)
    for key, ts in tasks.items():
        assert len(unseen[key]) * 4 >= len(ts), key


def test_unseen_tasks_are_new_combinations_of_seen_words(smoke) -> None:
    trained_words = {w for r in smoke["safety_tune.jsonl"] for w in r["task"].split()}
    for r in smoke["eval.jsonl"]:
        assert set(r["task"].split()) <= trained_words, r["task"]


def test_same_bytes_every_time_and_refuses_a_used_folder(tmp_path) -> None:
    _export("spec/smoke.yaml", tmp_path / "a")
    _export("spec/smoke.yaml", tmp_path / "b")
    for name in ("safety_tune.jsonl", "attack.jsonl", "eval.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert main(["data", "spec/smoke.yaml", "--out", str(tmp_path / "a")]) == 2  # the entry point: one line, exit 2
    assert len(list((tmp_path / "a").iterdir())) == 3


def test_frames_v1_evaluates_trained_tasks(tmp_path) -> None:
    """The wording-only design says so in its export: every eval task is a trained task."""
    v1 = _export("spec/smollm2.yaml", tmp_path / "t")
    assert {r["task_seen"] for r in v1["eval.jsonl"]} == {True}
