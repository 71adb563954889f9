"""What a task supplies to the one training / evaluation / export path.

A task owns its data, its model config and model, its loss and metric, the
codec that encodes inputs and decodes outputs, and an example input for
export.  ``training.fit`` drives any task without knowing which one it is.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np

from ..codecs import Codec
from ..errors import UserError
from ..metrics import Metric


@dataclass
class Batch:
    """Batch-first numpy arrays: model data inputs, and the label."""
    inputs: Tuple[np.ndarray, ...]
    label: np.ndarray

    @property
    def size(self) -> int:
        return int(self.label.shape[0])


class Task:
    """Base class.  Subclasses set the class attributes and implement the methods.

    ``Options`` is a dataclass of task settings; each field becomes a CLI flag
    (``--field-name``) and is saved in the run's ``config.json``.
    ``defaults`` holds run settings (epochs, batch_size, lr, optimizer, clip)
    that reproduce the source tutorial; ``presets`` name other settings.
    """

    name: ClassVar[str] = "base"
    metric: ClassVar[str] = "accuracy"
    Options: ClassVar[type]
    defaults: ClassVar[Dict] = {}
    presets: ClassVar[Dict[str, Dict]] = {}
    valid_split: ClassVar[str] = "valid"
    test_splits: ClassVar[Tuple[str, ...]] = ("test",)
    carries_state: ClassVar[bool] = False  # model returns (prediction, *states) when True

    def __init__(self, options=None, data_dir: Optional[str] = None, seed: int = 0):
        self.options = options if options is not None else self.Options()
        self.data_dir = Path(data_dir) if data_dir else None
        self.seed = seed
        self._shard = (0, 1)  # (rank, workers): which share of the training data is ours

    # -- data -----------------------------------------------------------------
    def prepare(self) -> None:
        """Load or generate data and fill data-dependent sizes (vocabulary...).

        Runs after :meth:`load_artifacts` when a saved run is reopened, so it must
        keep what that restored (a vocabulary built at training time) rather than
        rebuild it."""

    def train_batches(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def eval_batches(self, split: str, batch_size: int) -> Iterator[Batch]:
        raise NotImplementedError

    def shard(self, rank: int, num_workers: int) -> None:
        """Keep only this worker's share of the training data (distributed runs)."""
        self._shard = (rank, num_workers)

    # -- model ----------------------------------------------------------------
    def build_model(self, backend: str, ctx: Optional[mx.Context] = None) -> mx.gluon.HybridBlock:
        """A HybridBlock with ``begin_state(batch_size, ctx)`` and ``hybrid_forward(F, *data, *states)``."""
        raise NotImplementedError

    def initializer(self):
        return mx.init.Xavier()

    def loss(self, pred: mx.nd.NDArray, label: mx.nd.NDArray) -> mx.nd.NDArray:
        """Per-sample loss, shape (N,)."""
        raise NotImplementedError

    def new_metric(self) -> Metric:
        raise NotImplementedError

    # -- inference ------------------------------------------------------------
    def codec(self) -> Codec:
        raise NotImplementedError

    def example_inputs(self) -> List:
        """User-level inputs (what ``predict`` takes) used to trace the export."""
        raise NotImplementedError

    # -- artifacts: data-dependent state saved beside the params ---------------
    def save_artifacts(self, folder: Path) -> None:
        """Write what ``load_artifacts`` needs (e.g. a vocabulary) into the run folder."""

    def load_artifacts(self, folder: Path) -> None:
        """Restore data-dependent state without reading the training data."""

    # -- helpers ----------------------------------------------------------------
    @classmethod
    def option_fields(cls) -> List[dataclasses.Field]:
        return list(dataclasses.fields(cls.Options))

    @classmethod
    def make_options(cls, values: Dict) -> object:
        known = {f.name for f in cls.option_fields()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"task {cls.name!r} has no option(s) {', '.join(unknown)}.")
        return cls.Options(**values)


class DataCodecMixin:
    """For a task whose codec (vocabulary, lengths) is built from its training
    data: ``prepare`` sets ``self._codec`` and ``self._example`` (example inputs
    from that data), and the run folder keeps both in ``artifact_file``, so a
    reopened run rebuilds the very same codec without reading the data."""

    artifact_file: ClassVar[str] = "codec.json"
    _codec: Optional[Codec] = None
    _example: List = []

    def codec(self) -> Codec:
        if self._codec is None:
            raise RuntimeError("call prepare() or load_artifacts() first")
        return self._codec

    def example_inputs(self) -> List:
        return list(self._example)

    def save_artifacts(self, folder: Path) -> None:
        meta = dict(self.codec().to_meta(), example=self._example)
        (Path(folder) / self.artifact_file).write_text(json.dumps(meta))

    def load_artifacts(self, folder: Path) -> None:
        from ..codecs import codec_from_meta

        path = Path(folder) / self.artifact_file
        if not path.is_file():
            raise UserError(f"{path} is missing: the run folder has no saved {self.name} "
                            "vocabulary; train the run again.")
        meta = json.loads(path.read_text())
        self._example = meta.pop("example", [])
        self._codec = codec_from_meta(meta)


def iterate_minibatches(arrays: Sequence[np.ndarray], label: np.ndarray, batch_size: int,
                        shuffle_seed: Optional[int] = None,
                        shard: Tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """Batches over aligned arrays; shuffled when a seed is given.  The last
    short batch is kept.  ``shard`` = (rank, workers) keeps every workers-th row."""
    count = label.shape[0]
    order = np.arange(count)
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(order)
    rank, workers = shard
    # Every worker must take the same number of steps, or dist_sync waits forever.
    order = order[:len(order) - len(order) % workers][rank::workers]
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield Batch(tuple(a[index] for a in arrays), label[index])
