"""RunConfig: everything needed to rebuild a run, saved as the run folder's ``config.json``.

Every field declares what it allows (:mod:`gluon_seq.util.settings`), so a bad
config, from the CLI, a file or Python, is refused when made, naming the flag.
``rnn_backend`` is what the user asked for; ``kernel`` the kernel training
decided on, recorded when it starts, so nothing times the kernels again.
Older layouts are read by :mod:`.upgrade` alone.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

from .. import tasks
from ..rnn import cells, kernels
from ..util import settings
from ..util.errors import UserError, reason
from ..util.files import atomic_write_text, read_json
from .upgrade import CONFIG_FORMAT, upgrade_config

CONFIG_FILE = "config.json"
KVSTORES = ("device", "local", "nccl", "dist_sync", "dist_device_sync", "dist_async")
# What `--resume` may change; any other setting that differs from the saved run is refused.
RESUMABLE = ("epochs",)


def _checked(check, **kwargs):
    return field(metadata={"check": check}, **kwargs)


@dataclass
class RunConfig:
    """Everything needed to rebuild a run (see the module docstring)."""
    task: str
    epochs: int = _checked(settings.whole(1))
    batch_size: int = _checked(settings.whole(1))
    lr: float = _checked(settings.positive())
    optimizer: str = _checked(settings.optimizer(), default="adam")
    clip: Optional[float] = _checked(settings.optional(settings.positive()), default=None)
    rnn_backend: str = _checked(settings.one_of(kernels.CHOICES), default="auto")
    cell: str = _checked(settings.one_of(cells.CELLS), default=cells.DEFAULT)
    ctx: str = _checked(settings.devices(), default="cpu")
    seed: int = _checked(settings.seed(), default=0)
    kvstore: str = _checked(settings.one_of(KVSTORES), default="device")
    data_dir: Optional[str] = _checked(settings.optional(settings.text()), default=None)
    preset: Optional[str] = _checked(settings.optional(settings.text()), default=None)
    amp: bool = _checked(settings.flag(), default=False)  # mixed precision, GPU only
    # Seeds seed, seed + 1, ... trained in one run folder; the best by validation is kept.
    restarts: int = _checked(settings.whole(1), default=1)
    options: Dict = field(default_factory=dict)
    # Not a request: the kernel training decided on (None until training starts).
    kernel: Optional[str] = _checked(settings.optional(settings.one_of(kernels.KERNELS)),
                                     default=None)

    def __post_init__(self):
        task_cls = tasks.get(self.task)
        settings.validate(self)
        preset_values(task_cls, self.preset)
        if not isinstance(self.options, dict):
            raise UserError(f"the task options must be a mapping of names to values, not "
                            f"{type(self.options).__name__}.")
        task_cls.make_options(self.options)

    @classmethod
    def for_task(cls, task: str, preset: Optional[str] = None, **overrides) -> "RunConfig":
        """Task defaults (its model's, :meth:`Task.defaults_for`), then the preset, then
        explicit overrides (None = not given)."""
        task_cls = tasks.get(task)
        values, options = {}, {}
        option_names = {f.name for f in task_cls.option_fields()}
        for key, value in preset_values(task_cls, preset).items():
            (options if key in option_names else values)[key] = value
        options.update(overrides.pop("options", None) or {})
        values = {**task_cls.defaults_for(options), **values}  # the model may bring its own
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(task=task, preset=preset, options=options, **values)  # checked as it is made

    def save(self, folder: Path) -> None:
        values = dict(format_version=CONFIG_FORMAT, **dataclasses.asdict(self))
        atomic_write_text(Path(folder) / CONFIG_FILE, json.dumps(values, indent=2))

    @classmethod
    def load(cls, folder: Path) -> "RunConfig":
        path = Path(folder) / CONFIG_FILE
        if not path.is_file():
            raise UserError(f"{path} is missing: {folder} is not a gluon-seq run folder.")
        try:
            return cls(**upgrade_config(read_json(path)))
        except UserError as err:
            raise UserError(f"{path}: {err}") from None
        except TypeError as err:  # fields RunConfig lacks, or misses
            raise UserError(f"{path} is not a valid run config ({reason(err)}).") from None


def preset_values(task_cls, name: Optional[str]) -> Dict:
    """The settings of the task's preset ``name`` ({} for none); UserError if it has none such."""
    if name is None:
        return {}
    if not isinstance(name, str) or name not in task_cls.presets:
        known = ", ".join(sorted(task_cls.presets)) or "none"
        raise UserError(f"task {task_cls.name!r} has no preset {name!r}; presets: {known}.")
    return task_cls.presets[name]


def resumed_config(saved: RunConfig, requested: RunConfig,
                   given: Optional[Sequence[str]] = None) -> RunConfig:
    """The saved run's config with what resuming may change taken from ``requested``.

    ``given`` names the settings the user gave (CLI flags, option names); None
    compares every setting.  One that differs from the saved run and is not in
    :data:`RESUMABLE` is refused, naming its flag.
    """
    if saved.task != requested.task:
        raise UserError(f"this folder holds a {saved.task!r} run, not {requested.task!r}; "
                        "use another --out or train that task.")
    task_cls = tasks.get(saved.task)
    run_fields = [f for f in dataclasses.fields(RunConfig)
                  if f.name not in ("task", "options", "kernel")]
    pairs = [(f, getattr(saved, f.name), getattr(requested, f.name)) for f in run_fields]
    # Options compare by their effective values: a saved run lists only those it was given.
    old, new = (task_cls.make_options(c.options) for c in (saved, requested))
    pairs += [(f, getattr(old, f.name), getattr(new, f.name)) for f in task_cls.option_fields()]
    for spec, was, now in pairs:
        if spec.name in RESUMABLE or (given is not None and spec.name not in given) or was == now:
            continue
        raise UserError(f"{settings.flag_of(spec)} {now} differs from the saved run's {was}; "
                        f"resuming may change only {', '.join(map(settings.flag_of, RESUMABLE))}, "
                        "so drop the flag or start a new run with another --out.")
    # A resumable setting the user did not give keeps the saved run's value: a run started
    # with a preset's epochs must not run on to the task's default epochs when resumed.
    return dataclasses.replace(saved, **{k: getattr(requested, k) for k in RESUMABLE
                                         if given is None or k in given})
