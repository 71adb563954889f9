"""A recurrent layer's gates and states at every step, for the notebooks' plots.

Each cell of :mod:`gluon_seq.rnn.cells` in numpy from the layer's own
parameters, so :func:`trace` is also an independent check of both kernels.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from .layer import RecurrentLayer

# What trace returns for each cell, besides "hidden".
RECORDED = {"lstm": ("input_gate", "forget_gate", "candidate", "output_gate", "cell"),
            "gru": ("reset_gate", "update_gate", "candidate"),
            "rnn_tanh": (), "rnn_relu": ()}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(x_gates, h_gates, h, c) -> Tuple:
    i, f, g, o = np.split(x_gates + h_gates, 4, axis=1)             # order i, f, c, o
    i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
    c = f * c + i * g
    return o * np.tanh(c), c, (i, f, g, o, c)


def _gru(x_gates, h_gates, h, c) -> Tuple:
    x_r, x_z, x_n = np.split(x_gates, 3, axis=1)                     # order r, z, n
    h_r, h_z, h_n = np.split(h_gates, 3, axis=1)                     # h_n includes b_hn
    r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)                                       # reset after W_hn h
    return (1 - z) * n + z * h, c, (r, z, n)


STEPS = {"lstm": _lstm, "gru": _gru,
         "rnn_tanh": lambda x, r, h, c: (np.tanh(x + r), c, ()),
         "rnn_relu": lambda x, r, h, c: (np.maximum(x + r, 0), c, ())}


def trace(layer: RecurrentLayer, inputs: np.ndarray, layer_index: int = 0
          ) -> Dict[str, np.ndarray]:
    """Per-step values of one layer of ``layer`` for ``inputs`` (T, N, C), from zero states:
    ``hidden`` and the cell's :data:`RECORDED` names, each (T, N, H).  For
    ``layer_index > 0`` pass the previous layer's ``hidden`` as ``inputs``."""
    read = lambda kind: getattr(layer, f"l{layer_index}_{kind}").data().asnumpy()
    w_x, w_h = read("i2h_weight"), read("h2h_weight")                # (G*H, C), (G*H, H)
    b_x, b_h = read("i2h_bias"), read("h2h_bias")                    # (G*H,)
    steps, batch = inputs.shape[:2]
    hidden = w_h.shape[1]
    h = np.zeros((batch, hidden), dtype=np.float64)
    c = np.zeros_like(h)
    names = RECORDED[layer.cell] + ("hidden",)
    out = {name: np.zeros((steps, batch, hidden)) for name in names}
    for t in range(steps):
        h, c, recorded = STEPS[layer.cell](inputs[t] @ w_x.T + b_x, h @ w_h.T + b_h, h, c)
        for name, value in zip(names, recorded + (h,)):
            out[name][t] = value
    return out
