"""The machine's real single-precision limit, which every "% of peak" is measured against.

    .venv/bin/python benchmarks/limit.py [--threads N]      # prints the candidates

The best of the measured candidates:

- **An FMA loop**, compiled as gluon_seq's operators are (the same compiler and flags:
  ``-O3 -march=native -fno-trapping-math``): 256 independent multiply-add chains per
  thread, which the compiler vectorises to the CPU's widest FMA, best of 5 runs.  It
  reaches the clock the core really runs at, turbo included.

- **numpy's sgemm** on a 2048 x 2048 square, best of several calls, in a subprocess
  without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (some of these machines set
  them, and they slow OpenBLAS down).  An OpenBLAS too old to know the CPU falls back to
  a generic kernel (0.3.20 runs "Prescott" on Emerald Rapids), so a second subprocess
  forces the kernel the CPU's vector flags allow (SkylakeX, Haswell or Zen).
- **PyTorch's matmul** on the same square, when torch is installed.
The theoretical FMA peak (lanes x 2 flops per FMA x 2 FMA units x the clock
``/proc/cpuinfo`` reports x threads) is printed beside them as a cross-check only: a
turbo clock above the reported one is not visible from inside a VM (on the AMD EPYC of
2026-12-02 PyTorch beat it), so it is never the limit.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
import tempfile
from pathlib import Path
from typing import Dict, Optional, Sequence

from gluon_seq.util.cpu import CpuInfo, cpu_info

SLOWING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FMA_SOURCE = Path(__file__).with_name("fma_loop.cc")
SIZE = 2048
_SGEMM = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
n, calls = int(sys.argv[1]), int(sys.argv[2])
a = np.random.rand(n, n).astype(np.float32)
b = np.random.rand(n, n).astype(np.float32)
a @ b
times = []
for _ in range(calls):
    start = time.perf_counter(); a @ b; times.append(time.perf_counter() - start)
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({"gflops": 2 * n ** 3 / min(times) / 1e9,
                  "kernel": blas[0].get("architecture", "?") if blas else "no BLAS found",
                  "library": f"{blas[0]['internal_api']} {blas[0]['version']}" if blas else "?",
                  "threads": blas[0].get("num_threads") if blas else None}))
"""


@dataclass
class Limit:
    """The candidates (GFLOP/s) and which one is the limit."""
    candidates: Dict[str, float]
    notes: Dict[str, str]

    @property
    def gflops(self) -> float:
        return max(self.candidates.values())

    @property
    def source(self) -> str:
        return max(self.candidates, key=self.candidates.get)

    def share(self, gflops: float, what: str) -> str:
        """``gflops`` as a share of the limit; above 100 % the benchmark is wrong, so it
        stops instead of printing it."""
        share = 100 * gflops / self.gflops
        if share > 100.0:
            raise SystemExit(f"{what}: {gflops:.1f} GFLOP/s is {share:.0f} % of the limit "
                             f"({self.describe()}); a share above 100 % means the limit or "
                             "the flop count is wrong, so no table is written.")
        return f"{share:.0f} %"

    def describe(self) -> str:
        parts = [f"{name} {value:.0f} GFLOP/s" + (f" ({self.notes[name]})"
                                                  if self.notes.get(name) else "")
                 for name, value in self.candidates.items()]
        return f"limit {self.gflops:.0f} GFLOP/s = best of " + "; ".join(parts)


def lanes(cpu: CpuInfo) -> int:
    """fp32 lanes of one FMA instruction's datapath."""
    if cpu.vendor == "AuthenticAMD" and cpu.family == 23 and cpu.model_number < 0x30:
        return 4  # Zen / Zen+: 256-bit AVX2 split into two 128-bit halves
    if "avx512f" in cpu.flags:
        return 16
    return 8 if "avx2" in cpu.flags or "fma" in cpu.flags else 4


def theoretical(threads: int, cpu: CpuInfo) -> tuple:
    """(GFLOP/s, how it was worked out)."""
    width = lanes(cpu)
    return width * 2 * 2 * cpu.mhz / 1000 * threads, (
        f"{width} lanes x 2 flops x 2 FMA units x {cpu.mhz:.0f} MHz x "
        f"{threads} thread{'s' if threads > 1 else ''}")


def forced_kernel(cpu: CpuInfo) -> Optional[str]:
    """The OpenBLAS kernel the CPU's flags allow, to force when autodetection falls short."""
    if cpu.vendor == "AuthenticAMD" and "avx2" in cpu.flags:
        return "Zen"
    if "avx512f" in cpu.flags:
        return "SkylakeX"
    return "Haswell" if "avx2" in cpu.flags else None


def sgemm(threads: int, coretype: Optional[str] = None, calls: int = 8) -> dict:
    """numpy's sgemm in a clean subprocess: GFLOP/s, the kernel that ran, its threads."""
    env = {k: v for k, v in os.environ.items() if k not in SLOWING}
    env.update(OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    done = subprocess.run([sys.executable, "-c", _SGEMM, str(SIZE), str(calls)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_matmul(threads: int, calls: int = 8) -> Optional[float]:
    try:
        import torch
    except ImportError:
        return None
    from harness import timed_calls

    torch.set_num_threads(threads)
    a, b = torch.rand(SIZE, SIZE), torch.rand(SIZE, SIZE)
    times, _, _ = timed_calls(lambda: a @ b, calls, warm_up=1)
    return 2 * SIZE ** 3 / min(times) / 1e9


def fma_loop(threads: int, narrower: Sequence[str] = ()) -> float:
    """GFLOP/s of ``FMA_SOURCE`` built with the compiled operators' compiler and flags
    (plus ``narrower``, e.g. ``-mno-avx512f``, to force a narrower vector width)."""
    from gluon_seq.rnn.compiled_ops import FLAGS, _compiler

    flags = [f for f in FLAGS if f not in ("-shared", "-fPIC")] + list(narrower)
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "fma_loop"
        subprocess.run([_compiler(), *flags, "-pthread", str(FMA_SOURCE), "-o", str(program)],
                       check=True, capture_output=True)
        done = subprocess.run([str(program), str(threads)], check=True, capture_output=True,
                              text=True)
    return float(done.stdout.split()[-1])


def measure(threads: Optional[int] = None) -> Limit:
    threads = threads or int(os.environ.get("OMP_NUM_THREADS", "1"))
    cpu = cpu_info()
    candidates, notes = {}, {}
    clean = sgemm(threads)
    if clean["threads"] != threads:
        raise SystemExit(f"the sgemm subprocess ran {clean['threads']} BLAS threads, not "
                         f"{threads}; the limit would not be comparable.")
    candidates["numpy sgemm"] = clean["gflops"]
    notes["numpy sgemm"] = (f"{clean['library']}, kernel {clean['kernel']}, "
                            f"{' and '.join(SLOWING)} unset")
    forced = forced_kernel(cpu)
    if forced and forced.lower() != str(clean["kernel"]).lower():
        other = sgemm(threads, forced)
        name = f"numpy sgemm, {forced} kernel"
        candidates[name] = other["gflops"]
        notes[name] = f"OPENBLAS_CORETYPE={forced}, ran {other['kernel']}"
    matmul = torch_matmul(threads)
    if matmul is not None:
        candidates["PyTorch matmul"] = matmul
    candidates["FMA loop"] = fma_loop(threads)
    notes["FMA loop"] = "compiled as gluon_seq's operators are"
    peak, how = theoretical(threads, cpu)
    notes["FMA loop"] += f"; cross-check, the nominal clock's peak: {peak:.0f} GFLOP/s ({how})"
    return Limit(candidates, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads to measure with (default: OMP_NUM_THREADS, else 1)")
    print(measure(parser.parse_args().threads).describe())


if __name__ == "__main__":
    main()
