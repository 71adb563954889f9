"""What a benchmark ran on, measured when it runs: one line to stamp each table with.

    stamp = Machine.now()          # at the start: CPU, cores, load, date, commit
    ...                            # the measurement
    text = table + "\\n\\n" + stamp.line()   # adds the load average at the end
"""
import datetime
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VECTOR_FLAGS = ("avx512f", "avx2", "fma", "avx", "sse4_2", "neon", "asimd")
# Contenders given the same threads may differ by this factor at most in CPU-seconds per
# wall-second; beyond it one was starved or ran extra threads, and their times do not compare.
SAME_CPU = 1.10


def unequal_cpu(usage) -> bool:
    """Whether the CPU-seconds per wall-second in ``usage`` differ beyond SAME_CPU."""
    return max(usage) > SAME_CPU * min(usage)


def _cpuinfo() -> dict:
    info = {"model": "unknown CPU", "flags": set(), "cores": set(), "logical": 0}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return info
    physical = None
    for line in lines:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "model name":
            info["model"] = value
        elif key in ("flags", "Features"):
            info["flags"] = set(value.split())
        elif key == "processor":
            info["logical"] += 1
        elif key == "physical id":
            physical = value
        elif key == "core id":
            info["cores"].add((physical, value))
    return info


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return head + (" with uncommitted changes" if dirty else "")


@dataclass
class Machine:
    model: str
    vector: str
    physical_cores: int
    logical_cpus: int
    threads: str
    load_start: float
    date: str
    commit: str
    notes: list = field(default_factory=list)

    @classmethod
    def now(cls) -> "Machine":
        info = _cpuinfo()
        vector = [f for f in VECTOR_FLAGS if f in info["flags"]]
        return cls(model=info["model"], vector="+".join(vector[:3]) or "no vector flags read",
                   physical_cores=len(info["cores"]) or info["logical"],
                   logical_cpus=info["logical"] or (os.cpu_count() or 0),
                   threads=os.environ.get("OMP_NUM_THREADS", "unset"),
                   load_start=os.getloadavg()[0],
                   date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), commit=_commit())

    def line(self) -> str:
        """The stamp, with the load average now (the end of the measurement)."""
        return (f"_Measured on {self.model} ({self.vector}; {self.physical_cores} physical "
                f"cores, {self.logical_cpus} logical CPUs), OMP_NUM_THREADS={self.threads}, "
                f"1-minute load average {self.load_start:.2f} at the start and "
                f"{os.getloadavg()[0]:.2f} at the end, {self.date}, commit {self.commit}._")
