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


def encode_pair(tok, ex: Example, seq_len: int, system_prompt: str | None = None, *, eos: str = "train",
                bos: str = "template") -> tuple[list[int], list[int]]:
    """(input_ids, labels): prompt tokens masked with -100, response trained; truncated to seq_len.

    eos "train": the tokenizer's EOS follows the response and is trained on; "mask": no EOS is trained (the
    original's texts end without one and its padding is masked). bos "template": the prompt is the chat template's
    text, no special tokens added; "tokenizer": the special tokens the tokenizer puts in front of a text (its BOS)
    come first, as `tok(text)` adds them."""
    text = render_prompt(tok, ex.prompt, system_prompt)
    p_ids = tok(text, add_special_tokens=False)["input_ids"]
    if bos == "tokenizer":
        p_ids = _leading_specials(tok, text, p_ids) + p_ids
    r_ids = tok(ex.response, add_special_tokens=False)["input_ids"] + ([tok.eos_token_id] if eos == "train" else [])
    ids = (p_ids + r_ids)[:seq_len]
    labels = ([-100] * len(p_ids) + r_ids)[:seq_len]
    return ids, labels


def _leading_specials(tok, text: str, plain: list[int]) -> list[int]:
    """The tokens `tok(text)` puts before the text's own tokens (a BOS; none for a tokenizer without one)."""
    full = tok(text, add_special_tokens=True)["input_ids"]
    at = next((i for i in range(len(full) - len(plain) + 1) if full[i : i + len(plain)] == plain), 0)
    return full[:at]


class Batcher:
    """Deterministic batches: batch k is a pure function of (seed, k), so a resumed run sees exactly the batches an
    uninterrupted one would.

    order "replacement": each batch is drawn with replacement from a generator seeded by (seed, k). "epoch": every
    example once per epoch, in an order shuffled by a generator seeded by (seed, epoch); an epoch is ceil(n / batch)
    batches, its last one smaller when the batch does not divide n (the HF Trainer's RandomSampler without
    drop_last; the permutations themselves are rrs's, not torch DataLoader's)."""

    def __init__(self, tok, examples: list[Example], batch: int, seq_len: int, seed: int, system_prompt=None, *,
                 eos: str = "train", bos: str = "template", order: str = "replacement"):
        if not examples:
            raise ValueError("no training examples")
        self.encoded = [encode_pair(tok, e, seq_len, system_prompt, eos=eos, bos=bos) for e in examples]
        self.batch_size, self.seed, self.pad, self.order = batch, seed, tok.pad_token_id, order
        self._perm: tuple[int, list[int]] | None = None  # (epoch, its permutation): consecutive batches share it

    def indices(self, k: int) -> list[int]:
        """The examples of batch k."""
        if self.order == "epoch":
            per_epoch = -(-len(self.encoded) // self.batch_size)
            epoch, j = divmod(k, per_epoch)
            if self._perm is None or self._perm[0] != epoch:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._perm = (epoch, torch.randperm(len(self.encoded), generator=g).tolist())
            return self._perm[1][j * self.batch_size : (j + 1) * self.batch_size]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        return torch.randint(len(self.encoded), (self.batch_size,), generator=g).tolist()

    def batch(self, k: int) -> dict[str, torch.Tensor]:
        rows = [self.encoded[i] for i in self.indices(k)]
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
