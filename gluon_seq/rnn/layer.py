"""One LSTM layer, two kernels, one set of weights.

The weights live under the names and shapes that ``gluon.rnn.LSTM`` uses
(``l0_i2h_weight`` (4H, C), ``l0_h2h_weight`` (4H, H), ``l0_i2h_bias`` (4H,),
``l0_h2h_bias`` (4H,), then ``l1_...``; ``r0_...`` for the reverse direction of a
bidirectional layer), with the gates stacked in the order input, forget, cell
candidate, output.  Because both kernels read exactly these
parameters, a params file written while training with one kernel loads
strictly into the other.

* ``fused``: the ``RNN`` operator (mode ``lstm``).  cuDNN on GPU, all layers in
  one call; oneDNN on CPU, one call per layer.
* ``unfused``: explicit per-step cell arithmetic.  The input projection of
  every time step is one matrix multiply hoisted out of the recurrence; only
  the recurrent projection runs per step.

On CPU both kernels use gluon_seq's compiled operators
(:mod:`gluon_seq.rnn.compiled_ops`) when they can be built: the unfused kernel for
the pointwise rest of each step, the fused one to pack its weights for ``RNN``.
Stock operators give the same numbers otherwise, and exported graphs always
use stock operators.

The kernel is decided once, in the constructor.  A trace only looks at where
the weights live, for the CPU-only choices above.  Models never see either:
they are handed a :class:`LayerFactory` and call it for each layer they need.
"""
from __future__ import annotations

import contextlib
from typing import List, Optional, Sequence

import mxnet as mx
from mxnet import gluon

from . import compiled_ops as _ops
from . import kernels
from ..errors import UserError

_portable = {"depth": 0}
FUSED_CALLS = ("auto", "per-layer", "one")


@contextlib.contextmanager
def portable_graph():
    """Graphs traced inside this block use only stock MXNet operators, so an
    export runs on any MXNet 1.9, without gluon_seq's compiled
    operators.  The numbers are the same either way."""
    _portable["depth"] += 1
    try:
        yield
    finally:
        _portable["depth"] -= 1


class LSTM(gluon.HybridBlock):
    """Multi-layer LSTM over a (T, N, C) or (N, T, C) sequence.

    Call it as ``outputs, [h, c] = lstm(inputs, [h0, c0])`` where ``h0`` and
    ``c0`` are (num_layers, N, H) and come from :meth:`begin_state`, made
    outside ``hybrid_forward`` so the graph exports.  ``outputs`` has the
    input's layout with C replaced by H.

    ``length`` is the number of time steps.  The unfused kernel unrolls a
    static graph, so it needs ``length`` once hybridized; imperatively it reads
    the length from the input.  The fused kernel ignores it.

    ``compiled_ops``: ``None`` uses gluon_seq's compiled CPU operators when
    they can be built, ``False`` always uses stock operators, ``True`` insists
    on the compiled ones.

    ``fused_calls``: how the fused kernel runs a multi-layer layer: ``auto``
    (one ``RNN`` call per layer when the weights are on the CPU, one call for
    all layers on a GPU), ``per-layer`` or ``one``, whatever the device.
    """

    def __init__(self, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 kernel: str = "auto", layout: str = "TNC", input_size: int = 0,
                 length: Optional[int] = None, ctx: Optional[mx.Context] = None,
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 bidirectional: bool = False, compiled_ops: Optional[bool] = None,
                 fused_calls: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise UserError(f"layout must be 'TNC' or 'NTC', not {layout!r}.")
        if fused_calls not in FUSED_CALLS:
            raise UserError(f"fused_calls must be one of {', '.join(FUSED_CALLS)}, "
                            f"not {fused_calls!r}.")
        self._fused_calls = fused_calls
        self._hidden_size = hidden_size
        self._num_layers = num_layers
        self._dropout = dropout
        self._layout = layout
        self._length = length
        self.kernel = kernels.resolve(kernel, ctx)
        # The compiled operators exist for CPU only; decided once, like the kernel.
        on_cpu = (ctx or mx.current_context()).device_type == "cpu"
        if compiled_ops and not on_cpu:
            raise UserError("compiled_ops=True needs a CPU context: gluon_seq's compiled "
                            "operators have no GPU code.")
        if compiled_ops and not _ops.available():
            raise UserError("compiled_ops=True, but gluon_seq's compiled operators are "
                            f"unavailable ({_ops.unavailable_reason()}).")
        self._compiled = compiled_ops is not False and on_cpu and _ops.available()
        self._compiled_required = bool(compiled_ops)
        self._directions = ("l", "r") if bidirectional else ("l",)
        gates = 4 * hidden_size
        in_size = input_size
        for layer in range(num_layers):
            for d in self._directions:
                self._register(f"{d}{layer}_i2h_weight", (gates, in_size), i2h_weight_initializer)
                self._register(f"{d}{layer}_h2h_weight", (gates, hidden_size),
                               h2h_weight_initializer)
                self._register(f"{d}{layer}_i2h_bias", (gates,), i2h_bias_initializer)
                self._register(f"{d}{layer}_h2h_bias", (gates,), h2h_bias_initializer)
            in_size = hidden_size * len(self._directions)

    def _register(self, name, shape, init):
        setattr(self, name, self.params.get(name, shape=shape, init=init,
                                            allow_deferred_init=True))

    @property
    def hidden_size(self) -> int:
        return self._hidden_size

    @property
    def num_layers(self) -> int:
        return self._num_layers

    @property
    def output_size(self) -> int:
        """Channels of each output step: H, or 2H when bidirectional."""
        return self._hidden_size * len(self._directions)

    @property
    def state_count(self) -> int:
        """How many state arrays the layer takes and returns: h and c.  Models split
        their states by this, so they never assume a cell type."""
        return 2

    def state_shape(self, batch_size: int):
        return (self._num_layers * len(self._directions), batch_size, self._hidden_size)

    def begin_state(self, batch_size: int, ctx: Optional[mx.Context] = None,
                    dtype: str = "float32") -> List[mx.nd.NDArray]:
        """Zero ``[h0, c0]``, each (num_layers x directions, N, H)."""
        ctx = ctx or mx.current_context()
        return [mx.nd.zeros(self.state_shape(batch_size), ctx=ctx, dtype=dtype)
                for _ in range(2)]

    def infer_shape(self, inputs, *args):
        channels = inputs.shape[2]
        for d in self._directions:
            getattr(self, f"{d}0_i2h_weight").shape = (4 * self._hidden_size, channels)

    def __repr__(self):
        cell = ", compiled ops" if self._compiled else ""
        return (f"{self.__class__.__name__}({self._hidden_size}, layers={self._num_layers}, "
                f"kernel={self.kernel}{cell}, layout={self._layout})")

    def _weight_contexts(self) -> Optional[List[mx.Context]]:
        """Where the weights live, as far as a trace can tell (a layer built without
        a context may still be initialized on a GPU); None if not initialized yet."""
        try:
            return getattr(self, f"{self._directions[0]}0_h2h_weight").list_ctx()
        except RuntimeError:  # not initialized yet: the call fails on that anyway
            return None

    def _weights_on_cpu(self) -> bool:
        contexts = self._weight_contexts()
        return contexts is None or all(c.device_type == "cpu" for c in contexts)

    def _per_layer_calls(self) -> bool:
        if self._fused_calls == "auto":
            return self._weights_on_cpu()
        return self._fused_calls == "per-layer"

    def _use_compiled(self) -> bool:
        """Whether the graph being traced gets the compiled operators: asked for,
        not inside portable_graph(), and the weights live on the CPU."""
        if not self._compiled or _portable["depth"]:
            return False
        if self._weights_on_cpu():
            return True
        if self._compiled_required:
            raise UserError("compiled_ops=True, but this layer's weights are on "
                            f"{self._weight_contexts()[0]}; gluon_seq's compiled operators "
                            "run on the CPU only.")
        return False

    def forward(self, inputs, states):
        # An unfused graph is unrolled for `length` steps; say so plainly rather
        # than let MXNet fail on a split deep inside the graph.
        if self.kernel == "unfused" and self._active and isinstance(inputs, mx.nd.NDArray):
            steps = inputs.shape[0 if self._layout == "TNC" else 1]
            if self._length is not None and steps != self._length:
                raise UserError(f"this model's unfused graph is unrolled for exactly "
                                f"{self._length} steps, not {steps}; export and generate with "
                                "the fused kernel (--rnn-backend fused), which takes any length.")
        return super().forward(inputs, states)

    def hybrid_forward(self, F, inputs, states, **params):
        h0, c0 = states
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, 0, 1)  # (T, N, C)
        if self.kernel == "fused":
            outputs, h, c = self._fused(F, inputs, h0, c0, params)
        else:
            outputs, h, c = self._unfused(F, inputs, h0, c0, params)
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, 0, 1)
        return outputs, [h, c]

    def _fused(self, F, inputs, h0, c0, params):
        # On the CPU, one RNN call per layer: for a multi-layer call, MXNet's oneDNN
        # path copies every layer's weights into one tensor and re-lays it out on
        # each call (5.9 ms of a 31 ms PTB inference call, by DNNL_VERBOSE).
        # cuDNN takes the layers in one call.
        if self._num_layers > 1 and self._per_layer_calls():
            dirs = len(self._directions)
            rows = lambda state, layer: F.slice_axis(state, axis=0, begin=layer * dirs,
                                                     end=(layer + 1) * dirs)
            outputs, h_out, c_out = inputs, [], []
            for layer in range(self._num_layers):
                if layer and self._dropout:
                    outputs = F.Dropout(outputs, p=self._dropout)
                outputs, h, c = self._rnn(F, outputs, rows(h0, layer), rows(c0, layer),
                                          params, [layer])
                h_out.append(h)
                c_out.append(c)
            return outputs, F.concat(*h_out, dim=0), F.concat(*c_out, dim=0)
        return self._rnn(F, inputs, h0, c0, params, range(self._num_layers))

    def _rnn(self, F, inputs, h0, c0, params, layers):
        """One RNN operator over ``layers`` (consecutive): outputs (T, N, H x dirs)
        and the final h, c, each (len(layers) x dirs, N, H)."""
        # The RNN operator wants one flat vector: every weight, layer by layer,
        # direction by direction (i2h then h2h), then every bias in the same order.
        flat = [params[f"{d}{layer}_{kind}_{what}"].reshape(-1)
                for what in ("weight", "bias")
                for layer in layers
                for d in self._directions
                for kind in ("i2h", "h2h")]
        if self._use_compiled():
            packed = getattr(F._internal, _ops.PACK_OP)(*flat, num_args=len(flat))
        else:
            packed = F._internal._rnn_param_concat(*flat, dim=0)
        # The operator's dropout acts between its own layers only.
        return F.RNN(inputs, packed, h0, c0, state_size=self._hidden_size,
                     num_layers=len(layers), mode="lstm",
                     p=self._dropout if len(layers) > 1 else 0.0,
                     bidirectional=len(self._directions) == 2, state_outputs=True)

    def _unfused(self, F, inputs, h0, c0, params):
        length = self._length
        if F is mx.nd:
            length = inputs.shape[0]
        elif length is None:
            raise UserError("the unfused LSTM kernel unrolls a static graph: give the layer "
                            "length=<time steps> to hybridize or export it.")
        rows = self._num_layers * len(self._directions)  # state rows, layer-major as in RNN
        per_row = lambda state: F.split(state, num_outputs=rows, axis=0, squeeze_axis=True) \
            if rows > 1 else [F.reshape(state, (-3, -2))]  # (N, H) each
        h_rows, c_rows = per_row(h0), per_row(c0)
        layer_input = inputs
        h_out, c_out = [], []
        for layer in range(self._num_layers):
            outputs = []
            for index, d in enumerate(self._directions):
                row = layer * len(self._directions) + index
                source = layer_input if d == "l" else F.reverse(layer_input, axis=0)
                out, h, c = self._unroll(F, source, h_rows[row], c_rows[row], length,
                                         params, f"{d}{layer}")
                outputs.append(out if d == "l" else F.reverse(out, axis=0))
                h_out.append(h)
                c_out.append(c)
            layer_output = outputs[0] if len(outputs) == 1 else F.concat(*outputs, dim=2)
            if self._dropout and layer < self._num_layers - 1:
                layer_output = F.Dropout(layer_output, p=self._dropout)
            layer_input = layer_output
        return layer_input, F.stack(*h_out, axis=0), F.stack(*c_out, axis=0)

    def _unroll(self, F, inputs, h, c, length, params, name):
        """One direction of one layer over (T, N, C) inputs, from states h, c (N, H):
        outputs (T, N, H) and the final h, c."""
        hidden = self._hidden_size
        # One GEMM for the input projection of all T steps, with both biases:
        # adding the recurrent bias here rather than in every step's GEMM saves
        # T bias additions forward and T bias-gradient sums backward.
        projected = F.FullyConnected(inputs, params[f"{name}_i2h_weight"],
                                     params[f"{name}_i2h_bias"] + params[f"{name}_h2h_bias"],
                                     num_hidden=4 * hidden, flatten=False)  # (T, N, 4H)
        steps = F.split(projected, num_outputs=length, axis=0, squeeze_axis=True) \
            if length > 1 else [F.reshape(projected, (-3, -2))]
        compiled = self._use_compiled()
        outs = []
        for t in range(length):
            recurrent = F.FullyConnected(h, params[f"{name}_h2h_weight"], no_bias=True,
                                         num_hidden=4 * hidden)  # (N, 4H)
            if compiled:
                h, c = getattr(F._internal, _ops.CELL_OP)(steps[t], recurrent, c)
            else:
                i, f, g, o = F.split(steps[t] + recurrent, num_outputs=4, axis=1)
                c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
                h = F.sigmoid(o) * F.tanh(c)
            outs.append(h)
        return F.stack(*outs, axis=0), h, c


def zero_states(layers: Sequence[LSTM], batch_size: int, ctx=None) -> List[mx.nd.NDArray]:
    """Flat list of begin states for several LSTM layers, in order."""
    return [s for layer in layers for s in layer.begin_state(batch_size, ctx)]


def kernel_of(block: gluon.Block) -> str:
    """The kernel of the recurrent layers inside ``block`` (one factory made them
    all); :data:`kernels.EXPORT_DEFAULT` for a block without any."""
    found = {child.kernel for child in _blocks(block) if isinstance(child, LSTM)}
    if len(found) > 1:
        raise UserError(f"this model mixes recurrent kernels ({', '.join(sorted(found))}); "
                        "build it from one LayerFactory.")
    return found.pop() if found else kernels.EXPORT_DEFAULT


def _blocks(block: gluon.Block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


class LayerFactory:
    """Makes the recurrent layers of a model, all with one kernel.

    Models take one of these (as gluon-cv models take ``norm_layer=``) and call
    it for each layer: ``factory(hidden, input_size=C, length=T, prefix=...)``
    takes :class:`LSTM`'s arguments, less the kernel, which is decided here once.
    ``kernel`` is any of :data:`gluon_seq.rnn.kernels.CHOICES` but ``auto-fast``
    (timing needs a model: see :func:`gluon_seq.rnn.kernels.fastest`).
    """

    def __init__(self, kernel: str = "auto", ctx: Optional[mx.Context] = None,
                 compiled_ops: Optional[bool] = None, **defaults):
        if kernels.check(kernel) == kernels.TIMED:
            raise UserError("auto-fast is decided by timing both kernels on a model; resolve "
                            "it first (gluon_seq.rnn.kernels.fastest).")
        self.kernel = kernels.resolve(kernel, ctx)
        self.ctx = ctx
        self._defaults = dict(defaults, compiled_ops=compiled_ops)

    def __call__(self, hidden_size: int, **options) -> LSTM:
        return LSTM(hidden_size, kernel=self.kernel, ctx=self.ctx,
                    **dict(self._defaults, **options))

    def __repr__(self):
        return f"LayerFactory(kernel={self.kernel!r})"
