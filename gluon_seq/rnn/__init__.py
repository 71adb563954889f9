"""The recurrent layer and everything that decides how it computes.

``cells``: the cells, their equations and gate order (no MXNet at import);
``kernels``: which kernel a request means or can serve a graph (no MXNet);
``layer``: :class:`RecurrentLayer`, :class:`LSTM`, :class:`GRU`, :class:`RNN`
and :class:`LayerFactory`; ``fused``, ``unfused``: the two kernels;
``compiled_ops`` (C++ in ``csrc/``): compiled CPU operators; ``gates``: a
numpy recomputation of one layer's gates, for plots.

Models are handed a :class:`LayerFactory` and never see a kernel or cell name,
so a new cell or kernel is a change here only (docs/kernels.md).
"""
from .cells import CELLS
from .kernels import CHOICES, EXPORT_DEFAULT, KERNELS, TIMED, resolve

_LAZY = {"LSTM", "GRU", "RNN", "RecurrentLayer", "LayerFactory", "make_layer", "zero_states",
         "kernel_of", "cell_of", "widest_of"}


def __getattr__(name):
    # The layer loads MXNet; the kernel and cell lists (what the CLI needs) do not.
    if name in _LAZY:
        from . import layer

        return getattr(layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CELLS", "CHOICES", "EXPORT_DEFAULT", "KERNELS", "TIMED", "resolve", "LSTM", "GRU",
           "RNN", "RecurrentLayer", "LayerFactory", "make_layer", "cell_of", "kernel_of",
           "widest_of", "zero_states"]
