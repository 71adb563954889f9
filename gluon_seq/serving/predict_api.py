"""MXNet's C predict API (``MXPredCreate``/``MXPredForward`` in ``libmxnet.so``) through ctypes.

A predictor's call is a forward pass with fixed weights, which is what this API is
for: it binds the graph once per input shape and then only copies the inputs in and
the outputs out, where a Gluon ``SymbolBlock`` makes NDArrays, enters the CachedOp
and reads each output through Python on every call (BENCHMARKS.md, batch 1: about
5x the time of the whole call at the small models' shapes).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
import threading
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import mxnet as mx
import numpy as np

_LIB = mx.base._LIB
_U32 = ctypes.c_uint32
_DEVICE_TYPES = {"cpu": 1, "gpu": 2}
SHAPES_KEPT = 32  # bound executors, one per input shape seen, least recently used dropped first

# NaiveEngine runs each operator in the calling thread with no dependency tracking, so
# two threads must not run graphs at once; the threaded engine orders them itself.
_NAIVE_ENGINE_LOCK = threading.Lock() if os.environ.get("MXNET_ENGINE_TYPE") == "NaiveEngine" \
    else None


def _check(status: int) -> None:
    if status != 0:
        raise mx.base.MXNetError(mx.base.py_str(_LIB.MXGetLastError()))


def _shape_arrays(shapes: Sequence[Tuple[int, ...]]):
    """The API's CSR form of a list of shapes: (row pointers, dimensions)."""
    pointers, dims = [0], []
    for shape in shapes:
        dims += [int(d) for d in shape]
        pointers.append(len(dims))
    return (_U32 * len(pointers))(*pointers), (_U32 * len(dims))(*dims)


def params_file(arguments: Dict[str, mx.nd.NDArray], auxiliary: Dict[str, mx.nd.NDArray]
                ) -> Dict[str, mx.nd.NDArray]:
    """What a params file holds for them: names prefixed "arg:" or "aux:", for mx.nd.save."""
    return {**{f"arg:{k}": v for k, v in arguments.items()},
            **{f"aux:{k}": v for k, v in auxiliary.items()}}


def params_bytes(arguments: Dict[str, mx.nd.NDArray], auxiliary: Dict[str, mx.nd.NDArray]) -> bytes:
    """``arguments`` and ``auxiliary`` in the params-file format the API reads."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.params")
        mx.nd.save(path, params_file(arguments, auxiliary))
        with open(path, "rb") as stream:
            return stream.read()


class _Executor:
    """One bound graph for one set of input shapes, with its output buffers' shapes."""

    def __init__(self, handle: ctypes.c_void_p):
        self.handle = handle
        self.output_shapes = []
        shape, ndim = ctypes.POINTER(_U32)(), _U32()
        index = 0
        while _LIB.MXPredGetOutputShape(handle, _U32(index), ctypes.byref(shape),
                                        ctypes.byref(ndim)) == 0:
            self.output_shapes.append(tuple(shape[d] for d in range(ndim.value)))
            index += 1

    def __del__(self):
        if _LIB is not None and self.handle:
            _LIB.MXPredFree(self.handle)


class PredictGraph:
    """``symbol_json`` with the weights in ``params`` (bytes of a params file), run on
    ``ctx`` with ``input_names`` fed in that order: :meth:`forward` takes float32 arrays
    and returns new float32 arrays, one per output."""

    def __init__(self, symbol_json: str, params: bytes, input_names: Sequence[str],
                 ctx: mx.Context):
        self._symbol, self._params = symbol_json.encode("utf-8"), params
        self._names = [n.encode("utf-8") for n in input_names]
        self._keys = (ctypes.c_char_p * len(self._names))(*self._names)
        self._device = (_DEVICE_TYPES[ctx.device_type], ctx.device_id)
        self._executors: "OrderedDict[tuple, _Executor]" = OrderedDict()
        self._lock = threading.Lock()

    def _bind(self, shapes: Tuple[Tuple[int, ...], ...]) -> _Executor:
        handle = ctypes.c_void_p()
        pointers, dims = _shape_arrays(shapes)
        _check(_LIB.MXPredCreate(ctypes.c_char_p(self._symbol), ctypes.c_char_p(self._params),
                                 ctypes.c_int(len(self._params)), ctypes.c_int(self._device[0]),
                                 ctypes.c_int(self._device[1]), _U32(len(self._names)),
                                 self._keys, pointers, dims, ctypes.byref(handle)))
        return _Executor(handle)

    def _executor(self, shapes: Tuple[Tuple[int, ...], ...]) -> _Executor:
        executor = self._executors.get(shapes)
        if executor is None:
            executor = self._executors[shapes] = self._bind(shapes)
            if len(self._executors) > SHAPES_KEPT:
                self._executors.popitem(last=False)
        self._executors.move_to_end(shapes)
        return executor

    def forward(self, arrays: Sequence[np.ndarray]) -> List[np.ndarray]:
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        with self._lock, (_NAIVE_ENGINE_LOCK or contextlib.nullcontext()):
            executor = self._executor(tuple(a.shape for a in arrays))
            for name, array in zip(self._names, arrays):
                _check(_LIB.MXPredSetInput(executor.handle, ctypes.c_char_p(name),
                                           array.ctypes.data_as(ctypes.c_void_p), _U32(array.size)))
            _check(_LIB.MXPredForward(executor.handle))
            outputs = [np.empty(shape, dtype=np.float32) for shape in executor.output_shapes]
            for index, out in enumerate(outputs):
                _check(_LIB.MXPredGetOutput(executor.handle, _U32(index),
                                            out.ctypes.data_as(ctypes.c_void_p), _U32(out.size)))
        return outputs

