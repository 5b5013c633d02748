"""`rrs score` on a large file with the default judges: time and peak memory (target: 100,000 rows in <= 1 GB).

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/score_large.py [--n 100000] [--words 60] [--distinct 0]

Builds a JSONL file of N rows (id, prompt, response; ~--words words per response, about 50 MB at the defaults,
every response unique unless --distinct K draws them from K texts), then runs `rrs score FILE --out DIR` in a
subprocess exactly as a user would, with every default judge (the keyword judges and classifier:sbert-logreg,
which embeds each response with MiniLM). Its progress bars show on stderr. Prints the wall time, the child's peak
resident memory (getrusage ru_maxrss) and the embedding rate. A measurement, not a test: the CPU may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 1024
REFUSALS = ["I'm sorry, but I can't help with that.", "I cannot assist with this request.", "I won't provide that.",
            "As an AI, I must decline.", "No, that is not something I can do."]  # fmt: skip
FILLER = ("sure here is how to do it step gather general information review the plan then proceed carefully and "
          "check each part of the process before the next stage with notes on timing materials order and safety").split()


def make_file(path: Path, n: int, words: int, distinct: int) -> None:
    """~20% refusals; each response is a refusal or non-actionable filler of about `words` words."""
    rng = random.Random(0)

    def text(i: int) -> str:
        body = " ".join(rng.choice(FILLER) for _ in range(words))
        return f"{rng.choice(REFUSALS)} {body} #{i}" if rng.random() < 0.2 else f"Sure, here is how. Step 1: {body} #{i}"

    pool = [text(k) for k in range(distinct)] if distinct else None
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            prompt = f"[CAT{i % 10}] Please provide step-by-step instructions (details intentionally omitted) #{i}"
            resp = rng.choice(pool) if pool else text(i)
            fh.write(json.dumps({"id": f"r{i}", "prompt": prompt, "response": resp}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=60)
    ap.add_argument("--distinct", type=int, default=0, help="distinct responses (0: every response unique)")
    args = ap.parse_args()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "responses.jsonl"
        make_file(src, args.n, args.words, args.distinct)
        size_mb = src.stat().st_size / 2**20
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "rrs.cli", "score", str(src), "--out", str(Path(d) / "out")],
                              env=env, stdout=subprocess.PIPE, text=True)
        secs = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        if proc.returncode != 0:
            sys.exit(f"rrs score failed with exit code {proc.returncode}")
        scores = (Path(d) / "out" / "scores.csv").read_text().splitlines()
    distinct = args.distinct or args.n
    print(f"rrs score benchmark: {args.n} rows, {size_mb:.1f} MB JSONL, ~{args.words} words per response, "
          f"{distinct} distinct, default judges ({len(scores) - 1}), {os.cpu_count()} CPUs")
    print(f"  wall time            {secs:8.1f} s")
    print(f"  embedding rate       {distinct / secs:8.0f} texts/s (a lower bound: the whole run over the distinct texts)")
    verdict = "within" if peak_mb <= TARGET_MB else "OVER"
    print(f"  peak memory (RSS)    {peak_mb:8.0f} MB — {verdict} the {TARGET_MB} MB target")


if __name__ == "__main__":
    main()
