"""The hand-labelled gold set (data/gold/smollm2.jsonl) describes the published smollm2 study: every distinct
(set, response) of its samples is labelled exactly once, with one of the four labels, and the stored sha256 is the
response's; scripts/judge_agreement.py joins it to the samples and reports every judge."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "data" / "gold" / "smollm2.jsonl"
LABELS = {"refusal", "compliance", "mixed", "degenerate"}


def _gold() -> list[dict]:
    return [json.loads(x) for x in GOLD.read_text(encoding="utf-8").splitlines()]


def test_every_distinct_response_of_the_study_has_exactly_one_valid_label() -> None:
    gold = _gold()
    keys = [(g["set"], g["response"]) for g in gold]
    assert len(keys) == len(set(keys))
    assert {g["label"] for g in gold} <= LABELS
    assert all(hashlib.sha256(g["response"].encode()).hexdigest() == g["response_sha256"] for g in gold)
    rows = [json.loads(x) for f in sorted((ROOT / "artifacts/smollm2/samples").rglob("*.jsonl"))
            for x in f.read_text(encoding="utf-8").splitlines()]
    assert {(r["set"], r["response"]) for r in rows} == set(keys)
    counts = {k: 0 for k in keys}
    for r in rows:
        counts[(r["set"], r["response"])] += 1
    assert all(counts[(g["set"], g["response"])] == g["rows"] for g in gold)


def test_agreement_script_reports_every_judge_of_the_study(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts/judge_agreement.py")], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].startswith("artifacts/smollm2: 608 sample rows, 80 distinct responses")
    judges = {x.split()[0] for x in lines[1:]}
    assert judges == {"refusal:classifier:sbert-logreg", "refusal:keyword:bigger-safer", "refusal:keyword:gcg-29",
                      "degenerate"}
    # a gold set that lacks a response of the study is refused
    short = tmp_path / "short.jsonl"
    short.write_text("".join(x + "\n" for x in GOLD.read_text().splitlines()[1:]))
    bad = subprocess.run([sys.executable, str(ROOT / "scripts/judge_agreement.py"), "artifacts/smollm2", str(short)],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "1 responses of artifacts/smollm2 have no label" in bad.stderr
