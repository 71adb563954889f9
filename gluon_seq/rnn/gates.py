"""Look inside an LSTM: its gates, cell and hidden state at every step.

The notebooks plot these (gate activations over the alphabet, the cell unit
that counts ones).  The arithmetic is the textbook LSTM cell in numpy, read
from the layer's own parameters, so it is also an independent check of both
kernels: :func:`trace` reproduces the layer's outputs.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from .layer import LSTM


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def trace(layer: LSTM, inputs: np.ndarray, layer_index: int = 0) -> Dict[str, np.ndarray]:
    """Per-step values of one layer of ``layer`` for ``inputs`` (T, N, C), from zero states.

    Returns ``input_gate``, ``forget_gate``, ``candidate``, ``output_gate``, ``cell``
    and ``hidden``, each (T, N, H).  Only the first layer reads ``inputs``
    directly; for ``layer_index > 0`` pass the previous layer's ``hidden``.
    """
    read = lambda kind: getattr(layer, f"l{layer_index}_{kind}").data().asnumpy()
    w_x, w_h = read("i2h_weight"), read("h2h_weight")                # (4H, C), (4H, H)
    bias = read("i2h_bias") + read("h2h_bias")                       # (4H,)
    steps, batch = inputs.shape[:2]
    hidden = w_h.shape[1]
    h = np.zeros((batch, hidden), dtype=np.float64)
    c = np.zeros_like(h)
    names = ("input_gate", "forget_gate", "candidate", "output_gate", "cell", "hidden")
    out = {name: np.zeros((steps, batch, hidden)) for name in names}
    for t in range(steps):
        gates = inputs[t] @ w_x.T + h @ w_h.T + bias            # (N, 4H), order i, f, c, o
        i, f, g, o = np.split(gates, 4, axis=1)
        i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip(names, (i, f, g, o, c, h)):
            out[name][t] = value
    return out
