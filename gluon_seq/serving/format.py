"""The export folder's format, shared by the writer (:mod:`gluon_seq.exporting.writer`)
and every reader (:mod:`gluon_seq.serving`)::

    model-symbol.json   the graph, stock MXNet operators only (any MXNet 1.9, ONNX)
    model-0000.params   its weights
    model-compiled-symbol.json
                        optional: the same model traced with gluon_seq's compiled
                        operators, on the same params (docs/kernels.md)
    meta.json           inputs (names, shapes, which are zero begin states),
                        outputs (shapes; a "rows" label where a model gives one),
                        the kernel in the graph, and the codec
    model.onnx          optional: the same graph for onnxruntime
    onnx.json           optional: how model.onnx was made and checked

:func:`read_meta` turns an older ``meta.json`` into today's through
:func:`upgrade_meta`, the one place that knows older exports exist (they are
read, never rewritten).  Format 1 may lack ``cell`` (all LSTM); format 2 always
has ``cell``, ``rnn_backend``, ``carries_state``, ``example_inputs`` and
``input_description``.  No MXNet and no task code here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..util.errors import UserError, reason

SYMBOL_FILE = "model-symbol.json"
COMPILED_SYMBOL_FILE = "model-compiled-symbol.json"
PARAMS_FILE = "model-0000.params"
INT8_SYMBOL_FILE = "model-int8-symbol.json"  # written by export --quantize int8
INT8_PARAMS_FILE = "model-int8-0000.params"
META_FILE = "meta.json"
ONNX_FILE = "model.onnx"
ONNX_META_FILE = "onnx.json"
FORMAT_VERSION = 2
REQUIRED = ("task", "metric", "rnn_backend", "cell", "carries_state", "inputs", "outputs",
            "codec", "input_description", "example_inputs")


def graph_operators(symbol_json: str) -> set:
    """The operator names in an MXNet symbol file's text ("null" for inputs), or ValueError."""
    try:
        return {node["op"] for node in json.loads(symbol_json)["nodes"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"not an MXNet graph ({err!r})") from None


def second_output_rows(meta: dict) -> str:
    """What a sentence-memory export's second output has a row for: its "rows" label
    (EntNet's "block"), else "hop" (MemN2N's, which exports never labelled)."""
    return meta["outputs"][1].get("rows", "hop")


def upgrade_meta(meta: dict) -> dict:
    """A parsed ``meta.json`` of any format as a new dict in today's layout, or ValueError."""
    meta = dict(meta)
    if meta.get("format_version") == 1:
        meta.setdefault("cell", "lstm")
        meta["format_version"] = 2
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format_version {meta.get('format_version')!r} is not one this "
                         f"gluon_seq reads (1 to {FORMAT_VERSION})")
    return meta


def zeros(specs: List[dict], batch_size: int) -> List[np.ndarray]:
    """float32 zeros of each input spec's shape, its batch dimension (-1) at ``batch_size``."""
    return [np.zeros([batch_size if d == -1 else d for d in s["shape"]], dtype=np.float32)
            for s in specs]


def read_params(path: Path) -> Dict:
    """A params file's arrays by name (MXNet's "arg:"/"aux:" prefixes dropped); a
    UserError naming the file if it cannot be read."""
    import mxnet as mx

    try:
        return {k.split(":", 1)[-1]: v for k, v in mx.nd.load(str(path)).items()}
    except (mx.base.MXNetError, OSError) as err:
        raise UserError(f"{path} is corrupt: not a readable params file ({reason(err)}); "
                        "re-export the run.") from None


def read_meta(folder: Path) -> dict:
    """An export folder's checked ``meta.json``; a UserError naming what is missing or bad."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"export folder {folder} does not exist.")
    missing = [name for name in (SYMBOL_FILE, PARAMS_FILE, META_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"export folder {folder} is incomplete: {', '.join(missing)} missing; "
                        "re-create it with 'gluon-seq export RUN_DIR'.")
    try:
        meta = json.loads((folder / META_FILE).read_bytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("it is not a JSON object")
        meta = upgrade_meta(meta)
        _check_meta(meta)
    except (ValueError, AttributeError, TypeError, KeyError) as err:
        raise UserError(f"{folder / META_FILE} is corrupt ({err}); re-export the run.") from None
    return meta


def _check_meta(meta) -> None:
    """ValueError saying what is wrong with a parsed meta.json."""
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    inputs = meta.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValueError("it lists no inputs")
    for spec in inputs:
        if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)
                and spec.get("role") in ("data", "state") and isinstance(spec.get("shape"), list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= -1
                        for d in spec["shape"])):
            raise ValueError(f"input {spec!r} is not a name, role and shape")
    if not isinstance(meta.get("codec"), dict) or not isinstance(meta.get("outputs"), list):
        raise ValueError("it has no codec or no outputs")
