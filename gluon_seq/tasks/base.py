"""What a task supplies to the one training / evaluation / export path.

A task only wires things together: its data (:mod:`gluon_seq.data`), its model
(:mod:`gluon_seq.models`, built with the layer factory it is handed), loss,
metric, codec and example inputs, so the loop drives any task without knowing
which one.  :class:`Task` declares every hook the loop, the run folder and the
tests use: ``Options`` (a dataclass whose fields are CLI flags), ``defaults``
(the source tutorial's run settings), ``presets`` and the rest below.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar, Dict, Iterator, List, Optional, Tuple

import mxnet as mx
import numpy as np

from ..codecs import Codec, codec_from_meta
from ..data import Batch, epoch_seed, iterate_minibatches
from ..util import settings
from ..util.errors import UserError
from .metrics import Accuracy, Metric
from ..rnn import LayerFactory

class Task:
    """Base class.  Subclasses set the class attributes and implement the data hooks.

    A task whose data fits in memory keeps each split in ``self._arrays[split]``
    as ``(input arrays..., label)``; the default :meth:`train_batches` and
    :meth:`eval_batches` batch those.
    """

    name: ClassVar[str] = "base"
    Options: ClassVar[type]
    defaults: ClassVar[Dict] = {}
    presets: ClassVar[Dict[str, Dict]] = {}
    preset_help: ClassVar[Dict[str, str]] = {}  # one line per preset, for train TASK --help
    metric_class: ClassVar[type] = Accuracy
    metric: ClassVar[str] = Accuracy.name  # set from metric_class for every subclass
    loss_block: ClassVar[Optional[mx.gluon.Block]] = None  # built once: a loss has no parameters
    valid_split: ClassVar[str] = "valid"
    test_splits: ClassVar[Tuple[str, ...]] = ("test",)
    carries_state: ClassVar[bool] = False  # model returns (prediction, *states) when True
    fixed_length: ClassVar[bool] = True
    tiny_options: ClassVar[Dict] = {}
    codec_from_data: ClassVar[bool] = False  # its codec is built from the training data

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.metric = cls.metric_class.name

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        self.options = options if options is not None else self.Options()
        self.check_options(self.options)
        self.data_dir = Path(data_dir) if data_dir else None
        self.seed = seed
        self._shard = (0, 1)  # (rank, workers): which share of the training data is ours
        self._codec: Optional[Codec] = None
        self._example: List = []
        self._arrays: Dict[str, Tuple[np.ndarray, ...]] = {}

    @classmethod
    def defaults_for(cls, options: Dict) -> Dict:
        """The run settings (epochs, batch size, optimizer...) a run with these options
        trains with when it names none: the task's, unless a model brings its own."""
        return cls.defaults

    @classmethod
    def for_options(cls, options, data_dir: Optional[str] = None, seed: int = 0) -> "Task":
        """The task these options ask for (a task with several models picks the class)."""
        return cls(options, data_dir, seed)

    @classmethod
    def tiny(cls, folder: Path, **options) -> "Task":
        """A tiny instance for tests, on data generated into ``folder`` if it needs files."""
        return cls.for_options(cls.make_options(dict(cls.tiny_options, **options)))

    # -- data -----------------------------------------------------------------
    def prepare(self) -> None:
        """Load or generate data and fill data-dependent sizes (vocabulary...); after
        :meth:`restore` it keeps the restored codec rather than rebuild it."""

    def epoch_seed(self, epoch: int) -> int:
        return epoch_seed(self.seed, epoch)

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        """Epoch ``epoch``'s training batches, shuffled by the run's seed and the epoch."""
        *inputs, label = self._split("train")
        return iterate_minibatches(tuple(inputs), label, batch_size,
                                   shuffle_seed=self.epoch_seed(epoch), shard=self._shard)

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        *inputs, label = self._split(split)
        return iterate_minibatches(tuple(inputs), label, batch_size)

    def _split(self, split: str) -> Tuple[np.ndarray, ...]:
        if split not in self._arrays:
            raise ValueError(f"unknown split {split!r}")
        return self._arrays[split]

    def shard(self, rank: int, num_workers: int) -> None:
        """Keep only this worker's share of the training data (distributed runs)."""
        self._shard = (rank, num_workers)

    def lr_schedule(self, epoch: int, epochs: int) -> float:
        """Learning-rate factor for 0-based ``epoch`` of ``epochs``; the loop multiplies the
        run's lr by it."""
        return 1.0

    @property
    def clip_norm(self) -> str:
        """What --clip bounds: "global", the norm of all gradients together; or
        "each-matrix", every parameter's gradient on its own, by its largest singular value."""
        return "global"

    def start_epoch(self, model, epoch: int) -> None:
        """Called before training 0-based ``epoch``, e.g. to switch a training phase."""

    # -- model ----------------------------------------------------------------
    def build_model(self, rnn_layer: LayerFactory, for_export: bool = False
                    ) -> mx.gluon.HybridBlock:
        """A HybridBlock with ``begin_state(batch_size, ctx)`` and ``hybrid_forward(F, *data, *states)``;
        ``for_export``: it also returns what serving reads (the memory networks' attention)."""
        raise NotImplementedError

    def initializer(self):
        return mx.init.Xavier()

    def loss(self, pred: mx.nd.NDArray, label: mx.nd.NDArray) -> mx.nd.NDArray:
        """Per-sample loss, shape (N,)."""
        return self.loss_block(pred, label)

    def new_metric(self) -> Metric:
        return self.metric_class()

    # -- inference ------------------------------------------------------------
    def codec(self) -> Codec:
        if self._codec is None:
            raise RuntimeError("call prepare() or restore() first")
        return self._codec

    def example_inputs(self) -> List:
        """User-level inputs (what ``predict`` takes) used to trace the export."""
        return list(self._example)

    # -- artifacts: what the task built from its data, saved beside the params ----
    def artifacts(self) -> Optional[Dict]:
        """The data-built codec and example inputs (JSON-able); None for a fixed codec."""
        if not self.codec_from_data:
            return None
        return dict(self.codec().to_meta(), example=self._example)

    def restore(self, saved: Dict) -> None:
        """Take back what :meth:`artifacts` gave, so a reopened run needs no training data."""
        saved = dict(saved)
        if "example" in saved:
            self._example = saved.pop("example")
        self._codec = codec_from_meta(saved)

    # -- helpers ----------------------------------------------------------------
    @classmethod
    def option_fields(cls) -> List[dataclasses.Field]:
        return list(dataclasses.fields(cls.Options))

    @classmethod
    def make_options(cls, values: Dict) -> object:
        """The task's options from a mapping, every value checked (:mod:`gluon_seq.util.settings`)."""
        known = {f.name for f in cls.option_fields()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"task {cls.name!r} has no option(s) {', '.join(unknown)}.")
        options = cls.Options(**values)
        cls.check_options(options)
        return options

    @classmethod
    def check_options(cls, options) -> None:
        """Every declared range and choice, then :meth:`check_option_values`."""
        settings.validate(options)
        cls.check_option_values(options)

    @classmethod
    def check_option_values(cls, options) -> None:
        """Rules between options (one must fit in another); raise UserError naming the flags."""
