"""Several server processes: throughput per ``--workers`` count, and a worker killed under load.

    .venv/bin/python benchmarks/serve_workers.py [--tasks arithmetic ptb] [--seconds 15]
        [--clients 64] [--write]

Each task's export (arithmetic's ``runs/arithmetic/export`` when it exists, else an
untrained one in a temporary folder; the table says which), served by ``gluon-seq serve
--workers N`` on 127.0.0.1 with its defaults (``OMP_NUM_THREADS`` the physical cores,
split among the processes).  Clients: ``--clients`` keep-alive bare asyncio
streams sending one input per request back to back, in this process (they share the
CPUs with the server, as on a one-machine deployment).  Inputs: arithmetic's eight
expressions, tens of microseconds of model work each, so the clients and the server's HTTP
handling use most of the CPU; or 30-word windows of PTB's validation text, each a
request for the codec's default 10 generated words (one window call and nine one-word
calls, milliseconds of model work), which is what more processes can spread over cores.
Kill: with 2 workers under the same load, one server process gets SIGKILL a third of
the way in; the table counts the requests that failed and the seconds until ``/ready``
answered 200 again (the replacement loaded).  ``--write`` puts the tables into
BENCHMARKS.md under "Several server processes".
"""
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
from harness import ROOT, Bench, Watch, percentiles, untrained_export
from serve_load import closed_loop, one_input_bodies

from gluon_seq import tasks
from gluon_seq.serving.process import ServeProcess
from gluon_seq.util.runtime import physical_cores

EXPRESSIONS = ["7*3*2", "10+10+10", "1+2+3", "9*9*9", "4*5+6", "2*8+1", "3*3*3", "6+7"]
WINDOW, WINDOWS = 30, 64  # PTB inputs: this many windows of this many validation words
GOAL = 1.7  # 2 workers' throughput over 1 worker's, on a 2-core machine


def children(pid: int) -> list:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def export(workdir: Path, name: str):
    """(an export folder of task ``name``, named after it, what it is, request inputs)."""
    target = workdir / name / "export"
    trained = ROOT / "runs" / name / "export"
    task = tasks.get(name)()
    if trained.is_dir() and name == "arithmetic":
        shutil.copytree(trained, target)
        return target, f"the trained `runs/{name}/export`", EXPRESSIONS
    untrained_export(task, target)
    if name == "arithmetic":
        return target, "untrained weights", EXPRESSIONS
    ids, vocab = task.split_ids("valid"), task.codec().vocab
    inputs = [" ".join(vocab[i] for i in ids[start:start + WINDOW])
              for start in range(0, WINDOW * WINDOWS, WINDOW)]
    return target, f"untrained weights, {WINDOWS} windows of {WINDOW} validation words", inputs


def server(folder: Path, workers: int, threads: int = 0) -> ServeProcess:
    """The server with ``threads`` OpenMP threads in all, by default gluon_seq's (the
    physical cores), split among the processes, whatever this process was started with."""
    return ServeProcess([folder], "--workers", str(workers), "--no-access-log",
                        env={"OMP_NUM_THREADS": str(threads or physical_cores())})


def throughput_row(folder: Path, workers: int, threads: int, inputs, task: str, args) -> tuple:
    body, url = one_input_bodies(inputs), f"/predict/{task}"
    with server(folder, workers, threads) as srv:
        closed_loop(srv.url + url, 8, body, 3, 200)  # warm up
        watch = Watch(srv.pid)
        with watch:
            out = closed_loop(srv.url + url, args.clients, body, args.seconds, 10 ** 6)
    rate = out.statuses[200] / out.wall
    failed = out.answered - out.statuses[200] + sum(out.errors.values())
    threads = threads or physical_cores()
    return rate, (f"| {task} | {workers} | {threads if workers == 1 else f'{threads} ({threads // workers} each)'} | {args.clients} | {out.statuses[200]} | {rate:.0f} | {failed} | "
                  f"{percentiles(out.ok_seconds, 0)} | {watch.cores:.2f} |")


def kill_row(folder: Path, inputs, task: str, args) -> str:
    body, url = one_input_bodies(inputs), f"/predict/{task}"
    with server(folder, 2) as srv:
        closed_loop(srv.url + url, 8, body, 3, 200)  # warm up
        result = {}
        load = threading.Thread(target=lambda: result.update(out=closed_loop(
            srv.url + url, args.clients, body, args.seconds, 10 ** 6)))
        load.start()
        time.sleep(args.seconds / 3)
        victim = children(srv.pid)[0]
        os.kill(victim, signal.SIGKILL)
        killed, back = time.monotonic(), None
        time.sleep(0.5)  # the supervisor notices within 0.2 s
        while back is None and time.monotonic() - killed < 60:
            if httpx.get(srv.url + "/ready").status_code == 200:
                back = time.monotonic() - killed
            time.sleep(0.05)
        load.join()
    out = result["out"]
    failed = out.answered - out.statuses[200] + sum(out.errors.values())
    errors = ", ".join(f"{n} {k}" for k, n in sorted(out.errors.items())) or "none"
    # A client whose connection breaks stops, so "failed" counts the requests in flight on
    # the killed process's connections.
    return (f"| {task} | 2, one killed (SIGKILL) {args.seconds / 3:.0f} s in | {args.clients} | "
            f"{out.statuses[200]} | {failed} ({errors}) | "
            + (f"{back:.1f} s" if back is not None else "not within 60 s") + " |")


def task_rows(name: str, workdir: Path, args) -> tuple:
    """(throughput rows, the kill row, the ratio sentence, what the export is) for one task."""
    folder, note, inputs = export(workdir, name)
    rates, rows = {}, []
    for workers, threads in ((1, 0), (1, 1), (2, 0)):  # 0: the default
        rates[workers, threads], row = throughput_row(folder, workers, threads, inputs, name, args)
        rows.append(row)
        print(row, flush=True)
    killed = kill_row(folder, inputs, name, args)
    print(killed, flush=True)
    same, best = rates[2, 0] / rates[1, 1], rates[2, 0] / max(rates[1, 0], rates[1, 1])
    ratio = (f"{name}: 2 processes (1 thread each) answered {same:.2f}x what one process with 1 "
             f"thread did and {best:.2f}x the better single process (goal: {GOAL}x one "
             f"worker's; {'met' if best >= GOAL else 'met per thread only' if same >= GOAL else 'not met'}).")
    return rows, killed, ratio, f"{name}: {note}"


def main(argv=None) -> None:
    bench = Bench(__doc__, __file__, "serving-workers", opt_in=True)
    bench.parser.add_argument("--seconds", type=float, default=15.0)
    bench.parser.add_argument("--clients", type=int, default=64)
    bench.parser.add_argument("--tasks", nargs="+", choices=("arithmetic", "ptb"),
                              default=["arithmetic", "ptb"])
    args = bench.parse(argv)
    with tempfile.TemporaryDirectory() as workdir:
        results = [task_rows(name, Path(workdir), args) for name in args.tasks]
    bench.finish("\n".join([
        f"Command: `{bench.command()}`; models: {'; '.join(r[3] for r in results)}; "
        "`--backend auto`, the server's default limits; the clients run in the benchmark's "
        "process.", "",
        "| model | server processes | OpenMP threads | clients | answered (200) | per second | "
        "failed | latency of the 200s p50 / p99 ms | CPU cores the server used |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|",
        *[row for r in results for row in r[0]], "",
        *[r[2] for r in results], "",
        "| model | under load | clients | answered (200) | failed | until /ready again |",
        "|---|---|---:|---:|---|---:|", *[r[1] for r in results]]))


if __name__ == "__main__":
    main()
