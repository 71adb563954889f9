"""Serving benchmark: batch-1 latency, throughput under concurrency, bad input, and load.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve.py [EXTRA_EXPORT_DIR ...] [--write]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve.py --section load [--soak-seconds 600] --write

``--section tables`` runs the first three (they take long), ``--section load``
only the burst / overload / soak runs of :mod:`serve_load`, which write their
own table under "Under load"; the default runs both.
Uses ``runs/arithmetic/export`` when it exists, else an untrained arithmetic
export in a temporary folder (the table says which).  Every export folder is
copied to a temporary folder first, where ``model.onnx`` is written, so runs/
is never modified.  Servers run as ``python -m gluon_seq serve`` subprocesses
on 127.0.0.1; the clients are httpx (async for concurrency) in this process.
``--write`` puts the tables into BENCHMARKS.md under "Serving (issue 4)".
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from harness import ROOT, Bench, Machine, percentiles, timed_calls, untrained_export
from serve_load import closed_loop, one_input_bodies, run_load, start_server

from gluon_seq import UserError, load_predictor, tasks
from gluon_seq.exporting.onnx import export_onnx
from gluon_seq.serving.format import read_meta
from gluon_seq.serving.requests import model_name

EXPRESSIONS = ["7*3*2", "10+10+10", "1+2+3", "9*9*9", "4*5+6", "2*8+1", "3*3*3", "6+7"]


def http_latency(url, example, count):
    """Seconds of each of ``count`` requests from one keep-alive client, after 20."""
    with httpx.Client(timeout=30) as client:
        def post():
            response = client.post(url, json={"inputs": [example]})
            assert response.status_code == 200, response.text

        return timed_calls(post, count, warm_up=20)[0]


def model_stats(base):
    info = httpx.get(base + "/models").json()["models"][0]
    return info["model_runs"], info["rows_run"]


def bad_requests(base, model, per_kind):
    """(kind, sent, 4xx count, statuses seen) per malformed-request kind."""
    url = f"{base}/predict/{model}"
    kinds = {
        "bad JSON": dict(content=b'{"inputs": ["7*3*2"'),
        "not UTF-8": dict(content=b"\xff\xfe\xfd"),
        "body not an object": dict(content=b'["7*3*2"]'),
        "no inputs field": dict(json={"input": ["7*3*2"]}),
        "inputs not a list": dict(json={"inputs": "7*3*2"}),
        "empty list": dict(json={"inputs": []}),
        "input not a string": dict(json={"inputs": [42]}),
        "bad chars": dict(json={"inputs": ["7/3-1"]}),
        "too long": dict(json={"inputs": ["1+2+3+4+5+6"]}),
        "one bad among good": dict(json={"inputs": ["1+1", "x"]}),
        "unknown model": dict(json={"inputs": ["1+1"]}, url=f"{base}/predict/nope"),
        "oversized body (1.5 MiB)": dict(content=b'{"inputs": ["' + b"1" * (3 << 19) + b'"]}'),
        "wrong method": dict(method="GET"),
    }
    rows = []
    with httpx.Client(timeout=30) as client:
        for kind, spec in kinds.items():
            spec = dict(spec)
            target = spec.pop("url", url)
            method = spec.pop("method", "POST")
            statuses = []
            for _ in range(per_kind if "oversized" not in kind else max(1, per_kind // 5)):
                statuses.append(client.request(method, target, **spec).status_code)
            rows.append((kind, len(statuses), sum(400 <= s < 500 for s in statuses),
                         sorted(set(statuses))))
    return rows


def schemathesis_run(base, budget_s=120):
    """Run schemathesis (if an `st` executable is found) against /openapi.json."""
    binary = os.environ.get("SCHEMATHESIS") or shutil.which("st") or \
        (shutil.which("st", path=str(Path(sys.executable).parent)))
    if not binary:
        return "schemathesis not installed (set SCHEMATHESIS=/path/to/st); skipped."
    try:
        # positive_data_acceptance is left out: the schema cannot say which strings a
        # codec accepts, so schema-valid inputs such as [null] are rightly answered 400.
        result = subprocess.run([binary, "run", f"{base}/openapi.json", "--checks", "all",
                                 "--exclude-checks", "positive_data_acceptance",
                                 "--max-examples", "100", "--no-color"],
                                capture_output=True, text=True, timeout=budget_s)
    except subprocess.TimeoutExpired:
        return f"schemathesis did not finish in {budget_s} s."
    tail = [line for line in result.stdout.splitlines() if line.strip()][-12:]
    return f"schemathesis exit {result.returncode}:\n\n```\n" + "\n".join(tail) + "\n```"


def prepare(folders, workdir):
    """Copy each export folder into workdir and try to write model.onnx there."""
    prepared = []
    for source in folders:
        target = workdir / model_name(source) / "export"
        shutil.copytree(source, target)
        try:
            export_onnx(target)
            onnx_note = "converted"
        except UserError as err:
            onnx_note = str(err)
        prepared.append((target, onnx_note))
    return prepared


def task_export(workdir, name: str, smoke: bool = False) -> Path:
    """An untrained export of task ``name`` (its tiny ``smoke_task`` when asked)."""
    folder = workdir / "src" / (f"{name}-smoke" if smoke else name)
    folder.mkdir(parents=True, exist_ok=True)  # smoke tasks write their data files here
    task_cls = tasks.get(name)
    return untrained_export(task_cls.tiny(folder) if smoke else task_cls(), folder / "export")


def main():
    bench = Bench(__doc__, __file__, "serving", opt_in=True)
    add = bench.parser.add_argument
    add("extra", nargs="*", help="more export folders to time")
    add("--section", choices=("all", "tables", "load"), default="all",
        help="tables: latency, throughput, bad input; load: burst, overload, soak")
    add("--smoke", nargs="*", default=[], metavar="TASK",
        help="also time untrained smoke-size exports of these tasks")
    add("--count", type=int, default=500, help="latency samples")
    add("--bad", type=int, default=50, help="requests per malformed kind")
    add("--seconds", type=float, default=15, help="time cap per throughput run")
    add("--burst", type=int, default=1000, help="connections opened at once")
    add("--overload", type=int, default=5000, help="concurrent overload clients")
    add("--overload-seconds", type=float, default=20)
    add("--max-queue", type=int, help="the load server's --max-queue (default: gluon-seq serve's)")
    add("--workers", type=int, nargs="+", default=[1],
        help="the load runs' serve --workers counts: burst and overload rows for each, "
             "capacity and the soak for the first")
    add("--soak-seconds", type=float, default=60,
        help="soak length at 80%% of capacity (the issue asks 600)")
    args = bench.parse()
    workdir = Path(tempfile.mkdtemp(prefix="serve_bench_"))
    try:
        trained = ROOT / "runs" / "arithmetic" / "export"
        if trained.is_dir():
            arith_source, arith_note = trained, "trained (runs/arithmetic/export)"
        else:
            arith_source, arith_note = task_export(workdir, "arithmetic"), \
                "untrained (no runs/arithmetic/export)"
        if args.section in ("all", "tables"):
            tables(bench, workdir, arith_source, arith_note)
        if args.section in ("all", "load"):
            load(bench, arith_source, arith_note)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _command(bench, part: str) -> str:
    """The command that reproduces one part (``--section part``) of this run."""
    given = bench.argv if bench.args.section == part else bench.argv + ["--section", part]
    return bench.command(given)


def load(bench, folder, note):
    args, stamp = bench.args, Machine.now()
    lines = run_load(folder, EXPRESSIONS, args)
    queue = f" but --max-queue {args.max_queue}" if args.max_queue else ""
    bench.finish("\n".join([f"Measured by `{_command(bench, 'load')}`; arithmetic model: {note}; "
                            f"mxnet backend, the server's default limits{queue}.", "", *lines]),
                 "serving-load", stamp)


def latency_rows(models, count: int) -> list:
    """Batch-1 latency per model and backend: in-process, and over HTTP with and without
    --max-wait-ms."""
    out = ["**Batch-1 latency, p50 / p99 ms** (in-process `predict`; HTTP = one keep-alive "
           "client, sequential requests)", "",
           "| model | backend | in-process | HTTP, --max-wait-ms 5 | HTTP, --max-wait-ms 0 |",
           "|---|---|---|---|---|"]
    for folder, onnx_note in models:
        meta = read_meta(folder)
        example = (meta.get("example_inputs") or EXPRESSIONS)[0]
        name = model_name(folder)
        for backend in ("mxnet", "onnxruntime"):
            if backend == "onnxruntime" and onnx_note != "converted":
                reason = onnx_note.split("ONNX: ", 1)[-1].split(";")[0]
                out.append(f"| {name} | onnxruntime | not convertible ({reason}) | | |")
                continue
            model = load_predictor(folder, backend)
            local = percentiles(timed_calls(lambda: model.predict([example]), count, 20)[0])
            del model
            cells = []
            for wait in (5.0, 0.0):
                with start_server([folder], "--backend", backend, "--max-wait-ms", wait) as server:
                    cells.append(percentiles(http_latency(f"{server.url}/predict/{name}", example,
                                                          count)))
            out.append(f"| {name} | {backend} | {local} | {cells[0]} | {cells[1]} |")
            print(out[-1], flush=True)
    return out


def throughput_rows(arith: Path, converted: bool, seconds: float) -> list:
    """Arithmetic requests per second per backend, client kind and client count."""
    out = ["", "**Throughput, arithmetic, one input per request** (--max-batch 64, "
           f"--max-wait-ms 5; each run capped at 3000 requests, split among its clients, or "
           f"{seconds:g} s; rows/run = inputs per model run, from /models)", "",
           "| backend | client | clients | requests | req/s | p50 / p99 ms | rows/run | errors |",
           "|---|---|---|---|---|---|---|---|"]
    body = one_input_bodies(EXPRESSIONS)
    for backend in ["mxnet"] + (["onnxruntime"] if converted else []):
        with start_server([arith], "--backend", backend) as server:
            for client, use_httpx in (("httpx", True), ("raw asyncio", False)):
                for clients in (1, 16, 200):
                    runs0, rows0 = model_stats(server.url)
                    run = closed_loop(f"{server.url}/predict/arithmetic", clients, body, seconds,
                                      -(-3000 // clients), use_httpx=use_httpx)
                    runs1, rows1 = model_stats(server.url)
                    failed = sum(run.errors.values())
                    out.append(f"| {backend} | {client} | {clients} | {run.answered + failed} | "
                               f"{run.answered / run.wall:.0f} | {percentiles(run.seconds)} | "
                               f"{(rows1 - rows0) / max(1, runs1 - runs0):.1f} | "
                               f"{failed + run.answered - run.statuses[200]} |")
                    print(out[-1], flush=True)
    return out


def malformed_rows(arith: Path, bad: int) -> list:
    """Malformed requests of each kind, then whether the server still answers and exits."""
    with start_server([arith]) as server:
        rows = bad_requests(server.url, "arithmetic", bad)
        health = httpx.get(server.url + "/health").status_code
        good = httpx.post(server.url + "/predict/arithmetic", json={"inputs": ["7*3*2"]})
        st = schemathesis_run(server.url)
        alive = server.alive()
        code = server.stop()
    out = ["", f"**Malformed requests** ({bad} of each kind, oversized {max(1, bad // 5)}; "
           "mxnet backend)", "", "| kind | sent | answered 4xx | statuses |", "|---|---|---|---|"]
    out += [f"| {kind} | {sent} | {fours} | {', '.join(map(str, seen))} |"
            for kind, sent, fours, seen in rows]
    return out + ["", f"After them: /health {health}, a valid request {good.status_code} "
                  f"{good.json()}, server process alive: {alive}, exit status after SIGTERM: "
                  f"{code}.", "", st]


READING = ("Reading the tables: at one client, `--max-wait-ms 5` adds the wait for company that "
           "never comes; `--max-wait-ms 0` leaves the HTTP cost alone.  The httpx rows are bound "
           "by the client's own CPU (it runs in this process, on the same cores); the raw asyncio "
           "rows send the same requests over bare asyncio streams, so they show what the server "
           "can take.  Schemathesis runs every check except positive_data_acceptance: the schema "
           "cannot say which strings a codec accepts, so a schema-valid `[null]` is rightly a 400.")


def tables(bench, workdir, arith_source, arith_note):
    args, stamp = bench.args, Machine.now()
    smoke = [task_export(workdir, name, smoke=True) for name in args.smoke]
    models = prepare([arith_source] + [Path(p) for p in args.extra] + smoke, workdir)
    arith = models[0][0]
    out = [f"Measured by `{_command(bench, 'tables')}`; arithmetic model: {arith_note}.  Server: "
           "`gluon-seq serve` subprocess on 127.0.0.1; clients: httpx in the benchmark process "
           f"(they share the machine's {stamp.logical_cpus} logical CPUs).", ""]
    out += latency_rows(models, args.count)
    out += throughput_rows(arith, models[0][1] == "converted", args.seconds)
    out += malformed_rows(arith, args.bad)
    bench.finish("\n".join(out + ["", READING]), stamp=stamp)


if __name__ == "__main__":
    main()
