"""gluon_seq.util.ndarrays: numpy in, MXNet NDArrays out, the caller's arrays untouched."""
import mxnet as mx
import numpy as np

from gluon_seq.util.ndarrays import to_device


def test_to_device_shares_a_private_copy_and_leaves_the_callers_array_writeable():
    mine = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = to_device(mine, mx.cpu())
    assert mine.flags.writeable  # from_numpy's read-only mark went on the private copy
    mine[0, 0] = 99.0  # and the NDArray does not see later writes
    assert shared.asnumpy().tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert shared.dtype == np.float32


def test_to_device_takes_any_numeric_or_strided_input():
    ints = np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2]  # not contiguous
    out = to_device(ints, mx.cpu())
    assert out.dtype == np.float32 and out.asnumpy().tolist() == [[0, 2], [4, 6], [8, 10]]


def test_to_device_reaches_another_context():
    out = to_device(np.ones((2, 2)), mx.cpu(1))
    assert out.context == mx.cpu(1) and out.asnumpy().sum() == 4.0
