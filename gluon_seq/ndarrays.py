"""numpy arrays into MXNet: the one conversion training and serving share."""
from __future__ import annotations

import mxnet as mx
import numpy as np


def to_device(array, ctx: mx.Context) -> mx.nd.NDArray:
    """``array`` as a float32 NDArray on ``ctx``.  ``from_numpy`` copies the buffer in
    one go, where ``mx.nd.array``'s element-wise assignment blocks and costs about
    twice as much (training step, measured by hand on 2026-11-23) and most of a
    small model's batch-1 call (BENCHMARKS.md, batch 1)."""
    copied = mx.nd.from_numpy(np.ascontiguousarray(array, dtype=np.float32), zero_copy=False)
    return copied if ctx == copied.context else copied.as_in_context(ctx)
