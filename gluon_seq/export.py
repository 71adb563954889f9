"""Symbolic export and model-free loading.

An export folder holds everything serving needs and nothing task-specific in
code form::

    model-symbol.json   the hybridized graph
    model-0000.params   its weights
    meta.json           inputs (names, shapes, which are zero begin states),
                        outputs, and the codec that encodes and decodes

:func:`load_export` rebuilds a predictor from those three files with
``SymbolBlock.imports`` and :mod:`gluon_seq.codecs`; it never imports a task.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import List, Optional, Sequence

import mxnet as mx
import numpy as np

from . import compiled_ops
from .codecs import codec_from_meta
from .errors import UserError
from .layers import portable_graph

SYMBOL_FILE = "model-symbol.json"
PARAMS_FILE = "model-0000.params"
META_FILE = "meta.json"
FORMAT_VERSION = 1
EXPORT_BACKEND = "fused"  # one RNN op: cuDNN on GPU, oneDNN on CPU, and what ONNX's LSTM maps from


def graph_operators(symbol_json: str) -> set:
    """The operator names in an MXNet symbol file's text ("null" for inputs);
    ValueError if the text is not such a graph."""
    try:
        return {node["op"] for node in json.loads(symbol_json)["nodes"]}
    except (KeyError, TypeError) as err:
        raise ValueError(f"not an MXNet graph ({err!r})") from None


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


def export_model(task, model, folder: Path, backend: str = EXPORT_BACKEND) -> Path:
    """Hybridize ``model``, trace it on the task's example inputs, and write the
    export folder atomically (a half-written folder never replaces a good one)."""
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
        "rnn_backend": backend,
        "carries_state": bool(task.carries_state),
        "inputs": _input_spec(arrays, states),
        "outputs": [{"shape": [-1] + list(o.shape[1:])} for o in outputs],
        "codec": codec.to_meta(),
        "input_description": codec.describe(),
        "example_inputs": task.example_inputs(),
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
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


def export_run(run_dir: Path, backend: str = EXPORT_BACKEND, folder: Optional[Path] = None,
               log=print) -> Path:
    """Rebuild the run's model with ``backend`` (weights are kernel-independent),
    load its best checkpoint, and export it to ``run_dir/export``.

    ``auto-fast`` times one-example inference with each kernel on this machine
    and bakes the faster into the graph (at batch 1 the answer depends on the
    shape: the fused kernel wins on small models, the unfused one on PTB's)."""
    from .training import load_run

    first = EXPORT_BACKEND if backend == "auto-fast" else backend
    _, task, model, _ = load_run(run_dir, rnn_backend=first, ctx="cpu")
    if backend == "auto-fast":
        backend = fastest_inference_backend(task, log)
        if backend != first:
            _, task, model, _ = load_run(run_dir, rnn_backend=backend, ctx="cpu")
    return export_model(task, model, folder or Path(run_dir) / "export", backend)


def fastest_inference_backend(task, log=print, repeats: int = 10) -> str:
    """``fused`` or ``unfused``: whichever answers the task's first example
    input (batch 1) faster on this CPU, best of ``repeats`` timed calls each."""
    from .tasks.base import Batch
    from .training import time_steps

    arrays = task.codec().encode(task.example_inputs()[:1])
    batch = Batch(tuple(np.asarray(a, dtype="float32") for a in arrays),
                  np.zeros(1, dtype="float32"))
    with portable_graph():  # time the graphs that would be exported
        seconds = {"fused": time_steps(task, "fused", batch, [mx.cpu()], repeats=repeats,
                                       train=False)}
        try:
            seconds["unfused"] = time_steps(task, "unfused", batch, [mx.cpu()],
                                            repeats=repeats, train=False)
        except UserError as err:  # e.g. PTB's unfused graph takes only num_steps words
            log(f"auto-fast: exporting the fused kernel; the unfused one cannot serve this "
                f"model ({err})")
            return "fused"
    best = min(seconds, key=seconds.get)
    log(f"auto-fast: exporting the {best} kernel ({seconds['fused'] * 1e3:.2f} ms fused, "
        f"{seconds['unfused'] * 1e3:.2f} ms unfused per one-example call)")
    return best


def read_meta(folder: Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"export folder {folder} does not exist.")
    missing = [name for name in (SYMBOL_FILE, PARAMS_FILE, META_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"export folder {folder} is incomplete: {', '.join(missing)} missing; "
                        "re-create it with 'gluon-seq export RUN_DIR'.")
    try:
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION or not meta.get("inputs"):
            raise ValueError("unknown format version")
    except (ValueError, AttributeError) as err:
        raise UserError(f"{folder / META_FILE} is corrupt ({err}); re-export the run.") from None
    return meta


class Predictor:
    """What serving needs from an export folder, whichever runtime executes the graph.

    ``run(arrays, states=None)`` maps batch-first numpy inputs to a list of
    numpy outputs (zero begin states unless given); ``predict(inputs)`` goes
    from user inputs to answers through the stored codec.  Subclasses load the
    graph and implement ``_execute``.
    """

    backend = "base"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = read_meta(self.folder)
        self.codec = codec_from_meta(self.meta["codec"])
        self.data_specs = [s for s in self.meta["inputs"] if s["role"] == "data"]
        self.state_specs = [s for s in self.meta["inputs"] if s["role"] == "state"]

    @property
    def task(self) -> str:
        return self.meta["task"]

    def zero_states(self, batch_size: int) -> List[np.ndarray]:
        return [np.zeros([batch_size if d == -1 else d for d in s["shape"]], dtype=np.float32)
                for s in self.state_specs]

    def run(self, arrays: Sequence[np.ndarray], states: Optional[Sequence[np.ndarray]] = None
            ) -> List[np.ndarray]:
        if len(arrays) != len(self.data_specs):
            raise UserError(f"this model takes {len(self.data_specs)} input array(s), got {len(arrays)}.")
        batch = int(np.asarray(arrays[0]).shape[0])
        states = self.zero_states(batch) if states is None else states
        return self._execute([np.asarray(a, dtype=np.float32) for a in list(arrays) + list(states)])

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        """Outputs for float32 inputs in ``meta["inputs"]`` order."""
        raise NotImplementedError

    def predict(self, inputs: Sequence) -> list:
        return self.codec.predict(self.run, inputs)


class ExportedModel(Predictor):
    """An export folder's symbol and params, run by MXNet (``SymbolBlock.imports``)."""

    backend = "mxnet"

    def __init__(self, folder: Path, ctx: Optional[mx.Context] = None):
        super().__init__(folder)
        self.ctx = ctx or mx.cpu()
        try:
            # Our exports hold stock operators only; a graph saved straight from a
            # block that used gluon_seq's compiled operators needs them registered first.
            if graph_operators((self.folder / SYMBOL_FILE).read_text()) & set(compiled_ops.OPS):
                compiled_ops.available()
            with warnings.catch_warnings():
                # Index inputs carry no dtype in the graph; MXNet warns about it on every load.
                warnings.filterwarnings("ignore", message="Cannot decide type")
                self.block = mx.gluon.SymbolBlock.imports(
                    str(self.folder / SYMBOL_FILE), [s["name"] for s in self.meta["inputs"]],
                    str(self.folder / PARAMS_FILE), ctx=self.ctx)
        except (mx.base.MXNetError, ValueError, AssertionError, OSError) as err:
            text = str(err).strip().splitlines()
            raise UserError(f"export folder {self.folder} is corrupt ({text[0] if text else err}); "
                            "re-export the run.") from None
        self.block.hybridize(static_alloc=True)

    def _execute(self, feed: List[np.ndarray]) -> List[np.ndarray]:
        outputs = self.block(*[mx.nd.array(a, ctx=self.ctx, dtype="float32") for a in feed])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [o.asnumpy() for o in outputs]


def load_export(folder: Path, ctx: Optional[mx.Context] = None) -> ExportedModel:
    return ExportedModel(folder, ctx)
