"""Requests, as every serving front end reads them: model names, bodies, inputs.

The HTTP app (:mod:`.http`) and the MMS handler (:mod:`.mms`) both parse with
these, so a body is refused with the same sentence whichever server got it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..util.errors import UserError

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB
DEFAULT_MAX_INPUTS = 1000  # per request: 16 model runs at --max-batch 64


def model_name(folder: Path) -> str:
    """``runs/arith/export`` -> ``arith``; any other folder keeps its own name."""
    folder = Path(folder).resolve()
    return folder.parent.name if folder.name == "export" else folder.name


async def read_body(request, limit: int) -> Optional[bytes]:
    """The body of a starlette ``request``, or None when it is over ``limit`` bytes
    (declared or actual)."""
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


def loads_json(text):
    """``json.loads(text)``; UserError when ``text`` (str or bytes) is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"the body is not valid JSON ({err}); send {{\"inputs\": [...]}}.") from None


def parse_body(body: bytes, max_inputs: Optional[int] = None) -> list:
    """A request body ``{"inputs": [...]}`` -> the list; UserError naming what is wrong."""
    return check_count(inputs_of(loads_json(body)), max_inputs)


def check_count(inputs: list, max_inputs: Optional[int]) -> list:
    """``inputs``, or a UserError naming the cap when there are more than ``max_inputs``."""
    if max_inputs is not None and len(inputs) > max_inputs:
        raise UserError(f"the request has {len(inputs)} inputs and this server takes at most "
                        f"{max_inputs} per request; split it.")
    return inputs


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
