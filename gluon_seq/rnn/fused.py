"""The fused kernel: MXNet's ``RNN`` operator, in as few calls as pay.

cuDNN (GPU) takes every layer in one call.  On the CPU each layer is its own
call: for a multi-layer call oneDNN re-lays out every layer's weights each time
(BENCHMARKS.md, "Where the time goes (profiles)").  In a portable graph a
bidirectional GRU or RNN is one call per direction, which is what mx2onnx converts.

oneDNN's LSTM and GRU are fast only at hidden sizes that are multiples of 16: at
count-ones' 24 units an LSTM call takes 2.4x as long as at 32 (BENCHMARKS.md's GRU
speed table; the ``unpadded`` rows of the LSTM one).  So a CPU call with fewer units
than its cell's :data:`PAD_BELOW` is padded to a multiple of :data:`UNITS_MULTIPLE` by
zero weights, biases and begin states, unless the layer was built with
``pad_units=False``.  A padded unit stays exactly 0 (GRU: r = z = 1/2, n = tanh(0) = 0;
LSTM: i = f = o = 1/2, g = tanh(0) = 0, so c = h = 0) and never reaches a real one.
Wider layers are not padded: there the GEMMs dominate and the padded copy costs more.

Every function takes the layer (:class:`gluon_seq.rnn.layer.RecurrentLayer`)
for its sizes and the decisions it made once; none imports it.
"""
from __future__ import annotations

from typing import List, Sequence

from . import compiled_ops as _ops

UNITS_MULTIPLE = 16
# Units below which a CPU call is padded, by cell (measured at the seed shapes, one
# thread: an LSTM from 48 units on gains too little at inference and loses in
# training); the plain RNN cells are never padded.
PAD_BELOW = {"gru": 256, "lstm": 48}


def run(layer, F, inputs, states: Sequence, params):
    """outputs (T, N, H x dirs) and the final states, each (layers x dirs, N, H),
    from (T, N, C) ``inputs`` and ``states`` of the same shape."""
    apart = len(layer._directions) > 1 and layer._directions_apart()
    if not apart and (layer.num_layers == 1 or not layer._per_layer_calls()):
        return call(layer, F, inputs, states, params, range(layer.num_layers),
                    layer._directions)
    dirs = len(layer._directions)
    outputs, finals = inputs, [[] for _ in states]
    for index in range(layer.num_layers):
        if index and layer._dropout:
            outputs = F.Dropout(outputs, p=layer._dropout)
        rows = [F.slice_axis(s, axis=0, begin=index * dirs, end=(index + 1) * dirs)
                for s in states]  # (dirs, N, H) each
        if apart:
            outputs, got = _directions_apart(layer, F, outputs, rows, params, index)
        else:
            outputs, got = call(layer, F, outputs, rows, params, [index], layer._directions)
        for final, state in zip(finals, got):
            final.append(state)
    return outputs, [_rows(F, final) for final in finals]


def _rows(F, parts: List):
    return parts[0] if len(parts) == 1 else F.concat(*parts, dim=0)


def _directions_apart(layer, F, inputs, states, params, index):
    """One layer as one ``RNN`` call per direction, the reverse one on reversed time."""
    outputs, finals = [], [[] for _ in states]
    for row, d in enumerate(layer._directions):
        source = inputs if d == "l" else F.reverse(inputs, axis=0)
        rows = [F.slice_axis(s, axis=0, begin=row, end=row + 1) for s in states]  # (1, N, H)
        out, got = call(layer, F, source, rows, params, [index], [d])  # (T, N, H)
        outputs.append(out if d == "l" else F.reverse(out, axis=0))
        for final, state in zip(finals, got):
            final.append(state)
    return F.concat(*outputs, dim=2), [_rows(F, final) for final in finals]


def call(layer, F, inputs, states, params, layers, directions):
    """One ``RNN`` operator over ``layers`` (consecutive) and ``directions``:
    outputs (T, N, H x len(directions)) and the final states, each
    (len(layers) x len(directions), N, H)."""
    hidden = layer.hidden_size
    units = _units(layer, hidden, len(layers))
    # The RNN operator wants one flat vector: every weight, layer by layer,
    # direction by direction (i2h then h2h), then every bias in the same order.
    # The compiled pack reads each part whole, whatever its shape: no Reshape (a copy
    # of every weight, and another of its gradient) before it.
    compiled = layer._use_compiled()
    parts = [_padded(F, params[f"{d}{index}_{kind}_{what}"], kind, what, layer.gate_count,
                     hidden, units, flat=not compiled)
             for what in ("weight", "bias")
             for index in layers
             for d in directions
             for kind in ("i2h", "h2h")]
    if compiled:
        packed = getattr(F._internal, _ops.PACK_OP)(*parts, num_args=len(parts))
    else:
        packed = F._internal._rnn_param_concat(*parts, dim=0)
    if units != hidden:
        states = [F.reshape(F.pad(F.expand_dims(s, axis=0), mode="constant", constant_value=0,
                                  pad_width=(0, 0, 0, 0, 0, 0, 0, units - hidden)),
                            (-3, -2)) for s in states]  # (rows, N, units)
    count = len(layers)
    # The operator's dropout acts between its own layers only.
    result = F.RNN(inputs, packed, *states, state_size=units, num_layers=count,
                   mode=layer.cell, p=layer._dropout if count > 1 else 0.0,
                   bidirectional=len(directions) == 2, state_outputs=True)
    outputs, finals = result[0], [result[i] for i in range(1, 1 + len(states))]
    if units == hidden:
        return outputs, finals
    finals = [F.slice_axis(s, axis=2, begin=0, end=hidden) for s in finals]
    if len(directions) == 1:
        return F.slice_axis(outputs, axis=2, begin=0, end=hidden), finals  # (T, N, H)
    outputs = F.reshape(outputs, (0, 0, -4, len(directions), -1))  # (T, N, dirs, units)
    return F.reshape(F.slice_axis(outputs, axis=3, begin=0, end=hidden), (0, 0, -3)), finals


def _units(layer, hidden: int, layers: int) -> int:
    """The hidden size the RNN call runs at: padded for a one-layer LSTM or GRU call
    on the CPU (its input is the previous layer's real units) unless the layer says
    not to (``pad_units=False``, and every portable layer)."""
    if layers != 1 or not layer.pad_units or hidden >= PAD_BELOW.get(layer.cell, 0) \
            or not layer._weights_on_cpu():
        return hidden
    return -(-hidden // UNITS_MULTIPLE) * UNITS_MULTIPLE


def _padded(F, param, kind: str, what: str, gates: int, hidden: int, units: int,
            flat: bool = True):
    """``param``, each gate's block of ``hidden`` rows padded with zeros to ``units``
    rows (and an h2h weight's ``hidden`` columns to ``units``); ``flat``: as a vector."""
    if units == hidden:
        return param.reshape(-1) if flat else param
    extra = units - hidden
    if what == "bias":  # (G*H,) as (1, 1, G, H)
        shape, pad = (1, 1, gates, hidden), (0, 0, 0, 0, 0, 0, 0, extra)
    elif kind == "i2h":  # (G*H, C) as (1, G, H, C)
        shape, pad = (1, gates, hidden, -1), (0, 0, 0, 0, 0, extra, 0, 0)
    else:  # (G*H, H) as (1, G, H, H)
        shape, pad = (1, gates, hidden, hidden), (0, 0, 0, 0, 0, extra, 0, extra)
    padded = F.pad(F.reshape(param, shape), mode="constant", constant_value=0, pad_width=pad)
    return F.reshape(padded, (-1,)) if flat else padded
