"""The Python entry points: train a run folder, evaluate it, export it.

What ``gluon_seq.train``, ``evaluate`` and ``export`` are: each ties the run
folder, the loop and the writer together.  ``auto-fast`` is decided here, once,
by timing the task's own model with each kernel; training records the kernel
in ``config.json``.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Dict, NamedTuple, Optional, Sequence

import mxnet as mx
import numpy as np

from ..data import Batch
from ..exporting.writer import export_model
from ..rnn import LayerFactory, cells, kernels
from ..tasks import Task
from ..util.errors import UserError
from ..util.files import atomic_write_text, read_json
from ..util.runtime import parse_contexts, seed_everything
from .config import RunConfig, resumed_config
from .loop import Fitter, final_metrics, step_seconds
from .restarts import run_restarts
from .run_folder import (BEST_PARAMS, EXPORT_DIR, METRICS_FILE, PROGRESS_FILE, load_artifacts,
                         load_params, load_run, make_task, save_artifacts)

Log = Callable[[str], None]


def training_kernel(task, config: RunConfig, contexts, log: Log = print) -> str:
    """The kernel to train with; ``auto-fast`` times a few training steps of the
    task's own model on a real batch with each kernel."""
    if config.rnn_backend != kernels.TIMED:
        return kernels.resolve(config.rnn_backend, contexts[0])
    batch = next(iter(task.train_batches(0, config.batch_size)))
    return kernels.fastest(
        lambda kernel: step_seconds(task, LayerFactory(kernel, ctx=contexts[0], cell=config.cell),
                                    batch, contexts),
        log=log, purpose="training with", unit=f"per step of {batch.size}")


def export_kernel(task, requested: str, log: Log = print, repeats: int = 10,
                  cell: str = cells.DEFAULT) -> str:
    """The kernel to bake into an export; ``auto-fast`` times, on this CPU, the
    portable model answering the task's first example input with each kernel
    that can serve it."""
    if requested != kernels.TIMED:
        return kernels.resolve(requested, mx.cpu())
    arrays = task.codec().encode(task.example_inputs()[:1])
    batch = Batch(tuple(np.asarray(a, dtype="float32") for a in arrays),
                  np.zeros(1, dtype="float32"))
    candidates = kernels.serving_kernels(fixed_length=task.fixed_length)
    return kernels.fastest(
        lambda kernel: step_seconds(task, LayerFactory(kernel, ctx=mx.cpu(), cell=cell,
                                                       portable=True),
                                    batch, [mx.cpu()], repeats, train=False),
        candidates, log=log, purpose="exporting", unit="per one-example call")


def export_run(run_dir: Path, rnn_backend: str = kernels.EXPORT_DEFAULT,
               folder: Optional[Path] = None, log: Log = print) -> Path:
    """Export the run's best checkpoint to ``run_dir/export`` (or ``folder``)."""
    return _export_loaded(load_run(run_dir, ctx="cpu"), run_dir, rnn_backend, folder, log)


def _export_loaded(run, run_dir: Path, rnn_backend: str, folder: Optional[Path], log: Log) -> Path:
    kernel = export_kernel(run.task, rnn_backend, log, cell=run.config.cell)
    return export_model(run.task, run.model, folder or Path(run_dir) / EXPORT_DIR, kernel=kernel)


def export(run_dir: Path, rnn_backend: str = kernels.EXPORT_DEFAULT, onnx: bool = False,
           quantize: Optional[str] = None, log: Log = print) -> Path:
    """(Re)write ``run_dir/export`` from the run's best checkpoint (``gluon-seq export``);
    with ``onnx``, also ``model.onnx`` for the onnxruntime runtime; with ``quantize="int8"``,
    also an int8 graph calibrated on the run's validation split, which the mxnet runtime
    then serves (:mod:`gluon_seq.exporting.quantize`).  Returns the folder."""
    if quantize not in (None, "int8"):
        raise UserError(f"--quantize takes int8, not {quantize!r}.")
    run = load_run(Path(run_dir), ctx="cpu", with_data=quantize is not None)  # calibration
    folder = _export_loaded(run, Path(run_dir), rnn_backend, None, log)
    if onnx:
        from ..exporting.onnx import export_onnx

        export_onnx(folder)
    if quantize is not None:
        from ..exporting.quantize import quantize as to_int8

        to_int8(folder, run.task, run.config.batch_size, log)
    return folder


def _open_run(config: RunConfig, run_dir: Path, resume: bool,
              given: Optional[Sequence[str]]) -> RunConfig:
    if resume:
        return resumed_config(RunConfig.load(run_dir), config, given)
    if (run_dir / PROGRESS_FILE).is_file():
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it, "
                        "or choose another --out.")
    return config


def _distributed(config: RunConfig, task):
    if not config.kvstore.startswith("dist"):
        return None
    store = mx.kv.create(config.kvstore)  # rank and worker count come from the DMLC_* environment
    task.shard(store.rank, store.num_workers)
    return store


def _init_amp(config: RunConfig, contexts) -> None:
    if not config.amp:
        return
    if any(c.device_type != "gpu" for c in contexts):
        raise UserError("--amp (mixed precision) runs on GPUs only; drop --amp or use --ctx gpu:0.")
    from mxnet.contrib import amp

    amp.init()  # before the model is built, so its operators are cast lists-wise


def _with_kernel(config: RunConfig, task, contexts, log: Log) -> RunConfig:
    """``config`` with its kernel decided, once, when a run starts (auto-fast times both)."""
    if config.kernel is not None:
        return config
    return dataclasses.replace(config, kernel=training_kernel(task, config, contexts, log))


def _initialised_model(task, config: RunConfig, contexts):
    """(model, its layer factory): the task's model with the config's kernel and cell,
    initialised from the config's seed, as every run starts it."""
    seed_everything(config.seed)  # timing the kernels drew random numbers
    layers = LayerFactory(config.kernel, ctx=contexts[0], cell=config.cell)
    model = task.build_model(layers)
    model.initialize(task.initializer(), ctx=contexts)
    return model, layers


def train(config: RunConfig, run_dir: Path, resume: bool = False, log: Log = print,
          given: Optional[Sequence[str]] = None) -> Dict:
    """Train, checkpoint, evaluate the best checkpoint, and export it.  With
    ``resume``, continue the run in ``run_dir``; ``given``: the settings the caller
    set on purpose (:func:`gluon_seq.training.config.resumed_config`)."""
    run_dir = Path(run_dir)
    config = _open_run(config, run_dir, resume, given)
    if config.restarts > 1:  # each restart comes back here as a run of one seed
        return run_restarts(config, run_dir, train, log, given)
    contexts = parse_contexts(config.ctx)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    task = make_task(config)
    if resume:
        load_artifacts(task, run_dir)
    task.prepare()
    if not resume:
        save_artifacts(task, run_dir)
    store = _distributed(config, task)
    _init_amp(config, contexts)
    config = _with_kernel(config, task, contexts, log)
    model, layers = _initialised_model(task, config, contexts)
    model.hybridize(static_alloc=True, static_shape=True)
    config.save(run_dir)
    fitter = Fitter(task, model, config, run_dir, contexts, log=log, kvstore=store)
    if resume:
        fitter.resume()
    progress = fitter.fit()
    # A fresh model for the best weights: the trained one belongs to its Trainer
    # (and, in dist runs, to the kvstore, which refuses to have weights reset).
    best = task.build_model(layers)
    load_params(best, run_dir / BEST_PARAMS, contexts, task.name)
    best.hybridize(static_alloc=True, static_shape=True)
    metrics = final_metrics(best, task, config, contexts, progress, config.kernel)
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2))
    export_model(task, best, run_dir / EXPORT_DIR, kernel=kernels.EXPORT_DEFAULT)
    return metrics


class Workbench(NamedTuple):
    """What :func:`build` returns: the task with its data loaded, its model, the kernel."""
    task: Task
    model: mx.gluon.HybridBlock
    kernel: str

    @property
    def parameter_count(self) -> int:
        """Numbers in the model's parameters (every parameter's size, added)."""
        return sum(p.data().size for p in self.model.collect_params().values())


def build(config: RunConfig) -> Workbench:
    """The task of ``config`` with its data loaded and its model built, seeded and
    initialised as :func:`train` builds them, but neither trained nor hybridized: a
    model to print, to call on a batch and to step by hand (the notebooks do)."""
    contexts = parse_contexts(config.ctx)
    seed_everything(config.seed)
    task = make_task(config)
    task.prepare()
    config = _with_kernel(config, task, contexts, log=lambda line: None)
    model, _ = _initialised_model(task, config, contexts)
    return Workbench(task, model, config.kernel)


def load_model(run_dir: Path, ctx: Optional[str] = None) -> mx.gluon.HybridBlock:
    """The run's model at its best checkpoint, hybridized, on ``ctx`` (default cpu): call it
    as in training, ``model(*inputs, *model.begin_state(batch_size))``."""
    return load_run(Path(run_dir), ctx=ctx).model


def reevaluate(run_dir: Path, rnn_backend: Optional[str] = None, ctx: Optional[str] = None) -> Dict:
    """The run's best checkpoint, evaluated on every test split again."""
    run = load_run(run_dir, rnn_backend, ctx, with_data=True)
    progress = read_json(Path(run_dir) / PROGRESS_FILE)
    kernel = kernels.resolve(rnn_backend, run.contexts[0]) if rnn_backend else run.config.kernel
    return final_metrics(run.model, run.task, run.config, run.contexts, progress, kernel)
