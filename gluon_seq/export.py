"""Writing export folders: a run's model as a graph that serves with no model code.

The folder's format is :mod:`gluon_seq.export_format`; serving reads it with
:mod:`gluon_seq.serving`, never importing a task.  Which kernel to bake into
the graph is decided by the caller (:func:`gluon_seq.workflow.export_run`).
"""
from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import List, Sequence

import mxnet as mx

from .errors import UserError
from .export_format import FORMAT_VERSION, META_FILE
from .rnn import cell_of, kernel_of, kernels, portable_graph


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
    ``meta.json`` records the kernel the model's recurrent layers were made with."""
    kernel = kernel_of(model)
    refusal = kernels.refusal(kernel, fixed_length=task.fixed_length)
    if refusal:
        raise UserError(f"cannot export the {task.name} model with the {kernel} kernel: "
                        f"{refusal}; use --rnn-backend fused.")
    folder = Path(folder)
    codec = task.codec()
    arrays = [mx.nd.array(a, dtype="float32") for a in codec.encode(task.example_inputs())]
    states = model.begin_state(arrays[0].shape[0], mx.cpu())
    with portable_graph():  # stock operators only: the export runs on any MXNet 1.9
        model.hybridize(static_alloc=True, static_shape=True)
        outputs = model(*arrays, *states)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
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
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Made with the modes the user's umask gives (0755 under umask 022), so another account can
    # serve the export; tempfile.mkdtemp's would be 0700.
    staging = folder.with_name(f".{folder.name}.{secrets.token_hex(8)}")
    staging.mkdir(mode=0o777)
    try:
        model.export(str(staging / "model"), epoch=0)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2))
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
