"""``gluon-seq serve`` in a subprocess, for benchmarks, tests, notebooks and scripts.

    with ServeProcess(["runs/arithmetic/export"], "--max-wait-ms", "0") as server:
        httpx.post(server.url + "/predict/arithmetic", json={"inputs": ["7*3*2"]})

It returns once ``/ready`` answers 200.  The server logs to a temporary file
(:meth:`ServeProcess.log_tail`): a pipe nobody reads stalls a server under load.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from ..util.runtime import free_port


class ServeProcess:
    """``python -m gluon_seq serve FOLDERS --port PORT FLAGS``; ``env`` adds to the
    environment.  Raises RuntimeError, with the log's end, if it never gets ready."""

    def __init__(self, folders, *flags, env=None, timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gluon_seq", "serve", *map(str, folders), "--host",
             "127.0.0.1", "--port", str(self.port), *map(str, flags)],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self._terminated = False
        deadline = time.monotonic() + timeout
        while not self._ready():
            if not self.alive() or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop(timeout=10)
                raise RuntimeError(f"gluon-seq serve did not get ready; its log ends: {tail}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ready", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):  # not listening yet, or a 503
            return False

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read()[-chars:]

    def terminate(self) -> None:
        """SIGTERM, once: a second signal would cut the server's drain short."""
        if self.alive() and not self._terminated:
            self._proc.send_signal(signal.SIGTERM)
        self._terminated = True

    def stop(self, timeout: float = 60.0) -> int:
        """Terminate, wait up to ``timeout`` seconds, then kill; the exit status."""
        self.terminate()
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()

    def __enter__(self) -> "ServeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
