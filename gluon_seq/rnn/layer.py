"""One recurrent layer, four cells, two kernels, one set of weights.

:class:`RecurrentLayer` is the layer; :class:`LSTM`, :class:`GRU` and
:class:`RNN` fix its cell.  Its weights are ``gluon.rnn``'s (names and shapes:
:mod:`gluon_seq.rnn.cells`) and both kernels read exactly these, so a params
file from one kernel, or from the stock layer, loads strictly into the other.

The kernel, the cell, the compiled operators (CPU only) and portability are
decided once, in the constructor; a trace only looks at where the weights
live.  Models never see any of them: they call the :class:`LayerFactory` they
are handed.  docs/kernels.md says what each kernel and an export's graphs hold.
"""
from __future__ import annotations

import re
from typing import List, Optional, Sequence

import mxnet as mx
from mxnet import gluon

from . import cells, fused, kernels, unfused
from . import compiled_ops as _ops

FUSED_CALLS = ("auto", "per-layer", "one")
# How the stock gluon.rnn layers' save_parameters names a weight: after the unfused
# cell it would run as (`_unfused.0.i2h_weight`, `_unfused.0.r_cell.h2h_bias`).
_STOCK_KEY = re.compile(r"_unfused\.(\d+)\.(?:([lr])_cell\.)?((?:i2h|h2h)_(?:weight|bias))")


class RecurrentLayer(gluon.HybridBlock):
    """Multi-layer recurrent layer of one ``cell`` over a (T, N, C) or (N, T, C) sequence.

    ``outputs, states = layer(inputs, states)``: ``states`` is :attr:`state_count`
    arrays (``[h0, c0]`` LSTM, ``[h0]`` GRU or RNN), each (num_layers x
    directions, N, H), from :meth:`begin_state` (outside ``hybrid_forward``, so
    the graph exports); ``outputs`` has the input's layout with C replaced by H
    (2H bidirectional).

    ``length``: time steps, which the unfused kernel needs once hybridized (it
    unrolls a static graph); the fused kernel ignores it.  ``compiled_ops``:
    ``None`` uses the compiled CPU operators when they build, ``False`` never,
    ``True`` insists.  ``portable``: trace an export's ``model-symbol.json``
    (stock operators, no padding, a bidirectional GRU's or RNN's directions as
    separate ``RNN`` calls for the ONNX converter); the same numbers.
    ``fused_calls``: ``auto`` (one ``RNN`` call per layer on the CPU, one for
    all layers on a GPU), ``per-layer`` or ``one``.  ``pad_units=False``: the fused
    kernel never pads a narrow CPU call's units (fused.py); the same numbers.
    ``i2h_bias_initializer=mx.init.LSTMBias(...)`` means zeros for a cell
    without a forget gate, as Keras' GRU and SimpleRNN start.
    """

    def __init__(self, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 kernel: str = "auto", layout: str = "TNC", input_size: int = 0,
                 length: Optional[int] = None, ctx: Optional[mx.Context] = None,
                 i2h_weight_initializer=None, h2h_weight_initializer=None,
                 i2h_bias_initializer="zeros", h2h_bias_initializer="zeros",
                 bidirectional: bool = False, compiled_ops: Optional[bool] = None,
                 fused_calls: str = "auto", cell: str = cells.DEFAULT, portable: bool = False,
                 pad_units: bool = True, **kwargs):
        super().__init__(**kwargs)
        if layout not in ("TNC", "NTC"):
            raise ValueError(f"layout must be 'TNC' or 'NTC', not {layout!r}")
        if fused_calls not in FUSED_CALLS:
            raise ValueError(f"fused_calls must be one of {', '.join(FUSED_CALLS)}, "
                             f"not {fused_calls!r}")
        if portable and compiled_ops:
            raise ValueError("a portable layer uses stock operators only: compiled_ops=True "
                             "contradicts portable=True")
        self.portable = portable
        self.pad_units = pad_units and not portable
        self.cell = cells.check(cell)
        self._spec = cells.spec(cell)
        self._fused_calls = fused_calls
        self._hidden_size = hidden_size
        self._num_layers = num_layers
        self._dropout = dropout
        self._layout = layout
        self._length = length
        self.kernel = kernels.resolve(kernel, ctx)
        self._decide_compiled(ctx, False if portable else compiled_ops)
        self._directions = ("l", "r") if bidirectional else ("l",)
        if cell != "lstm" and isinstance(i2h_bias_initializer, mx.init.LSTMBias):
            i2h_bias_initializer = "zeros"
        rows = self.gate_count * hidden_size
        in_size = input_size
        for layer in range(num_layers):
            for d in self._directions:
                self._register(f"{d}{layer}_i2h_weight", (rows, in_size), i2h_weight_initializer)
                self._register(f"{d}{layer}_h2h_weight", (rows, hidden_size),
                               h2h_weight_initializer)
                self._register(f"{d}{layer}_i2h_bias", (rows,), i2h_bias_initializer)
                self._register(f"{d}{layer}_h2h_bias", (rows,), h2h_bias_initializer)
            in_size = hidden_size * len(self._directions)

    def _decide_compiled(self, ctx, compiled_ops) -> None:
        # The compiled operators exist for CPU only; decided once, like the kernel.
        on_cpu = (ctx or mx.current_context()).device_type == "cpu"
        if compiled_ops and not on_cpu:
            raise ValueError("compiled_ops=True needs a CPU context: gluon_seq's compiled "
                             "operators have no GPU code")
        if compiled_ops and not _ops.available():
            raise RuntimeError("compiled_ops=True, but gluon_seq's compiled operators are "
                               f"unavailable ({_ops.unavailable_reason()})")
        self._compiled = compiled_ops is not False and on_cpu and _ops.available()
        self._compiled_required = bool(compiled_ops)

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
    def gate_count(self) -> int:
        """G: each weight and bias has G * hidden_size rows (4 LSTM, 3 GRU, 1 RNN)."""
        return self._spec.gate_count

    @property
    def output_size(self) -> int:
        """Channels of each output step: H, or 2H when bidirectional."""
        return self._hidden_size * len(self._directions)

    @property
    def state_count(self) -> int:
        """State arrays taken and returned: 2 (h, c) LSTM, 1 (h) GRU or RNN;
        models split their states by it, never by cell type."""
        return self._spec.state_count

    def state_shape(self, batch_size: int):
        return (self._num_layers * len(self._directions), batch_size, self._hidden_size)

    def begin_state(self, batch_size: int, ctx: Optional[mx.Context] = None,
                    dtype: str = "float32") -> List[mx.nd.NDArray]:
        """:attr:`state_count` zero states, each (num_layers x directions, N, H)."""
        ctx = ctx or mx.current_context()
        return [mx.nd.zeros(self.state_shape(batch_size), ctx=ctx, dtype=dtype)
                for _ in range(self.state_count)]

    def infer_shape(self, inputs, *args):
        channels = inputs.shape[2]
        for d in self._directions:
            getattr(self, f"{d}0_i2h_weight").shape = (self.gate_count * self._hidden_size,
                                                       channels)

    def __repr__(self):
        ops = ", portable" if self.portable else ", compiled ops" if self._compiled else ""
        cell = "" if type(self) in (LSTM, GRU) else f", cell={self.cell}"
        return (f"{self.__class__.__name__}({self._hidden_size}, layers={self._num_layers}"
                f"{cell}, kernel={self.kernel}{ops}, layout={self._layout})")

    def load_parameters(self, filename, ctx=None, allow_missing=False, ignore_extra=False,
                        cast_dtype=False, dtype_source="current"):
        """Gluon's ``load_parameters``, which also reads, as strictly, a file the
        stock ``gluon.rnn`` layer saved (its keys name its unfused cells)."""
        loaded = mx.nd.load(str(filename))
        if not any(_STOCK_KEY.fullmatch(key) for key in loaded):
            return super().load_parameters(filename, ctx, allow_missing, ignore_extra,
                                           cast_dtype, dtype_source)
        ours = {}
        for key, value in loaded.items():
            match = _STOCK_KEY.fullmatch(key)
            ours[f"{match.group(2) or 'l'}{match.group(1)}_{match.group(3)}" if match
                 else key] = value
        self.collect_params().load_dict(ours, ctx, allow_missing, ignore_extra,
                                        restore_prefix=self.prefix, filename=str(filename),
                                        cast_dtype=cast_dtype, dtype_source=dtype_source)
        return None

    def _weight_contexts(self) -> Optional[List[mx.Context]]:
        """Where the weights live (whatever the layer's ``ctx``); None before initialization."""
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

    def _directions_apart(self) -> bool:
        """Whether the fused kernel runs each direction as its own ``RNN`` call:
        in a portable graph of a GRU or RNN, whose bidirectional ``RNN`` node
        mx2onnx cannot convert."""
        return self.portable and self.cell != "lstm"

    def _use_compiled(self) -> bool:
        """Whether the graph being traced gets the compiled operators: asked for
        (never in a portable layer), and the weights live on the CPU."""
        if not self._compiled:
            return False
        if self._weights_on_cpu():
            return True
        if self._compiled_required:
            raise ValueError("compiled_ops=True, but this layer's weights are on "
                             f"{self._weight_contexts()[0]}; gluon_seq's compiled operators "
                             "run on the CPU only")
        return False

    def _walks(self) -> bool:
        """Whether the unfused kernel runs each layer as one compiled operator, which
        takes any number of steps, rather than unrolling it (unfused.py)."""
        return self.kernel == "unfused" and self.cell in cells.WALKING and self._use_compiled()

    def forward(self, inputs, states):
        # An unfused graph is unrolled for `length` steps; say so plainly rather
        # than let MXNet fail on a split deep inside the graph.
        if self.kernel == "unfused" and self._active and isinstance(inputs, mx.nd.NDArray) \
                and not self._walks():
            steps = inputs.shape[0 if self._layout == "TNC" else 1]
            if self._length is not None and steps != self._length:
                raise ValueError(f"this model's unfused graph is unrolled for exactly "
                                 f"{self._length} steps, not {steps}; use the fused kernel, "
                                 "which takes any length")
        return super().forward(inputs, states)

    def hybrid_forward(self, F, inputs, states, **params):
        if len(states) != self.state_count:
            raise ValueError(f"a {self.cell} layer takes {self.state_count} state array(s), "
                             f"not {len(states)}")
        if self._layout == "NTC":
            inputs = F.swapaxes(inputs, 0, 1)  # (T, N, C)
        if self.kernel == "fused":
            outputs, states = fused.run(self, F, inputs, states, params)
        else:
            outputs, states = unfused.run(self, F, inputs, states, params,
                                          self._unrolled_length(F, inputs))
        if self._layout == "NTC":
            outputs = F.swapaxes(outputs, 0, 1)
        return outputs, states

    def _unrolled_length(self, F, inputs) -> Optional[int]:
        if F is mx.nd:
            return inputs.shape[0]
        if self._length is None and not self._walks():
            raise ValueError("the unfused kernel unrolls a static graph: give the layer "
                             "length=<time steps> to hybridize or export it")
        return self._length


class LSTM(RecurrentLayer):
    """:class:`RecurrentLayer` with the LSTM cell; the weights of ``gluon.rnn.LSTM``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, cell="lstm", **kwargs)


class GRU(RecurrentLayer):
    """:class:`RecurrentLayer` with the GRU cell; the weights of ``gluon.rnn.GRU``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, cell="gru", **kwargs)


class RNN(RecurrentLayer):
    """:class:`RecurrentLayer` with the plain ``"relu"`` (default) or ``"tanh"`` cell."""

    def __init__(self, *args, activation: str = "relu", **kwargs):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', not {activation!r}")
        super().__init__(*args, cell=f"rnn_{activation}", **kwargs)


def make_layer(cell: str, hidden_size: int, **options) -> RecurrentLayer:
    """The layer class of ``cell`` (:class:`LSTM`, :class:`GRU` or :class:`RNN`),
    so its default prefix (``lstm0_``, ``gru0_``, ``rnn0_``) is the stock layer's."""
    if cells.check(cell).startswith("rnn_"):
        return RNN(hidden_size, activation=cell[len("rnn_"):], **options)
    return {"lstm": LSTM, "gru": GRU}[cell](hidden_size, **options)


def zero_states(layers: Sequence[RecurrentLayer], batch_size: int,
                ctx=None) -> List[mx.nd.NDArray]:
    """Flat list of begin states for several recurrent layers, in order."""
    return [s for layer in layers for s in layer.begin_state(batch_size, ctx)]


def kernel_of(block: gluon.Block) -> str:
    """The kernel of ``block``'s recurrent layers (:data:`kernels.EXPORT_DEFAULT` if none)."""
    return _one_of(block, "kernel", kernels.EXPORT_DEFAULT)


def cell_of(block: gluon.Block) -> str:
    """The cell of ``block``'s recurrent layers (:data:`cells.DEFAULT` if none)."""
    return _one_of(block, "cell", cells.DEFAULT)


def widest_of(block: gluon.Block) -> int:
    """The most units of ``block``'s recurrent layers (0 if it has none)."""
    return max((child.hidden_size for child in _blocks(block)
                if isinstance(child, RecurrentLayer)), default=0)


def _one_of(block: gluon.Block, what: str, default: str) -> str:
    found = {getattr(child, what) for child in _blocks(block)
             if isinstance(child, RecurrentLayer)}
    if len(found) > 1:
        raise ValueError(f"this model mixes recurrent {what}s ({', '.join(sorted(found))}); "
                         "build it from one LayerFactory")
    return found.pop() if found else default


def _blocks(block: gluon.Block):
    yield block
    for child in block._children.values():
        yield from _blocks(child)


class LayerFactory:
    """Makes the recurrent layers of a model, all with one kernel and one cell.

    Models call it for each layer (as gluon-cv models take ``norm_layer=``):
    ``factory(hidden, input_size=C, length=T, prefix=...)`` takes
    :class:`RecurrentLayer`'s arguments but the kernel and cell, decided here
    once.  ``kernel``: any of :data:`~gluon_seq.rnn.kernels.CHOICES` but
    ``auto-fast`` (timing needs a model: :func:`~gluon_seq.rnn.kernels.fastest`).
    """

    def __init__(self, kernel: str = "auto", ctx: Optional[mx.Context] = None,
                 compiled_ops: Optional[bool] = None, cell: str = cells.DEFAULT,
                 portable: bool = False, **defaults):
        if kernels.check(kernel) == kernels.TIMED:
            raise ValueError("auto-fast is decided by timing both kernels on a model; resolve "
                             "it first (gluon_seq.rnn.kernels.fastest)")
        self.kernel = kernels.resolve(kernel, ctx)
        self.cell = cells.check(cell)
        self.ctx = ctx
        self.portable = portable
        self._defaults = dict(defaults, compiled_ops=compiled_ops, portable=portable)

    def __call__(self, hidden_size: int, **options) -> RecurrentLayer:
        return make_layer(self.cell, hidden_size, kernel=self.kernel, ctx=self.ctx,
                          **dict(self._defaults, **options))

    def __repr__(self):
        portable = ", portable=True" if self.portable else ""
        return f"LayerFactory(kernel={self.kernel!r}, cell={self.cell!r}{portable})"
