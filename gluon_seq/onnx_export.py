"""ONNX export of an export folder, and an onnxruntime predictor with the same API.

``export_onnx(folder)`` converts ``model-symbol.json`` + ``model-0000.params``
with MXNet's own converter (``mxnet.onnx.export_model``) and writes, beside
them::

    model.onnx   the graph, weights as initializers, batch axis dynamic
    onnx.json    opset, input/output names, and the largest difference from
                 MXNet on the export's example inputs

Three fixes are applied to what mx2onnx writes (see FINDINGS "Export and
ONNX"): its converters emit opset-13 nodes (``Split`` with a ``split``
attribute) while the file declares the installed onnx's newest opset, so the
declared opset is set to 13; the weights are listed as graph inputs as well
as initializers, which makes onnxruntime warn and lets a caller override
them, so they are removed from the inputs; and the batch axis of every input
is declared dynamic.

:class:`OnnxModel` runs ``model.onnx`` with onnxruntime and exposes the same
``meta`` / ``codec`` / ``run`` / ``predict`` as :class:`gluon_seq.export.ExportedModel`,
so the server can use either.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import List, Optional

import numpy as np

from .errors import UserError
from .export import PARAMS_FILE, SYMBOL_FILE, Predictor, graph_operators, read_meta

ONNX_FILE = "model.onnx"
ONNX_META_FILE = "onnx.json"
OPSET = 13  # the newest opset mx2onnx (MXNet 1.9.1) has converters for


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise UserError(f"{module} is not installed; install the onnx extra "
                        "(pip install -e '.[onnx]').") from None


def _unsupported_operators(symbol_file: Path) -> List[str]:
    """Operators in the MXNet graph that mx2onnx has no converter for at :data:`OPSET`."""
    from mxnet.onnx import get_operator_support

    supported = set(get_operator_support(OPSET)) | {"null"}
    return sorted(graph_operators(symbol_file.read_text()) - supported)


def _one_line(err: Exception) -> str:
    # mx2onnx raises e.g. AttributeError("Reshape: Shape value not supported in ONNX", -3).
    text = " ".join(str(a) for a in err.args) if err.args else type(err).__name__
    return (text.strip().splitlines() or [type(err).__name__])[0]


def _onnx_output_name(mxnet_name: str) -> str:
    """The name mx2onnx gives the graph output MXNet calls ``mxnet_name``."""
    # The RNN operator's extra outputs become "<node>1" (hidden) and "<node>2" (cell).
    for suffix, index in (("_state_output", "1"), ("_statecell_output", "2")):
        if mxnet_name.endswith(suffix):
            return mxnet_name[:-len(suffix)] + index
    match = re.fullmatch(r"(.*)_output(\d)?", mxnet_name)
    if match:
        return match.group(1) + (match.group(2) or "")
    return mxnet_name


def _order_outputs(model, symbol_file: Path) -> None:
    """Put the graph outputs in MXNet's order (mx2onnx lists them in node order,
    so a language model's states came before its prediction)."""
    import mxnet as mx

    wanted = [_onnx_output_name(n) for n in mx.sym.load(str(symbol_file)).list_outputs()]
    by_name = {o.name: o for o in model.graph.output}
    if sorted(wanted) != sorted(by_name):
        raise UserError(f"the ONNX graph's outputs {sorted(by_name)} do not match MXNet's "
                        f"{wanted}; serve this model with the mxnet backend.")
    ordered = [by_name[n] for n in wanted]
    del model.graph.output[:]
    model.graph.output.extend(ordered)


def _fix_graph(model) -> None:
    """Declare opset 13 and keep the weights as initializers only (in place)."""
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = OPSET
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)


def _dynamic_shape(spec: dict, meta: dict) -> tuple:
    """The ONNX shape of one input: batch dynamic; for a model that carries
    state (a language model fed prompts, then one word at a time) also every
    other axis of its data inputs."""
    if meta.get("carries_state") and spec["role"] == "data":
        return tuple(None for _ in spec["shape"])
    return tuple(None if d == -1 else d for d in spec["shape"])


def export_onnx(export_folder: Path, verify: bool = True) -> Path:
    """Write ``model.onnx`` (and ``onnx.json``) into ``export_folder``; return its path.

    Inputs keep the names and order of ``meta.json["inputs"]``, all float32,
    with the batch axis (data: axis 0, LSTM states: axis 1) dynamic.  Raises
    UserError naming the task and the operators when mx2onnx cannot convert
    the graph.  With ``verify``, onnxruntime runs the example inputs and the
    largest absolute difference from MXNet is recorded in ``onnx.json``.
    """
    onnx = _require("onnx")
    folder = Path(export_folder)
    meta = read_meta(folder)
    if meta.get("rnn_backend", "fused") != "fused":
        raise UserError(f"{folder} holds the {meta['rnn_backend']} kernel's graph; ONNX export "
                        "maps the fused one, so re-export with --rnn-backend fused.")
    missing = _unsupported_operators(folder / SYMBOL_FILE)
    if missing:
        raise UserError(f"task {meta['task']!r} cannot be exported to ONNX: MXNet's converter has "
                        f"no rule for operator(s) {', '.join(missing)}; serve it with the mxnet "
                        "backend instead.")
    from mxnet import onnx as mx2onnx

    specs = meta["inputs"]
    # mx2onnx traces with concrete shapes, then marks the None dimensions dynamic.
    concrete = [tuple(1 if d == -1 else d for d in s["shape"]) for s in specs]
    dynamic = [_dynamic_shape(s, meta) for s in specs]
    fd, raw = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    try:
        try:
            mx2onnx.export_model(str(folder / SYMBOL_FILE), str(folder / PARAMS_FILE),
                                 in_shapes=concrete, in_types=[np.float32] * len(specs),
                                 onnx_file_path=raw, dynamic=True, dynamic_input_shapes=dynamic)
        except Exception as err:  # the converters raise bare AttributeError/KeyError/...
            first = _one_line(err)
            raise UserError(f"task {meta['task']!r} cannot be exported to ONNX: {first}; serve it "
                            "with the mxnet backend instead.") from None
        model = onnx.load(raw)
        _fix_graph(model)
        _order_outputs(model, folder / SYMBOL_FILE)
        onnx.checker.check_model(model)
        onnx.save(model, raw)
        os.replace(raw, folder / ONNX_FILE)
    finally:
        if os.path.exists(raw):
            os.remove(raw)
    info = {
        "file": ONNX_FILE,
        "opset": OPSET,
        "inputs": [s["name"] for s in specs],
        "outputs": [o.name for o in model.graph.output],
        "dynamic_axes": {s["name"]: [i for i, d in enumerate(shape) if d is None]
                         for s, shape in zip(specs, dynamic)},
        "onnx_version": onnx.__version__,
    }
    if verify:
        info["max_abs_diff_vs_mxnet"] = _verify(folder, meta)
    (folder / ONNX_META_FILE).write_text(json.dumps(info, indent=2))
    return folder / ONNX_FILE


def _verify(folder: Path, meta: dict) -> Optional[float]:
    """Largest |onnxruntime - MXNet| over the outputs on the export's example inputs."""
    from .export import load_export

    examples = meta.get("example_inputs")
    if not examples:
        return None
    reference = load_export(folder)
    arrays = reference.codec.encode(examples)
    want = reference.run(arrays)
    got = OnnxModel(folder).run(arrays)
    return float(max(np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(want, got)))


class OnnxModel(Predictor):
    """``model.onnx`` of an export folder, run by onnxruntime on the CPU, with
    the interface of :class:`gluon_seq.export.ExportedModel`."""

    backend = "onnxruntime"

    def __init__(self, folder: Path, threads: Optional[int] = None):
        ort = _require("onnxruntime")
        super().__init__(folder)
        path = self.folder / ONNX_FILE
        if not path.is_file():
            raise UserError(f"{path} does not exist; write it with 'gluon-seq export RUN_DIR --onnx' "
                            "or serve with --backend mxnet.")
        options = ort.SessionOptions()
        # Follow OMP_NUM_THREADS like MXNet does, so the two backends compare fairly.
        threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as err:
            first = _one_line(err)
            raise UserError(f"{path} cannot be loaded ({first}); re-run 'gluon-seq export "
                            "RUN_DIR --onnx'.") from None
        self.input_names = [s["name"] for s in self.meta["inputs"]]  # mx2onnx keeps them

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        return self.session.run(None, dict(zip(self.input_names, feed)))


def load_onnx(folder: Path) -> OnnxModel:
    return OnnxModel(folder)
