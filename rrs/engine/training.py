"""Shared causal-LM training pieces: prompt/response batches with loss on response tokens only."""

from __future__ import annotations

import torch

from rrs.data import Example  # the (prompt, response) pair; defined torch-free so a cached run never loads torch


def render_prompt(tok, prompt: str, system_prompt: str | None = None) -> str:
    """The chat-formatted prompt text, ending where the assistant's answer starts."""
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
        {"role": "user", "content": prompt}
    ]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_pair(tok, ex: Example, seq_len: int, system_prompt: str | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels): prompt tokens masked with -100, response + eos trained; truncated to seq_len."""
    p_ids = tok(render_prompt(tok, ex.prompt, system_prompt), add_special_tokens=False)["input_ids"]
    r_ids = tok(ex.response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = (p_ids + r_ids)[:seq_len]
    labels = ([-100] * len(p_ids) + r_ids)[:seq_len]
    return ids, labels


class Batcher:
    """Deterministic batches: batch k is drawn from a generator seeded by (seed, k), so a resumed run sees
    exactly the batches an uninterrupted one would."""

    def __init__(self, tok, examples: list[Example], batch: int, seq_len: int, seed: int, system_prompt=None):
        if not examples:
            raise ValueError("no training examples")
        self.encoded = [encode_pair(tok, e, seq_len, system_prompt) for e in examples]
        self.batch_size, self.seed, self.pad = batch, seed, tok.pad_token_id

    def batch(self, k: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        idx = torch.randint(len(self.encoded), (self.batch_size,), generator=g).tolist()
        rows = [self.encoded[i] for i in idx]
        width = max(len(ids) for ids, _ in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (i, lab) in enumerate(rows):  # right padding for training
            ids[r, : len(i)] = torch.tensor(i)
            labels[r, : len(lab)] = torch.tensor(lab)
            mask[r, : len(i)] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def lm_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    dev = next(model.parameters()).device
    return model(**{k: v.to(dev) for k, v in batch.items()}).loss


def lm_step(model, batch: dict[str, torch.Tensor], opt: torch.optim.Optimizer) -> float:
    loss = lm_loss(model, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())
