"""Streaming metrics: ``update(pred, label)`` reduces on the NDArrays' device;
only scalars come back."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import mxnet as mx


class Metric:
    name = "metric"
    higher_is_better = True

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update(self, pred: mx.nd.NDArray, label: mx.nd.NDArray) -> None:
        raise NotImplementedError

    def value(self) -> float:
        return self.total / max(self.count, 1)

    def result(self) -> Dict[str, float]:
        return {self.name: self.value()}


class Accuracy(Metric):
    """Share of positions whose argmax equals the label.  pred (..., K), label (...)."""
    name = "accuracy"

    def update(self, pred, label):
        hits = pred.argmax(axis=-1) == label.astype(pred.dtype)
        self.total += float(hits.sum().asscalar())
        self.count += int(hits.size)


class ExactMatch(Metric):
    """Share of samples whose every position is right.  pred (N, T, K), label (N, T)."""
    name = "exact_match"

    def update(self, pred, label):
        hits = (pred.argmax(axis=-1) == label.astype(pred.dtype)).min(axis=1)
        self.total += float(hits.sum().asscalar())
        self.count += int(hits.shape[0])


class BinaryAccuracy(Metric):
    """pred (N,) or (N, 1) logits; label (N,) in {0, 1}."""
    name = "accuracy"

    def update(self, pred, label):
        guess = (pred.reshape((-1,)) > 0).astype("float32")
        hits = guess == label.reshape((-1,)).astype("float32")
        self.total += float(hits.sum().asscalar())
        self.count += int(hits.size)


class Perplexity(Metric):
    """exp(mean cross-entropy) and next-token accuracy.  pred (..., V) logits, label (...) ids."""
    name = "perplexity"
    higher_is_better = False

    def __init__(self):
        super().__init__()
        self.hits = 0.0

    def update(self, pred, label):
        log_probs = mx.nd.log_softmax(pred, axis=-1)
        picked = mx.nd.pick(log_probs, label.astype(pred.dtype), axis=-1)
        self.total -= float(picked.sum().asscalar())
        self.hits += float((pred.argmax(axis=-1) == label.astype(pred.dtype)).sum().asscalar())
        self.count += int(picked.size)

    def value(self) -> float:
        return math.exp(min(self.total / max(self.count, 1), 700.0))

    def result(self) -> Dict[str, float]:
        return {"perplexity": self.value(), "accuracy": self.hits / max(self.count, 1)}


def validation_rank(metric_class, value: float, loss: Optional[float]) -> Tuple[float, float]:
    """How a checkpoint or a restart ranks by validation, higher first: by the task's metric,
    and on a tie (an accuracy at 100 %, or over a few hundred questions) by the lower
    validation loss.  A result with
    no loss recorded (written before losses were kept) ranks first among its ties, so that
    resuming an older run keeps the checkpoint it chose."""
    sign = 1.0 if metric_class.higher_is_better else -1.0
    return sign * value, -loss if loss is not None else math.inf
