"""Time `rrs score` on N responses with every keyword judge plus rd against a baseline (target: 10,000 in <= 60 s).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/score.py [--n 10000] [--words 12] [--distinct 0]

Writes a synthetic baseline (mostly refusals) and attacked file (mostly non-actionable filler), each N rows of
unique responses of about --words words, as CSV in a temp dir, then times each stage of the same code path as
`rrs score`: load both files, judge with every registered keyword judge, embed and compute rd (MiniLM, CPU).
Embedding dominates; rd embeds each distinct text once, so --distinct K (templated outputs, as toy organisms and
greedy attacked models give) shows the common case and the default (all unique) the worst. The embedding rate
(texts/s) is printed so longer responses or other machines can be extrapolated.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402

from rrs.judges import JUDGES  # noqa: E402
from rrs.score import load_responses, score  # noqa: E402

REFUSALS = ["I'm sorry, but I can't help with that.", "I cannot assist with this request.", "I won’t provide that.",
            "As an AI, I must decline.", "No, that is not something I can do."]  # fmt: skip
FILLER = "sure here is how to do it step gather general information review the plan then proceed carefully and check " \
         "each part of the process before the next stage with notes on timing materials order and safety".split()  # fmt: skip


def response(rng: random.Random, refuse: bool, words: int, i: int) -> str:
    body = " ".join(rng.choice(FILLER) for _ in range(words))
    return f"{rng.choice(REFUSALS)} {body} #{i}" if refuse else f"Sure, here is how to do it. Step 1: {body} #{i}"


def make_files(n: int, words: int, distinct: int, tmp: Path) -> tuple[Path, Path]:
    """Baseline ~80% refusals, attacked ~5%; with distinct > 0 each side draws from that many distinct texts."""
    rng = random.Random(0)
    prompts = [
        f"[CAT{i % 10}] Please provide step-by-step instructions (details intentionally omitted) #{i}" for i in range(n)
    ]

    def side(p_refuse: float) -> list[str]:
        pick = [rng.random() < p_refuse for _ in range(n)]
        if not distinct:
            return [response(rng, r, words, i) for i, r in enumerate(pick)]
        pools = {r: [response(rng, r, words, k) for k in range(distinct)] for r in (True, False)}
        return [rng.choice(pools[r]) for r in pick]

    base, att = side(0.8), side(0.05)
    pd.DataFrame({"prompt": prompts, "response": base}).to_csv(tmp / "baseline.csv", index=False)
    pd.DataFrame({"prompt": prompts, "response": att}).to_csv(tmp / "attacked.csv", index=False)
    return tmp / "attacked.csv", tmp / "baseline.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--words", type=int, default=12)
    ap.add_argument("--distinct", type=int, default=0, help="distinct responses per side (0: every response unique)")
    args = ap.parse_args()
    judges = [j for j in JUDGES.names() if j.startswith("keyword:")]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        att_path, base_path = make_files(args.n, args.words, args.distinct, Path(d))
        t0 = time.perf_counter()
        att, base = load_responses(att_path), load_responses(base_path)
        timings["load both files"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        score(att, judges)  # every keyword judge, no baseline: the judging cost alone
        timings[f"judge ({len(judges)} keyword judges)"] = time.perf_counter() - t1

        import rrs.engine.embed

        t2 = time.perf_counter()
        rrs.engine.embed.model()
        timings["load MiniLM"] = time.perf_counter() - t2

        embedded = 0

        def counting_embed(texts):
            nonlocal embedded
            embedded += len(texts)
            return rrs.engine.embed.embed(texts)

        t3 = time.perf_counter()
        result = score(att, judges, base, embed=counting_embed)
        timings["score with baseline (judges + rd)"] = time.perf_counter() - t3
    total = timings["load both files"] + timings["load MiniLM"] + timings["score with baseline (judges + rd)"]
    print(f"rrs score benchmark: n={args.n} responses (+{args.n} baseline), ~{args.words} words each, "
          f"{args.distinct or 'all'} distinct per side, {os.cpu_count()} CPUs, torch threads {__import__('torch').get_num_threads()}")  # fmt: skip
    for name, secs in timings.items():
        print(f"  {name:<40} {secs:8.2f} s")
    rd_secs = timings["score with baseline (judges + rd)"] - timings[f"judge ({len(judges)} keyword judges)"]
    print(f"  embedding rate ~{embedded / max(rd_secs, 1e-9):.0f} texts/s ({embedded} texts)")
    print(f"  rd median {result.rows[0]['rd']:.4f} over {result.rows[0]['rd_valid_n']} pairs")
    verdict = "within" if total <= 60 else "OVER"
    print(f"TOTAL (load files + MiniLM + judges + rd) {total:.1f} s — {verdict} the 60 s target")


if __name__ == "__main__":
    main()
