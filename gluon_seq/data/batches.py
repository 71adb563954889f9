"""Batches as the training loop takes them: batch-first numpy arrays."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np

from ..util.errors import UserError


@dataclass
class Batch:
    """Batch-first numpy arrays: model data inputs, and the label."""
    inputs: Tuple[np.ndarray, ...]
    label: np.ndarray

    @property
    def size(self) -> int:
        return int(self.label.shape[0])


def epoch_seed(seed: int, epoch: int) -> int:
    """One epoch's shuffle (or draw) seed, so a resumed run sees the epochs it would have."""
    return seed * 100003 + epoch


def iterate_minibatches(arrays: Sequence[np.ndarray], label: np.ndarray, batch_size: int,
                        shuffle_seed: Optional[int] = None,
                        shard: Tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """Batches over aligned arrays, the last short one kept; ``shard`` = (rank, workers)."""
    count = label.shape[0]
    order = np.arange(count)
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(order)
    rank, workers = shard
    # Every worker must take the same number of steps, or dist_sync waits forever.
    order = order[:len(order) - len(order) % workers][rank::workers]
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield Batch(tuple(a[index] for a in arrays), label[index])


def held_out(count: int, fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows): a ``fraction`` of ``count`` chosen by the task's
    fixed ``seed``; a UserError when either side would be empty."""
    order = np.random.RandomState(seed).permutation(count)
    held = int(round(fraction * count))
    if not 0 < held < count:
        raise UserError(f"--valid-fraction {fraction} of {count} examples must leave at least "
                        "one to validate on and one to train on.")
    return order[held:], order[:held]
