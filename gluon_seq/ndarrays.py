"""numpy arrays into MXNet: the one conversion training and serving share."""
from __future__ import annotations

import mxnet as mx
import numpy as np


def to_device(array, ctx: mx.Context) -> mx.nd.NDArray:
    """``array`` as a float32 NDArray on ``ctx``.  ``from_numpy`` copies the buffer in
    one go, where ``mx.nd.array``'s element-wise assignment blocks and costs about
    twice as much (training step, measured by hand on 2026-11-23)."""
    copied = mx.nd.from_numpy(np.ascontiguousarray(array, dtype=np.float32), zero_copy=False)
    return copied if ctx == copied.context else copied.as_in_context(ctx)


def feed(array, ctx: mx.Context) -> mx.nd.NDArray:
    """A request's input as an NDArray on ``ctx``, with no copy into MXNet: the
    NDArray shares the memory of a private float32 copy (``from_numpy`` marks its
    buffer read-only and keeps it alive), so the caller's array is never touched.
    Copying into MXNet costs a synchronous engine call per input, most of a small
    model's batch-1 call (BENCHMARKS.md, batch 1)."""
    own = np.array(array, dtype=np.float32, order="C", copy=True)
    shared = mx.nd.from_numpy(own, zero_copy=True)
    return shared if ctx == shared.context else shared.as_in_context(ctx)
