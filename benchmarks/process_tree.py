"""What a command cost: wall time, CPU time, and the peak resident memory of its
whole process tree (the command and every process it starts, added together).

    usage = run_measured([sys.executable, "-m", "gluon_seq", "train", ...], cwd=ROOT)
    usage.code, usage.wall, usage.cpu, usage.peak_rss   # status, s, s, bytes

The tree is sampled every ``interval`` seconds, so a peak shorter than that can be
missed; ``getrusage``'s ``ru_maxrss`` would see it, but only per process, never the
sum of a process and its children.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

import psutil


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants now (0 once it is gone)."""
    try:
        members = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # ended (or became a zombie) between listing and reading
            pass
    return total


@dataclass
class Usage:
    code: int        # exit status (negative: killed by that signal)
    wall: float      # seconds from start to exit
    cpu: float       # user + system seconds of the command and the children it waited for
    peak_rss: int    # bytes: the largest sampled sum over the process tree

    @property
    def peak_mb(self) -> float:
        return self.peak_rss / 2 ** 20


def run_measured(command, interval: float = 0.1, **popen) -> Usage:
    """Run ``command`` (``subprocess.Popen`` arguments in ``popen``) to its end, sampling
    its process tree's resident memory every ``interval`` seconds."""
    start = time.perf_counter()
    child = subprocess.Popen(command, **popen)
    tree, peak = psutil.Process(child.pid), 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, tree_rss(tree))
        time.sleep(interval)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Usage(code=child.returncode, wall=time.perf_counter() - start,
                 cpu=usage.ru_utime + usage.ru_stime, peak_rss=peak)
