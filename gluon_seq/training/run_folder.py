"""The run folder: what training writes, and how a saved run is reopened.

::

    config.json        RunConfig, task options included (training.config)
    log.csv            one row per epoch
    checkpoint.params  best weights by the validation metric
    last.params        weights after the last finished epoch  } resume
    last.trainer       optimizer state after that epoch       } from these
    progress.json      epoch count, best value, train seconds }
    metrics.json       final evaluation
    codec.json         a codec built from the training data, if the task has one
    export/            symbol + params + meta.json

Every file is written atomically (:mod:`gluon_seq.util.files`), so an
interrupted run leaves no torn file.  Older layouts are read through :mod:`.upgrade`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, NamedTuple, Optional

import mxnet as mx

from .. import tasks
from ..rnn import LayerFactory, kernels
from ..util import settings
from ..util.errors import UserError, reason
from ..util.files import atomic_write_text, read_json
from ..util.runtime import parse_contexts
from .config import RunConfig
from .upgrade import CODEC_FILE, codec_file, upgrade_codec, upgrade_progress

BEST_PARAMS = "checkpoint.params"
LAST_PARAMS = "last.params"
LAST_TRAINER = "last.trainer"
PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.json"
LOG_FILE = "log.csv"
EXPORT_DIR = "export"

PROGRESS_CHECKS = {"epochs_done": settings.whole(0),
                   "best_value": settings.optional(settings.number()),
                   "best_loss": settings.optional(settings.number()),
                   "best_epoch": settings.optional(settings.whole(1)),
                   "train_seconds": settings.number(0)}


def read_progress(run_dir: Path) -> Dict:
    """``progress.json``, what the last epoch committed; a UserError if missing or damaged."""
    path = Path(run_dir) / PROGRESS_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume: {path} is missing.")
    progress = upgrade_progress(read_json(path))
    for key, check in PROGRESS_CHECKS.items():
        if key not in progress or not check.test(progress[key]):
            raise UserError(f"{path} is damaged: {key!r} must be {check.allowed}; continue from "
                            "a copy of the run, or start a new one.")
    return progress


def make_task(config: RunConfig) -> tasks.Task:
    task_cls = tasks.get(config.task)
    return task_cls.for_options(task_cls.make_options(config.options), config.data_dir,
                                config.seed)


def save_artifacts(task, folder: Path) -> None:
    """Write what the task built from its data (its codec, the example inputs)."""
    saved = task.artifacts()
    if saved is not None:
        atomic_write_text(Path(folder) / CODEC_FILE, json.dumps(saved))


def load_artifacts(task, folder: Path) -> None:
    """Restore what :func:`save_artifacts` wrote, without reading the training data."""
    if not task.codec_from_data:
        return
    path = codec_file(folder, task.name)
    if not path.is_file():
        raise UserError(f"{path} is missing: the run folder has no saved {task.name} "
                        "vocabulary; train the run again.")
    try:
        task.restore(upgrade_codec(json.loads(path.read_bytes().decode("utf-8"))))
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # a damaged file's fields
        raise UserError(f"{path} is not a saved {task.name} vocabulary ({reason(err)}); "
                        "train the run again.") from None


def load_params(model, path: Path, contexts, task_name: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path} is missing: train first, or point at a run folder.")
    try:
        model.load_parameters(str(path), ctx=contexts)
    except (AssertionError, mx.base.MXNetError, ValueError, OSError) as err:
        raise UserError(f"{path} cannot be loaded into a {task_name!r} model "
                        f"({reason(err)}).") from None


class Run(NamedTuple):
    """A reopened run: config, task, hybridized model at its best checkpoint, devices."""
    config: RunConfig
    task: tasks.Task
    model: mx.gluon.HybridBlock
    contexts: list


def load_run(run_dir: Path, rnn_backend: Optional[str] = None, ctx: Optional[str] = None,
             with_data: bool = False) -> Run:
    """The run in ``run_dir`` with its best checkpoint loaded, on ``ctx`` (default cpu).
    ``rnn_backend`` (a kernel or ``auto``) overrides the run's kernel; ``with_data``
    also loads the task's data (to evaluate, not to export)."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir)
    contexts = parse_contexts(ctx or "cpu")
    task = make_task(config)
    load_artifacts(task, run_dir)
    if with_data:
        task.prepare()
    kernel = kernels.resolve(rnn_backend, contexts[0]) if rnn_backend else config.kernel
    model = task.build_model(LayerFactory(kernel, ctx=contexts[0], cell=config.cell))
    load_params(model, run_dir / BEST_PARAMS, contexts, task.name)
    model.hybridize(static_alloc=True, static_shape=True)
    return Run(config, task, model, contexts)
