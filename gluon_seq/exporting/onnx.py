"""ONNX export of an export folder: ``model.onnx`` for the ``onnxruntime`` serving runtime.

mx2onnx (MXNet 1.9.1) converts the portable graph; :func:`export_onnx` then
declares the opset-13 its nodes are (not the installed onnx's newest), keeps
the weights as initializers only (not also inputs, which a caller could
override), and declares every input's batch axis dynamic.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..util.errors import UserError
from ..util.files import atomic_write_text
from ..rnn import kernels
from ..serving.format import ONNX_FILE, ONNX_META_FILE, PARAMS_FILE, SYMBOL_FILE, graph_operators, \
    read_meta
from ..serving import load_predictor
from ..serving.extras import require
from ..serving.onnx_runtime import one_line

OPSET = 13  # the newest opset mx2onnx (MXNet 1.9.1) has converters for


def _unsupported_operators(symbol_file: Path) -> List[str]:
    """Operators in the MXNet graph that mx2onnx has no converter for at :data:`OPSET`."""
    from mxnet.onnx import get_operator_support

    supported = set(get_operator_support(OPSET)) | {"null"}
    return sorted(graph_operators(symbol_file.read_text()) - supported)


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


def _order_outputs(model, graph) -> None:
    """Put the graph outputs in MXNet's order (mx2onnx lists them in node order)."""
    wanted = [_onnx_output_name(n) for n in graph.list_outputs()]
    by_name = {o.name: o for o in model.graph.output}
    if sorted(wanted) != sorted(by_name):
        raise UserError(f"the ONNX graph's outputs {sorted(by_name)} do not match MXNet's "
                        f"{wanted}; serve this model with the mxnet backend.")
    ordered = [by_name[n] for n in wanted]
    del model.graph.output[:]
    model.graph.output.extend(ordered)


def _in_graph_order(specs: List[dict], graph) -> List[dict]:
    """meta.json's input specs in the order the graph lists its inputs, the order in which
    mx2onnx pairs them with the shapes it is given (not always meta.json's)."""
    order = {name: i for i, name in enumerate(graph.list_inputs())}
    return sorted(specs, key=lambda spec: order[spec["name"]])


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
    """The ONNX shape of one input: batch dynamic, and every axis of a data input
    of a model that carries state (a language model: prompts, then one word)."""
    if meta["carries_state"] and spec["role"] == "data":
        return tuple(None for _ in spec["shape"])
    return tuple(None if d == -1 else d for d in spec["shape"])


def _check_convertible(folder: Path, meta: dict) -> None:
    """Raise UserError, in one sentence, if the folder's graph cannot go to ONNX."""
    kernel = meta["rnn_backend"]
    refusal = kernels.refusal(kernel, onnx=True)
    if refusal:
        raise UserError(f"{folder} holds the {kernel} kernel's graph: {refusal}.")
    missing = _unsupported_operators(folder / SYMBOL_FILE)
    if missing:
        raise UserError(f"task {meta['task']!r} cannot be exported to ONNX: MXNet's converter has "
                        f"no rule for operator(s) {', '.join(missing)}; serve it with the mxnet "
                        "backend instead.")


def export_onnx(export_folder: Path, verify: bool = True) -> Path:
    """Write ``model.onnx`` and ``onnx.json`` (opset, names, dynamic axes) into
    ``export_folder``; return the model's path.  Inputs keep ``meta.json``'s names
    and order, float32, batch axis dynamic (data: 0, states: 1); a UserError names
    what mx2onnx cannot convert.  With ``verify``, ``onnx.json`` also records the
    largest difference from MXNet on the example inputs."""
    onnx = require("onnx", "onnx")
    folder = Path(export_folder)
    meta = read_meta(folder)
    _check_convertible(folder, meta)
    import mxnet as mx
    from mxnet import onnx as mx2onnx

    graph = mx.sym.load(str(folder / SYMBOL_FILE))
    specs = _in_graph_order(meta["inputs"], graph)
    # mx2onnx traces with concrete shapes, then marks the None dimensions dynamic.
    concrete = [tuple(1 if d == -1 else d for d in s["shape"]) for s in specs]
    dynamic = [_dynamic_shape(s, meta) for s in specs]
    # Created by the converter, so model.onnx follows the umask (mkstemp would make it 0600).
    raw = str(folder / f".{ONNX_FILE}.{secrets.token_hex(8)}.tmp")
    try:
        try:
            mx2onnx.export_model(str(folder / SYMBOL_FILE), str(folder / PARAMS_FILE),
                                 in_shapes=concrete, in_types=[np.float32] * len(specs),
                                 onnx_file_path=raw, dynamic=True, dynamic_input_shapes=dynamic)
        except Exception as err:  # the converters raise bare AttributeError/KeyError/...
            first = one_line(err)
            raise UserError(f"task {meta['task']!r} cannot be exported to ONNX: {first}; serve it "
                            "with the mxnet backend instead.") from None
        model = onnx.load(raw)
        _fix_graph(model)
        _order_outputs(model, graph)
        onnx.checker.check_model(model)
        onnx.save(model, raw)
        os.replace(raw, folder / ONNX_FILE)
    finally:
        if os.path.exists(raw):
            os.remove(raw)
    info = {
        "file": ONNX_FILE,
        "opset": OPSET,
        "inputs": [s["name"] for s in meta["inputs"]],
        "outputs": [o.name for o in model.graph.output],
        "dynamic_axes": {s["name"]: [i for i, d in enumerate(shape) if d is None]
                         for s, shape in zip(specs, dynamic)},
        "onnx_version": onnx.__version__,
    }
    if verify:
        info["max_abs_diff_vs_mxnet"] = _verify(folder, meta)
    atomic_write_text(folder / ONNX_META_FILE, json.dumps(info, indent=2))
    return folder / ONNX_FILE


def _verify(folder: Path, meta: dict) -> Optional[float]:
    """Largest |onnxruntime - MXNet| over the outputs on the export's example inputs."""
    examples = meta["example_inputs"]
    if not examples:
        return None
    reference = load_predictor(folder, "mxnet")
    arrays = reference.codec.encode(examples)
    want = reference.run(arrays)
    got = load_predictor(folder, "onnxruntime").run(arrays)
    return float(max(np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(want, got)))
