"""What the serving benchmarks share: the server subprocess, a bare HTTP/1.1 client, percentiles.

Used by ``serve.py`` (latency, throughput, bad input) and ``serve_load.py``
(burst, overload, soak).  Every server binds 127.0.0.1 on a free port.
"""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def percentiles(seconds):
    ms = np.asarray(seconds) * 1000
    return f"{np.percentile(ms, 50):.2f} / {np.percentile(ms, 99):.2f}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``gluon-seq serve`` in a subprocess on 127.0.0.1; stopped with SIGTERM.  Its log
    goes to a file (a pipe nobody reads would stall a server that logs under load)."""

    def __init__(self, folders, backend, max_wait_ms=5.0, max_batch=64, extra=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gluon_seq", "serve", *map(str, folders), "--port", str(self.port),
             "--backend", backend, "--max-wait-ms", str(max_wait_ms), "--max-batch", str(max_batch),
             "--no-access-log", *map(str, extra)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log, text=True,
            env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")))
        deadline = time.time() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("server did not start in 2 minutes")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars=2000) -> str:
        self.log.seek(0)
        return self.log.read()[-chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.log.close()


def split_url(url: str):
    """``http://127.0.0.1:8080/predict/x`` -> ("127.0.0.1", 8080, "/predict/x")."""
    host, port_path = url.split("//", 1)[1].split(":", 1)
    port, _, path = port_path.partition("/")
    return host, int(port), "/" + path


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                   path: str, body: bytes):
    """One POST over an open keep-alive connection: (status, Retry-After seconds or None);
    the answer's body is read and dropped.  A bare asyncio stream costs a fraction of
    httpx's client-side CPU, so the server is what is measured."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json"
                 f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection before answering")
    length, retry_after = 0, None
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"retry-after":
            retry_after = float(value)
    await reader.readexactly(length)
    return int(status_line.split()[1]), retry_after
