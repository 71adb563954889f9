"""``GET /metrics``: the HTTP app's Prometheus metrics (docs/serving.md lists them).

Each app has its own registry, never prometheus_client's global one, so several
apps in one process do not collide.  Under ``serve --workers N`` every process's
metrics are kept in files (prometheus_client's multiprocess mode) and any process
answers with their sum.  A request for a model the server does not
have counts as ``model="(unknown)"``, so a client cannot grow the label set.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from .batching import ModelWorker
from .supervisor import METRICS_VARIABLE

UNKNOWN_MODEL = "(unknown)"
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """The metrics of one app serving ``workers``; hooks itself into each worker's runs."""

    def __init__(self, workers: Dict[str, ModelWorker]):
        self.registry = CollectorRegistry()
        self.models = set(workers)
        self.requests = Counter("gluon_seq_requests", "POST /predict answers, by model and status",
                                ["model", "status"], registry=self.registry)
        self.latency = Histogram("gluon_seq_request_duration_seconds",
                                 "time from request to answer, by model", ["model"],
                                 buckets=_SECONDS, registry=self.registry)
        largest = max([w.max_batch for w in workers.values()] + [1])
        rows = tuple(2 ** i for i in range(largest.bit_length() + 1))
        self.batch_rows = Histogram("gluon_seq_batch_rows", "inputs per model run, by model",
                                    ["model"], buckets=rows, registry=self.registry)
        self.runs = Counter("gluon_seq_model_runs", "model runs, by model", ["model"],
                            registry=self.registry)
        depth = Gauge("gluon_seq_queue_depth", "requests admitted and not yet answered, by model",
                      ["model"], registry=self.registry, multiprocess_mode="livesum")
        for name, worker in workers.items():
            depth.labels(model=name).set(worker.in_flight)
            worker.on_depth = depth.labels(model=name).set
            worker.on_run = self._run_hook(name)

    def _run_hook(self, name: str):
        runs, rows = self.runs.labels(model=name), self.batch_rows.labels(model=name)

        def on_run(count: int) -> None:  # on the model's thread; prometheus_client locks
            runs.inc()
            rows.observe(count)
        return on_run

    def answered(self, model: str, status: int, seconds: float) -> None:
        label = model if model in self.models else UNKNOWN_MODEL
        self.requests.labels(model=label, status=str(status)).inc()
        self.latency.labels(model=label).observe(seconds)

    def render(self, accept: Optional[str] = None) -> Tuple[bytes, str]:
        """(body, content type) in the format the scraper's ``Accept`` header asks for."""
        encoder, content_type = choose_encoder(accept)
        if os.environ.get(METRICS_VARIABLE):  # one of several processes: add up them all
            everyone = CollectorRegistry()
            MultiProcessCollector(everyone)
            return encoder(everyone), content_type
        return encoder(self.registry), content_type
