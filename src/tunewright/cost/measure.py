"""Measure what autograd actually keeps for backward: the ground truth the activation estimate is checked against.

``torch.autograd.graph.saved_tensors_hooks`` sees every tensor an op saves for its backward. We count the
bytes of each *storage* once (a view and its base, or one tensor saved by two ops, share a storage), and
exclude the model's own parameters and buffers: autograd saves the weight of every linear layer, but that
memory is the "weights" line of the estimate, not activations. Under non-reentrant checkpointing the
checkpoint's own hooks take over inside each layer, so only what it really keeps (the layer inputs) is seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SavedBytes:
    activations: int  # unique storages saved for backward, parameters and buffers excluded
    tensors: int  # how many saved tensors were seen (duplicates included)


def _storage_key(t: torch.Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def measure_saved_bytes(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> SavedBytes:
    """Run one forward with loss (``batch`` holds input_ids and labels) and count the bytes saved for backward."""
    params = {_storage_key(p)[0] for p in model.parameters()} | {_storage_key(b)[0] for b in model.buffers()}
    seen: dict[int, int] = {}
    count = 0

    def pack(t: torch.Tensor):
        nonlocal count
        count += 1
        if t.device.type != "meta" and t.numel():
            ptr, nbytes = _storage_key(t)
            if ptr not in params:
                seen[ptr] = max(seen.get(ptr, 0), nbytes)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(**batch)
    out.loss.backward()  # proves the graph is a training graph; gradients are not counted here
    return SavedBytes(activations=sum(seen.values()), tensors=count)
