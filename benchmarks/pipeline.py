"""Pipeline benchmark: every ratio below is measured in this one run, on this machine.

1. Generation: batched (left padding) vs one prompt at a time on a safety-tuned organism — speed ratio and
   whether the texts are identical.
2. Attack: optimizer steps (and wall time) of ONE run to max(steps) saving every grid checkpoint, vs a separate
   run per step value.
3. Embeddings: rrs's batches of equal token length (no text is padded, so a text's vector does not depend on its
   batch companions) vs sentence-transformers' padded batches of 64 — the cost of that pinning, and how far the
   padded vectors differ.
4. The whole study (a cold `rrs reproduce` in a child process with a fresh cache): wall time, peak RSS, and the
   compute time of each stage from its records — per organism, per seed (attack + its generations) and per
   grid step value, the price of each size, seed and step the spec adds.

Usage: .venv/bin/python benchmarks/pipeline.py [--spec spec/smoke.yaml] [--skip-study] [--keep-out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RRS_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def bench_generation(plan, tmp: Path) -> None:
    import torch

    from rrs.engine.generate import generate
    from rrs.engine.models import device_of, load

    torch.set_num_threads(plan.study.runtime.threads)
    spec = plan.study.models[len(plan.study.models) // 2]
    cell = next(c for c in plan.cells if c.model == spec.name)
    loaded = load(spec, plan.store.organism_dir(cell.model_key), device_of("cpu"), tmp / "info.json")
    prompts = plan.data.harmful.prompts + (plan.data.benign.prompts if plan.data.benign else [])
    dec = plan.study.decoding
    t0 = time.perf_counter()
    batched = generate(loaded.model, loaded.tok, prompts, dec, desc="batched")
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = generate(loaded.model, loaded.tok, prompts, dec.model_copy(update={"batch_size": 1}), desc="single")
    t_single = time.perf_counter() - t0
    same = sum(a == b for a, b in zip(batched, single, strict=True))
    print(f"[generation] {spec.name}, {len(prompts)} prompts, max_new_tokens {dec.max_new_tokens}")
    print(f"  batched (batch {dec.batch_size}): {t_batched:7.2f} s   one at a time: {t_single:7.2f} s   "
          f"speed-up {t_single / t_batched:5.1f}x (target >= 5x)")
    print(f"  identical texts: {same}/{len(prompts)}")


def bench_attack(plan, tmp: Path) -> None:
    import torch

    from rrs.engine.attack import run_attack
    from rrs.engine.models import device_of, load

    torch.set_num_threads(plan.study.runtime.threads)
    spec = plan.study.models[0]
    cell = next(c for c in plan.cells if c.model == spec.name)
    attack = plan.study.attack(cell.attack)
    grid = attack.steps
    one_run, separate = grid[-1], sum(grid[1:])
    device = device_of("cpu")

    def timed(a, root: Path) -> float:
        loaded = load(spec, plan.store.organism_dir(cell.model_key), device, tmp / "info.json")
        t0 = time.perf_counter()
        run_attack(loaded.model, loaded.tok, a, cell.seed, plan.data.attack.examples, root)
        return time.perf_counter() - t0

    t_one = timed(attack, tmp / "one")
    t_sep = sum(timed(attack.model_copy(update={"steps": [0, s]}), tmp / f"sep{s}") for s in grid[1:])
    print(f"[attack] {spec.name}, grid {grid}")
    print(f"  optimizer steps: one run {one_run}, separate runs {separate}  -> {separate / one_run:.2f}x fewer")
    print(f"  wall: one run {t_one:.1f} s, separate runs {t_sep:.1f} s -> {t_sep / t_one:.2f}x faster")


def bench_embedding(plan) -> None:
    import numpy as np

    from rrs.corpus import attack_filler, benign_split, compliance
    from rrs.engine.embed import embed, model, torch_threads

    held = plan.data.harmful.tasks or [f"task {i}" for i in range(100)]
    texts = sorted({attack_filler(t) for t in held} | {p for p in plan.data.harmful.prompts})
    texts += [compliance(e) for e in benign_split()[1]]
    model()  # load outside the timings
    t0 = time.perf_counter()
    one = embed(texts, threads=plan.study.runtime.threads)
    t_one = time.perf_counter() - t0
    with torch_threads(plan.study.runtime.threads):
        t0 = time.perf_counter()
        batched = model().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        t_batch = time.perf_counter() - t0
    print(f"[embedding] {len(texts)} distinct texts, {plan.study.runtime.threads} threads")
    print(f"  equal-length batches (rrs): {t_one:6.2f} s   padded batches of 64: {t_batch:6.2f} s   cost of pinning "
          f"{t_one / t_batch:.2f}x; padded vectors differ by up to {float(np.abs(one - batched).max()):.2e}")


def bench_study(spec: Path, tmp: Path, out: Path | None) -> None:
    env = os.environ | {"RRS_CACHE": str(tmp / "cache")}
    t0 = time.perf_counter()
    out = out or tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "rrs.cli", "reproduce", str(spec), "--out", str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"study run failed:\n{proc.stderr[-3000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"[study] cold {spec}: wall {wall:.0f} s, peak RSS {peak_kb / 1024 / 1024:.2f} GB (target <= 3 GB)")
    man = json.loads((out / "manifest.json").read_text())
    cs, st = man["compute_s"], man["stages"]
    cells = man["cells"]
    n_models, n_seeds = len(man["models"]), len({c["seed"] for c in cells})
    n_steps = len(cells[0]["steps"]) - 1
    print("  stages (wall, s): " + ", ".join(f"{k} {v:.0f}" for k, v in st.items()))
    print(f"  organisms: {cs.get('model', 0):.0f} s for {n_models} sizes")
    per_seed = (cs.get("attack", 0) + cs.get("generate", 0)) / n_seeds
    print(f"  each seed (attack + generations, every size): {per_seed:.0f} s of {wall:.0f} s "
          f"({per_seed / wall:.0%} of the cold run)")
    print(f"  each grid step value (generations, every size and seed): {cs.get('generate', 0) / n_steps:.1f} s; "
          f"judging + metrics + embeddings: {st.get('judge+metrics', 0):.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=str(ROOT / "spec" / "smoke.yaml"))
    ap.add_argument("--skip-study", action="store_true", help="skip the cold whole-study run (minutes)")
    ap.add_argument("--keep-out", type=Path, help="keep the cold study's outputs here (e.g. to compare two cold runs)")
    args = ap.parse_args()
    from rrs.engine.runner import prepare
    from rrs.timer import Timer

    tmp = Path(tempfile.mkdtemp(prefix="rrs-bench-"))
    try:
        plan = prepare(args.spec)
        for m in plan.study.models[:2]:  # the organisms the micro-benchmarks use (cached after the first run)
            from rrs.engine.stages import run_model

            run_model(plan, m.name, [], Timer())
        bench_generation(plan, tmp)
        bench_attack(plan, tmp)
        bench_embedding(plan)
        if not args.skip_study:
            bench_study(Path(args.spec), tmp, args.keep_out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
