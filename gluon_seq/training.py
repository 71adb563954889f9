"""One ``fit`` / ``evaluate`` for every task.

The loop never branches on the task.  A task that carries its hidden state
across batches (the PTB language model) says so with ``carries_state``; the
loop then feeds each batch the previous batch's detached final states.

Run folder layout::

    config.json        RunConfig, task options included (rebuilds the model)
    log.csv            one row per epoch
    checkpoint.params  best weights by the validation metric
    last.params        weights after the last finished epoch  } resume
    last.trainer       optimizer state after that epoch       } from these
    progress.json      epoch count, best value, train seconds }
    metrics.json       final evaluation
    export/            symbol + params + meta.json
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from . import tasks as task_registry
from .errors import UserError
from .layers import resolve_backend
from .runtime import parse_contexts, seed_everything

CONFIG_FILE = "config.json"
BEST_PARAMS = "checkpoint.params"
LAST_PARAMS = "last.params"
LAST_TRAINER = "last.trainer"
PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.json"
LOG_FILE = "log.csv"


@dataclass
class RunConfig:
    """Everything needed to rebuild a run.  Saved as ``config.json``."""
    task: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"
    clip: Optional[float] = None
    rnn_backend: str = "auto"
    ctx: str = "cpu"
    seed: int = 0
    kvstore: str = "device"
    data_dir: Optional[str] = None
    preset: Optional[str] = None
    amp: bool = False  # mixed precision (mxnet.contrib.amp), GPU only
    options: Dict = field(default_factory=dict)

    @classmethod
    def for_task(cls, task: str, preset: Optional[str] = None, **overrides) -> "RunConfig":
        """Task defaults, then the preset, then explicit overrides (None = not given)."""
        task_cls = task_registry.get(task)
        values = dict(task_cls.defaults)
        options = {}
        if preset is not None:
            if preset not in task_cls.presets:
                known = ", ".join(sorted(task_cls.presets)) or "none"
                raise UserError(f"task {task!r} has no preset {preset!r}; presets: {known}.")
            for key, value in task_cls.presets[preset].items():
                (options if key in {f.name for f in task_cls.option_fields()} else values)[key] = value
        options.update(overrides.pop("options", None) or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(task=task, preset=preset, options=options, **values)
        task_cls.make_options(config.options)  # fail early on a bad option
        return config

    def save(self, folder: Path) -> None:
        atomic_write_text(Path(folder) / CONFIG_FILE, json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> "RunConfig":
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            raise UserError(f"{path} is missing: {folder} is not a gluon-seq run folder.")
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as err:
            raise UserError(f"{path} is not a valid run config ({err}).") from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_save(path, lambda tmp: Path(tmp).write_text(text))


def atomic_save(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``,
    so a crash never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def optimizer_name(name: str) -> str:
    """``adam`` trains with :class:`gluon_seq.optim.GroupedAdam`: the same update,
    fewer operator calls."""
    from . import optim  # registers groupedadam

    return optim.GroupedAdam.__name__.lower() if name.lower() == "adam" else name


def make_task(config: RunConfig) -> task_registry.Task:
    task_cls = task_registry.get(config.task)
    return task_cls(task_cls.make_options(config.options), data_dir=config.data_dir, seed=config.seed)


def build_model(task, backend: str, contexts: Sequence[mx.Context]):
    """The task's model with ``auto`` resolved for the first device."""
    return task.build_model(resolve_backend(backend, contexts[0]), ctx=contexts[0])


def time_steps(task, backend: str, batch, contexts, repeats: int = 3, train: bool = True) -> float:
    """Best-of-``repeats`` seconds for one step of the task's model on ``batch``
    with ``backend``: forward and backward when ``train``, else inference only.
    A first, uncounted step builds the graph."""
    model = task.build_model(backend, ctx=contexts[0])
    model.initialize(task.initializer(), ctx=contexts[:1])
    model.hybridize(static_alloc=True, static_shape=True)
    inputs, label = _to_contexts(batch, contexts[:1])[0]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        if train:
            with autograd.record():
                loss = task.loss(_forward(model, task, inputs, label, {}, 0), label).sum()
            loss.backward()
        else:
            _forward(model, task, inputs, label, {}, 0)
        mx.nd.waitall()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def choose_backend(task, requested: str, contexts, batch_size: int,
                   log: Callable[[str], None] = print) -> str:
    """The kernel to train with.  For ``auto-fast``, time a few training steps
    (forward and backward) of the task's own model on a real batch with each
    kernel, and keep the faster; any other request resolves as usual."""
    if requested != "auto-fast":
        return resolve_backend(requested, contexts[0])
    batch = next(iter(task.train_batches(0, batch_size)))
    seconds = {backend: time_steps(task, backend, batch, contexts)
               for backend in ("fused", "unfused")}
    best = min(seconds, key=seconds.get)
    log(f"auto-fast: training with the {best} kernel ({seconds['fused'] * 1e3:.1f} ms fused, "
        f"{seconds['unfused'] * 1e3:.1f} ms unfused per step of {batch.size})")
    return best


def load_params(model, path: Path, contexts, task_name: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path} is missing: train first, or point at a run folder.")
    try:
        model.load_parameters(str(path), ctx=contexts)
    except (AssertionError, mx.base.MXNetError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path} does not fit a {task_name!r} model: {first}") from None


def _to_device(array, ctx) -> mx.nd.NDArray:
    # from_numpy copies without mx.nd.array's blocking element-wise assignment (2x faster).
    return mx.nd.from_numpy(np.ascontiguousarray(array, dtype=np.float32),
                            zero_copy=False).as_in_context(ctx)


def _to_contexts(batch, contexts):
    """Split one numpy batch over the devices: [(inputs, label), ...] per device."""
    if len(contexts) == 1:
        return [(tuple(_to_device(a, contexts[0]) for a in batch.inputs),
                 _to_device(batch.label, contexts[0]))]
    split = lambda a: gluon.utils.split_and_load(_to_device(a, mx.cpu()), contexts,
                                                 batch_axis=0, even_split=False)
    inputs = [split(a) for a in batch.inputs]
    labels = split(batch.label)
    return [(tuple(arr[i] for arr in inputs), labels[i]) for i in range(len(labels))]


def _forward(model, task, inputs, label, states: Dict, shard: int):
    """Prediction for one device's shard.  Begin states are zeros, or, for a task
    that carries state, the previous batch's detached final states when the
    shard's batch size is unchanged; ``states`` is updated in place.  Zero states
    are made once per batch size and reused: the graph only reads them."""
    size = label.shape[0]
    carried = states.get(shard)
    if carried is None or carried[0].shape[1] != size:
        key = ("zeros", shard, size)
        if key not in states:
            states[key] = model.begin_state(size, inputs[0].context)
        carried = states[key]
    out = model(*inputs, *carried)
    if not task.carries_state:
        return out
    states[shard] = [s.detach() for s in out[1:]]
    return out[0]


def evaluate(model, task, split: str, contexts, batch_size: int) -> Dict[str, float]:
    """Metric(s) of ``model`` on ``split``; runs in inference mode."""
    metric = task.new_metric()
    states: Dict[int, List] = {}
    for batch in task.eval_batches(split, batch_size):
        for index, (inputs, label) in enumerate(_to_contexts(batch, contexts)):
            metric.update(_forward(model, task, inputs, label, states, index), label)
    return metric.result()


class Fitter:
    """Trains ``model`` on ``task`` into ``run_dir``.  See the module docstring."""

    def __init__(self, task, model, config: RunConfig, run_dir: Path, contexts,
                 log: Callable[[str], None] = print, kvstore=None):
        self.task, self.model, self.config = task, model, config
        self.run_dir, self.contexts, self.log = Path(run_dir), contexts, log
        self.trainer = gluon.Trainer(model.collect_params(), optimizer_name(config.optimizer),
                                     {"learning_rate": config.lr},
                                     kvstore=kvstore if kvstore is not None else config.kvstore)
        # A dist kvstore sums every worker's batch-mean gradient; dividing by the
        # worker count makes the update the mean over workers.  The optimizer then
        # runs on the server (MXNet 1.9's only race-free dist path), and MXNet
        # cannot save its state, so a resumed dist run restarts optimizer moments.
        self.distributed = kvstore is not None
        self.grad_scale = kvstore.num_workers if self.distributed else 1
        if config.amp:
            from mxnet.contrib import amp

            amp.init_trainer(self.trainer)  # dynamic loss scaling
        self.progress = {"epochs_done": 0, "best_value": None, "best_epoch": None,
                         "train_seconds": 0.0}

    # -- checkpoints ----------------------------------------------------------
    def resume(self) -> None:
        path = self.run_dir / PROGRESS_FILE
        if not path.is_file():
            raise UserError(f"nothing to resume: {path} is missing.")
        self.progress = json.loads(path.read_text())
        load_params(self.model, self.run_dir / LAST_PARAMS, self.contexts, self.task.name)
        if not self.distributed and (self.run_dir / LAST_TRAINER).is_file():
            self.trainer.load_states(str(self.run_dir / LAST_TRAINER))

    def _checkpoint(self, improved: bool) -> None:
        if improved:
            atomic_save(self.run_dir / BEST_PARAMS, self.model.save_parameters)
        atomic_save(self.run_dir / LAST_PARAMS, self.model.save_parameters)
        if not self.distributed:
            atomic_save(self.run_dir / LAST_TRAINER, self.trainer.save_states)
        # progress.json is written last: it is the commit point of the epoch.
        atomic_write_text(self.run_dir / PROGRESS_FILE, json.dumps(self.progress, indent=2))

    def _is_better(self, value: float) -> bool:
        best = self.progress["best_value"]
        if best is None:
            return True
        return value > best if self.task.new_metric().higher_is_better else value < best

    # -- the loop ---------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        seed_everything(self.config.seed * 1000 + epoch)  # resumable: epoch e always sees the same noise
        # The epoch's loss stays on the device and is read once at the end (and
        # for the progress bar now and then): a read per batch would stall the
        # engine's queue of asynchronous work at every step.
        total_loss, total_count = mx.nd.zeros((1,), ctx=self.contexts[0]), 0
        states: Dict[int, List] = {}
        batches = tqdm(self.task.train_batches(epoch, self.config.batch_size),
                       desc=f"epoch {epoch + 1}/{self.config.epochs}", leave=False,
                       disable=None, unit="batch")
        for batch in batches:
            shards = _to_contexts(batch, self.contexts)
            losses = []
            with autograd.record():
                for index, (inputs, label) in enumerate(shards):
                    pred = _forward(self.model, self.task, inputs, label, states, index)
                    # Sum over the shard / whole batch: gradients are those of the batch mean.
                    losses.append(self.task.loss(pred, label).sum() / batch.size)
            if self.config.amp:
                from mxnet.contrib import amp

                with amp.scale_loss(losses, self.trainer) as scaled:
                    autograd.backward(scaled)
            else:
                autograd.backward(losses)
            if self.config.clip:
                self._clip_gradients(self.config.clip)
            self.trainer.step(self.grad_scale)
            for loss in losses:
                total_loss += loss.as_in_context(total_loss.context) * batch.size
            total_count += batch.size
            if batches.n % 50 == 0 and not batches.disable:
                batches.set_postfix(loss=f"{total_loss.asscalar() / total_count:.4f}",
                                    refresh=False)
        return float(total_loss.asscalar()) / max(total_count, 1)

    def _clip_gradients(self, max_norm: float) -> None:
        params = [p for p in self.model.collect_params().values() if p.grad_req != "null"]
        for ctx in self.contexts:
            gluon.utils.clip_global_norm([p.grad(ctx) for p in params], max_norm)

    def _apply_lr_schedule(self, epoch: int) -> None:
        """A task may scale the learning rate per epoch with ``lr_schedule(epoch) ->
        factor`` (0-based epoch); set from config.lr each time, so resuming is exact."""
        schedule = getattr(self.task, "lr_schedule", None)
        if schedule is None:
            return
        factor = schedule(epoch)
        if factor != 1 and self.distributed:
            # The dist optimizer lives on the server; a local change would be ignored.
            raise UserError("a learning-rate schedule cannot reach a dist kvstore's optimizer; "
                            "train without decay, or in one process.")
        self.trainer.set_learning_rate(self.config.lr * factor)

    def fit(self) -> Dict:
        config, task = self.config, self.task
        log_path = self.run_dir / LOG_FILE
        new_log = not log_path.is_file() or self.progress["epochs_done"] == 0
        with open(log_path, "w" if new_log else "a", newline="") as handle:
            writer = csv.writer(handle)
            if new_log:
                writer.writerow(["epoch", "train_loss", f"valid_{task.metric}", "seconds", "lr"])
            for epoch in range(self.progress["epochs_done"], config.epochs):
                self._apply_lr_schedule(epoch)
                start = time.perf_counter()
                train_loss = self.train_epoch(epoch)
                seconds = time.perf_counter() - start
                value = evaluate(self.model, task, task.valid_split, self.contexts,
                                 config.batch_size)[task.metric]
                improved = self._is_better(value)
                self.progress.update(epochs_done=epoch + 1,
                                     train_seconds=self.progress["train_seconds"] + seconds)
                if improved:
                    self.progress.update(best_value=value, best_epoch=epoch + 1)
                writer.writerow([epoch + 1, f"{train_loss:.6f}", f"{value:.6f}",
                                 f"{seconds:.3f}", self.trainer.learning_rate])
                handle.flush()
                self._checkpoint(improved)
                self.log(f"epoch {epoch + 1:3d}/{config.epochs}  loss {train_loss:.4f}  "
                         f"valid {task.metric} {value:.4f}  {seconds:.1f}s"
                         + ("  *best*" if improved else ""))
        return self.progress


def final_metrics(model, task, config: RunConfig, contexts, progress: Dict,
                  backend: str) -> Dict:
    """Evaluate on every test split; the first split's headline metric is ``value``."""
    results = {split: evaluate(model, task, split, contexts, max(config.batch_size, 256))
               for split in task.test_splits}
    headline = task.test_splits[0]
    return {
        "task": task.name, "metric": task.metric, "value": results[headline][task.metric],
        "split": headline, "epochs": progress.get("epochs_done", config.epochs),
        "best_epoch": progress.get("best_epoch"),
        "train_seconds": round(progress.get("train_seconds", 0.0), 3),
        "rnn_backend": backend, "splits": results,
    }


def train(config: RunConfig, run_dir: Path, resume: bool = False,
          log: Callable[[str], None] = print) -> Dict:
    """Train, checkpoint, evaluate the best checkpoint, and export it."""
    from .export import export_run

    run_dir = Path(run_dir)
    contexts = parse_contexts(config.ctx)
    if resume:
        saved = RunConfig.load(run_dir)
        if saved.task != config.task:
            raise UserError(f"{run_dir} holds a {saved.task!r} run, not {config.task!r}; "
                            "use another --out or train that task.")
        config = dataclasses.replace(saved, epochs=config.epochs)
    elif (run_dir / PROGRESS_FILE).is_file():
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it, "
                        "or choose another --out.")
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    task = make_task(config)
    if resume:
        task.load_artifacts(run_dir)
    task.prepare()
    if not resume:
        task.save_artifacts(run_dir)
    store = None
    if config.kvstore.startswith("dist"):
        store = mx.kv.create(config.kvstore)  # rank and worker count come from the DMLC_* environment
        task.shard(store.rank, store.num_workers)
    if config.amp:
        if any(c.device_type != "gpu" for c in contexts):
            raise UserError("--amp (mixed precision) runs on GPUs only; drop --amp or use --ctx gpu:0.")
        from mxnet.contrib import amp

        amp.init()  # before the model is built, so its operators are cast lists-wise
    backend = choose_backend(task, config.rnn_backend, contexts, config.batch_size, log)
    seed_everything(config.seed)  # timing the kernels drew random numbers
    model = build_model(task, backend, contexts)
    model.initialize(task.initializer(), ctx=contexts)
    model.hybridize(static_alloc=True, static_shape=True)
    config.save(run_dir)
    fitter = Fitter(task, model, config, run_dir, contexts, log=log, kvstore=store)
    if resume:
        fitter.resume()
    progress = fitter.fit()
    # A fresh model for the best weights: the trained one belongs to its Trainer
    # (and, in dist runs, to the kvstore, which refuses to have weights reset).
    best = build_model(task, backend, contexts)
    load_params(best, run_dir / BEST_PARAMS, contexts, task.name)
    best.hybridize(static_alloc=True, static_shape=True)
    metrics = final_metrics(best, task, config, contexts, progress, backend)
    atomic_write_text(run_dir / METRICS_FILE, json.dumps(metrics, indent=2))
    export_run(run_dir)
    return metrics


def load_run(run_dir: Path, rnn_backend: Optional[str] = None, ctx: Optional[str] = None,
             with_data: bool = False):
    """(config, task, model, contexts) for a run folder, with the best checkpoint loaded.
    ``with_data`` also loads the task's data (needed to evaluate, not to export)."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir)
    contexts = parse_contexts(ctx or "cpu")
    task = make_task(config)
    task.load_artifacts(run_dir)
    if with_data:
        task.prepare()
    model = build_model(task, rnn_backend or config.rnn_backend, contexts)
    load_params(model, run_dir / BEST_PARAMS, contexts, task.name)
    model.hybridize(static_alloc=True, static_shape=True)
    return config, task, model, contexts


def reevaluate(run_dir: Path, rnn_backend: Optional[str] = None, ctx: Optional[str] = None) -> Dict:
    config, task, model, contexts = load_run(run_dir, rnn_backend, ctx, with_data=True)
    progress_path = Path(run_dir) / PROGRESS_FILE
    progress = json.loads(progress_path.read_text()) if progress_path.is_file() else {}
    backend = resolve_backend(rnn_backend or config.rnn_backend, contexts[0])
    return final_metrics(model, task, config, contexts, progress, backend)
