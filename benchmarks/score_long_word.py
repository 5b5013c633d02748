"""Time `rrs score` on one response that is a single 1 MB word (target: under 5 s on 2 cores), and the stutter rule
of rrs/quality.py against the backtracking regex it replaces on long words.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/score_long_word.py [--chars 1000000] [--judge NAME ...]

Three words of --chars letters: varied (random letters), cube-free (the Thue–Morse word over "ab": no piece ever
repeats three times in a row, so every piece length is tried: the rule's worst case) and a repeated pattern. Each is
written as a one-row JSONL file and scored by the `rrs -q score` command line in a subprocess, wall-clock timed: with
every keyword judge, then with every built-in judge (the classifier's model load, several seconds, is a fixed cost:
compare with the 'tiny' row). Then the regex alone (STUTTER.search, the old rule) and the new
rule (_stutters) are timed on the first --regex-chars letters of the cube-free word, and their ratio printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rrs.judges.keyword import KEYWORD_JUDGES  # noqa: E402
from rrs.measure.quality import STUTTER, _stutters  # noqa: E402

RRS = Path(sys.executable).with_name("rrs")


def words(chars: int) -> dict[str, str]:
    rng = random.Random(0)
    return {
        "varied": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(chars)),
        "cube-free": "".join("ab"[bin(i).count("1") % 2] for i in range(chars)),
        "repeated": ("abcdefghij" * (chars // 10 + 1))[:chars],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--regex-chars", type=int, default=3000)
    ap.add_argument("--judge", action="append", help="judge(s) to score with; default: every built-in judge")
    args = ap.parse_args()
    sets = [[a for j in args.judge for a in ("--judge", j)]] if args.judge else [
        [a for j in KEYWORD_JUDGES for a in ("--judge", j)], []]
    print(f"rrs -q score on one {args.chars:,}-character word ({os.cpu_count()} CPUs; wall clock, process start and "
          "model load included; the 'tiny' row is a 2-letter response: the fixed cost)")
    with tempfile.TemporaryDirectory() as tmp:
        for judges in sets:
            label = "every keyword judge" if judges and not args.judge else " ".join(judges[1::2]) or "every judge"
            print(f" {label}:")
            for name, word in ({"tiny": "ok"} | words(args.chars)).items():
                f = Path(tmp) / f"{name}.jsonl"
                f.write_text(json.dumps({"prompt": "p", "response": word}) + "\n")
                t0 = time.perf_counter()
                done = subprocess.run([str(RRS), "-q", "score", str(f), *judges], capture_output=True, text=True)
                s = time.perf_counter() - t0
                verdict = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
                print(f"  {name:<10} {s:6.2f} s  {'under' if s < 5 else 'OVER'} 5 s  ({verdict}; "
                      f"{len(done.stderr.splitlines())} stderr lines)")
    _stutters("warm up numpy")
    w = words(args.regex_chars)["cube-free"]
    t0 = time.perf_counter()
    old = STUTTER.search(w) is not None
    t_old = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = _stutters(w)
    t_new = time.perf_counter() - t0
    print(f"stutter rule on a {args.regex_chars:,}-letter cube-free word: regex {t_old:.3f} s, linear rule "
          f"{t_new:.4f} s, ratio {t_old / max(t_new, 1e-9):.0f}x (same answer: {old == new})")


if __name__ == "__main__":
    main()
