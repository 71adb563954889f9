"""numpy arrays into MXNet: the one conversion training and serving share."""
from __future__ import annotations

import mxnet as mx
import numpy as np


def to_device(array, ctx: mx.Context) -> mx.nd.NDArray:
    """``array`` as a float32 NDArray on ``ctx``, sharing the memory of a private float32
    copy, so the caller's array is never touched (``zero_copy`` marks it read-only).
    ``mx.nd.array`` copies through a synchronous engine call per array instead: most
    of a small model's batch-1 call (BENCHMARKS.md, batch 1)."""
    own = np.array(array, dtype=np.float32, order="C", copy=True)
    shared = mx.nd.from_numpy(own, zero_copy=True)
    return shared if ctx == shared.context else shared.as_in_context(ctx)
