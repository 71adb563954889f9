"""``gluon-seq serve``: export folders over HTTP, with dynamic micro-batching.

::

    gluon-seq serve runs/arithmetic/export [more export folders] --port 8080
    curl -s localhost:8080/predict/arithmetic -d '{"inputs": ["7*3*2"]}'
    {"outputs":["42"]}

Endpoints: ``GET /health``, ``GET /models``, ``POST /predict/{model}`` with
``{"inputs": [...]}`` -> ``{"outputs": [...]}`` (same order).  Bad requests get
a 4xx with ``{"error": "one sentence"}``; they never reach the model.

Each model owns one inference thread (MXNet must not run one block from two
threads at once) and a queue.  Requests are encoded on arrival, so a bad one
is answered alone; the thread then runs everything queued within
``max_wait_ms`` (up to ``max_batch`` rows) as one batch and splits the
answers back.  Codecs that generate iteratively (they override
``Codec.predict``) are not batched: each request runs as one ``predict`` call
on the model's thread.

Serving loads export folders alone: it never imports ``gluon_seq.tasks``
or ``gluon_seq.training``.
"""
import argparse
import asyncio
import collections
import json
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence

import numpy as np

from .cli import register_command
from .codecs import Codec
from .errors import UserError

log = logging.getLogger("gluon_seq.serve")

BACKENDS = ("mxnet", "onnxruntime")
DEFAULT_MAX_BODY = 1 << 20  # 1 MiB


def model_name(folder: Path) -> str:
    """``runs/arith/export`` -> ``arith``; any other folder keeps its own name."""
    folder = Path(folder).resolve()
    return folder.parent.name if folder.name == "export" else folder.name


def _load(folder: Path, backend: str):
    if backend == "mxnet":
        from .export import load_export

        return load_export(folder)
    if backend == "onnxruntime":
        from .onnx_export import load_onnx

        return load_onnx(folder)
    raise UserError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")


@dataclass
class _Pending:
    """One encoded request waiting for the model's thread."""
    arrays: List[np.ndarray]  # batch-first, `rows` rows each
    rows: int
    future: asyncio.Future


class ModelWorker:
    """One model: its inference thread, its queue, and the batching loop."""

    def __init__(self, name: str, folder: Path, backend: str, max_batch: int, max_wait_ms: float):
        self.name = name
        self.folder = Path(folder)
        self.backend = backend
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"model-{name}")
        # Loaded on the thread that will run it, so MXNet only ever sees that one thread.
        self.model = self.thread.submit(_load, self.folder, backend).result()
        self.codec: Codec = self.model.codec
        self.batched = type(self.codec).predict is Codec.predict
        self.batches = 0  # model runs, and the rows they took: shown by /models
        self.rows = 0
        self._pending: Deque[_Pending] = collections.deque()
        self._arrived: Optional[asyncio.Event] = None
        self._loop_task: Optional[asyncio.Task] = None

    def describe(self) -> dict:
        return {"name": self.name, "task": self.model.meta.get("task"),
                "input_description": self.model.meta.get("input_description"),
                "backend": self.backend, "batched": self.batched,
                "example_inputs": self.model.meta.get("example_inputs"),
                "model_runs": self.batches, "rows_run": self.rows, "queued": len(self._pending)}

    # -- lifecycle (inside the server's event loop) ---------------------------
    def start(self) -> None:
        self._arrived = asyncio.Event()
        if self.batched:
            self._loop_task = asyncio.get_running_loop().create_task(self._batch_loop())

    async def stop(self) -> None:
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
    async def predict(self, inputs: list) -> list:
        """Answers for one request's inputs; UserError for bad input."""
        loop = asyncio.get_running_loop()
        if not self.batched:
            return await loop.run_in_executor(self.thread, self.codec.predict, self.model.run, inputs)
        try:
            arrays = self.codec.encode(inputs)
        except UserError:
            raise
        except Exception as err:  # a codec that trips over odd input: still the input's fault
            log.warning("encode failed on a request for %s: %r", self.name, err)
            raise UserError(f"the inputs could not be encoded ({type(err).__name__}: {err}).") from None
        arrays = [np.asarray(a) for a in arrays]
        item = _Pending(arrays, int(arrays[0].shape[0]), loop.create_future())
        self._pending.append(item)
        self._arrived.set()
        return await item.future

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            # Wait for company until the oldest request has waited max_wait or the batch is full.
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
            batch = [p for p in batch if not p.future.cancelled()]  # client went away
            if not batch:
                continue
            try:
                answers = await loop.run_in_executor(self.thread, self._run_batch, batch)
            except Exception as err:  # a model failure fails this batch, not the server
                log.exception("model %s failed on a batch of %d rows", self.name, rows)
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
        self.batches += -(-rows // self.max_batch)
        self.rows += rows
        return answers


def run_merged(model, requests: Sequence[List[np.ndarray]], max_rows: int) -> list:
    """Answers for several encoded requests from as few model runs as possible.

    ``requests[i]`` holds request i's batch-first arrays (as ``codec.encode``
    returns them).  They are concatenated along the batch axis, run in slices
    of at most ``max_rows`` rows, split back and decoded one request at a time;
    a request whose decoding fails gets its exception in place of its answers.
    """
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


def load_workers(folders: Sequence[Path], backend: str = "mxnet", max_batch: int = 64,
                 max_wait_ms: float = 5.0) -> Dict[str, ModelWorker]:
    """One worker per export folder, keyed by model name; UserError on duplicate names."""
    names: Dict[str, Path] = {}
    for folder in folders:
        name = model_name(folder)
        if name in names:
            raise UserError(f"two export folders would both be served as {name!r} ({names[name]} "
                            f"and {folder}); rename one of the run folders.")
        names[name] = Path(folder)
    if max_batch < 1 or max_wait_ms < 0:
        raise UserError("--max-batch must be at least 1 and --max-wait-ms at least 0.")
    return {name: ModelWorker(name, folder, backend, max_batch, max_wait_ms)
            for name, folder in names.items()}


# -- HTTP ------------------------------------------------------------------------
def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


async def _read_body(request, limit: int) -> bytes:
    """The request body, or None when it is over ``limit`` bytes (declared or actual)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            pass  # a garbled header: the actual size decides
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # chunked uploads carry no Content-Length
            return None
    return bytes(body)


def parse_body(body: bytes) -> list:
    """A request body ``{"inputs": [...]}`` -> the list; UserError naming what is wrong."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"the body is not valid JSON ({err}); send {{\"inputs\": [...]}}.") from None
    return inputs_of(payload)


def inputs_of(payload) -> list:
    """The non-empty ``inputs`` list of a parsed JSON body; UserError otherwise."""
    if not isinstance(payload, dict):
        raise UserError('the body must be a JSON object {"inputs": [...]}.')
    if "inputs" not in payload:
        raise UserError('the body has no "inputs" field; send {"inputs": [...]}.')
    inputs = payload["inputs"]
    if not isinstance(inputs, list):
        raise UserError(f'"inputs" must be a list, not {type(inputs).__name__}.')
    if not inputs:
        raise UserError('"inputs" is empty; give at least one input.')
    return inputs


# The handler reads the raw body (to bound its size), so FastAPI cannot infer
# the request schema; spell it out for /docs and for schema-driven testers.
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_PREDICT_OPENAPI = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "minItems": 1,
                                  "description": "inputs as GET /models describes them"}}}}}},
}
_ERROR_RESPONSES = {
    code: {"description": what, "content": {"application/json": {"schema": _ERROR}}}
    for code, what in ((400, "bad JSON or bad input"), (404, "no such model"),
                       (413, "body too large"), (500, "the model failed"))
}
_ERROR_RESPONSES[200] = {"description": "one answer per input, in order", "content": {
    "application/json": {"schema": {"type": "object", "required": ["outputs"],
                                    "properties": {"outputs": {"type": "array"}}}}}}


def create_app(folders: Sequence[Path], backend: str = "mxnet", max_batch: int = 64,
               max_wait_ms: float = 5.0, max_body_bytes: int = DEFAULT_MAX_BODY):
    """A FastAPI app serving ``folders``; models load now, batching starts with the app."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    # No `from __future__ import annotations` in this module: FastAPI reads the
    # handlers' annotations (Request) at runtime, and fastapi is imported lazily
    # so that the CLI works without the serve extra.
    workers = load_workers(folders, backend, max_batch, max_wait_ms)

    @asynccontextmanager
    async def lifespan(app):
        for worker in workers.values():
            worker.start()
        yield
        for worker in workers.values():
            await worker.stop()

    app = FastAPI(title="gluon_seq", lifespan=lifespan)
    app.state.workers = workers

    generated = app.openapi

    def openapi():
        schema = generated()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)  # we answer 400 instead
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "model":  # the names this server knows
                        parameter["schema"]["enum"] = sorted(workers)
        return schema

    app.openapi = openapi

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}"
                             for e in exc.errors())
        return _error(400, f"invalid request ({problems}).")

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405, which RFC 9110 requires
        return response

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": sorted(workers)}

    @app.get("/models")
    async def models():
        return {"models": [w.describe() for w in workers.values()]}

    @app.post("/predict/{model}", openapi_extra=_PREDICT_OPENAPI, responses=_ERROR_RESPONSES)
    async def predict(model: str, request: Request):
        worker = workers.get(model)
        if worker is None:
            return _error(404, f"no model {model!r}; this server has: {', '.join(sorted(workers))}.")
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _error(413, f"the body is larger than {max_body_bytes} bytes; send fewer inputs "
                               "per request.")
        try:
            outputs = await worker.predict(parse_body(body))
        except UserError as err:
            return _error(400, str(err))
        except Exception:
            log.exception("prediction failed for model %s", model)
            return _error(500, "the model failed on this request; see the server log.")
        # A ready response skips FastAPI's per-field encoding pass; answers are plain JSON already.
        return JSONResponse({"outputs": outputs})

    return app


def cmd_serve(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="gluon-seq serve",
                                     description="Serve export folders over HTTP.")
    parser.add_argument("export_dirs", nargs="+", metavar="EXPORT_DIR")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--backend", choices=BACKENDS, default="mxnet")
    parser.add_argument("--max-batch", type=int, default=64, help="rows per model run")
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long a request waits for others to share its batch")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds in-flight requests get after SIGTERM")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    import uvicorn

    app = create_app([Path(d) for d in args.export_dirs], backend=args.backend,
                     max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                     max_body_bytes=args.max_body_bytes)
    for worker in app.state.workers.values():
        print(f"serving {worker.name} ({worker.model.meta.get('task')}, {worker.backend}) at "
              f"http://{args.host}:{args.port}/predict/{worker.name}", flush=True)
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op
    # handler turns a graceful SIGTERM/SIGINT into exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                access_log=args.access_log, timeout_graceful_shutdown=args.graceful_timeout)
    return 0


register_command("serve", cmd_serve)
