"""``gluon-seq launch``: run a dist_sync job's scheduler, servers and workers on one machine.

    gluon-seq launch -n 2 -s 1 -- gluon-seq train arithmetic --kvstore dist_sync --out runs/w{worker}

The roles find each other through the DMLC_* environment; ``{worker}`` becomes
each worker's index; output is prefixed ``[worker i]``; one failure stops all,
with its exit status.  Across machines: docs/devices.md.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

from ..util.errors import ArgumentParser, UserError
from ..util.runtime import free_port

# Importing mxnet with DMLC_ROLE=scheduler or server runs that role until the job ends.
ROLE_COMMAND = [sys.executable, "-c", "import mxnet"]


def _stream(process: subprocess.Popen, prefix: str, sink) -> threading.Thread:
    def pump():
        for line in iter(process.stdout.readline, ""):
            sink.write(f"{prefix} {line}" if line.endswith("\n") else f"{prefix} {line}\n")
            sink.flush()
    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def launch(command: List[str], workers: int, servers: int = 1, port: Optional[int] = None,
           timeout: Optional[float] = None, sink=sys.stdout) -> int:
    """Run the job; return 0 when every worker succeeded, else the first failure's code."""
    if workers < 1 or servers < 1:
        raise UserError("launch needs at least one worker and one server.")
    if not command:
        raise UserError("no command to launch; put it after --, e.g. -- gluon-seq train ...")
    base = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(port or free_port()),
                DMLC_NUM_SERVER=str(servers), DMLC_NUM_WORKER=str(workers), PYTHONUNBUFFERED="1")
    processes: Dict[str, subprocess.Popen] = {}
    pumps = []

    def start(name: str, role: str, argv: List[str]) -> None:
        processes[name] = subprocess.Popen(argv, env=dict(base, DMLC_ROLE=role), text=True,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        pumps.append(_stream(processes[name], f"[{name}]", sink))

    start("scheduler", "scheduler", ROLE_COMMAND)
    for index in range(servers):
        start(f"server {index}", "server", ROLE_COMMAND)
    for index in range(workers):
        start(f"worker {index}", "worker", [part.replace("{worker}", str(index)) for part in command])
    worker_names = [name for name in processes if name.startswith("worker")]
    deadline = time.monotonic() + timeout if timeout else None
    code = 0
    try:
        while True:
            failed = [(name, p.returncode) for name, p in processes.items()
                      if p.poll() is not None and p.returncode != 0]
            if failed:
                name, code = failed[0]
                sink.write(f"[launch] {name} exited with status {code}; stopping the job\n")
                break
            if all(processes[name].poll() is not None for name in worker_names):
                break
            if deadline and time.monotonic() > deadline:
                sink.write(f"[launch] still running after {timeout:.0f} s; stopping the job\n")
                code = 124
                break
            time.sleep(0.2)
    finally:
        _stop_all(processes.values())
        for pump in pumps:
            pump.join(timeout=2)
    return code


def _stop_all(processes, grace: float = 5.0) -> None:
    """Wait for the rest to end on their own, else terminate, then kill them."""
    end = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cmd_launch(argv: List[str]) -> int:
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
    else:
        command = []
    parser = ArgumentParser(prog="gluon-seq launch", description=__doc__.splitlines()[0],
                                     usage="gluon-seq launch -n WORKERS [-s SERVERS] -- COMMAND...")
    parser.add_argument("-n", "--workers", type=int, required=True,
                        help="worker processes (required; no default)")
    parser.add_argument("-s", "--servers", type=int, default=1,
                        help="parameter-server processes (default: 1)")
    parser.add_argument("--port", type=int, help="scheduler port (default: a free one)")
    parser.add_argument("--timeout", type=float,
                        help="stop everything after this many seconds (default: no limit)")
    args = parser.parse_args(argv)
    if command and command[0] == "gluon-seq":
        command = [sys.executable, "-m", "gluon_seq"] + command[1:]
    print("[launch] " + shlex.join(command), flush=True)
    return launch(command, args.workers, args.servers, args.port, args.timeout)

