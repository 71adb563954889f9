"""``gluon-seq export RUN_DIR --quantize int8``: an int8 graph beside the fp32 one.

MXNet's own quantization (``quantize_model_mkldnn``, naive calibration: each tensor's
range over the run's validation examples) turns the export's graph, folded as the mxnet
runtime folds it, into ``model-int8-symbol.json`` and ``model-int8-0000.params``, which
the mxnet runtime serves when the folder has them: its ``FullyConnected`` layers become
oneDNN int8 inner products.  The recurrent layer stays fp32 (:data:`RNN_STAYS_FP32` says
why), so it is taken from the compiled graph where that runs here: at one row, the fp32
layer walk is faster than the ``RNN`` operator (BENCHMARKS.md, "int8 exports against
fp32").  The task's headline test metric, fp32 and int8, is logged and returned.
"""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Callable, Dict, List

import mxnet as mx
import numpy as np

from ..rnn import compiled_ops
from ..serving.folding import fold, graph_params
from ..serving.format import COMPILED_SYMBOL_FILE, INT8_PARAMS_FILE, INT8_SYMBOL_FILE, \
    PARAMS_FILE, SYMBOL_FILE, read_meta, read_params, zeros
from ..serving.predict_api import params_file
from ..serving.predictors import MXNetPredictor
from ..util.errors import UserError
from ..util.files import atomic_save, atomic_write_text
from ..util.runtime import native_stderr_silenced

CALIBRATION_EXAMPLES = 512
RNN_STAYS_FP32 = (
    "the recurrent layer stays fp32: MXNet 1.9.1 quantizes only LSTM layers, and its int8 LSTM "
    "(_contrib_quantized_rnn) fails here on oneDNN's VNNI code path and, without it "
    "(DNNL_MAX_CPU_ISA=AVX512_CORE), kept the trained arithmetic model's top answer on only "
    "25-34 % of its outputs (benchmarks/profiling/int8_probe.py --export).")


class Calibration(mx.io.DataIter):
    """Batches of (data, zero states) in the graph's input order; states keep their
    batch on axis 1, which the layout says."""

    def __init__(self, specs: List[dict], batches: List[List[np.ndarray]]):
        super().__init__(batches[0][0].shape[0])
        self.batches = [[mx.nd.array(a) for a in arrays] for arrays in batches]
        self.provide_data = [mx.io.DataDesc(s["name"], a.shape, layout="TNC" if s["role"] ==
                                            "state" else "NTC"[:a.ndim])
                             for s, a in zip(specs, batches[0])]
        self.provide_label, self.index = [], 0

    def reset(self):
        self.index = 0

    def next(self):
        if self.index == len(self.batches):
            raise StopIteration
        self.index += 1
        return mx.io.DataBatch(self.batches[self.index - 1], [])


def _calibration_batches(task, specs: List[dict], batch_size: int) -> List[List[np.ndarray]]:
    """Full batches of the split the task validates on, up to CALIBRATION_EXAMPLES examples."""
    count = max(1, CALIBRATION_EXAMPLES // batch_size)
    states = [s for s in specs if s["role"] == "state"]
    batches = [[np.asarray(a, np.float32) for a in b.inputs] + zeros(states, b.size)
               for b in itertools.islice(task.eval_batches(task.valid_split, batch_size), count)]
    return [b for b in batches if b[0].shape[0] == batches[0][0].shape[0]]


def quantize(folder: Path, task, batch_size: int, log: Callable[[str], None] = print
             ) -> Dict[str, float]:
    """Write the int8 graph of the export ``folder`` of a run of ``task``; the test
    metric, {"fp32": ..., "int8": ...}."""
    specs = read_meta(folder)["inputs"]
    names = [s["name"] for s in specs]
    compiled = (folder / COMPILED_SYMBOL_FILE).is_file() and compiled_ops.available()
    symbol, weights = fold(mx.sym.load(str(folder / (COMPILED_SYMBOL_FILE if compiled
                                                     else SYMBOL_FILE))),
                           read_params(folder / PARAMS_FILE), names)
    graph = json.loads(symbol.tojson())
    if not any(node["op"] == "FullyConnected" for node in graph["nodes"]):
        raise UserError(f"{folder} has no FullyConnected layer, the only kind quantized here "
                        "(recurrent layers stay fp32), so int8 would change nothing.")
    recurrent = ("RNN", compiled_ops.LAYER_OP, compiled_ops.GRU_LAYER_OP)
    if any(node["op"] in recurrent for node in graph["nodes"]):
        log("int8: " + RNN_STAYS_FP32)
    symbol, weights = _named_for_quantizer(symbol, weights)
    calibration = _calibration_batches(task, specs, batch_size)
    _write(folder, symbol, weights, names, Calibration(specs, calibration))
    scores = {graph_name: evaluate_export(folder, task, graph_name, batch_size)
              for graph_name in ("portable", "int8")}
    result = {"fp32": scores["portable"], "int8": scores["int8"]}
    log(f"int8: {task.test_splits[0]} {task.metric} {result['fp32']:.4f} in fp32, "
        f"{result['int8']:.4f} in int8")
    return result


def _named_for_quantizer(symbol: mx.sym.Symbol, weights: Dict[str, mx.nd.NDArray]):
    """(``symbol``, ``weights``) with each FullyConnected's weight and bias named to end in
    ``weight`` and ``bias``: MXNet 1.9.1's quantizer writes int8 values only for parameters
    so named (``contrib.quantization._quantize_params``), and a folded value, or a weight
    a model names otherwise (EntNet's), would be left without them."""
    graph = json.loads(symbol.tojson())
    nodes, weights = graph["nodes"], dict(weights)
    for node in nodes:
        if node["op"] != "FullyConnected":
            continue
        for (source, _, _), role in zip(node["inputs"][1:], ("weight", "bias")):
            name = nodes[source]["name"]
            if nodes[source]["op"] == "null" and name in weights and not name.endswith(role):
                nodes[source]["name"] = f"{name}_{role}"
                weights[f"{name}_{role}"] = weights.pop(name)
    return mx.sym.load_json(json.dumps(graph)), weights


def _sums_and_spreads(symbol: mx.sym.Symbol) -> List[str]:
    """The FullyConnected nodes whose weight is a block of ones: a model's row sums and
    spreads (EntNet's), not layers.  They stay fp32: int8 would only blur them."""
    nodes = json.loads(symbol.tojson())["nodes"]
    return [node["name"] for node in nodes if node["op"] == "FullyConnected"
            and nodes[node["inputs"][1][0]]["op"] == "_ones"]


def _write(folder: Path, symbol, weights, names, calibration) -> None:
    arguments, auxiliary = graph_params(symbol, weights, names)
    quiet = logging.getLogger("gluon_seq.quantize")
    quiet.setLevel(logging.WARNING)  # MXNet's quantizer logs a line per node at INFO
    from mxnet.contrib.quantization import quantize_model_mkldnn

    with native_stderr_silenced():  # and its C++ pass a line per node, at any level
        q_symbol, q_arguments, q_auxiliary = quantize_model_mkldnn(
            symbol, arguments, auxiliary, data_names=names, label_names=[], ctx=mx.cpu(),
            excluded_sym_names=_sums_and_spreads(symbol), excluded_op_names=["RNN"],
            calib_mode="naive", calib_data=calibration,
            num_calib_examples=CALIBRATION_EXAMPLES, logger=quiet)
    # The quantizer can return a graph that asks for int8 weights it did not write (a weight
    # named as _named_for_quantizer does not foresee); served, it would break the folder, so
    # nothing is written.
    missing = sorted(set(q_symbol.list_arguments()) - set(names) - set(q_arguments))
    if missing:
        raise UserError(f"this model cannot be quantized: MXNet's quantizer gave its int8 graph "
                        f"no weights for {', '.join(missing[:3])}{' ...' * (len(missing) > 3)}; "
                        f"the export keeps its fp32 graph.")
    saved = params_file(q_arguments, q_auxiliary)
    atomic_save(folder / INT8_PARAMS_FILE, lambda path: mx.nd.save(path, saved))
    # The symbol last: the runtime serves int8 when it exists, so a stop between the
    # two files leaves the fp32 graphs served, never a symbol without its params.
    atomic_write_text(folder / INT8_SYMBOL_FILE, q_symbol.tojson())


def evaluate_export(folder: Path, task, graph: str, batch_size: int) -> float:
    """The task's metric on its headline test split (as ``final_metrics`` reports it),
    answered by the export's ``graph`` through the mxnet runtime (a language model's
    state carried from batch to batch)."""
    predictor = MXNetPredictor(folder, graph=graph)
    metric, states = task.new_metric(), None
    for batch in task.eval_batches(task.test_splits[0], max(batch_size, 256)):
        if states is not None and states[0].shape[1] != batch.size:
            states = None
        outputs = predictor.run(list(batch.inputs), states)
        if task.carries_state:
            states = outputs[1:]
        metric.update(mx.nd.array(outputs[0]), mx.nd.array(batch.label))
    return metric.result()[task.metric]
