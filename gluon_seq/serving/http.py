"""The HTTP app: export folders behind FastAPI, with dynamic micro-batching.

``GET /health``, ``/ready``, ``/models``, ``/metrics`` and ``POST /predict/{model}``
with ``{"inputs": [...]}`` -> ``{"outputs": [...]}`` (same order); a bad request
gets a 4xx ``{"error": "one sentence"}`` and never reaches the model
(docs/serving.md has each status).  Batching is :mod:`.batching`'s, parsing
:mod:`.requests`', early answers and tokens :mod:`.limits`'.  Needs the ``serve``
extra, which :mod:`.command` checks first.
"""
# No `from __future__ import annotations` here: FastAPI reads the handlers'
# annotations (Request) at runtime.
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Dict, Optional, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from ..util.errors import UserError
from .batching import DEFAULT_MAX_QUEUE, ModelWorker, QueueFull, load_workers
from .limits import DRAIN_BYTES, DrainUnreadBody, bearer_ok
from .metrics import ServerMetrics
from .supervisor import Peers
from .requests import DEFAULT_MAX_BODY, DEFAULT_MAX_INPUTS, parse_body, read_body

log = logging.getLogger("gluon_seq.serve")

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
    for code, what in ((400, "bad JSON or bad input"), (401, "no or a wrong bearer token"),
                       (404, "no such model"), (413, "body too large"), (500, "the model failed"),
                       (503, "the model's queue is full; retry after Retry-After seconds"))
}
_ERROR_RESPONSES[200] = {"description": "one answer per input, in order", "content": {
    "application/json": {"schema": {"type": "object", "required": ["outputs"],
                                    "properties": {"outputs": {"type": "array"}}}}}}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(folders: Sequence[Path], runtime: str = "mxnet", max_batch: int = 64,
               max_wait_ms: float = 5.0, max_body_bytes: int = DEFAULT_MAX_BODY,
               max_queue: int = DEFAULT_MAX_QUEUE, max_inputs: int = DEFAULT_MAX_INPUTS,
               api_key: Optional[str] = None, drain_bytes: int = DRAIN_BYTES,
               peers: Optional[Peers] = None) -> FastAPI:
    """A FastAPI app serving ``folders`` with ``runtime``; models load now,
    batching starts with the app.  ``api_key`` (when given) guards ``/predict``;
    ``app.state.draining = True`` turns ``/ready`` to 503 (the server does it on SIGTERM);
    so does a process of ``peers`` (``serve --workers N``) that is not ready."""
    if max_inputs < 1 or max_body_bytes < 1:
        raise UserError("--max-inputs and --max-body-bytes must be at least 1.")
    workers = load_workers(folders, runtime, max_batch, max_wait_ms, max_queue)

    @asynccontextmanager
    async def lifespan(app):
        for worker in workers.values():
            worker.start()
        app.state.started = True
        if peers is not None:
            peers.mark_ready()
        yield
        app.state.started = False
        for worker in workers.values():
            await worker.stop()

    app = FastAPI(title="gluon_seq", lifespan=lifespan)
    app.state.workers = workers
    app.state.metrics = ServerMetrics(workers)
    app.state.started = app.state.draining = False
    app.state.peers = peers
    _describe_models_in_openapi(app, workers)
    _answer_errors_as_json(app)
    _add_routes(app, workers)
    limits = dict(max_body_bytes=max_body_bytes, max_inputs=max_inputs, api_key=api_key)
    _add_predict(app, workers, app.state.metrics, limits)
    app.add_middleware(_ShedWhenFull, workers=workers, metrics=app.state.metrics, api_key=api_key)
    app.add_middleware(DrainUnreadBody, drain_bytes=drain_bytes)  # outermost: sees every answer
    return app


def _busy(response: JSONResponse) -> JSONResponse:
    response.headers["Retry-After"] = "1"
    return response


class _ShedWhenFull:
    """ASGI middleware: ``POST /predict/NAME`` while NAME's queue is full gets its 503
    here, before FastAPI routes and parses it, so under overload a refusal is cheap.
    Anything else (a 401 first, an unknown model) goes on to the app."""

    def __init__(self, app, workers: Dict[str, ModelWorker], metrics: ServerMetrics,
                 api_key: Optional[str]):
        self.app, self.workers, self.metrics, self.api_key = app, workers, metrics, api_key

    async def __call__(self, scope, receive, send):
        start = time.perf_counter()
        worker, refusal = self._refusing(scope)
        if refusal is None:
            return await self.app(scope, receive, send)
        await _busy(_error(503, refusal))(scope, receive, send)
        self.metrics.answered(worker.name, 503, time.perf_counter() - start)

    def _refusing(self, scope):
        """(worker, refusal) for a request to shed now, else (None, None)."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        worker = self.workers.get(path[len("/predict/"):]) if path.startswith("/predict/") else None
        if worker is None or scope["method"] != "POST" or worker.refusal() is None:
            return None, None
        if self.api_key is not None:
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not bearer_ok(authorization, self.api_key):
                return None, None
        return worker, worker.refusal()


def _describe_models_in_openapi(app: FastAPI, workers: Dict[str, ModelWorker]) -> None:
    """Drop FastAPI's 422 (we answer 400) and list the model names this server knows."""
    generated = app.openapi

    def openapi():
        schema = generated()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "model":
                        parameter["schema"]["enum"] = sorted(workers)
        return schema

    app.openapi = openapi


def _answer_errors_as_json(app: FastAPI) -> None:
    """Validation and HTTP errors as ``{"error": "..."}``, validation ones as 400."""
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


def _add_routes(app: FastAPI, workers: Dict[str, ModelWorker]) -> None:
    @app.get("/health")
    async def health():
        return {"status": "ok", "models": sorted(workers)}

    @app.get("/ready", responses={503: {"description": "starting or draining"}})
    async def ready():
        if app.state.draining:
            return JSONResponse({"ready": False, "reason": "draining"}, status_code=503)
        if not app.state.started or not all(w.started for w in workers.values()):
            return JSONResponse({"ready": False, "reason": "starting"}, status_code=503)
        waiting = app.state.peers.not_ready() if app.state.peers else None
        if waiting:
            return JSONResponse({"ready": False, "reason": waiting}, status_code=503)
        return {"ready": True, "models": sorted(workers)}

    @app.get("/models")
    async def models():
        return {"models": [w.describe() for w in workers.values()]}

    @app.get("/metrics", response_class=Response)
    async def metrics(request: Request):
        body, content_type = app.state.metrics.render(request.headers.get("accept"))
        return Response(body, media_type=content_type)


def _add_predict(app: FastAPI, workers: Dict[str, ModelWorker], metrics: ServerMetrics,
                 limits: dict) -> None:
    @app.post("/predict/{model}", openapi_extra=_PREDICT_OPENAPI, responses=_ERROR_RESPONSES)
    async def predict(model: str, request: Request):
        start = time.perf_counter()
        response = await _answer(workers, model, request, **limits)
        metrics.answered(model, response.status_code, time.perf_counter() - start)
        return response


async def _answer(workers: Dict[str, ModelWorker], model: str, request: Request,
                  max_body_bytes: int, max_inputs: int, api_key: Optional[str]) -> Response:
    """The response to one ``POST /predict/{model}``."""
    if api_key is not None and not bearer_ok(request.headers.get("authorization"), api_key):
        response = _error(401, "this server wants an API key: send 'Authorization: Bearer KEY'.")
        response.headers["WWW-Authenticate"] = "Bearer" if "authorization" not in request.headers \
            else 'Bearer error="invalid_token"'
        return response
    worker = workers.get(model)
    if worker is None:
        return _error(404, f"no model {model!r}; this server has: {', '.join(sorted(workers))}.")
    try:
        with worker.admitted():  # held from before the body is read until the answer
            body = await read_body(request, max_body_bytes)
            if body is None:
                return _error(413, f"the body is larger than {max_body_bytes} bytes; send fewer "
                                   "inputs per request.")
            outputs = await worker.predict(parse_body(body, max_inputs))
    except QueueFull as err:
        return _busy(_error(503, str(err)))
    except UserError as err:
        return _error(400, str(err))
    except Exception:
        log.exception("prediction failed for model %s", model)
        return _error(500, "the model failed on this request; see the server log.")
    # A ready response skips FastAPI's per-field encoding pass; answers are plain JSON already.
    return JSONResponse({"outputs": outputs})
