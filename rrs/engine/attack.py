"""The LoRA attack: ONE training run to max(steps), the adapter saved at every step value of the grid.

Each checkpoint `step-<s>/` holds the peft adapter (for generation) and `state.pt` (trainable weights,
optimizer state, RNG state), so a killed run resumes from its last checkpoint and ends bit-identical to an
uninterrupted one: batch k is a pure function of (seed, k), and the RNG is restored.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model

from rrs.atomic import staged_dir
from rrs.data import Example
from rrs.engine.training import Batcher, lm_loss
from rrs.progress import progress
from rrs.spec import LoraAttack
from rrs.store import checkpoint_dir, resume_step

PAGED = {"paged_adamw_8bit": "PagedAdamW8bit", "paged_adamw_32bit": "PagedAdamW32bit"}  # the HF Trainer's names


def make_optimizer(attack: LoraAttack, params) -> torch.optim.Optimizer:
    if attack.optimizer in PAGED:
        try:
            import bitsandbytes as bnb
        except ImportError as exc:  # pragma: no cover - GPU extra
            raise RuntimeError(f"optimizer {attack.optimizer} needs bitsandbytes (pip install '.[gpu]')") from exc
        return getattr(bnb.optim, PAGED[attack.optimizer])(params, lr=attack.lr, weight_decay=0.0)
    return torch.optim.AdamW(params, lr=attack.lr, weight_decay=0.0)


def _trainable(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def run_attack(base, tok, attack: LoraAttack, seed: int, examples: list[Example], root: Path, *,
               system_prompt: str | None = None, desc: str = "attack") -> None:
    """Train (or resume) the attack on `base` (modified in place) and save every grid checkpoint under root."""
    torch.manual_seed(seed)
    cfg = LoraConfig(r=attack.rank, lora_alpha=attack.alpha, lora_dropout=attack.dropout,
                     target_modules=list(attack.targets), bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    opt = make_optimizer(attack, [p for p in model.parameters() if p.requires_grad])
    batcher = Batcher(tok, examples, batch=attack.batch, seq_len=attack.seq_len, seed=seed,
                      system_prompt=system_prompt, eos=attack.eos, bos=attack.bos, order=attack.order)
    start = resume_step(root, attack)
    if start:
        state = torch.load(checkpoint_dir(root, start) / "state.pt", weights_only=False)
        model.load_state_dict(state["trainable"], strict=False)
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
    grid = set(attack.steps)
    model.train()
    for step in progress(range(start, attack.steps[-1]), desc=desc, total=attack.steps[-1] - start):
        for micro in range(attack.grad_accum):
            loss = lm_loss(model, batcher.batch(step * attack.grad_accum + micro)) / attack.grad_accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], attack.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step + 1 in grid:
            _save(model, opt, checkpoint_dir(root, step + 1))
    model.eval()


def _save(model, opt, out: Path) -> None:
    with staged_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        torch.save({"trainable": _trainable(model), "optimizer": opt.state_dict(), "rng": torch.get_rng_state()},
                   tmp / "state.pt")
