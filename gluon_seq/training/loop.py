"""The training loop: one ``Fitter`` and one ``evaluate`` for every task.

The loop never branches on the task.  A task that carries its hidden state
across batches (the PTB language model) says so with ``carries_state``, and
each batch starts from the previous batch's detached final states.  A batch
is split over every device in ``contexts``; the Trainer reduces the gradients.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import mxnet as mx
from mxnet import autograd, gluon
from tqdm import tqdm

from ..data import Batch
from ..rnn import LayerFactory
from ..tasks.metrics import validation_rank
from ..util.errors import UserError, reason
from ..util.files import atomic_save, atomic_write_text
from ..util.ndarrays import to_device
from ..util.runtime import seed_everything
from .config import RunConfig
from .run_folder import (BEST_PARAMS, LAST_PARAMS, LAST_TRAINER, LOG_FILE, PROGRESS_FILE,
                         load_params, read_progress)


def optimizer_name(name: str) -> str:
    """``adam`` and ``sgd`` are :mod:`~gluon_seq.training.optim`'s GroupedAdam and
    GroupedSGD: the same updates, each tensor through its fastest kernel."""
    from . import optim  # registers groupedadam and groupedsgd

    grouped = {"adam": optim.GroupedAdam, "sgd": optim.GroupedSGD}.get(name.lower())
    return grouped.__name__.lower() if grouped else name


def step_seconds(task, layers: LayerFactory, batch: Batch, contexts, repeats: int = 3,
                 train: bool = True) -> float:
    """Best-of-``repeats`` seconds for one step (forward and backward when ``train``)
    of the task's model made with ``layers``, on ``batch``, after an uncounted
    first step; what auto-fast times (:func:`gluon_seq.rnn.kernels.fastest`)."""
    model = task.build_model(layers)
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


def _to_contexts(batch, contexts):
    """Split one numpy batch over the devices: [(inputs, label), ...] per device."""
    if len(contexts) == 1:
        return [(tuple(to_device(a, contexts[0]) for a in batch.inputs),
                 to_device(batch.label, contexts[0]))]
    split = lambda a: gluon.utils.split_and_load(to_device(a, mx.cpu()), contexts,
                                                 batch_axis=0, even_split=False)
    inputs = [split(a) for a in batch.inputs]
    labels = split(batch.label)
    return [(tuple(arr[i] for arr in inputs), labels[i]) for i in range(len(labels))]


def _forward(model, task, inputs, label, states: Dict, shard: int):
    """Prediction for one device's shard, from zero states (made once per batch
    size: the graph only reads them) or, for a task that carries state, the
    previous batch's at an unchanged batch size; updates ``states`` in place."""
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


def evaluate(model, task, split: str, contexts, batch_size: int,
             with_loss: bool = False) -> Dict[str, float]:
    """Metric(s) of ``model`` on ``split``, and with ``with_loss`` its mean loss per sample
    as "loss"; runs in inference mode."""
    metric = task.new_metric()
    states: Dict[int, List] = {}
    total_loss, count = mx.nd.zeros((1,), ctx=contexts[0]), 0  # summed on the device
    for batch in task.eval_batches(split, batch_size):
        for index, (inputs, label) in enumerate(_to_contexts(batch, contexts)):
            pred = _forward(model, task, inputs, label, states, index)
            metric.update(pred, label)
            if with_loss:
                total_loss += task.loss(pred, label).sum().as_in_context(total_loss.context)
                count += label.shape[0]
    result = metric.result()
    return dict(result, loss=float(total_loss.asscalar()) / max(count, 1)) if with_loss else result


def global_clip_factor(grads: List[mx.nd.NDArray], max_norm: float) -> float:
    """min(1, max_norm / the norm of all ``grads`` together): the factor
    ``gluon.utils.clip_global_norm`` scales them by, found without scaling them."""
    total = mx.nd.add_n(*[mx.nd.dot(g.reshape((-1,)), g.reshape((-1,))) for g in grads])  # (1,)
    norm = math.sqrt(total.asscalar())
    if not math.isfinite(norm):
        warnings.warn("nan or inf in the gradients; this step's update is undefined", stacklevel=3)
    factor = max_norm / (norm + 1e-8)
    return factor if not factor >= 1.0 else 1.0  # a nan stays nan, as clip_global_norm's would


def spectral_norm(grad: mx.nd.NDArray) -> mx.nd.NDArray:
    """(1,) the largest singular value of a 2-D ``grad`` (the L2 norm of a 1-D one), as
    MATLAB's ``norm`` gives it: the square root of the top eigenvalue of grad^T grad."""
    if grad.ndim == 1:
        return mx.nd.norm(grad).reshape((1,))
    gram = mx.nd.linalg.syrk(grad.reshape((grad.shape[0], -1)), transpose=True)  # (d, d)
    eigenvalues = mx.nd.linalg.syevd(gram)[1]                                     # ascending
    return mx.nd.sqrt(mx.nd.relu(eigenvalues[-1:]))


class Fitter:
    """Trains ``model`` on ``task`` into ``run_dir``.  See the module docstring."""

    def __init__(self, task, model, config: RunConfig, run_dir: Path, contexts,
                 log: Callable[[str], None] = print, kvstore=None):
        self.task, self.model, self.config = task, model, config
        self.run_dir, self.contexts, self.log = Path(run_dir), contexts, log
        self.trainer = gluon.Trainer(model.collect_params(), optimizer_name(config.optimizer),
                                     {"learning_rate": config.lr},
                                     kvstore=kvstore if kvstore is not None else config.kvstore)
        # A dist kvstore sums every worker's batch-mean gradient, hence the scale.
        # The optimizer runs on the server (MXNet 1.9's only race-free dist path),
        # which cannot save its state: a resumed dist run restarts its moments.
        self.distributed = kvstore is not None
        self.grad_scale = kvstore.num_workers if self.distributed else 1
        if config.amp:
            from mxnet.contrib import amp

            amp.init_trainer(self.trainer)  # dynamic loss scaling
        self.progress = {"epochs_done": 0, "best_value": None, "best_loss": None,
                         "best_epoch": None, "train_seconds": 0.0}

    # -- checkpoints ----------------------------------------------------------
    def resume(self) -> None:
        self.progress = read_progress(self.run_dir)
        load_params(self.model, self.run_dir / LAST_PARAMS, self.contexts, self.task.name)
        path = self.run_dir / LAST_TRAINER
        if not self.distributed and path.is_file():
            try:
                self.trainer.load_states(str(path))
            except Exception as err:  # a pickle: any exception type can come out of a damaged one
                raise UserError(f"{path} is not a readable optimizer state ({reason(err)}); "
                                "remove it to resume with fresh optimizer moments.") from None

    def _checkpoint(self, improved: bool) -> None:
        if improved:
            atomic_save(self.run_dir / BEST_PARAMS, self.model.save_parameters)
        atomic_save(self.run_dir / LAST_PARAMS, self.model.save_parameters)
        if not self.distributed:
            atomic_save(self.run_dir / LAST_TRAINER, self.trainer.save_states)
        # progress.json is written last: it is the commit point of the epoch.
        atomic_write_text(self.run_dir / PROGRESS_FILE, json.dumps(self.progress, indent=2))

    def _is_better(self, value: float, loss: float) -> bool:
        progress, metric_class = self.progress, self.task.metric_class
        if progress["best_value"] is None:
            return True
        return (validation_rank(metric_class, value, loss)
                > validation_rank(metric_class, progress["best_value"], progress["best_loss"]))

    # -- the loop ---------------------------------------------------------------
    def train_epoch(self, epoch: int) -> float:
        seed_everything(self.config.seed * 1000 + epoch)  # resumable: epoch e always sees the same noise
        # The loss stays on the device: a read per batch would stall the engine.
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
            factor = self._clip_gradients(self.config.clip) if self.config.clip else 1.0
            # The update scales the gradients by 1 / step's argument: the clip's factor joins it.
            self.trainer.step(self.grad_scale / factor if factor else math.inf)
            for loss in losses:
                total_loss += loss.as_in_context(total_loss.context) * batch.size
            total_count += batch.size
            if batches.n % 50 == 0 and not batches.disable:
                batches.set_postfix(loss=f"{total_loss.asscalar() / total_count:.4f}",
                                    refresh=False)
        return float(total_loss.asscalar()) / max(total_count, 1)

    def _clip_gradients(self, max_norm: float) -> float:
        """Clip the gradients to norm ``max_norm`` at most, as the task's ``clip_norm`` says,
        and return the factor the update still has to scale them by.  A global norm on one
        device is left to the update (no pass over the gradients of its own); otherwise
        the gradients are scaled here, and the factor is 1."""
        params = [p for p in self.model.collect_params().values() if p.grad_req != "null"]
        if (self.task.clip_norm == "global" and len(self.contexts) == 1
                and not (self.config.amp or self.distributed)):  # their updates rescale apart
            return global_clip_factor([p.grad(self.contexts[0]) for p in params], max_norm)
        for ctx in self.contexts:
            grads = [p.grad(ctx) for p in params]
            if self.task.clip_norm == "global":
                gluon.utils.clip_global_norm(grads, max_norm)
                continue
            for grad in grads:  # "each-matrix"
                grad *= mx.nd.minimum(max_norm / (spectral_norm(grad) + 1e-12), 1.0)
        return 1.0

    def _apply_lr_schedule(self, epoch: int) -> None:
        """``config.lr`` times the task's factor, set afresh each epoch so resuming is exact."""
        factor = self.task.lr_schedule(epoch, self.config.epochs)
        if factor != 1 and self.distributed:
            # The dist optimizer lives on the server; a local change would be ignored.
            raise UserError("a learning-rate schedule cannot reach a dist kvstore's optimizer; "
                            "train without decay, or in one process.")
        self.trainer.set_learning_rate(self.config.lr * factor)

    def _log_rows(self) -> List[List[str]]:
        """``log.csv``'s header and the rows of the epochs the run has committed."""
        header = ["epoch", "train_loss", f"valid_{self.task.metric}", "seconds", "lr"]
        path = self.run_dir / LOG_FILE
        if not path.is_file() or not self.progress["epochs_done"]:
            return [header]
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))[1:]
        except (UnicodeDecodeError, csv.Error) as err:
            raise UserError(f"{path} is not readable CSV text ({reason(err)}); restore it, or "
                            "delete it to resume without the earlier epochs' rows.") from None
        return [header] + rows[:self.progress["epochs_done"]]

    def fit(self) -> Dict:
        config, task = self.config, self.task
        rows = self._log_rows()
        for epoch in range(self.progress["epochs_done"], config.epochs):
            task.start_epoch(self.model, epoch)
            self._apply_lr_schedule(epoch)
            start = time.perf_counter()
            train_loss = self.train_epoch(epoch)
            seconds = time.perf_counter() - start
            scores = evaluate(self.model, task, task.valid_split, self.contexts,
                              config.batch_size, with_loss=True)
            value = scores[task.metric]
            improved = self._is_better(value, scores["loss"])
            self.progress.update(epochs_done=epoch + 1,
                                 train_seconds=self.progress["train_seconds"] + seconds)
            if improved:
                self.progress.update(best_value=value, best_loss=scores["loss"],
                                     best_epoch=epoch + 1)
            rows.append([epoch + 1, f"{train_loss:.6f}", f"{value:.6f}", f"{seconds:.3f}",
                         self.trainer.learning_rate])
            atomic_write_text(self.run_dir / LOG_FILE, _csv(rows))
            self._checkpoint(improved)
            self.log(f"epoch {epoch + 1:3d}/{config.epochs}  loss {train_loss:.4f}  "
                     f"valid {task.metric} {value:.4f}  {seconds:.1f}s"
                     + ("  *best*" if improved else ""))
        return self.progress


def _csv(rows) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def final_metrics(model, task, config: RunConfig, contexts, progress: Dict,
                  kernel: str) -> Dict:
    """Evaluate on every test split; the first split's headline metric is ``value``."""
    results = {split: evaluate(model, task, split, contexts, max(config.batch_size, 256))
               for split in task.test_splits}
    headline = task.test_splits[0]
    return {
        "task": task.name, "metric": task.metric, "value": results[headline][task.metric],
        "split": headline, "epochs": progress.get("epochs_done", config.epochs),
        "best_epoch": progress.get("best_epoch"),
        "train_seconds": round(progress.get("train_seconds", 0.0), 3),
        "rnn_backend": kernel, "splits": results,
    }
