"""The batching core: one worker per model, and merged model runs.

Each model owns one inference thread (MXNet must not run one block from two
threads at once) and a queue.  Requests are encoded on arrival, so a bad one is
answered alone; the thread runs everything queued within ``max_wait_ms`` (up to
``max_batch`` rows) as one batch (:func:`run_merged`).  Codecs that override
``Codec.predict`` (iterative generation) run one request per call instead.
At most ``max_queue`` requests per model are admitted at a time; one more
raises :class:`QueueFull` (a 503), so memory stays bounded whatever the load.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence

import numpy as np

from ..codecs import Codec
from ..util.errors import UserError
from .predictors import load_predictor
from .requests import model_name

log = logging.getLogger("gluon_seq.serve")  # one name for all of serving's log lines

DEFAULT_MAX_QUEUE = 256  # requests per model admitted at once: 4 full batches of 64


class QueueFull(Exception):
    """The model already holds ``max_queue`` requests: answer 503, retry later."""


def batches_requests(codec: Codec) -> bool:
    """Whether requests for this codec can share model runs (stock ``predict``)."""
    return type(codec).predict is Codec.predict


def run_merged(model, requests: Sequence[List[np.ndarray]], max_rows: int) -> list:
    """Answers for several encoded requests (``requests[i]``: request i's
    batch-first arrays from ``codec.encode``), run in slices of at most
    ``max_rows`` rows; a request whose decoding fails gets its exception instead."""
    arrays = [np.concatenate([r[i] for r in requests], axis=0) for i in range(len(requests[0]))]
    total = arrays[0].shape[0]
    pieces = [model.run([a[start:start + max_rows] for a in arrays])
              for start in range(0, total, max_rows)]
    outputs = [np.concatenate([piece[k] for piece in pieces], axis=0) for k in range(len(pieces[0]))]
    answers, offset = [], 0
    for request in requests:
        rows = request[0].shape[0]
        part = [o[offset:offset + rows] for o in outputs]
        offset += rows
        try:
            answers.append(model.codec.decode(part))
        except Exception as err:
            answers.append(err)
    return answers


@dataclass
class _Pending:
    """One encoded request waiting for the model's thread."""
    arrays: List[np.ndarray]  # batch-first, `rows` rows each
    rows: int
    future: asyncio.Future


class ModelWorker:
    """One model: its inference thread, its queue, and the batching loop."""

    def __init__(self, name: str, folder: Path, runtime: str, max_batch: int, max_wait_ms: float,
                 max_queue: int = DEFAULT_MAX_QUEUE):
        self.name = name
        self.folder = Path(folder)
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")
        # Loaded on the thread that will run it, so MXNet only ever sees that one thread.
        self.model = self.thread.submit(load_predictor, self.folder, runtime).result()
        self.runtime = self.model.runtime  # the one chosen, when runtime is "auto"
        self.codec: Codec = self.model.codec
        self.batched = batches_requests(self.codec)
        self.batches = 0  # model runs, and the rows they took: shown by /models
        self.rows = 0
        self.max_queue = max_queue
        self.in_flight = 0  # admitted requests not answered yet (see admitted)
        self.on_run: Optional[Callable[[int], None]] = None  # called with each run's rows
        self.on_depth: Optional[Callable[[int], None]] = None  # called when in_flight changes
        self._pending: Deque[_Pending] = collections.deque()
        self._arrived: Optional[asyncio.Event] = None
        self._loop_task: Optional[asyncio.Task] = None
        self._running = False

    def describe(self) -> dict:
        # "backend" is the runtime's name in the API users already read.
        return {"name": self.name, "task": self.model.meta["task"],
                "input_description": self.model.meta["input_description"],
                "backend": self.runtime, "graph": getattr(self.model, "graph", None),
                "backend_ms_at_batch_1": self.model.timings,
                "batched": self.batched,
                "example_inputs": self.model.meta["example_inputs"],
                "model_runs": self.batches, "rows_run": self.rows, "queued": len(self._pending),
                "in_flight": self.in_flight, "max_queue": self.max_queue}

    # -- lifecycle (inside the server's event loop) ---------------------------
    @property
    def started(self) -> bool:
        """Between start() and stop(): requests are taken."""
        return self._running

    def start(self) -> None:
        self._running = True
        self._arrived = asyncio.Event()
        if self.batched:
            self._loop_task = asyncio.get_running_loop().create_task(self._batch_loop())

    async def stop(self) -> None:
        self._running = False
        if self._loop_task:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(RuntimeError("server shutting down"))
        self.thread.shutdown(wait=True)

    # -- requests -----------------------------------------------------------------
    def refusal(self) -> Optional[str]:
        """Why a request would be refused now (every place in the queue is taken), or None."""
        if self.in_flight < self.max_queue:
            return None
        return (f"model {self.name!r} is busy ({self.in_flight} requests waiting, the most it "
                "queues); retry in a moment.")

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of the model's ``max_queue`` places for a request, or raise QueueFull."""
        refusal = self.refusal()
        if refusal:
            raise QueueFull(refusal)
        self._set_in_flight(self.in_flight + 1)
        try:
            yield
        finally:
            self._set_in_flight(self.in_flight - 1)

    def _set_in_flight(self, count: int) -> None:
        self.in_flight = count
        if self.on_depth is not None:
            self.on_depth(count)

    async def predict(self, inputs: list) -> list:
        """Answers for one request's inputs; UserError for bad input."""
        loop = asyncio.get_running_loop()
        if not self.batched:
            return await loop.run_in_executor(self.thread, self.codec.predict, self._run_counted,
                                              inputs)
        # A UserError is the input's fault (a 400); anything else is a codec bug (a 500,
        # logged with its traceback by the app).
        arrays = [np.asarray(a) for a in self.codec.encode(inputs)]
        item = _Pending(arrays, int(arrays[0].shape[0]), loop.create_future())
        self._pending.append(item)
        self._arrived.set()
        return await item.future

    async def _next_batch(self) -> List[_Pending]:
        """Wait for a request, then for company until the oldest has waited
        max_wait or the batch is full; take what fits in max_batch rows."""
        loop = asyncio.get_running_loop()
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = loop.time() + self.max_wait
        while sum(p.rows for p in self._pending) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                break
        batch = [self._pending.popleft()]
        rows = batch[0].rows
        while self._pending and rows + self._pending[0].rows <= self.max_batch:
            rows += self._pending[0].rows
            batch.append(self._pending.popleft())
        return [p for p in batch if not p.future.cancelled()]  # client went away

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            try:
                answers = await loop.run_in_executor(self.thread, self._run_batch, batch)
            except Exception as err:  # a model failure fails this batch, not the server
                log.exception("model %s failed on a batch of %d rows", self.name,
                              sum(p.rows for p in batch))
                answers = [err] * len(batch)
            for item, answer in zip(batch, answers):
                if item.future.done():
                    continue
                if isinstance(answer, Exception):
                    item.future.set_exception(answer)
                else:
                    item.future.set_result(answer)

    def _run_batch(self, batch: Sequence[_Pending]) -> list:
        answers = run_merged(self.model, [p.arrays for p in batch], self.max_batch)
        rows = sum(p.rows for p in batch)
        for start in range(0, rows, self.max_batch):  # run_merged's slices
            self._count_run(min(self.max_batch, rows - start))
        return answers

    def _run_counted(self, arrays, states=None):
        """``model.run`` for a codec's own ``predict`` (on the model's thread), counted."""
        self._count_run(int(np.asarray(arrays[0]).shape[0]))
        return self.model.run(arrays, states)

    def _count_run(self, rows: int) -> None:
        self.batches += 1
        self.rows += rows
        if self.on_run is not None:
            self.on_run(rows)


def load_workers(folders: Sequence[Path], runtime: str = "mxnet", max_batch: int = 64,
                 max_wait_ms: float = 5.0, max_queue: int = DEFAULT_MAX_QUEUE
                 ) -> Dict[str, ModelWorker]:
    """One worker per export folder, keyed by model name; UserError on duplicate names."""
    names: Dict[str, Path] = {}
    for folder in folders:
        name = model_name(folder)
        if name in names:
            raise UserError(f"two export folders would both be served as {name!r} ({names[name]} "
                            f"and {folder}); rename one of the run folders.")
        names[name] = Path(folder)
    if max_batch < 1 or max_wait_ms < 0 or max_queue < 1:
        raise UserError("--max-batch and --max-queue must be at least 1 and --max-wait-ms at least 0.")
    return {name: ModelWorker(name, folder, runtime, max_batch, max_wait_ms, max_queue)
            for name, folder in names.items()}
