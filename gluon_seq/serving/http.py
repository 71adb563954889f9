"""The HTTP app: export folders behind FastAPI, with dynamic micro-batching.

::

    gluon-seq serve runs/arithmetic/export [more export folders] --port 8080
    curl -s localhost:8080/predict/arithmetic -d '{"inputs": ["7*3*2"]}'
    {"outputs":["42"]}

Endpoints: ``GET /health``, ``GET /models``, ``POST /predict/{model}`` with
``{"inputs": [...]}`` -> ``{"outputs": [...]}`` (same order).  Bad requests get
a 4xx with ``{"error": "one sentence"}``; they never reach the model.  The
batching is :mod:`.batching`'s; request parsing is :mod:`.requests`'.

Needs the ``serve`` extra (fastapi); :mod:`.command` checks for it first.
"""
# No `from __future__ import annotations` here: FastAPI reads the handlers'
# annotations (Request) at runtime.
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Dict, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import UserError
from .batching import ModelWorker, load_workers
from .requests import DEFAULT_MAX_BODY, parse_body, read_body

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
    for code, what in ((400, "bad JSON or bad input"), (404, "no such model"),
                       (413, "body too large"), (500, "the model failed"))
}
_ERROR_RESPONSES[200] = {"description": "one answer per input, in order", "content": {
    "application/json": {"schema": {"type": "object", "required": ["outputs"],
                                    "properties": {"outputs": {"type": "array"}}}}}}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(folders: Sequence[Path], runtime: str = "mxnet", max_batch: int = 64,
               max_wait_ms: float = 5.0, max_body_bytes: int = DEFAULT_MAX_BODY) -> FastAPI:
    """A FastAPI app serving ``folders`` with ``runtime``; models load now,
    batching starts with the app."""
    workers = load_workers(folders, runtime, max_batch, max_wait_ms)

    @asynccontextmanager
    async def lifespan(app):
        for worker in workers.values():
            worker.start()
        yield
        for worker in workers.values():
            await worker.stop()

    app = FastAPI(title="gluon_seq", lifespan=lifespan)
    app.state.workers = workers
    _describe_models_in_openapi(app, workers)
    _answer_errors_as_json(app)
    _add_routes(app, workers, max_body_bytes)
    return app


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


def _add_routes(app: FastAPI, workers: Dict[str, ModelWorker], max_body_bytes: int) -> None:
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
        body = await read_body(request, max_body_bytes)
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
