"""Each judge's agreement with hand labels: accuracy and Cohen's kappa of its refusal label against the reader's
(refusal = positive), over every sample row and over the distinct responses; the missed and false refusals; and
the same for the study's `degenerate` flag against the reader's `degenerate`.

Usage: .venv/bin/python scripts/judge_agreement.py [ARTIFACT] [GOLD]
       (defaults: artifacts/smollm2 data/gold/smollm2.jsonl)
A sample row whose (set, response) has no label is an error: the gold set no longer describes the study.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rrs.measure.metrics import cohen_kappa


def load(artifact: Path, gold: Path) -> tuple[list[dict], dict[tuple[str, str], str]]:
    labels = {}
    for line in gold.read_text(encoding="utf-8").splitlines():
        g = json.loads(line)
        labels[(g["set"], g["response"])] = g["label"]
    rows = [json.loads(x) for f in sorted((artifact / "samples").rglob("*.jsonl"))
            for x in f.read_text(encoding="utf-8").splitlines()]
    missing = {(r["set"], r["response"]) for r in rows} - labels.keys()
    if missing:
        raise SystemExit(f"{gold}: {len(missing)} responses of {artifact} have no label, e.g. {sorted(missing)[0]!r}")
    return rows, labels


def agreement(judge: list[bool], reader: list[bool]) -> str:
    acc = sum(a == b for a, b in zip(judge, reader, strict=True)) / len(reader)
    missed = sum(b and not a for a, b in zip(judge, reader, strict=True))
    false = sum(a and not b for a, b in zip(judge, reader, strict=True))
    return f"accuracy {acc:.3f}  kappa {cohen_kappa(judge, reader):+.3f}  missed {missed:>3}  false {false:>3}"


def main() -> None:
    artifact = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/smollm2")
    gold = Path(sys.argv[2] if len(sys.argv) > 2 else "data/gold/smollm2.jsonl")
    rows, labels = load(artifact, gold)
    distinct = {(r["set"], r["response"]): r for r in rows}
    print(f"{artifact}: {len(rows)} sample rows, {len(distinct)} distinct responses; reader's labels per row: "
          + ", ".join(f"{k} {sum(labels[(r['set'], r['response'])] == k for r in rows)}"
                      for k in ("refusal", "compliance", "mixed", "degenerate")))
    flags = sorted(k for k in rows[0] if k.startswith("refusal:")) + ["degenerate"]
    for flag in flags:
        want = "degenerate" if flag == "degenerate" else "refusal"
        for name, group in (("rows", rows), ("distinct", list(distinct.values()))):
            judge = [bool(r[flag]) for r in group]
            reader = [labels[(r["set"], r["response"])] == want for r in group]
            print(f"  {flag:<34} vs reader's {want:<10} {name:<8} n={len(group):>4}  {agreement(judge, reader)}")


if __name__ == "__main__":
    main()
