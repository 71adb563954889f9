"""The recurrent layer's kernels: which exist, which one a request means, which
one can serve a graph, and the one timing that picks the faster.

A *kernel* is how a recurrent layer (:class:`gluon_seq.rnn.RecurrentLayer`,
any cell of :mod:`gluon_seq.rnn.cells`) computes; its weights are the same
either way:

* ``fused``: MXNet's ``RNN`` operator (cuDNN on GPU, oneDNN on CPU);
* ``unfused``: per-step cells, unrolled for a fixed number of steps.

A user asks for one of :data:`CHOICES`: a kernel, ``auto`` (fused on GPU,
unfused on CPU) or ``auto-fast`` (time both on the model at hand and keep the
faster, with :func:`fastest`).  Training and export both time through
:func:`fastest`; they differ only in what one timed step is.

This module imports no MXNet at load time, so the CLI can list the choices
without loading it.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

from . import cells
from ..util.errors import UserError

KERNELS = ("fused", "unfused")
CHOICES = ("auto", "fused", "unfused", "auto-fast")
TIMED = "auto-fast"
# One RNN node: what cuDNN, oneDNN and ONNX's LSTM all take.
EXPORT_DEFAULT = "fused"
# The cells whose RNN node mx2onnx (MXNet 1.9.1) converts: all four (ONNX LSTM,
# GRU with linear_before_reset=1, RNN).  It converts a GRU or RNN node one
# direction at a time, so exports split those directions (fused.py).
ONNX_CELLS = cells.CELLS


def check(choice: str) -> str:
    """``choice`` itself, or a UserError naming the choices."""
    return cells.one_of(choice, CHOICES, "RNN kernel")


def resolve(choice: str, ctx=None) -> str:
    """The kernel ``choice`` means on ``ctx`` without timing anything: a kernel is
    itself; ``auto`` (and ``auto-fast`` where nothing is timed, as in a run folder
    written before training recorded its kernel) is fused on GPU, unfused on CPU."""
    if check(choice) in KERNELS:
        return choice
    if ctx is None:
        import mxnet as mx

        ctx = mx.current_context()
    return "fused" if ctx.device_type == "gpu" else "unfused"


def accepts(choice: str, kernel: str) -> bool:
    """Whether asking for ``choice`` is asking for the recorded ``kernel``:
    ``auto`` and ``auto-fast`` were decided once, when the run started."""
    return check(choice) == kernel or choice in ("auto", TIMED)


def refusal(kernel: str, *, cell: str = cells.DEFAULT, onnx: bool = False,
            fixed_length: bool = True) -> Optional[str]:
    """Why ``kernel`` cannot serve a graph of ``cell`` layers, or None if it can.

    ``onnx``: the graph is to be converted to ONNX, whose recurrent nodes map
    from the ``RNN`` operator only, for the cells of :data:`ONNX_CELLS`.
    ``fixed_length=False``: the graph must take inputs of any length (a
    language model continuing a prompt); the unfused kernel is unrolled for
    one length."""
    if kernel == "unfused" and onnx:
        return ("ONNX export maps the fused kernel's RNN operator; re-export with "
                "--rnn-backend fused")
    if onnx and cell not in ONNX_CELLS:
        return (f"MXNet's ONNX converter has no mapping for the {cell} cell's RNN operator; "
                "serve it with the mxnet backend")
    if kernel == "unfused" and not fixed_length:
        return ("the unfused kernel is unrolled for a fixed number of steps, and this model "
                "takes inputs of any length")
    return None


def serving_kernels(*, cell: str = cells.DEFAULT, onnx: bool = False,
                    fixed_length: bool = True) -> Sequence[str]:
    """The kernels that can serve such a graph, in :data:`KERNELS` order."""
    return [k for k in KERNELS
            if refusal(k, cell=cell, onnx=onnx, fixed_length=fixed_length) is None]


def fastest(seconds_per_step: Callable[[str], float], kernels: Sequence[str] = KERNELS,
            log: Callable[[str], None] = print, purpose: str = "training with",
            unit: str = "per step") -> str:
    """The kernel of ``kernels`` whose step ``seconds_per_step(kernel)`` times
    fastest (each timing is the caller's best of a few repeats), and log both.
    ``purpose`` starts the log line's verb phrase: "training with", "exporting"."""
    if len(kernels) == 1:
        log(f"auto-fast: {purpose} the {kernels[0]} kernel, the only one that serves "
            "this model")
        return kernels[0]
    seconds: Dict[str, float] = {kernel: seconds_per_step(kernel) for kernel in kernels}
    best = min(seconds, key=seconds.get)
    timings = ", ".join(f"{seconds[k] * 1e3:.2f} ms {k}" for k in kernels)
    log(f"auto-fast: {purpose} the {best} kernel ({timings} {unit})")
    return best
