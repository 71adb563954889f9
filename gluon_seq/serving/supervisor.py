"""``gluon-seq serve --workers N``: N server processes on one port, and one that minds them.

The supervisor binds the port once and starts N ``gluon-seq serve`` processes that
inherit the listening socket, so the kernel spreads connections among them; each has its
own models, batching and queue.  A process that dies (killed, out of memory) is started
again; meanwhile ``/ready`` answers 503 in the others.  SIGTERM or SIGINT goes on to every
process, which drains as a single server does.  They meet in a temporary folder: the
supervisor writes the process ids it expects there, each process writes a file when its
models are loaded, and prometheus_client's multiprocess mode keeps every process's
metrics, so ``/metrics`` from any of them adds up all (dead ones' counts included).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from ..util.files import atomic_write_text

log = logging.getLogger("gluon_seq.serve")

FOLDER_VARIABLE = "GLUON_SEQ_SERVE_PROCESSES"  # the meeting folder, set for each process
METRICS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode
PROCESSES_FILE = "processes.json"
POLL_SECONDS = 0.2


class Peers:
    """What one server process knows of the others: through the meeting folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @classmethod
    def from_environment(cls) -> Optional["Peers"]:
        folder = os.environ.get(FOLDER_VARIABLE)
        return cls(Path(folder)) if folder else None

    def mark_ready(self) -> None:
        (self.folder / f"ready-{os.getpid()}").touch()

    def not_ready(self) -> Optional[str]:
        """Why the group cannot take its full load now, or None."""
        try:
            expected = json.loads((self.folder / PROCESSES_FILE).read_text())["pids"]
        except (OSError, ValueError, KeyError):
            return "the server processes are starting"
        waiting = [pid for pid in expected
                   if not (self.folder / f"ready-{pid}").exists() or not _alive(pid)]
        if waiting:
            return f"{len(waiting)} of {len(expected)} server processes are starting"
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another account
        return True
    return True


class Supervisor:
    """Runs ``count`` copies of ``gluon-seq serve ARGV`` on ``host:port`` until a signal."""

    def __init__(self, argv: List[str], count: int, host: str, port: int):
        self.argv, self.count = argv, count
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
        self.socket.set_inheritable(True)
        self.folder = Path(tempfile.mkdtemp(prefix="gluon-seq-serve-"))
        (self.folder / "metrics").mkdir()
        # OMP_NUM_THREADS is the whole server's: each process gets its share.  (Two
        # OpenMP threads on two cores busy with other work made the arithmetic model's
        # batch-1 call take 144 ms instead of 0.06 ms, in one measurement here.)
        threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or 1) // count)
        self.env = {**os.environ, FOLDER_VARIABLE: str(self.folder), "OMP_NUM_THREADS": str(threads),
                    METRICS_VARIABLE: str(self.folder / "metrics")}
        self.children: List[subprocess.Popen] = []
        self.stopping = False

    def _start_one(self) -> subprocess.Popen:
        fd = self.socket.fileno()
        return subprocess.Popen([sys.executable, "-m", "gluon_seq", "serve", *self.argv,
                                 "--listen-fd", str(fd)], pass_fds=[fd], env=self.env)

    def _write_pids(self) -> None:
        atomic_write_text(self.folder / PROCESSES_FILE,
                          json.dumps({"pids": [child.pid for child in self.children]}))

    def _stop(self, sig, frame) -> None:
        self.stopping = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(sig)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        try:
            self.children = [self._start_one() for _ in range(self.count)]
            self._write_pids()
            while not self.stopping:
                time.sleep(POLL_SECONDS)
                self._replace_the_dead()
            return max(child.wait() for child in self.children)
        except _StartFailed as failed:  # its own message is printed already
            self._stop(signal.SIGTERM, None)
            for child in self.children:
                child.wait()
            return failed.status
        finally:
            self.socket.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _replace_the_dead(self) -> None:
        from prometheus_client import multiprocess

        for index, child in enumerate(self.children):
            status = child.poll()
            if status is None or self.stopping:
                continue
            if not any(self.folder.glob("ready-*")):
                raise _StartFailed(status)  # none ever loaded the models: none would now
            print(f"server process {child.pid} exited with status {status}; starting another",
                  file=sys.stderr, flush=True)
            multiprocess.mark_process_dead(child.pid, str(self.folder / "metrics"))
            self.children[index] = self._start_one()
            self._write_pids()


class _StartFailed(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status
