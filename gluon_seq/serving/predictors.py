"""Predictors: an export folder, run by one serving runtime.

A runtime is one ``@register_runtime("name")`` :class:`Predictor` subclass;
:func:`load_predictor`, which every front end calls, picks it by name.
Predictors read the export folder alone, never a task or the training code.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Type

import mxnet as mx
import numpy as np

from ..codecs import codec_from_meta
from ..util.errors import UserError, reason
from ..util.registry import Registry
from .format import COMPILED_SYMBOL_FILE, INT8_PARAMS_FILE, INT8_SYMBOL_FILE, META_FILE, \
    PARAMS_FILE, SYMBOL_FILE, graph_operators, read_meta, read_params, zeros
from ..rnn import compiled_ops
from .folding import fold, graph_params, prepack
from .predict_api import PredictGraph, params_bytes

# @register_runtime("name"): serve export folders with this class under that name.
RUNTIMES = Registry("serving runtime", attribute="runtime")
register_runtime = RUNTIMES.register


AUTO = "auto"  # not a runtime: the faster of those that can run the folder, timed at load


def runtime_names() -> List[str]:
    """What ``--backend`` takes: every registered runtime, and ``auto``."""
    return [AUTO] + RUNTIMES.names()


def load_predictor(folder: Path, runtime: str = "mxnet", **options) -> "Predictor":
    """The export folder ``folder``, ready to run with ``runtime``; ``options`` are
    the runtime class's own (mxnet: ``ctx``, ``graph``).  ``runtime="auto"`` loads every
    runtime that can run the folder and keeps the fastest (:func:`fastest`).  Runtimes
    register when :mod:`gluon_seq.serving`, always imported first, imports their modules."""
    if runtime == AUTO:
        return fastest(folder, **options)
    return RUNTIMES.get(runtime)(folder, **options)


def fastest(folder: Path, seconds: float = 0.2, **options) -> "Predictor":
    """The predictor, of those every registered runtime can make for ``folder``, with the
    lowest median time of a batch-1 call of zeros; each spends about ``seconds``.  Its
    :attr:`Predictor.timings` holds every candidate's median ms.  ``options`` go to
    the mxnet runtime, whose predictor is always made (a folder it cannot load is a
    UserError); a runtime that refuses the folder (no ``model.onnx``, no onnxruntime
    installed) is left out."""
    candidates = [load_predictor(folder, "mxnet", **options)]
    for name in RUNTIMES.names():
        if name != "mxnet":
            try:
                candidates.append(load_predictor(folder, name))
            except UserError:
                continue
    timings = {}
    for candidate in candidates:
        feed = zeros(candidate.data_specs, 1)
        times, spent = [], 0.0
        while spent < seconds or len(times) < 5:  # the first 2 calls are warm-up
            start = time.perf_counter()
            candidate.run(feed)
            times.append(time.perf_counter() - start)
            spent += times[-1]
        timings[candidate.runtime] = float(np.median(times[2:])) * 1e3
    chosen = min(candidates, key=lambda c: timings[c.runtime])
    chosen.timings = timings
    return chosen


class Predictor:
    """What serving needs from an export folder, whichever runtime executes the graph.

    ``run(arrays, states=None)``: batch-first numpy inputs -> numpy outputs (zero
    begin states unless given); ``predict(inputs)``: user inputs -> answers
    through the stored codec.  Subclasses load the graph and implement ``_execute``.
    """

    runtime = "base"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.timings: Dict[str, float] = {}  # runtime -> ms a batch-1 call, if chosen by time
        self.meta = read_meta(self.folder)
        try:
            self.codec = codec_from_meta(self.meta["codec"])
        except (TypeError, KeyError, ValueError) as err:  # a codec field damaged or missing
            if isinstance(err, UserError):
                raise UserError(f"{self.folder / META_FILE}: {err}") from None
            raise UserError(f"{self.folder / META_FILE} has a damaged codec ({reason(err)}); "
                            "re-export the run.") from None
        self.data_specs = [s for s in self.meta["inputs"] if s["role"] == "data"]
        self.state_specs = [s for s in self.meta["inputs"] if s["role"] == "state"]

    @property
    def task(self) -> str:
        return self.meta["task"]

    def zero_states(self, batch_size: int) -> List[np.ndarray]:
        return zeros(self.state_specs, batch_size)

    def zero_inputs(self, batch_size: int) -> List[np.ndarray]:
        """Zeros of every input's shape at ``batch_size``: data, then states."""
        return zeros(self.meta["inputs"], batch_size)

    def run(self, arrays: Sequence[np.ndarray], states: Optional[Sequence[np.ndarray]] = None
            ) -> List[np.ndarray]:
        if len(arrays) != len(self.data_specs):
            raise UserError(f"this model takes {len(self.data_specs)} input array(s), "
                            f"got {len(arrays)}.")
        batch = int(np.asarray(arrays[0]).shape[0])
        states = self.zero_states(batch) if states is None else states
        return self._execute([np.asarray(a, dtype=np.float32) for a in list(arrays) + list(states)])

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        """Outputs for float32 inputs in ``meta["inputs"]`` order."""
        raise NotImplementedError

    def predict(self, inputs: Sequence) -> list:
        return self.codec.predict(self.run, inputs)


GRAPHS = ("auto", "int8", "compiled", "portable")
GRAPH_FILES = {"int8": (INT8_SYMBOL_FILE, INT8_PARAMS_FILE),
               "compiled": (COMPILED_SYMBOL_FILE, PARAMS_FILE),
               "portable": (SYMBOL_FILE, PARAMS_FILE)}


def _graph_operators(symbol: Path) -> set:
    """The operators of an MXNet symbol file; UserError naming it if it is damaged."""
    try:
        return graph_operators(symbol.read_bytes().decode("utf-8"))
    except ValueError as err:  # not JSON, not UTF-8, or not a graph
        raise UserError(f"{symbol} is corrupt: {reason(err)}; re-export the run.") from None


@register_runtime("mxnet")
class MXNetPredictor(Predictor):
    """An export folder's graph and params, run by MXNet through its C predict API
    (:mod:`.predict_api`), with the parts of the graph that read only weights computed
    once, at load (:mod:`.folding`).

    :attr:`graph` says which graph runs: ``"int8"`` (``model-int8-symbol.json``, which
    ``export --quantize int8`` writes) when the folder has it, ``ctx`` is a CPU and the
    operators it reads load here; else ``"compiled"`` (``model-compiled-symbol.json``,
    faster: BENCHMARKS.md's batch-1 table) when the folder has it, ``ctx`` is a CPU and
    the operators load here; else ``"portable"`` (``model-symbol.json``).  The last two
    give the same numbers.  ``graph="portable"`` (or ``GLUON_SEQ_COMPILED_OPS=0``) forces
    the portable graph; ``graph="compiled"`` or ``"int8"`` insists, a UserError where it
    cannot run.  A damaged compiled graph is a UserError naming the file, never a quiet
    fall back: a damaged file means a damaged folder, which a user wants to hear about,
    not find as a halved speed.
    """

    def __init__(self, folder: Path, ctx: Optional[mx.Context] = None, graph: str = "auto"):
        super().__init__(folder)
        self.ctx = ctx or mx.cpu()
        self.graph = self._choose_graph(graph)
        symbol, params = (self.folder / name for name in GRAPH_FILES[self.graph])
        if self.graph != "portable":  # a damaged portable graph is a damaged folder too
            _graph_operators(self.folder / SYMBOL_FILE)
        operators = _graph_operators(symbol)
        # A compiled graph, or one saved straight from a block that used gluon_seq's
        # compiled operators, needs them registered first.
        if operators & set(compiled_ops.OPS):
            compiled_ops.available()
        weights = read_params(params)
        names = [s["name"] for s in self.meta["inputs"]]
        try:
            # What the graph derives from the weights alone is computed once, here.
            graph = mx.sym.load(str(symbol))
            # Its weights read packed, packed by fold: the compiled graph, and an int8 graph
            # quantized from it (its recurrent layers stay the fp32 layer operators).
            if self.graph == "compiled" or (self.graph == "int8"
                                            and operators & set(compiled_ops.OPS)):
                graph = prepack(graph, weights)
            graph, weights = fold(graph, weights, names)
            arguments, auxiliary = graph_params(graph, weights, names)
            self._graph = PredictGraph(graph.tojson(), params_bytes(arguments, auxiliary), names,
                                       self.ctx)
            # Bound now, at batch 1, so a graph and params that do not fit fail at load.
            self._graph.forward(self.zero_inputs(1))
        except (mx.base.MXNetError, ValueError, AssertionError, OSError, KeyError) as err:
            raise UserError(f"export folder {self.folder} is corrupt: {symbol.name} and "
                            f"{PARAMS_FILE} do not make one model ({reason(err)}); re-export the "
                            "run.") from None

    def _choose_graph(self, wanted: str) -> str:
        """"int8", "compiled" or "portable", for ``graph=wanted`` (see the class)."""
        if wanted not in GRAPHS:
            raise UserError(f"graph must be one of {', '.join(GRAPHS)}, not {wanted!r}.")
        if wanted == "portable":
            return wanted
        int8 = self.folder / INT8_SYMBOL_FILE
        if wanted in ("auto", "int8") and self.ctx.device_type == "cpu" and int8.is_file():
            # An int8 graph quantized from the compiled one needs its operators.
            if not _graph_operators(int8) & set(compiled_ops.OPS) or compiled_ops.available():
                return "int8"
            if wanted == "int8":
                raise UserError(f"cannot run {int8}: its recurrent layers are gluon_seq's "
                                "compiled operators, which are unavailable "
                                f"({compiled_ops.unavailable_reason()}); serve the fp32 graph.")
        if wanted == "int8":
            raise UserError(f"cannot run an int8 graph: {self.folder} has none on the CPU (write "
                            "it with 'gluon-seq export RUN_DIR --quantize int8').")
        # The file first: a folder without it never builds the compiled operators.
        if not (self.folder / COMPILED_SYMBOL_FILE).is_file():
            why = f"{self.folder} has no {COMPILED_SYMBOL_FILE} (re-export the run to write it)"
        elif self.ctx.device_type != "cpu":
            why = f"gluon_seq's compiled operators run on the CPU only, not on {self.ctx}"
        elif not compiled_ops.available():
            why = ("gluon_seq's compiled operators are unavailable "
                   f"({compiled_ops.unavailable_reason()})")
        else:
            return "compiled"
        if wanted == "compiled":
            raise UserError(f"cannot run the compiled graph: {why}; use the portable graph.")
        return "portable"

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        return self._graph.forward(feed)
