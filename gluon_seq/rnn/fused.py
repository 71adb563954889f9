"""The fused kernel: MXNet's ``RNN`` operator, in as few calls as pay.

cuDNN (GPU) takes every layer in one call.  On the CPU the layer makes one
call per layer: for a multi-layer call, MXNet's oneDNN path copies every
layer's weights into one tensor and re-lays it out on each call (5.9 ms of a
31 ms PTB inference call, by DNNL_VERBOSE).  In a portable graph (an export),
a bidirectional GRU or plain RNN is also split into one call per direction,
since mx2onnx converts those cells' ``RNN`` node one direction at a time.

Every function takes the layer (:class:`gluon_seq.rnn.layer.RecurrentLayer`)
for its sizes and the decisions it made once; none imports it.
"""
from __future__ import annotations

from typing import List, Sequence

from . import compiled_ops as _ops


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
    """One layer as one ``RNN`` call per direction: the reverse one reads the
    time-reversed inputs and its outputs are turned back."""
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
    # The RNN operator wants one flat vector: every weight, layer by layer,
    # direction by direction (i2h then h2h), then every bias in the same order.
    flat = [params[f"{d}{index}_{kind}_{what}"].reshape(-1)
            for what in ("weight", "bias")
            for index in layers
            for d in directions
            for kind in ("i2h", "h2h")]
    if layer._use_compiled():
        packed = getattr(F._internal, _ops.PACK_OP)(*flat, num_args=len(flat))
    else:
        packed = F._internal._rnn_param_concat(*flat, dim=0)
    count = len(layers)
    # The operator's dropout acts between its own layers only.
    result = F.RNN(inputs, packed, *states, state_size=layer.hidden_size, num_layers=count,
                   mode=layer.cell, p=layer._dropout if count > 1 else 0.0,
                   bidirectional=len(directions) == 2, state_outputs=True)
    return result[0], [result[i] for i in range(1, 1 + len(states))]
