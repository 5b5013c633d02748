"""Rough work estimates per cell for `rrs plan`: labelled estimates, never measurements.

Assumptions (stated so a reader can redo them): a 4-bit LoRA step at batch 1 × accumulation 8 × 256 tokens is
launch- and dequantisation-bound, so training runs at ~5% of an H100's ~1e15 dense bf16 FLOP/s; decoding is
memory-bound at ~25 ms per token step for a 7B model at batch 16, scaled linearly with parameter count.
"""

from __future__ import annotations

from rrs.engine.plan import Cell
from rrs.spec import HFModel, Study

# Parameter counts of public models the study names, for estimates before any weights are loaded.
KNOWN_PARAMS = {"TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1.1e9, "microsoft/Phi-3-mini-4k-instruct": 3.8e9,
                "Qwen/Qwen2-7B-Instruct": 7.6e9}
TRAIN_FLOPS = 1e15 * 0.05  # effective FLOP/s of a 4-bit LoRA step on an H100 (assumed)
DECODE_STEP_S_7B = 0.025  # seconds per decoding step of a batch, 7B, 4-bit (assumed)
EVAL_PROMPTS = 100


def estimate(study: Study, cell: Cell) -> str:
    m = study.model(cell.model)
    a = study.attack(cell.attack)
    if not isinstance(m, HFModel):
        return "CPU, seconds–minutes"
    params = m.params or KNOWN_PARAMS.get(m.repo)
    if params is None:
        return "unknown (set params)"
    train_s = 6 * params * a.steps[-1] * a.batch * a.grad_accum * a.seq_len / TRAIN_FLOPS
    batches = -(-EVAL_PROMPTS // study.decoding.batch_size)
    decode_s = (len(a.steps) - 1) * batches * study.decoding.max_new_tokens * DECODE_STEP_S_7B * params / 7.6e9
    return f"~{(train_s + decode_s) / 3600:.1f} GPU-h on an H100 (estimate)"
