"""The recurrent layer and everything that decides how it computes.

==================  ==========================================================
``kernels``         the kernel list, ``resolve``, which kernel can serve which
                    graph, and the one auto-fast timing (no MXNet at import)
``layer``           :class:`LSTM` (one set of weights, two kernels) and the
                    :class:`LayerFactory` that models receive
``compiled_ops``    gluon_seq's compiled CPU operators, built on first use
``csrc/``           their C++ source
``gates``           a numpy recomputation of one layer's gates, for plots
==================  ==========================================================

Models are handed a :class:`LayerFactory` and never see a kernel name; a new
cell type or kernel is a change here and nowhere else.
"""
from .kernels import CHOICES, EXPORT_DEFAULT, KERNELS, TIMED, resolve

_LAZY = {"LSTM": "layer", "LayerFactory": "layer", "portable_graph": "layer",
         "zero_states": "layer", "kernel_of": "layer"}


def __getattr__(name):
    # The layer loads MXNet; the kernel list (what the CLI needs) does not.
    if name in _LAZY:
        from . import layer

        return getattr(layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CHOICES", "EXPORT_DEFAULT", "KERNELS", "TIMED", "resolve", "LSTM", "LayerFactory",
           "kernel_of", "portable_graph", "zero_states"]
