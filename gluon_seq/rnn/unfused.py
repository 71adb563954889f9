"""The unfused kernel: per-step cells (:mod:`gluon_seq.rnn.cells`), walked or unrolled.

The input projection of every step is one matrix multiply hoisted out of the
recurrence; only the recurrent GEMM and the cell's pointwise rest run per step.
On the CPU, a layer of the :data:`~gluon_seq.rnn.cells.WALKING` cells walks all
its steps in one compiled operator (:mod:`gluon_seq.rnn.compiled_ops`); with stock
operators, or for the plain RNN cell, the steps are unrolled for ``length``.  Every
function takes the layer (:class:`gluon_seq.rnn.layer.RecurrentLayer`) for its sizes
and decisions.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from . import compiled_ops as _ops


def run(layer, F, inputs, states: Sequence, params, length: Optional[int]):
    """outputs (T, N, H x dirs) and the final states, each (layers x dirs, N, H),
    from (T, N, C) ``inputs``, unrolled for ``length`` steps unless the layer walks
    them in one operator (any T; ``length`` unused)."""
    dirs = layer._directions
    rows = layer.num_layers * len(dirs)  # state rows, layer-major as in RNN
    per_row = [F.split(s, num_outputs=rows, axis=0, squeeze_axis=True) if rows > 1
               else [F.reshape(s, (-3, -2))] for s in states]  # (N, H) each
    layer_input, finals = inputs, [[] for _ in states]
    for index in range(layer.num_layers):
        outputs = []
        for d_index, d in enumerate(dirs):
            row = index * len(dirs) + d_index
            source = layer_input if d == "l" else F.reverse(layer_input, axis=0)
            out, got = _unroll(layer, F, source, [s[row] for s in per_row], length, params,
                               f"{d}{index}")
            outputs.append(out if d == "l" else F.reverse(out, axis=0))
            for final, state in zip(finals, got):
                final.append(state)
        layer_input = outputs[0] if len(outputs) == 1 else F.concat(*outputs, dim=2)
        if layer._dropout and index < layer.num_layers - 1:
            layer_input = F.Dropout(layer_input, p=layer._dropout)
    return layer_input, [F.stack(*final, axis=0) for final in finals]


def _unroll(layer, F, inputs, states: List, length: Optional[int], params, name: str):
    """One direction of one layer: (T, N, C) inputs, (N, H) states -> (T, N, H), states."""
    rows = layer.gate_count * layer.hidden_size
    input_bias, step_bias = _biases(layer.cell, params, name)
    projected = F.FullyConnected(inputs, params[f"{name}_i2h_weight"], input_bias,
                                 num_hidden=rows, flatten=False)  # (T, N, G*H)
    if layer._walks():
        return _walk(F, layer.cell, projected, states, params[f"{name}_h2h_weight"], step_bias)
    steps = F.split(projected, num_outputs=length, axis=0, squeeze_axis=True) \
        if length > 1 else [F.reshape(projected, (-3, -2))]  # (N, G*H) each
    step = STEPS[layer.cell]
    outs = []
    for t in range(length):
        recurrent = F.FullyConnected(states[0], params[f"{name}_h2h_weight"], no_bias=True,
                                     num_hidden=rows)  # (N, G*H)
        states = step(F, steps[t], recurrent, states, step_bias)
        outs.append(states[0])
    return F.stack(*outs, axis=0), states


def _walk(F, cell: str, projected, states: List, w_hh, b_hh):
    """Every step of one direction in one compiled operator: (T, N, G*H) ``projected``,
    (N, H) states -> (T, N, H), the final states."""
    if cell == "lstm":
        outs, cells, _ = getattr(F._internal, _ops.LAYER_OP)(
            projected, states[0], states[1], w_hh)  # (T, N, H) each
        return outs, [_last(F, outs), _last(F, cells)]
    outs, _ = getattr(F._internal, _ops.GRU_LAYER_OP)(projected, states[0], w_hh, b_hh)
    return outs, [_last(F, outs)]


def _last(F, steps):
    """The last step of (T, N, H) ``steps``: (N, H)."""
    return F.squeeze(F.slice_axis(steps, axis=0, begin=-1, end=None), axis=0)


def _biases(cell: str, params, name: str):
    """(the bias of the hoisted input projection, the bias each step adds or None).
    Hoisting b_hh saves T bias additions and T gradient sums.  The GRU's b_hn is
    multiplied by the reset gate, so its step adds the whole b_hh (nearly free
    in the compiled operator) rather than five more small operators building a
    projection bias from b_ih, b_hr and b_hz."""
    i2h, h2h = params[f"{name}_i2h_bias"], params[f"{name}_h2h_bias"]
    return (i2h, h2h) if cell == "gru" else (i2h + h2h, None)


def _lstm_step(F, x_gates, h_gates, states, _bias):
    """x_gates, h_gates (N, 4H); states [h, c] (N, H) -> [h', c']."""
    c = states[1]
    i, f, g, o = F.split(x_gates + h_gates, num_outputs=4, axis=1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    return [F.sigmoid(o) * F.tanh(c), c]


def _gru_step(F, x_gates, h_gates, states, b_hh):
    """x_gates (N, 3H) with b_ih, h_gates (N, 3H) without bias, states [h]
    (N, H), b_hh (3H,) -> [h']; the reset gate acts after the recurrent
    product and its bias (cells.py)."""
    h = states[0]
    x_r, x_z, x_n = F.split(x_gates, num_outputs=3, axis=1)   # (N, H) each
    h_r, h_z, h_n = F.split(F.broadcast_add(h_gates, F.reshape(b_hh, (1, -1))),
                            num_outputs=3, axis=1)
    r = F.sigmoid(x_r + h_r)
    z = F.sigmoid(x_z + h_z)
    n = F.tanh(x_n + r * h_n)
    return [n + z * (h - n)]


def _simple_step(activation: str):
    def step(F, x_gates, h_gates, states, _bias):
        """x_gates, h_gates (N, H) -> [activation(x_gates + h_gates)]."""
        return [F.Activation(x_gates + h_gates, act_type=activation)]

    return step


STEPS = {"lstm": _lstm_step, "gru": _gru_step,
         "rnn_tanh": _simple_step("tanh"), "rnn_relu": _simple_step("relu")}
