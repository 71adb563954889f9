"""``gluon-seq serve``: the command line of the HTTP app (:mod:`.http`).  The CLI
imports it on use; it imports nothing of the CLI's, so serving stays free of it."""
from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
from pathlib import Path
from typing import List

from .batching import DEFAULT_MAX_QUEUE
from ..util.errors import UserError
from .extras import require
from .predictors import AUTO, runtime_names
from .format import read_meta
from .requests import DEFAULT_MAX_BODY, DEFAULT_MAX_INPUTS
from .supervisor import Peers, Supervisor

API_KEY_VARIABLE = "GLUON_SEQ_API_KEY"
STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gluon-seq serve",
                                     description="Serve export folders over HTTP.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("export_dirs", nargs="+", metavar="EXPORT_DIR")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    # Called --backend for users; inside the code it is the serving runtime.
    parser.add_argument("--backend", choices=runtime_names(), default=AUTO,
                        help="serving runtime; auto times each runtime that can run a model "
                             "at load and serves it with the faster")
    parser.add_argument("--max-batch", type=int, default=64, help="rows per model run")
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long a request waits for others to share its batch")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument("--max-inputs", type=int, default=DEFAULT_MAX_INPUTS,
                        help="inputs per request; more is a 400")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE,
                        help="requests per model queued or running; more get 503 + Retry-After")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_VARIABLE),
                        help=f"bearer token that /predict requires (default: ${API_KEY_VARIABLE}; "
                             "the variable keeps it out of the process list)")
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds in-flight requests get after SIGTERM")
    parser.add_argument("--drain-seconds", type=float, default=0.0,
                        help="after SIGTERM, keep serving this long with /ready answering 503")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes on the port, each with its own models and "
                             "queues; one that dies is replaced")
    parser.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)  # a worker's socket
    return parser


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a --host value) can only be reached from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def cmd_serve(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        require(module, "serve")
    if args.workers < 1:
        raise UserError("--workers must be at least 1.")
    if args.workers > 1 and args.listen_fd is None:
        for folder in args.export_dirs:
            read_meta(Path(folder))  # a missing or damaged folder: one sentence, from here
        return Supervisor(argv + ["--workers", "1"], args.workers, args.host, args.port).run()
    from .http import create_app  # needs the serve extra, checked just above
    from .server import serve

    app = create_app([Path(d) for d in args.export_dirs], runtime=args.backend,
                     max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                     max_body_bytes=args.max_body_bytes, max_queue=args.max_queue,
                     max_inputs=args.max_inputs, api_key=args.api_key or None,
                    peers=Peers.from_environment() if args.listen_fd is not None else None)
    if not args.api_key and not is_loopback(args.host):
        print(f"warning: serving on {args.host} without an API key: anyone who can reach this "
              f"port can use the models; set {API_KEY_VARIABLE} or --api-key.", file=sys.stderr,
              flush=True)
    for worker in app.state.workers.values():
        timed = ", ".join(f"{name} {ms:.3f} ms" for name, ms in worker.model.timings.items())
        print(f"serving {worker.name} ({worker.model.meta['task']}, {worker.runtime}"
              + (f"; batch 1: {timed}" if len(worker.model.timings) > 1 else "") + ") at "
              f"http://{args.host}:{args.port}/predict/{worker.name}", flush=True)
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op
    # handler turns a graceful SIGTERM/SIGINT into exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    started = serve(app, args.host, args.port, drain_seconds=args.drain_seconds,
                    listen_fd=args.listen_fd,
                    log_level="info", access_log=args.access_log,
                    timeout_graceful_shutdown=args.graceful_timeout)
    return 0 if started else STARTUP_FAILURE
