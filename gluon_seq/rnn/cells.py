"""The recurrent cells: what one step of the layer computes.

A *cell* is the recurrence; a *kernel* (:mod:`gluon_seq.rnn.kernels`) is how it
is computed.  Both kernels read the weights ``gluon.rnn.LSTM`` / ``GRU`` /
``RNN`` have: ``{l|r}{layer}_{i2h|h2h}_{weight|bias}``, each weight (G*H, C) or
(G*H, H), each bias (G*H,), G gates stacked in the order below.  With x the
step's input and h the previous hidden state:

``lstm`` (G=4: i, f, g, o; states h and c)::

    i, f, o = sigmoid(W_i. x + b_i. + W_h. h + b_h.);  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c' = f * c + i * g;  h' = o * tanh(c')

``gru`` (G=3: r, z, n; state h)::

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

  The reset gate acts *after* the recurrent product, as in cuDNN, MXNet's
  ``RNN`` operator and ONNX's ``linear_before_reset=1`` (not Cho et al. 2014),
  so b_hn, unlike every other recurrent bias, cannot join the input projection.

``rnn_tanh`` / ``rnn_relu`` (G=1; state h)::

    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)     (relu for rnn_relu)

This module imports no MXNet, so the CLI can list :data:`CELLS` without it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
DEFAULT = "lstm"
# The cells whose unfused layers walk all their steps in one compiled operator on a CPU
# (unfused.py); a plain RNN's steps are unrolled.
WALKING = ("lstm", "gru")


@dataclass(frozen=True)
class Cell:
    """One cell's shape: its gates (in weight-row order) and its states."""
    name: str
    gates: Tuple[str, ...]
    states: Tuple[str, ...]

    @property
    def gate_count(self) -> int:
        """G: each weight and bias has G * H rows."""
        return len(self.gates)

    @property
    def state_count(self) -> int:
        return len(self.states)


SPECS = {
    "lstm": Cell("lstm", ("input", "forget", "candidate", "output"), ("h", "c")),
    "gru": Cell("gru", ("reset", "update", "candidate"), ("h",)),
    "rnn_tanh": Cell("rnn_tanh", ("hidden",), ("h",)),
    "rnn_relu": Cell("rnn_relu", ("hidden",), ("h",)),
}


def one_of(value: str, choices, what: str) -> str:
    """``value``, or a ValueError naming the ``choices`` (a caller's bug: users are checked)."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def check(cell: str) -> str:
    """``cell`` itself, or a ValueError naming the cells."""
    return one_of(cell, CELLS, "recurrent cell")


def spec(cell: str) -> Cell:
    return SPECS[check(cell)]
