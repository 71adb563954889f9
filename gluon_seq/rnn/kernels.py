"""The recurrent layer's kernels: which exist, which one a request means, which
one can serve a graph, and the one timing that picks the faster.

A *kernel* is how a layer computes, on the same weights: ``fused`` (MXNet's
``RNN`` operator: cuDNN on GPU, oneDNN on CPU) or ``unfused`` (per-step cells:
on the CPU an LSTM or GRU layer walks its steps in one compiled operator,
otherwise the steps are unrolled for a fixed number).  A user asks for one of :data:`CHOICES`:
a kernel, ``auto`` (fused on GPU, unfused on CPU) or ``auto-fast`` (both timed
on the model at hand by :func:`fastest`, for training and export alike).

No MXNet at import, so the CLI can list the choices without loading it.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

from . import cells

KERNELS = ("fused", "unfused")
CHOICES = ("auto", "fused", "unfused", "auto-fast")
TIMED = "auto-fast"
# One RNN node: what cuDNN, oneDNN and ONNX's LSTM all take.
EXPORT_DEFAULT = "fused"
# An export's compiled graph walks LSTM and GRU layers of this many units or more in the
# unfused kernel's layer operators, whose weights a predictor packs once at load.  Below
# it, oneDNN's RNN call is the cheaper: the walk's separate input projection and state
# reshapes cost 5-9 us a call at batch 1 at 24 and 32 units, where at 100 and 500 units
# the walk saves 0.3 and 8 ms (benchmarks/batch1.py at 311daf8's parent, printed only;
# the written table is with this rule).
WALK_MIN_UNITS = 64


def check(choice: str) -> str:
    """``choice`` itself, or a ValueError naming the choices."""
    return cells.one_of(choice, CHOICES, "RNN kernel")


def resolve(choice: str, ctx=None) -> str:
    """The kernel ``choice`` means on ``ctx`` without timing anything: a kernel is
    itself; ``auto`` is fused on GPU, unfused on CPU.  ``auto-fast`` needs a model to
    time (:func:`fastest`), so it is not resolved here."""
    if check(choice) in KERNELS:
        return choice
    if choice == TIMED:
        raise ValueError("auto-fast is decided by timing the kernels on a model "
                         "(kernels.fastest), not resolved")
    if ctx is None:
        import mxnet as mx

        ctx = mx.current_context()
    return "fused" if ctx.device_type == "gpu" else "unfused"


def refusal(kernel: str, *, onnx: bool = False, fixed_length: bool = True) -> Optional[str]:
    """Why ``kernel`` cannot serve a graph, or None if it can.  ``onnx``: the
    graph converts to ONNX, whose recurrent nodes map from the ``RNN`` operator
    only.  ``fixed_length=False``: it must take inputs of any length (a language
    model continuing a prompt), and the unfused kernel is unrolled for one."""
    if kernel == "unfused" and onnx:
        return ("ONNX export maps the fused kernel's RNN operator; re-export with "
                "--rnn-backend fused")
    if kernel == "unfused" and not fixed_length:
        return ("the unfused kernel is unrolled for a fixed number of steps, and this model "
                "takes inputs of any length")
    return None


def compiled_graph_kernel(kernel: str, cell: str, units: int) -> str:
    """The kernel an export's compiled graph is traced with, for a run trained with
    ``kernel``: unfused (the layer operators; the same weights and numbers) for LSTM and
    GRU layers of at least :data:`WALK_MIN_UNITS` ``units``, else ``kernel``."""
    return "unfused" if cell in cells.WALKING and units >= WALK_MIN_UNITS else kernel


def serving_kernels(*, onnx: bool = False, fixed_length: bool = True) -> Sequence[str]:
    """The kernels that can serve such a graph, in :data:`KERNELS` order."""
    return [k for k in KERNELS if refusal(k, onnx=onnx, fixed_length=fixed_length) is None]


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
