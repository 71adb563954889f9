"""The run folder: what training writes, and how a saved run is reopened.

::

    config.json        RunConfig, task options included (rebuilds the model);
                       ``rnn_backend`` is the kernel training used
    log.csv            one row per epoch
    checkpoint.params  best weights by the validation metric
    last.params        weights after the last finished epoch  } resume
    last.trainer       optimizer state after that epoch       } from these
    progress.json      epoch count, best value, train seconds }
    metrics.json       final evaluation
    codec.json         a codec built from the training data, if the task has one
    export/            symbol + params + meta.json

Every file is written through a temporary file and renamed over the old one,
so an interrupted run never leaves a torn file behind.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import mxnet as mx

from . import tasks as task_registry
from .errors import UserError
from .rnn import LayerFactory, kernels
from .runtime import parse_contexts

CONFIG_FILE = "config.json"
BEST_PARAMS = "checkpoint.params"
LAST_PARAMS = "last.params"
LAST_TRAINER = "last.trainer"
PROGRESS_FILE = "progress.json"
METRICS_FILE = "metrics.json"
LOG_FILE = "log.csv"
EXPORT_DIR = "export"
# What `--resume` may change; any other setting that differs from the saved run is refused.
RESUMABLE = ("epochs",)


@dataclass
class RunConfig:
    """Everything needed to rebuild a run.  Saved as ``config.json``."""
    task: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"
    clip: Optional[float] = None
    rnn_backend: str = "auto"  # the request; once training starts, the kernel it used
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
            option_names = {f.name for f in task_cls.option_fields()}
            for key, value in task_cls.presets[preset].items():
                (options if key in option_names else values)[key] = value
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


def flag_name(setting: str) -> str:
    """The CLI flag of a RunConfig field or task option: ``batch_size`` -> ``--batch-size``."""
    return "--" + setting.replace("_", "-")


def resumed_config(saved: RunConfig, requested: RunConfig,
                   given: Optional[Sequence[str]] = None) -> RunConfig:
    """The saved run's config with what resuming may change taken from ``requested``.

    ``given`` names the settings the user gave (CLI flags, option names); None
    compares every setting.  One that differs from the saved run and is not in
    :data:`RESUMABLE` is refused, naming it.  A kernel request of ``auto`` or
    ``auto-fast`` matches the kernel the run recorded: it was decided at the start.
    """
    if saved.task != requested.task:
        raise UserError(f"this folder holds a {saved.task!r} run, not {requested.task!r}; "
                        "use another --out or train that task.")
    task_cls = task_registry.get(saved.task)
    old, new = dataclasses.asdict(saved), dataclasses.asdict(requested)
    pairs = [(k, old[k], new[k]) for k in old if k not in ("task", "options")]
    # Options compare by their effective values: a saved run lists only those it was given.
    old_options, new_options = (dataclasses.asdict(task_cls.make_options(c.options))
                                for c in (saved, requested))
    pairs += [(k, old_options[k], new_options[k]) for k in old_options]
    flags = {f.name: f.metadata.get("flag", flag_name(f.name)) for f in task_cls.option_fields()}
    for name, was, now in pairs:
        if name in RESUMABLE or (given is not None and name not in given) or was == now:
            continue
        if name == "rnn_backend" and was in kernels.KERNELS and kernels.accepts(now, was):
            continue
        raise UserError(f"{flags.get(name, flag_name(name))} {now} differs from the saved run's "
                        f"{was}; resuming may change only {', '.join(map(flag_name, RESUMABLE))}, "
                        "so drop the flag or start a new run with another --out.")
    return dataclasses.replace(saved, **{k: getattr(requested, k) for k in RESUMABLE})


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


def read_json(path: Path) -> Dict:
    """A JSON file of the run folder, or {} when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err}).") from None


def make_task(config: RunConfig) -> task_registry.Task:
    task_cls = task_registry.get(config.task)
    return task_cls(task_cls.make_options(config.options), data_dir=config.data_dir, seed=config.seed)


def build_model(task, kernel: str, contexts: Sequence[mx.Context]):
    """The task's model, its recurrent layers made with ``kernel`` for the first device."""
    return task.build_model(LayerFactory(kernel, ctx=contexts[0]))


def load_params(model, path: Path, contexts, task_name: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path} is missing: train first, or point at a run folder.")
    try:
        model.load_parameters(str(path), ctx=contexts)
    except (AssertionError, mx.base.MXNetError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path} does not fit a {task_name!r} model: {first}") from None


def load_run(run_dir: Path, rnn_backend: Optional[str] = None, ctx: Optional[str] = None,
             with_data: bool = False):
    """(config, task, model, contexts) for a run folder, with the best checkpoint loaded.

    ``rnn_backend`` overrides the kernel the run recorded (weights do not depend
    on it).  ``with_data`` also loads the task's data (needed to evaluate, not to
    export)."""
    run_dir = Path(run_dir)
    config = RunConfig.load(run_dir)
    contexts = parse_contexts(ctx or "cpu")
    task = make_task(config)
    task.load_artifacts(run_dir)
    if with_data:
        task.prepare()
    kernel = kernels.resolve(rnn_backend or config.rnn_backend, contexts[0])
    model = build_model(task, kernel, contexts)
    load_params(model, run_dir / BEST_PARAMS, contexts, task.name)
    model.hybridize(static_alloc=True, static_shape=True)
    return config, task, model, contexts
