"""What every benchmark shares: its command line, the machine stamp, its own section of
BENCHMARKS.md, training runs of the real CLI measured whole, percentiles.

    bench = Bench(__doc__, __file__, "arithmetic")
    bench.parser.add_argument("--epochs", type=int, default=60)
    args = bench.parse()      # adds --no-write; stamps CPU, cores, threads, load, date, commit
    ...                       # the measurement
    bench.finish(table)       # prints it with the stamp; into BENCHMARKS.md unless --no-write

The honesty rule every benchmark that races contenders applies is here too: contenders
given the same threads must use the same CPU-seconds per wall-second (:data:`SAME_CPU`).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import psutil

from gluon_seq.util.cpu import cpu_info
from gluon_seq.util.files import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
VECTOR_FLAGS = ("avx512f", "avx2", "fma", "avx", "sse4_2", "neon", "asimd")
# Contenders given the same threads may differ by this factor at most in CPU-seconds per
# wall-second; beyond it one was starved or ran extra threads, and their times do not compare.
SAME_CPU = 1.10
# glibc's mallopt parameters and the values steady_malloc gives them: keep freed memory
# in the heap (no munmap, no trim), so a contender's large buffers are not handed back to
# the kernel and faulted in again on every call.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP = 1 << 30


def steady_malloc() -> bool:
    """Fix glibc malloc's thresholds for the rest of the process (True) or say it is not
    glibc (False).  Left dynamic, the threshold that sends an allocation to mmap moves
    with the process's history: PyTorch's count-ones training step took 23-25 ms when its
    buffers were mmapped afresh each call and 12-13 ms when malloc kept them (2026-12-07),
    so runs minutes apart disagreed by 2x for reasons of neither contender's code."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP))


def check_equal_cpu(usage: Dict[str, float], what: str) -> None:
    """Stop the run (nothing written) if the contenders' CPU-seconds per wall-second in
    ``usage`` differ beyond SAME_CPU."""
    low, high = min(usage, key=usage.get), max(usage, key=usage.get)
    if usage[high] > SAME_CPU * usage[low]:
        raise SystemExit(
            f"{what}: contenders used unequal CPU ({high} {usage[high]:.2f}, {low} "
            f"{usage[low]:.2f} CPU-seconds per wall-second, more than {SAME_CPU - 1:.0%} apart): "
            "another job shared the cores or a contender ran extra threads; nothing written.")


def percentiles(seconds, digits: int = 2) -> str:
    """'p50 / p99' of ``seconds``, in milliseconds ('-' for none)."""
    if not len(seconds):
        return "-"
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return f"{p50:.{digits}f} / {p99:.{digits}f}"


def timed_calls(run, count: int, warm_up: int = 0):
    """(seconds of each call, CPU seconds, wall seconds) over ``count`` calls of ``run``,
    after ``warm_up`` calls not counted.  CPU time is this process's: every thread of it."""
    for _ in range(warm_up):
        run()
    times = []
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times, time.process_time() - cpu, time.perf_counter() - wall


def race(runs: dict, rounds: int, seconds: float, warm_up: int = 2) -> dict:
    """name -> {"times": seconds of each timed call, "means": each round's mean, "cpu":
    CPU-seconds per wall-second}: ``rounds`` rounds in which each contender makes
    ``warm_up`` calls, then calls for ``seconds`` (3 calls at least), so that load on a
    shared machine hits them alike.  Who goes first rotates: at IMDB's shape the first
    contender of a round measured up to 1.5x slower, whichever it was."""
    stats = {name: {"times": [], "means": [], "cpu": 0.0, "wall": 0.0} for name in runs}
    order = list(runs)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            run, entry, times = runs[name], stats[name], []
            for _ in range(warm_up):
                run()
            cpu, start = time.process_time(), time.perf_counter()
            while time.perf_counter() - start < seconds or len(times) < 3:
                begin = time.perf_counter()
                run()
                times.append(time.perf_counter() - begin)
            entry["wall"] += time.perf_counter() - start
            entry["cpu"] += time.process_time() - cpu
            entry["times"] += times
            entry["means"].append(sum(times) / len(times))
    return {name: dict(entry, cpu=entry["cpu"] / entry["wall"]) for name, entry in stats.items()}


def table_rows(cases: Iterable, row: Callable[..., str], columns: int) -> List[str]:
    """``row(case)`` for each case, each printed as it comes; a case whose data is not on
    this machine (a UserError) gets a row of ``columns`` cells that says so."""
    from gluon_seq import UserError

    lines = []
    for case in cases:
        try:
            lines.append(row(case))
        except UserError as err:
            label = " ".join(str(part) for part in (case if isinstance(case, tuple) else (case,))
                             if part)
            lines.append(f"| {label} | skipped: {err} |" + " |" * (columns - 2))
        print(lines[-1], flush=True)
    return lines


def untrained_export(task, folder: Path) -> Path:
    """``task`` prepared, its model built with the fused kernel (the export default),
    initialised but not trained (a call's time does not depend on the weights) and
    exported into ``folder``."""
    from gluon_seq.exporting.writer import export_model
    from gluon_seq.rnn import LayerFactory

    task.prepare()
    model = task.build_model(LayerFactory("fused"))
    model.initialize(task.initializer())
    return export_model(task, model, folder)


def profile_file() -> str:
    """Where MXNet's profiler may write: a file of this process's own.  Never os.devnull:
    MXNet replaces the file it is given, and as root that turned /dev/null into a
    regular file, which broke every later shell redirect on the machine."""
    return os.path.join(tempfile.gettempdir(), f"gluon-seq-mxnet-profile-{os.getpid()}.json")


def mxnet_operators(call, calls: int) -> dict:
    """{"wall": ms per call, "ops": {operator: (ms per call, runs per call)}} over ``calls``
    calls of ``call``, from MXNet's aggregate profiler (the engine's bookkeeping left out)."""
    import mxnet as mx

    mx.profiler.set_config(profile_symbolic=True, profile_imperative=True,
                           aggregate_stats=True, filename=profile_file())
    mx.profiler.set_state("run")
    _, _, wall = timed_calls(lambda: (call(), mx.nd.waitall()), calls)
    mx.profiler.set_state("stop")
    stats = json.loads(mx.profiler.dumps(format="json", reset=True))
    return {"wall": wall / calls * 1e3, "ops": {
        name: (entry["Total"] / calls, entry["Count"] / calls)
        for name, entry in stats.get("Time", {}).get("operator", {}).items()
        if name not in ("WaitForVar", "DeleteVariable")}}


# What benchmarks write themselves; any other uncommitted change makes a run's state unknown.
WRITTEN = ("BENCHMARKS.md", "benchmarks/results")


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":!{path}" for path in WRITTEN)],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return head + (" with uncommitted changes" if dirty else "")


@dataclass
class Machine:
    """What a benchmark ran on, taken when it starts; :meth:`line` adds the load at the end."""
    model: str
    vector: str
    physical_cores: int
    logical_cpus: int
    threads: str
    load_start: float
    date: str
    commit: str

    @classmethod
    def now(cls) -> "Machine":
        cpu = cpu_info()
        vector = [f for f in VECTOR_FLAGS if f in cpu.flags]
        return cls(model=cpu.model, vector="+".join(vector[:3]) or "no vector flags read",
                   physical_cores=cpu.physical_cores, logical_cpus=cpu.logical or os.cpu_count(),
                   threads=os.environ.get("OMP_NUM_THREADS", "unset"),
                   load_start=os.getloadavg()[0],
                   date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), commit=_commit())

    def line(self) -> str:
        return (f"_Measured on {self.model} ({self.vector}; {self.physical_cores} physical "
                f"cores, {self.logical_cpus} logical CPUs), OMP_NUM_THREADS={self.threads}, "
                f"1-minute load average {self.load_start:.2f} at the start and "
                f"{os.getloadavg()[0]:.2f} at the end, {self.date}, commit {self.commit}._")


def write_section(name: str, text: str) -> None:
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in
    BENCHMARKS.md (every section has its markers there)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = BENCHMARKS.read_text()
    if begin not in content:
        raise SystemExit(f"BENCHMARKS.md has no {begin} ... {end} section; add one.")
    content = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                     lambda _: f"{begin}\n{text}\n{end}", content, flags=re.S)
    atomic_write_text(BENCHMARKS, content)


class Bench:
    """One benchmark's command line and report.  ``opt_in``: the flag is ``--write``
    (the table is written only when asked) instead of ``--no-write``."""

    def __init__(self, doc: str, script: str, section: str, opt_in: bool = False):
        self.parser = argparse.ArgumentParser(
            description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        self.flag = "--write" if opt_in else "--no-write"
        self.parser.add_argument(self.flag, action="store_true", dest="write_flag",
                                 help="write the table into BENCHMARKS.md" if opt_in else
                                 "print the table only; leave BENCHMARKS.md as it is")
        relative = Path(script).resolve().relative_to(ROOT)
        self.program = (str(relative) if relative.parent.name == "benchmarks" else
                        "-m " + ".".join(relative.with_suffix("").parts))
        self.section, self.opt_in = section, opt_in

    def parse(self, argv=None) -> argparse.Namespace:
        """The arguments; stamps the machine (the measurement starts now)."""
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.args = self.parser.parse_args(self.argv)
        self.args.no_write = not self.args.write_flag if self.opt_in else self.args.write_flag
        self.stamp = Machine.now()
        return self.args

    def command(self, arguments=None) -> str:
        """The command that reproduces this run: the arguments given (or ``arguments``),
        the threads and, when this process is pinned to some CPUs, the pin."""
        arguments = [a for a in (self.argv if arguments is None else arguments) if a != self.flag]
        cpus = sorted(os.sched_getaffinity(0))
        pin = f"taskset -c {','.join(map(str, cpus))} " if len(cpus) < os.cpu_count() else ""
        threads = os.environ.get("OMP_NUM_THREADS")
        return (f"{pin}{f'env OMP_NUM_THREADS={threads} ' if threads else ''}.venv/bin/python "
                f"{self.program} {shlex.join(map(str, arguments))}").strip()

    def finish(self, text: str, section: Optional[str] = None,
               stamp: Optional[Machine] = None) -> None:
        """Print ``text`` and the stamp's line; write them into the section unless told not
        to.  A run of uncommitted code writes nothing: every table names the commit it
        measured."""
        stamp = stamp or self.stamp
        text = f"{text}\n\n{stamp.line()}"
        print(text)
        if self.args.no_write:
            return
        if stamp.commit.endswith("uncommitted changes"):
            raise SystemExit("the tree has uncommitted changes: commit them and run again, so "
                             "the table names the state it measured; nothing written.")
        write_section(section or self.section, text)


class Watch:
    """A process tree's resident memory (the process and all its descendants, added),
    sampled every 0.1 s in a thread over each ``with`` block (``before``, ``peak``,
    ``after``), and the CPU cores the tree used over it.  ``ru_maxrss`` would catch
    shorter peaks, but per process only, never the sum of a process and its children."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = self.before = self.after = self.now()
        self.cores = 0.0
        self._stop, self._thread, self._start = threading.Event(), None, (0.0, 0.0)

    def _sum(self, read) -> float:
        """``read(process)`` added over the tree now (0 once it is gone)."""
        try:
            members = [self.proc] + self.proc.children(recursive=True)
        except psutil.Error:
            return 0
        total = 0
        for member in members:
            try:
                total += read(member)
            except psutil.Error:  # it ended between listing and reading
                pass
        return total

    def now(self) -> int:
        """Resident bytes of the tree now."""
        return self._sum(lambda process: process.memory_info().rss)

    def _cpu(self) -> float:
        return self._sum(lambda process: sum(process.cpu_times()[:2]))

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> "Watch":
        self.peak = self.before = self.now()
        self._start = (self._cpu(), time.perf_counter())
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.after = self.now()
        self.cores = (self._cpu() - self._start[0]) / (time.perf_counter() - self._start[1])


def run_measured(command, **popen) -> dict:
    """Run ``command`` to its end: exit ``code``, ``wall`` and ``cpu`` seconds (its own and
    its waited-for children's), and ``peak_mb``, its process tree's (:class:`Watch`)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, **popen)
    with Watch(child.pid) as watch:
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"code": child.returncode, "wall": time.perf_counter() - start,
            "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": watch.peak / 2 ** 20}


def train_cli(arguments, folder: Path, check: bool = True) -> dict:
    """``python -m gluon_seq train ARGUMENTS --out FOLDER`` in a fresh process from the
    repository root (FOLDER replaced; its output in FOLDER.log), measured by
    :func:`run_measured`, with ``metrics`` (metrics.json; None if it failed) and ``log``.
    A failure stops the benchmark when ``check``."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f"{folder.name}.log"
    command = [sys.executable, "-m", "gluon_seq", "train", *map(str, arguments), "--out",
               str(folder)]
    with open(log, "w") as handle:
        run = run_measured(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    if run["code"] and check:
        raise SystemExit(f"gluon-seq train {shlex.join(map(str, arguments))} failed with exit "
                         f"status {run['code']}; its output ends:\n{log.read_text()[-2000:]}")
    metrics = None if run["code"] else json.loads((folder / "metrics.json").read_text())
    return dict(run, metrics=metrics, log=str(log))


def reached(log_csv: Path, target: float):
    """(epoch, cumulative train seconds) when the validation metric in a run's log.csv
    first reached ``target`` (epoch times only, evaluation excluded), or None."""
    with open(log_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = next(k for k in rows[0] if k.startswith("valid_"))
    elapsed = 0.0
    for row in rows:
        elapsed += float(row["seconds"])
        if float(row[column]) >= target:
            return int(row["epoch"]), elapsed
    return None
