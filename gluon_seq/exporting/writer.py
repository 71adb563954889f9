"""Writing export folders: a run's model as a graph that serves with no model code.

Every folder holds the portable graph (stock MXNet operators, for any MXNet 1.9
and for ONNX conversion); where gluon_seq's compiled operators load, also the
graph traced with them, which gluon_seq's own mxnet runtime prefers.  The
folder's format is :mod:`gluon_seq.serving.format`; serving reads it with
:mod:`gluon_seq.serving`, never importing a task.  Which kernel to bake into
the graph is decided by the caller (:func:`gluon_seq.training.workflow.export_run`).
"""
from __future__ import annotations

import json
import logging
import secrets
import shutil
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import mxnet as mx

from ..util.errors import UserError
from ..serving.format import COMPILED_SYMBOL_FILE, FORMAT_VERSION, META_FILE, SYMBOL_FILE, \
    graph_operators
from ..rnn import cell_of, compiled_ops, export_graph, kernel_of, kernels, portable_graph

log = logging.getLogger("gluon_seq.export")


def _input_spec(arrays: Sequence[mx.nd.NDArray], states: Sequence[mx.nd.NDArray]) -> List[dict]:
    names = [f"data{i}" for i in range(len(arrays) + len(states))] \
        if len(arrays) + len(states) > 1 else ["data"]
    spec = []
    for name, array in zip(names, arrays):
        spec.append({"name": name, "role": "data", "shape": [-1] + list(array.shape[1:]),
                     "batch_axis": 0})
    for name, state in zip(names[len(arrays):], states):
        shape = list(state.shape)
        shape[1] = -1
        spec.append({"name": name, "role": "state", "shape": shape, "batch_axis": 1})
    return spec


def export_model(task, model, folder: Path) -> Path:
    """Hybridize ``model``, trace it on the task's example inputs, and write the
    export folder atomically (a half-written folder never replaces a good one).
    ``meta.json`` records the kernel the model's recurrent layers were made with.

    The folder always holds the portable graph (stock operators, :data:`SYMBOL_FILE`);
    where gluon_seq's compiled operators load and the model's layers use them, also
    the graph traced with them (:data:`COMPILED_SYMBOL_FILE`), on the same params."""
    kernel = kernel_of(model)
    refusal = kernels.refusal(kernel, fixed_length=task.fixed_length)
    if refusal:
        raise UserError(f"cannot export the {task.name} model with the {kernel} kernel: "
                        f"{refusal}; use --rnn-backend fused.")
    codec = task.codec()
    arrays = [mx.nd.array(a, dtype="float32") for a in codec.encode(task.example_inputs())]
    states = model.begin_state(arrays[0].shape[0], mx.cpu())
    with portable_graph():  # stock operators only: the export runs on any MXNet 1.9
        outputs = _trace(model, arrays, states)
    meta = {
        "format_version": FORMAT_VERSION,
        "task": task.name,
        "metric": task.metric,
        "rnn_backend": kernel,
        "cell": cell_of(model),
        "carries_state": bool(task.carries_state),
        "inputs": _input_spec(arrays, states),
        "outputs": [{"shape": [-1] + list(o.shape[1:])} for o in outputs],
        "codec": codec.to_meta(),
        "input_description": codec.describe(),
        "example_inputs": task.example_inputs(),
    }

    def write(staging: Path) -> None:
        model.export(str(staging / "model"), epoch=0)  # the portable graph, and the params
        compiled = _compiled_graph(model, arrays, states, mx.sym.load(str(staging / SYMBOL_FILE)))
        if compiled is not None:
            compiled.save(str(staging / COMPILED_SYMBOL_FILE), remove_amp_cast=True)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))

    return _write_atomically(Path(folder), write)


def _trace(model, arrays, states) -> list:
    """Hybridize ``model`` afresh (dropping an earlier trace) and run it once, which
    traces the graph that ``HybridBlock.export`` saves; the outputs as a list."""
    model.hybridize(static_alloc=True, static_shape=True)
    outputs = model(*arrays, *states)
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _compiled_graph(model, arrays, states, portable: mx.sym.Symbol) -> Optional[mx.sym.Symbol]:
    """``model`` traced with gluon_seq's compiled operators; None when it would hold
    none of them (they cannot be built here, or no layer of the model uses them), or
    when it would not read exactly the ``portable`` graph's inputs and parameters and
    give as many outputs."""
    if not compiled_ops.available():
        return None
    with export_graph():  # an export's outputs, gluon_seq's operators
        _trace(model, arrays, states)
    graph = model._cached_graph[1]  # (inputs, symbol): the symbol HybridBlock.export saves
    if not graph_operators(graph.tojson()) & set(compiled_ops.OPS):
        return None
    if _parameters(graph) != _parameters(portable):
        log.warning("export: the compiled graph's inputs, parameters or outputs are not the "
                    "portable one's (%s); writing the portable graph only",
                    sorted(set(_parameters(graph)) ^ set(_parameters(portable))))
        return None
    return graph


def _parameters(symbol: mx.sym.Symbol) -> List[str]:
    """What a graph reads, in order (its inputs data0, ..., its parameters' names),
    and how many outputs it gives."""
    return symbol.list_arguments() + symbol.list_auxiliary_states() + \
        [f"{len(symbol.list_outputs())} outputs"]


def _write_atomically(folder: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a staging folder beside ``folder``, then put it in its place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Made with the modes the user's umask gives (0755 under umask 022), so another account can
    # serve the export; tempfile.mkdtemp's would be 0700.
    staging = folder.with_name(f".{folder.name}.{secrets.token_hex(8)}")
    staging.mkdir(mode=0o777)
    try:
        write(staging)
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
