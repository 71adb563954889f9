"""Serving under load: a burst of connections, 5,000 clients at once, and a soak.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve.py --section load [--soak-seconds 600] [--write]

One ``gluon-seq serve`` subprocess on 127.0.0.1 (default limits: ``--max-queue
256``), arithmetic model, one input per request; the clients are bare asyncio
HTTP/1.1 streams in the benchmark process (they share the machine's CPUs with the
server).  Every run is bounded in requests and seconds and stops by itself:

- burst: N connections opened at once, one request each; every one must be answered
  (once more with ``--max-queue 1024``, which takes the whole burst in).
- overload: N keep-alive clients sending back to back; answers may only be 200 or
  503 (queue full); the server's resident memory (process tree) is sampled.
- capacity: 64 clients for a few seconds; the soak's rate is 80 % of what they got.
- soak: requests at that fixed rate (open loop: latency counts from the planned send
  time, so a stall shows); must end with 0 errors.
"""
import asyncio
import collections
import json
import os
import random
import time
from dataclasses import dataclass, field

import httpx
from harness import Watch, percentiles

from gluon_seq.serving.process import ServeProcess

# The soak spreads its rate over more connections than capacity was measured with, so a
# connection is free when its next send is due (an open loop must not wait on its own client).
CAPACITY_CLIENTS, CAPACITY_SECONDS, SOAK_CONNECTIONS = 64, 15.0, 128
JSON = {"Content-Type": "application/json"}


def start_server(folders, *flags) -> ServeProcess:
    """``gluon-seq serve`` as every serving row runs it: no access log, the mxnet backend
    unless the flags name one, and one OpenMP thread unless OMP_NUM_THREADS says otherwise."""
    backend = [] if "--backend" in flags else ["--backend", "mxnet"]
    return ServeProcess(folders, "--no-access-log", *backend, *flags,
                        env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def one_input_bodies(inputs):
    """A function that returns a request body of one input, drawn from ``inputs`` (seeded)."""
    rng = random.Random(0)
    return lambda: json.dumps({"inputs": [rng.choice(inputs)]}).encode()


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


@dataclass
class Outcome:
    """Statuses, client-side errors and latencies of one load run."""
    statuses: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    seconds: list = field(default_factory=list)
    ok_seconds: list = field(default_factory=list)  # the 200s alone
    wall: float = 0.0

    def record(self, status, elapsed: float) -> None:
        self.seconds.append(elapsed)
        self.statuses[status] += 1
        if status == 200:
            self.ok_seconds.append(elapsed)

    def fail(self, err: BaseException) -> None:
        self.errors[type(err).__name__] += 1

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


def _mib(count: int) -> str:
    return f"{count / 2 ** 20:.0f}"


async def _connect(host, port, timeout):
    return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)


async def _clients(url, count, body, outcome: Outcome, stop_at: float, per_client: int,
                   timeout: float, backoff: bool, pool=None) -> None:
    """``count`` keep-alive clients at once, each sending up to ``per_client`` requests
    back to back until ``stop_at`` (after a 503 first waiting its Retry-After, if
    ``backoff``), each over its own bare stream or, given an httpx ``pool``, through it;
    a client whose connection fails stops."""
    host, port, path = split_url(url)

    async def send(stream):
        if pool is None:
            return await asyncio.wait_for(exchange(*stream, host, path, body()), timeout)
        response = await pool.post(url, content=body(), headers=JSON)
        return response.status_code, float(response.headers.get("retry-after", 0))

    async def client():
        try:
            stream = None if pool else await _connect(host, port, timeout)
        except Exception as err:
            outcome.fail(err)
            return
        try:
            for _ in range(per_client):
                if time.perf_counter() > stop_at:
                    break
                start = time.perf_counter()
                status, retry_after = await send(stream)
                outcome.record(status, time.perf_counter() - start)
                if backoff and retry_after:
                    await asyncio.sleep(min(retry_after, stop_at - time.perf_counter()))
        except Exception as err:
            outcome.fail(err)
        finally:
            if stream:
                stream[1].close()

    start = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(count)])
    outcome.wall = time.perf_counter() - start


def closed_loop(url, clients, body, seconds, per_client, backoff=False, timeout=60.0,
                use_httpx=False) -> Outcome:
    """:func:`_clients` run to its end.  ``use_httpx``: one httpx pool shared by the clients
    (one AsyncClient per client was worse: 200 of them spent the time cap building SSL
    contexts); its client-side CPU is many times a bare stream's."""
    outcome, stop_at = Outcome(), time.perf_counter() + seconds

    async def run():
        if not use_httpx:
            return await _clients(url, clients, body, outcome, stop_at, per_client, timeout,
                                  backoff)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as pool:
            await _clients(url, clients, body, outcome, stop_at, per_client, timeout, backoff,
                           pool)

    asyncio.run(run())
    return outcome


async def _open_loop(url, rate, seconds, body, outcome: Outcome, timeout: float) -> None:
    host, port, path = split_url(url)
    interval = SOAK_CONNECTIONS / rate  # each connection's share of the schedule
    begin = time.perf_counter() + 0.5
    end = begin + seconds

    async def connection(offset):
        reader, writer = await _connect(host, port, timeout)
        planned = begin + offset
        try:
            while planned < end:
                await asyncio.sleep(max(0.0, planned - time.perf_counter()))
                try:
                    status, _ = await asyncio.wait_for(
                        exchange(reader, writer, host, path, body()), timeout)
                    outcome.record(status, time.perf_counter() - planned)
                except Exception as err:
                    outcome.fail(err)
                    return
                planned += interval
        finally:
            writer.close()

    await asyncio.gather(*[connection(i * interval / SOAK_CONNECTIONS)
                           for i in range(SOAK_CONNECTIONS)])
    outcome.wall = time.perf_counter() - begin


PATH = "/predict/arithmetic"
DEEP_QUEUE = 1024  # the burst again with this --max-queue, to show the trade-off


def _row(name, clients, outcome: Outcome, watch: Watch) -> str:
    other = outcome.answered - outcome.statuses[200] - outcome.statuses[503]
    errors = ", ".join(f"{n} {k}" for k, n in sorted(outcome.errors.items())) or "0"
    return (f"| {name} | {clients} | {outcome.answered + sum(outcome.errors.values())} | "
            f"{outcome.statuses[200]} | {outcome.statuses[200] / max(outcome.wall, 1e-9):.0f} | "
            f"{outcome.statuses[503]} | {other} | {errors} | "
            f"{percentiles(outcome.seconds, 0)} | {percentiles(outcome.ok_seconds, 0)} | "
            f"{_mib(watch.before)} → {_mib(watch.peak)} | "
            f"{watch.cores:.2f} | {outcome.wall:.1f} |")


def _closed_rows(server: ServeProcess, body, runs) -> list:
    """One table row per (name, clients, seconds, requests per client, backoff) run."""
    watch, rows = Watch(server.pid), []
    closed_loop(server.url + PATH, 8, body, 3, 200)  # warm up
    for name, clients, seconds, per_client, backoff in runs:
        with watch:
            outcome = closed_loop(server.url + PATH, clients, body, seconds, per_client, backoff)
        rows.append(_row(name, clients, outcome, watch))
        print(rows[-1], flush=True)
    return rows


def _soak(server: ServeProcess, body, seconds):
    """(capacity outcome, soak rate, soak outcome, watch) on a running server."""
    capacity = closed_loop(server.url + PATH, CAPACITY_CLIENTS, body, CAPACITY_SECONDS, 10 ** 6)
    rate = 0.8 * capacity.statuses[200] / capacity.wall
    soak, watch = Outcome(), Watch(server.pid)
    with watch:
        asyncio.run(_open_loop(server.url + PATH, rate, seconds, body, soak, 60.0))
    return capacity, rate, soak, watch


def run_load(folder, inputs, args) -> list:
    """The load tables (markdown lines) for the arithmetic export ``folder``: the burst and
    overload rows for each ``args.workers`` count, capacity and the soak for the first."""
    body = one_input_bodies(inputs)
    queue = ["--max-queue", args.max_queue] if args.max_queue else []
    rows, first = [], args.workers[0]
    for workers in args.workers:
        label = (f" ({workers} server process{'es' * (workers > 1)})" if args.workers != [1]
                 else "")
        with start_server([folder], *queue, "--workers", workers) as server:
            rows += _closed_rows(server, body, [
                ("burst: one request per connection, all opened at once" + label, args.burst,
                 60, 1, False),
                ("overload: clients send back to back, a 503 retried at once" + label,
                 args.overload, args.overload_seconds, 50, False),
                ("overload: clients wait a 503's Retry-After" + label, args.overload,
                 args.overload_seconds, 50, True)])
            if workers == first:
                soak = _soak(server, body, args.soak_seconds)
                alive, code = server.alive(), server.stop()
    if not args.max_queue:
        with start_server([folder], "--max-queue", DEEP_QUEUE) as deep:
            rows[1:1] = _closed_rows(deep, body, [(f"the burst with --max-queue {DEEP_QUEUE}",
                                                   args.burst, 60, 1, False)])
    return _tables(args, rows, *soak, alive, code)


def _tables(args, rows, capacity, rate, soak: Outcome, watch: Watch, alive, code) -> list:
    errors = sum(soak.errors.values()) + soak.answered - soak.statuses[200]
    return [
        "| load | clients | requests | 200 | 200s per s | 503 | other status | client errors | "
        "p50 / p99 ms, all | p50 / p99 ms, 200s | server RSS MiB (before → peak) | server CPU, "
        "cores | seconds |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows, "",
        f"**Capacity**: {CAPACITY_CLIENTS} keep-alive clients for {CAPACITY_SECONDS:g} s got "
        f"{capacity.statuses[200] / capacity.wall:.0f} answers/s (p50 / p99 "
        f"{percentiles(capacity.seconds, 1)} ms, {sum(capacity.errors.values())} errors).", "",
        f"**Soak at 80 % of that** ({rate:.0f} requests/s for {args.soak_seconds:g} s over "
        f"{SOAK_CONNECTIONS} connections, open loop): {soak.answered} answered "
        f"({soak.answered / max(soak.wall, 1e-9):.0f}/s), {errors} errors "
        f"(non-200 or failed), p50 / p99 {percentiles(soak.seconds, 1)} ms from the "
        f"planned send time; server RSS {_mib(watch.before)} MiB at the start, "
        f"{_mib(watch.after)} MiB at the end (peak {_mib(watch.peak)} MiB); server CPU "
        f"{watch.cores:.2f} cores.", "",
        f"After all of it: server process alive {alive}, exit status after SIGTERM {code}.", "",
        "Reading it: \"requests\" counts every request sent, so requests = 200 + 503 + other "
        "status + client errors (connections refused, reset or timed out). The server is one "
        "Python process whose single event loop parses every request, refused ones too, and "
        "shares the machine's CPUs with the clients and whatever else runs (the stamp below "
        "gives the load average at the start and the end; server CPU shows what the server "
        "got), so under overload the 200s per second fall far below capacity "
        "while the 503s keep memory flat. A longer queue takes a whole burst in (the --max-queue "
        f"{DEEP_QUEUE} row) but under sustained overload only lengthens the wait; more server "
        "processes, or a proxy that sheds load in front, would be the remedy.",
    ]
