"""What the CPU is, read once from ``/proc/cpuinfo`` (and cpufreq for the clock), for
threads, the compiled operators' build key and the benchmarks' machine stamps;
without ``/proc/cpuinfo`` every field keeps its empty default."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import FrozenSet, Tuple

CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")


@dataclass(frozen=True)
class CpuInfo:
    model: str = "unknown CPU"           # "model name"
    vendor: str = ""                     # "vendor_id": GenuineIntel, AuthenticAMD
    family: int = 0                      # "cpu family"
    model_number: int = 0                # "model"
    flags: FrozenSet[str] = field(default_factory=frozenset)  # "flags" (x86) or "Features"
    logical: int = 0                     # "processor" entries
    cores: FrozenSet[Tuple[str, str]] = field(default_factory=frozenset)  # (physical id, core id)
    mhz: float = 0.0                     # the highest clock the kernel reports

    @property
    def physical_cores(self) -> int:
        """Cores, hyper-threads counted once; the logical count where none are named."""
        return len(self.cores) or self.logical


def _parse(text: str) -> dict:
    values: dict = {"flags": frozenset(), "logical": 0, "cores": set(), "mhz": 0.0}
    physical = "0"
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            values["logical"] += 1
        elif key == "model name":
            values["model"] = value
        elif key == "vendor_id":
            values["vendor"] = value
        elif key == "cpu family" and value.isdigit():
            values["family"] = int(value)
        elif key == "model" and value.isdigit():
            values["model_number"] = int(value)
        elif key in ("flags", "Features"):
            values["flags"] = frozenset(value.split())
        elif key == "physical id":
            physical = value
        elif key == "core id":
            values["cores"].add((physical, value))
        elif key == "cpu MHz":
            values["mhz"] = max(values["mhz"], float(value or 0))
    values["cores"] = frozenset(values["cores"])
    return values


@functools.lru_cache(maxsize=None)
def cpu_info() -> CpuInfo:
    """This machine's CPU (read once per process)."""
    try:
        values = _parse(Path("/proc/cpuinfo").read_text())
    except (OSError, ValueError):
        return CpuInfo()
    try:
        values["mhz"] = max(values["mhz"], int(CPUFREQ_MAX.read_text()) / 1000)
    except (OSError, ValueError):
        pass
    return CpuInfo(**values)
