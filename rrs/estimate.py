"""Rough work estimates per cell for `rrs plan` (labelled estimates, never measurements)."""

from __future__ import annotations

from rrs.plan import Cell
from rrs.spec import HFModel, Study

# Parameter counts of public models the study names, for estimates before any weights are loaded.
KNOWN_PARAMS = {"TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1.1e9, "microsoft/Phi-3-mini-4k-instruct": 3.8e9,
                "Qwen/Qwen2-7B-Instruct": 7.6e9}
H100_BF16_FLOPS = 4e14  # dense bf16, at an assumed 40% utilisation of ~1e15


def estimate(study: Study, cell: Cell) -> str:
    m = study.model(cell.model)
    a = study.attack(cell.attack)
    if not isinstance(m, HFModel):
        return "CPU, seconds–minutes"
    params = m.params or KNOWN_PARAMS.get(m.repo)
    if params is None:
        return "unknown (set params)"
    train_tokens = a.steps[-1] * a.batch * a.grad_accum * a.seq_len
    n_prompts = 100
    gen_tokens = n_prompts * study.decoding.max_new_tokens * len(a.steps)
    flops = 6 * params * train_tokens + 2 * params * gen_tokens * 8  # decode runs far below peak: ×8
    hours = flops / H100_BF16_FLOPS / 3600
    return f"~{hours:.2f} GPU-h (H100, estimate)"
