"""Safety tuning, the defence, for every model: supervised fine-tuning on the project's corpus (refuse the harmful
training prompts, answer the benign ones; held-out eval prompts are never included).

ONE loop for both model kinds: an organism trains all its weights from random init; a pretrained model (a spec's
`safety_tune`) trains LoRA adapters that are then merged into its weights, before any attack.
"""

from __future__ import annotations

import math

import torch

from rrs import corpus
from rrs.data import Example
from rrs.engine.training import Batcher, lm_step
from rrs.progress import progress
from rrs.spec import SafetyTune


def safety_examples(design: str = corpus.DEFAULT_DESIGN) -> list[Example]:
    """Refuse harmful training prompts, answer benign ones (corpus.safety_pairs)."""
    return [Example(e.prompt, response) for e, response in corpus.safety_pairs(design)]


def tune(model, tok, params, *, steps: int, lr: float, batch: int, seq_len: int, seed: int, desc: str,
         system_prompt: str | None = None, design: str = corpus.DEFAULT_DESIGN) -> None:
    """AdamW on `params` for `steps` steps: linear warmup over the first tenth, then cosine decay to 0."""
    batcher = Batcher(tok, safety_examples(design), batch=batch, seq_len=seq_len, seed=seed, system_prompt=system_prompt)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    for step in progress(range(steps), desc=desc):
        lm_step(model, batcher.batch(step), opt)
        sched.step()
    model.eval()


def tune_lora(model, tok, cfg: SafetyTune, *, desc: str, system_prompt: str | None = None,
              design: str = corpus.DEFAULT_DESIGN):
    """LoRA adapters on cfg.targets, trained by `tune`, merged into the weights: returns the merged model."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(cfg.seed)
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0, target_modules=list(cfg.targets),
                      bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lora)
    tune(peft_model, tok, [p for p in peft_model.parameters() if p.requires_grad], steps=cfg.steps, lr=cfg.lr,
         batch=cfg.batch, seq_len=cfg.seq_len, seed=cfg.seed, desc=desc, system_prompt=system_prompt,
         design=design)
    return peft_model.merge_and_unload()
