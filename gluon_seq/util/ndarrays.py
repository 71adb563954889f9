"""numpy batches into MXNet NDArrays, for training and evaluation (serving hands numpy
to MXNet's C predict API directly: :mod:`gluon_seq.serving.predict_api`)."""
from __future__ import annotations

import mxnet as mx
import numpy as np


def to_device(array, ctx: mx.Context) -> mx.nd.NDArray:
    """``array`` as a float32 NDArray on ``ctx``, sharing the memory of a private float32
    copy, so the caller's array is never touched (``zero_copy`` marks it read-only).
    ``mx.nd.array`` copies through a synchronous engine call per array instead."""
    own = np.array(array, dtype=np.float32, order="C", copy=True)
    shared = mx.nd.from_numpy(own, zero_copy=True)
    return shared if ctx == shared.context else shared.as_in_context(ctx)
