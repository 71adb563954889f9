"""Process-level settings: OpenMP threads, devices, the GPU guard and seeds.

``configure_threads`` must run before ``mxnet`` is imported, which is why the
package's ``__init__`` calls it first and this module imports mxnet lazily.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
from typing import Iterator, List, Optional

from .errors import UserError

# mxnet-cu112 1.9.1 ships SASS for these architectures and no PTX.  SASS built
# for X.y runs on X.z with z >= y, so these majors are the ones it can run on.
MXNET_CU112_SASS = ("sm_50", "sm_60", "sm_70", "sm_80", "sm_86")


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads counted once)."""
    from .cpu import cpu_info

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = cpu_info().physical_cores or (allowed or 1)
    return max(1, min(count, allowed or count))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no process listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure_threads() -> None:
    """One OpenMP thread per physical core unless the user chose a number; MXNet's
    default oversubscribes small machines (docs/devices.md)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(physical_cores()))


def configure_serving_engine() -> None:
    """MXNet's synchronous engine for a process that trains nothing, unless the user
    chose one: a batch-1 call of a small model then does its work in the calling
    thread, with no hand-off to engine threads (docs/serving.md).  Loads
    mxnet; does nothing once it is loaded (its engine is chosen then).  Training
    keeps the threaded engine."""
    if "mxnet" in sys.modules:
        return
    os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")  # else a line per graph bound
    # MXNet logs the engine it starts to stderr when the variable is set, which would make
    # every one-sentence error two lines; it starts it on first use, so start it here, unheard.
    with native_stderr_silenced():
        import mxnet as mx

        mx.nd.waitall()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null, for MXNet's C++ log lines (which Python
    cannot filter) inside the block; Python's own errors still raise."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def seed_everything(seed: int) -> None:
    import mxnet as mx
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


def _gpu_compute_capabilities() -> List[str]:
    """Compute capabilities such as ``'9.0'``, one per visible GPU, via nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def check_gpu_supported(name: str, capability: str, shipped=MXNET_CU112_SASS) -> None:
    """Raise a UserError when the installed MXNet has no kernels for this GPU."""
    major, _, minor = capability.partition(".")
    runnable = [arch for arch in shipped
                if arch[3:-1] == major and int(arch[-1]) <= int(minor or 0)]
    if not runnable:
        raise UserError(
            f"GPU '{name}' (sm_{major}{minor}) cannot run this MXNet build: it ships kernels only "
            f"for {', '.join(shipped)} and no PTX; use --ctx cpu, or an MXNet built for this GPU.")


def parse_contexts(spec: str):
    """``'cpu'``, ``'cpu:0,cpu:1'`` or ``'gpu:0,gpu:1'`` to a list of mx.Context, checked
    for usability (several CPU contexts exercise the multi-device path)."""
    contexts = parse_device_list(spec)
    gpus = [c for c in contexts if c.device_type == "gpu"]
    if gpus:
        check_gpus(gpus)
    return contexts


def parse_device_list(spec: str):
    """The contexts ``spec`` names, parsed strictly, without asking any device."""
    contexts = [_parse_device(part.strip()) for part in (spec or "cpu").split(",")]
    if len(set(contexts)) != len(contexts):
        raise UserError(f"--ctx {spec} names a device twice; list each device once.")
    return contexts


def _parse_device(part: str):
    import mxnet as mx

    kind, colon, index = part.partition(":")
    if kind not in ("cpu", "gpu"):
        raise UserError(f"unknown device {part!r} in --ctx; use cpu, cpu:N or gpu:N.")
    if colon and not (index.isdigit() and index.isascii()):
        raise UserError(f"bad device {part!r} in --ctx; write {kind}:0, {kind}:1, ...")
    number = int(index) if colon else 0
    return mx.cpu(number) if kind == "cpu" else mx.gpu(number)


def check_gpus(gpus) -> None:
    import mxnet as mx

    if not mx.runtime.Features().is_enabled("CUDA"):
        raise UserError("the installed mxnet has no CUDA support; use --ctx cpu, or "
                        "pip install 'gluon_seq[gpu]' (mxnet-cu112) on a machine with a supported GPU.")
    count = mx.context.num_gpus()
    for ctx in gpus:
        if ctx.device_id >= count:
            raise UserError(f"{ctx} does not exist: this machine shows {count} GPU(s); use --ctx cpu.")
    found = _gpu_compute_capabilities()
    for ctx in gpus:
        if ctx.device_id < len(found):
            name, _, cap = found[ctx.device_id].rpartition(",")
            check_gpu_supported(name.strip(), cap.strip())
    # Last line of defence: a kernel launch fails with "no kernel image" on
    # architectures the wheel was not built for.
    for ctx in gpus:
        try:
            (mx.nd.ones((2,), ctx=ctx) + 1).wait_to_read()
        except mx.base.MXNetError as err:
            raise UserError(f"{ctx} cannot run this MXNet build ({str(err).splitlines()[0]}); "
                            "use --ctx cpu.") from None
