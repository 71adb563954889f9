"""uvicorn as ``gluon-seq serve`` runs it: SIGTERM first turns ``/ready`` to 503.

The first SIGTERM (or SIGINT) sets ``app.state.draining``: ``/ready`` answers 503
while the rest serves on for ``drain_seconds`` (for a load balancer to stop
sending); then uvicorn shuts down gracefully.  A second signal skips the wait.
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import Optional

import uvicorn

log = logging.getLogger("gluon_seq.serve")


class DrainingServer(uvicorn.Server):
    """``uvicorn.Server`` whose exit signal drains ``app`` for ``drain_seconds`` first."""

    def __init__(self, config: uvicorn.Config, app, drain_seconds: float = 0.0):
        super().__init__(config)
        self.app_state = app.state
        self.drain_seconds = drain_seconds
        self._timer: Optional[threading.Timer] = None

    def handle_exit(self, sig, frame) -> None:
        first = not self.app_state.draining
        self.app_state.draining = True
        if first and self.drain_seconds > 0:
            log.info("draining: /ready answers 503; shutting down in %g s", self.drain_seconds)
            self._timer = threading.Timer(self.drain_seconds, self._shut_down, (sig, frame))
            self._timer.daemon = True
            self._timer.start()
            return
        if self._timer is not None:
            self._timer.cancel()
        super().handle_exit(sig, frame)

    def _shut_down(self, sig, frame) -> None:
        super().handle_exit(sig, frame)


def serve(app, host: str, port: int, drain_seconds: float = 0.0,
          listen_fd: Optional[int] = None, **config) -> bool:
    """Run ``app`` until a signal has drained it; False when it never started.  With
    ``listen_fd``, it accepts on that inherited listening socket instead of binding."""
    server = DrainingServer(uvicorn.Config(app, host=host, port=port, **config), app,
                            drain_seconds)
    server.run(sockets=None if listen_fd is None else [socket.socket(fileno=listen_fd)])
    return server.started
