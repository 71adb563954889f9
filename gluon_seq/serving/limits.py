"""The HTTP app's edge: an early answer that the client can read, and bearer tokens.

An answer that goes out before the body was read in full (a 413, 401, 404 or
503) would close on unread bytes, which the kernel turns into a TCP reset: the
client sees "connection reset", never the answer.  :class:`DrainUnreadBody`
reads and drops the rest first, up to :data:`DRAIN_BYTES` and
:data:`DRAIN_SECONDS`; past either, or for a client waiting for ``100 Continue``,
the answer goes out at once with ``Connection: close``.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Optional

DRAIN_BYTES = 64 << 20  # the most of an unwanted body read (and dropped) to answer cleanly
DRAIN_SECONDS = 30.0


class _RequestBody:
    """What has been read of one request's body (wraps the ASGI ``receive``)."""

    def __init__(self, scope, receive):
        headers = dict(scope.get("headers") or [])
        self._receive = receive
        try:
            self.declared: Optional[int] = int(headers[b"content-length"])
        except (KeyError, ValueError):
            self.declared = None
        self.unread = bool(self.declared) or b"transfer-encoding" in headers
        # A client that sent "Expect: 100-continue" sends no body until the first receive().
        self.holds_back = headers.get(b"expect", b"").lower() == b"100-continue"
        self.received = 0

    async def receive(self):
        self.holds_back = False
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.unread = self.unread and bool(message.get("more_body", False))
        else:  # http.disconnect
            self.unread = False
        return message

    async def drain(self, max_bytes: int, seconds: float) -> bool:
        """Read and drop the rest of the body; True when it all came within the bounds."""
        if self.holds_back:
            return False
        if self.declared is not None and self.declared - self.received > max_bytes:
            return False
        loop = asyncio.get_running_loop()
        deadline, start = loop.time() + seconds, self.received
        while self.unread:
            remaining = deadline - loop.time()
            if remaining <= 0 or self.received - start > max_bytes:
                return False
            try:
                await asyncio.wait_for(self.receive(), remaining)
            except asyncio.TimeoutError:
                return False
        return True


class DrainUnreadBody:
    """ASGI middleware: drain what the app left unread before its answer goes out."""

    def __init__(self, app, drain_bytes: int = DRAIN_BYTES, drain_seconds: float = DRAIN_SECONDS):
        self.app = app
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = _RequestBody(scope, receive)

        async def send_after_drain(message):
            if message["type"] == "http.response.start" and body.unread:
                if not await body.drain(self.drain_bytes, self.drain_seconds):
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                    message = dict(message, headers=headers + [(b"connection", b"close")])
            await send(message)

        await self.app(scope, body.receive, send_after_drain)


def bearer_ok(authorization: Optional[str], api_key: str) -> bool:
    """Whether ``authorization`` is ``Bearer <api_key>``, compared as digests in constant time."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    digest = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
    return hmac.compare_digest(digest, hashlib.sha256(api_key.encode()).digest()) \
        and scheme.lower() == "bearer"
