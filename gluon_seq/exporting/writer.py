"""Writing export folders: a run's model as a graph that serves with no model code.

Each graph (docs/kernels.md, "What an export holds") is traced from its own
copy of the model, built by the task for export with the trained weights (the
portable one from ``LayerFactory(..., portable=True)``), so what a graph is
traced for is decided where it is built.
"""
from __future__ import annotations

import json
import logging
import secrets
import shutil
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import mxnet as mx

from ..serving.format import COMPILED_SYMBOL_FILE, FORMAT_VERSION, META_FILE, SYMBOL_FILE, \
    graph_operators
from ..rnn import LayerFactory, cell_of, compiled_ops, kernel_of, kernels, widest_of
from ..util.errors import UserError

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


def export_model(task, model, folder: Path, kernel: Optional[str] = None) -> Path:
    """Trace ``model``'s weights as ``task``'s export graphs and write the folder
    atomically.  ``kernel`` (default: the model's) is baked in and recorded in
    ``meta.json``.  Always :data:`SYMBOL_FILE`; :data:`COMPILED_SYMBOL_FILE` too
    where the compiled operators load and the model uses them."""
    kernel = kernel or kernel_of(model)
    cell = cell_of(model)
    refusal = kernels.refusal(kernel, fixed_length=task.fixed_length)
    if refusal:
        raise UserError(f"cannot export the {task.name} model with the {kernel} kernel: "
                        f"{refusal}; use --rnn-backend fused.")
    codec = task.codec()
    arrays = [mx.nd.array(a, dtype="float32") for a in codec.encode(task.example_inputs())]
    portable = _copy(task, model, LayerFactory(kernel, ctx=mx.cpu(), cell=cell, portable=True))
    states = portable.begin_state(arrays[0].shape[0], mx.cpu())
    outputs = _trace(portable, arrays, states)
    meta = {
        "format_version": FORMAT_VERSION,
        "task": task.name,
        "metric": task.metric,
        "rnn_backend": kernel,
        "cell": cell,
        "carries_state": bool(task.carries_state),
        "inputs": _input_spec(arrays, states),
        "outputs": [_output_spec(o, rows) for o, rows in
                    zip(outputs, getattr(model, "output_rows", ()) or [None] * len(outputs))],
        "codec": codec.to_meta(),
        "input_description": codec.describe(),
        "example_inputs": task.example_inputs(),
    }

    def write(staging: Path) -> None:
        portable.export(str(staging / "model"), epoch=0)  # the portable graph, and the params
        compiled = _compiled_graph(task, model, kernel, cell, arrays, states,
                                   mx.sym.load(str(staging / SYMBOL_FILE)))
        if compiled is not None:
            compiled.save(str(staging / COMPILED_SYMBOL_FILE), remove_amp_cast=True)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))

    return _write_atomically(Path(folder), write)


def _copy(task, model, factory: LayerFactory):
    """The task's model for export, built by ``factory`` on the CPU, with ``model``'s weights."""
    copy = task.build_model(factory, for_export=True)
    ours, theirs = copy._collect_params_with_prefix(), model._collect_params_with_prefix()
    copy.collect_params().load_dict(
        {ours[key].name: param.data(param.list_ctx()[0]) for key, param in theirs.items()},
        ctx=mx.cpu())
    return copy


def _output_spec(output, rows: Optional[str]) -> dict:
    """An output's meta.json entry: its shape, batch first, and what its rows are (a model's
    ``output_rows``: EntNet's second output has a row per memory "block")."""
    spec = {"shape": [-1] + list(output.shape[1:])}
    return dict(spec, rows=rows) if rows else spec


def _trace(model, arrays, states) -> list:
    """The outputs of one hybridized run, which traces what ``HybridBlock.export`` saves."""
    model.hybridize(static_alloc=True, static_shape=True)
    outputs = model(*arrays, *states)
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _compiled_graph(task, model, kernel: str, cell: str, arrays, states,
                    portable: mx.sym.Symbol) -> Optional[mx.sym.Symbol]:
    """The model traced with gluon_seq's compiled operators; None when it would hold
    none, or would not read exactly the ``portable`` graph's inputs and parameters
    and give as many outputs."""
    if not compiled_ops.available():
        return None
    # Wide LSTM and GRU layers walk their steps in the unfused kernel's layer operators
    # whichever kernel trained the run (the same weights and numbers): they take any
    # length, and a predictor packs their weights once, at load (serving/folding.py).
    walk = kernels.compiled_graph_kernel(kernel, cell, widest_of(model))
    compiled = _copy(task, model, LayerFactory(walk, ctx=mx.cpu(), cell=cell))
    _trace(compiled, arrays, states)
    graph = compiled._cached_graph[1]  # (inputs, symbol): the symbol HybridBlock.export saves
    if not graph_operators(graph.tojson()) & set(compiled_ops.OPS):
        return None
    if _parameters(graph) != _parameters(portable):
        log.warning("export: the compiled graph's inputs, parameters or outputs are not the "
                    "portable one's (%s); writing the portable graph only",
                    sorted(set(_parameters(graph)) ^ set(_parameters(portable))))
        return None
    return graph


def _parameters(symbol: mx.sym.Symbol) -> List[str]:
    """What a graph reads (inputs and parameters, sorted: each is fed by its name) and its
    output count."""
    return sorted(symbol.list_arguments() + symbol.list_auxiliary_states()) + \
        [f"{len(symbol.list_outputs())} outputs"]


def _write_atomically(folder: Path, write: Callable[[Path], None]) -> Path:
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
