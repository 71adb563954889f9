"""``gluon-seq serve``: the command line of the HTTP app (:mod:`.http`).

The CLI imports this module when the command is called; it imports nothing
of the CLI's, so serving stays free of ``gluon_seq.cli``.
"""
from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import List

from .extras import require
from .predictors import RUNTIMES
from .requests import DEFAULT_MAX_BODY


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gluon-seq serve",
                                     description="Serve export folders over HTTP.")
    parser.add_argument("export_dirs", nargs="+", metavar="EXPORT_DIR")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    # Called --backend for users; inside the code it is the serving runtime.
    parser.add_argument("--backend", choices=sorted(RUNTIMES), default="mxnet")
    parser.add_argument("--max-batch", type=int, default=64, help="rows per model run")
    parser.add_argument("--max-wait-ms", type=float, default=5.0,
                        help="how long a request waits for others to share its batch")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds in-flight requests get after SIGTERM")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    return parser


def cmd_serve(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from .http import create_app  # needs fastapi, checked just above

    app = create_app([Path(d) for d in args.export_dirs], runtime=args.backend,
                     max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                     max_body_bytes=args.max_body_bytes)
    for worker in app.state.workers.values():
        print(f"serving {worker.name} ({worker.model.meta.get('task')}, {worker.runtime}) at "
              f"http://{args.host}:{args.port}/predict/{worker.name}", flush=True)
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op
    # handler turns a graceful SIGTERM/SIGINT into exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info",
                access_log=args.access_log, timeout_graceful_shutdown=args.graceful_timeout)
    return 0
