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


def bucketed_minibatches(arrays: Sequence[np.ndarray], label: np.ndarray, lengths: np.ndarray,
                         width: int, batch_size: int, shuffle_seed: int,
                         shard: Tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """Training batches whose rows share a bucket of ``lengths`` (1..width, width+1..2 width,
    ...), random within it, in a random order of batches: a model that runs only the
    steps its batch uses (EntNet) then runs fewer.  gluonnlp's FixedBucketSampler does
    this from numpy's global random state; here the epoch's seed alone decides, so a
    resumed run sees the batches it would have.  With ``shard`` = (rank, workers) each
    worker takes every workers-th row of each batch: all take the same number of steps."""
    rng = np.random.RandomState(shuffle_seed)
    order = rng.permutation(label.shape[0])
    buckets = (lengths[order] - 1) // width
    order = order[np.argsort(buckets, kind="stable")]  # by bucket, random inside one
    starts = np.flatnonzero(np.diff(np.sort(buckets), prepend=-1))  # each bucket's first row
    ends = list(starts[1:]) + [len(order)]
    batches = [order[at:min(at + batch_size, end)]
               for begin, end in zip(starts, ends) for at in range(begin, end, batch_size)]
    rank, workers = shard
    for number in rng.permutation(len(batches)):
        index = batches[number][rank::workers]
        if len(batches[number]) >= workers:
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
