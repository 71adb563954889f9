"""The recurrent layer and everything that decides how it computes.

==================  ==========================================================
``cells``           the cell list (lstm, gru, rnn_tanh, rnn_relu), their
                    equations and gate order (no MXNet at import)
``kernels``         the kernel list, ``resolve``, which kernel can serve which
                    graph, and the one auto-fast timing (no MXNet at import)
``layer``           :class:`RecurrentLayer` and its cells :class:`LSTM`,
                    :class:`GRU`, :class:`RNN` (one set of weights, two
                    kernels), and the :class:`LayerFactory` that models receive
``fused``           the fused kernel: MXNet's ``RNN`` operator
``unfused``         the unfused kernel: per-step cells, input projection hoisted
``compiled_ops``    gluon_seq's compiled CPU operators, built on first use
``csrc/``           their C++ source
``gates``           a numpy recomputation of one layer's gates, for plots
==================  ==========================================================

Models are handed a :class:`LayerFactory` and never see a kernel or cell name;
a new cell type or kernel is a change here and nowhere else.
"""
from .cells import CELLS
from .kernels import CHOICES, EXPORT_DEFAULT, KERNELS, TIMED, resolve

_LAZY = {"LSTM", "GRU", "RNN", "RecurrentLayer", "LayerFactory", "make_layer", "zero_states",
         "kernel_of", "cell_of"}


def __getattr__(name):
    # The layer loads MXNet; the kernel and cell lists (what the CLI needs) do not.
    if name in _LAZY:
        from . import layer

        return getattr(layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CELLS", "CHOICES", "EXPORT_DEFAULT", "KERNELS", "TIMED", "resolve", "LSTM", "GRU",
           "RNN", "RecurrentLayer", "LayerFactory", "make_layer", "cell_of", "kernel_of",
           "zero_states"]
