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

from ..util import settings
from .. import tasks as task_registry
from ..util.errors import UserError, reason
from ..rnn import LayerFactory, cells, kernels
from ..util.runtime import parse_contexts

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


KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync", "dist_async")


def _checked(check, **kwargs):
    return field(metadata={"check": check}, **kwargs)


@dataclass
class RunConfig:
    """Everything needed to rebuild a run.  Saved as ``config.json``.

    Every field declares what it allows (:mod:`gluon_seq.util.settings`); a RunConfig
    that breaks one, from the CLI, a ``config.json`` or Python, is refused when
    it is made, in one sentence naming the flag."""
    task: str
    epochs: int = _checked(settings.whole(1))
    batch_size: int = _checked(settings.whole(1))
    lr: float = _checked(settings.positive())
    optimizer: str = _checked(settings.optimizer(), default="adam")
    clip: Optional[float] = _checked(settings.optional(settings.positive()), default=None)
    # The request; once training starts, the kernel it used.
    rnn_backend: str = _checked(settings.one_of(kernels.CHOICES), default="auto")
    cell: str = _checked(settings.one_of(cells.CELLS), default=cells.DEFAULT)
    ctx: str = _checked(settings.devices(), default="cpu")
    seed: int = _checked(settings.seed(), default=0)
    kvstore: str = _checked(settings.one_of(KVSTORES), default="device")
    data_dir: Optional[str] = _checked(settings.optional(settings.text()), default=None)
    preset: Optional[str] = _checked(settings.optional(settings.text()), default=None)
    amp: bool = _checked(settings.flag(), default=False)  # mixed precision, GPU only
    options: Dict = field(default_factory=dict)

    def __post_init__(self):
        task_cls = task_registry.get(self.task)
        settings.validate(self, {})
        _preset(task_cls, self.preset)
        if not isinstance(self.options, dict):
            raise UserError(f"the task options must be a mapping of names to values, not "
                            f"{type(self.options).__name__}.")
        task_cls.make_options(self.options)

    @classmethod
    def for_task(cls, task: str, preset: Optional[str] = None, **overrides) -> "RunConfig":
        """Task defaults, then the preset, then explicit overrides (None = not given)."""
        task_cls = task_registry.get(task)
        values = dict(task_cls.defaults)
        options = {}
        option_names = {f.name for f in task_cls.option_fields()}
        for key, value in _preset(task_cls, preset).items():
            (options if key in option_names else values)[key] = value
        options.update(overrides.pop("options", None) or {})
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(task=task, preset=preset, options=options, **values)  # checked as it is made

    def save(self, folder: Path) -> None:
        atomic_write_text(Path(folder) / CONFIG_FILE, json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> "RunConfig":
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            raise UserError(f"{path} is missing: {folder} is not a gluon-seq run folder.")
        values = read_json(path)
        try:
            return cls(**values)
        except UserError as err:
            raise UserError(f"{path}: {err}") from None
        except TypeError as err:  # fields RunConfig lacks, or misses
            raise UserError(f"{path} is not a valid run config ({reason(err)}).") from None


def _preset(task_cls, name: Optional[str]) -> Dict:
    """The settings of the task's preset ``name`` ({} for none); UserError if it has none such."""
    if name is None:
        return {}
    if not isinstance(name, str) or name not in task_cls.presets:
        known = ", ".join(sorted(task_cls.presets)) or "none"
        raise UserError(f"task {task_cls.name!r} has no preset {name!r}; presets: {known}.")
    return task_cls.presets[name]


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
    """A JSON object file of the run folder, or {} when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({reason(err)}).") from None
    if not isinstance(values, dict):
        raise UserError(f"{path} holds a JSON {type(values).__name__}, not an object.")
    return values


PROGRESS_CHECKS = {"epochs_done": settings.whole(0),
                   "best_value": settings.optional(settings.number()),
                   "best_epoch": settings.optional(settings.whole(1)),
                   "train_seconds": settings.number(0)}


def read_progress(run_dir: Path) -> Dict:
    """``progress.json``: what the last finished epoch committed; UserError naming
    the file when it is missing or damaged."""
    path = Path(run_dir) / PROGRESS_FILE
    if not path.is_file():
        raise UserError(f"nothing to resume: {path} is missing.")
    progress = read_json(path)
    for key, check in PROGRESS_CHECKS.items():
        if key not in progress or not check.test(progress[key]):
            raise UserError(f"{path} is damaged: {key!r} must be {check.allowed}; continue from "
                            "a copy of the run, or start a new one.")
    return progress


def make_task(config: RunConfig) -> task_registry.Task:
    task_cls = task_registry.get(config.task)
    return task_cls(task_cls.make_options(config.options), data_dir=config.data_dir, seed=config.seed)


def build_model(task, kernel: str, contexts: Sequence[mx.Context], cell: str = cells.DEFAULT):
    """The task's model, its recurrent layers made as ``cell`` with ``kernel`` for the
    first device."""
    return task.build_model(LayerFactory(kernel, ctx=contexts[0], cell=cell))


def load_params(model, path: Path, contexts, task_name: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path} is missing: train first, or point at a run folder.")
    try:
        model.load_parameters(str(path), ctx=contexts)
    except (AssertionError, mx.base.MXNetError, ValueError, OSError) as err:
        raise UserError(f"{path} cannot be loaded into a {task_name!r} model "
                        f"({reason(err)}).") from None


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
    model = build_model(task, kernel, contexts, config.cell)
    load_params(model, run_dir / BEST_PARAMS, contexts, task.name)
    model.hybridize(static_alloc=True, static_shape=True)
    return config, task, model, contexts
