"""Serve an export folder with Multi Model Server (MMS) through its custom-service contract.

MMS loads ``handle`` from ``MAR-INF/MANIFEST.json`` (:func:`write_mar_manifest`),
calls ``handle(None, context)`` once, then ``handle(batch, context)`` with one
entry per request: ``"body"`` (a raw body) or ``"data"`` (a form field), JSON
already parsed, text as ``str``, anything else as bytes.  A body is
``{"inputs": [...]}``, a bare JSON list or one plain-text input; each request
gets ``{"outputs": [...]}``, or ``{"error": "..."}`` and status 400 for bad
input (past ``serve``'s default ``--max-inputs`` too), while the rest of the
batch still shares one model run (:func:`.batching.run_merged`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

from ..util.errors import UserError
from ..util.files import atomic_write_text
from .format import read_meta
from .batching import batches_requests, run_merged
from .predictors import load_predictor
from .requests import DEFAULT_MAX_INPUTS, check_count, inputs_of, loads_json, model_name

HANDLER = "gluon_seq.serving.mms:handle"
MANIFEST = Path("MAR-INF") / "MANIFEST.json"
MAX_ROWS = 64  # rows per model run when MMS hands us a large batch


def request_inputs(entry) -> list:
    """One MMS batch entry -> that request's list of inputs; UserError if unusable."""
    if not isinstance(entry, dict):
        raise UserError("the request carried no data.")
    value = entry.get("body", entry.get("data"))
    if value is None and len(entry) == 1:  # a form field under another name
        value = next(iter(entry.values()))
    if value is None:
        raise UserError('the request has no body; send {"inputs": [...]}.')
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise UserError("the body is not UTF-8 text; send JSON {\"inputs\": [...]}.") from None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] not in ("{", "["):
            if not stripped:
                raise UserError('the body is empty; send {"inputs": [...]} or one input as text.')
            return [stripped]
        value = loads_json(stripped)
    if isinstance(value, list):
        value = {"inputs": value}
    return inputs_of(value)


class GluonSeqService:
    """MMS custom service for one export folder (the model directory)."""

    runtime = "mxnet"

    def __init__(self):
        self.model = None
        self.initialized = False

    def initialize(self, context) -> None:
        folder = Path(context.system_properties["model_dir"])
        self.model = load_predictor(folder, self.runtime)
        self.batched = batches_requests(self.model.codec)
        self.initialized = True

    def handle(self, data: Optional[list], context) -> Optional[list]:
        """One answer per entry of ``data`` (in order); None for the load-time call."""
        if not self.initialized:
            self.initialize(context)
        if data is None:
            return None
        answers: List[object] = [None] * len(data)
        encoded = {}  # index -> arrays, for the entries that go into the shared run
        for index, entry in enumerate(data):
            try:
                inputs = check_count(request_inputs(entry), DEFAULT_MAX_INPUTS)
                if self.batched:
                    encoded[index] = self.model.codec.encode(inputs)
                else:
                    answers[index] = self.model.predict(inputs)
            except Exception as err:  # UserError -> 400; anything else -> 500, this request only
                answers[index] = err
        if encoded:
            merged = run_merged(self.model, list(encoded.values()), MAX_ROWS)
            for index, answer in zip(encoded, merged):
                answers[index] = answer
        return [self._respond(answer, index, context) for index, answer in enumerate(answers)]

    @staticmethod
    def _respond(answer, index: int, context) -> dict:
        if isinstance(answer, Exception):
            code = 400 if isinstance(answer, UserError) else 500
            # MMS 1.1 names it set_response_status, some earlier sources set_http_response_status;
            # without either the error body goes out with status 200.
            setter = getattr(context, "set_response_status", None) or \
                getattr(context, "set_http_response_status", None)
            if setter is not None:
                setter(code, "Bad Request" if code == 400 else "Internal Server Error", index)
            return {"error": str(answer) if code == 400 else "the model failed on this request."}
        return {"outputs": answer}


_service = GluonSeqService()


def handle(data, context):
    """MMS entry point: ``handle(None, context)`` loads, ``handle(batch, context)`` predicts."""
    return _service.handle(data, context)


def write_mar_manifest(export_dir: Path, name: Optional[str] = None, version: str = "1.0") -> Path:
    """Write ``MAR-INF/MANIFEST.json`` (model-archiver's format) naming :func:`handle`."""
    folder = Path(export_dir)
    meta = read_meta(folder)  # refuses an incomplete folder now rather than in MMS
    manifest = {
        "createdOn": time.strftime("%d/%m/%Y %H:%M:%S"),
        "runtime": "python3",
        "model": {
            "modelName": name or model_name(folder),
            "handler": HANDLER,
            "modelVersion": version,
            "description": f"gluon_seq {meta['task']} export: {meta['input_description']}",
        },
        "modelServerVersion": "1.0",
        "implementationVersion": "1.0",
        "specificationVersion": "1.0",
        "archiverVersion": "1.0",
    }
    path = folder / MANIFEST
    atomic_write_text(path, json.dumps(manifest, indent=2))
    return path
