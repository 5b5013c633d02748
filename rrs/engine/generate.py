"""Batched, deterministic generation: left padding, greedy unless the spec samples, new tokens only."""

from __future__ import annotations

import torch

from rrs.engine.models import stop_token_ids
from rrs.engine.training import render_prompt
from rrs.progress import progress
from rrs.spec import Decoding


@torch.no_grad()
def generate(model, tok, prompts: list[str], dec: Decoding, *, system_prompt: str | None = None,
             desc: str = "generate") -> list[str]:
    """Responses for `prompts`, in order. Only the newly generated tokens are decoded (no echoed prompt)."""
    model.eval()
    tok.padding_side = "left"
    dev = next(model.parameters()).device
    texts = [render_prompt(tok, p, system_prompt) for p in prompts]
    out: list[str] = []
    starts = list(range(0, len(texts), dec.batch_size))
    for b, start in enumerate(progress(starts, desc=desc)):
        enc = tok(texts[start : start + dec.batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(dev) for k, v in enc.items()}
        kwargs = dict(max_new_tokens=dec.max_new_tokens, do_sample=dec.do_sample,  # stop at every end of turn
                      pad_token_id=tok.pad_token_id, eos_token_id=stop_token_ids(model, tok))
        if dec.do_sample:
            torch.manual_seed(dec.seed * 1_000_003 + b)
            kwargs.update(temperature=dec.temperature or 1.0, top_p=dec.top_p or 1.0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        ids = model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1] :]
        out.extend(t.strip() for t in tok.batch_decode(new, skip_special_tokens=True))
    return out
