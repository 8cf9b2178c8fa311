"""How lilbench runs torch: one intra-op thread in every process that computes.

MKL splits a matrix product over threads differently with their number (measured: the
784-input layers' products round differently with 1 and 2 threads), so a model trained or
attacked with 2 threads would differ in its last bits from the same work done in a 1-thread
worker. Every lilbench process computes with one thread, so numbers depend only on the work,
never on how it was scheduled; a machine's cores are used by running items in parallel
(`lilbench run --workers N`, the default being one worker per core).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

THREADS = 1
_MALLOC_KEEP = 1 << 30  # bytes: blocks up to this size stay in the heap once freed


def keep_freed_memory() -> None:
    """Let glibc reuse freed large blocks instead of returning them to the system.

    By default a block above 32 MiB is mmap-ed and unmapped on each allocation, so every new
    big tensor (CROWN's [128, 100, 784] float64 products, a stack of attack rows) faults its
    pages in afresh: measured, 333 million minor faults and 814 s of system time in a
    31-minute suite run, and CROWN twice as fast without them. Numbers do not change. Linux
    with glibc only; elsewhere nothing happens.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if os.name != "posix" or name is None or "libc" not in name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-3, _MALLOC_KEEP)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, _MALLOC_KEEP)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, macOS): keep the defaults
        return


def pin_threads() -> None:
    """One torch thread (see the module's docstring), and freed memory kept for reuse."""
    import torch

    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)
    keep_freed_memory()


def cores() -> int:
    """The cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextmanager
def pinned_threads() -> Iterator[None]:
    """One thread inside, the caller's thread count restored after (the Python API: a user's
    own process is not left single-threaded)."""
    import torch

    before = torch.get_num_threads()
    pin_threads()
    try:
        yield
    finally:
        torch.set_num_threads(before)


CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs to give the same bits on every run


def resolve_device(name: str | object) -> torch.device:
    """`name` as a torch device that exists here, or a one-line ConfigError: an unknown name,
    CUDA where there is none, or a GPU index this machine does not have (checked before any
    work, not met as "invalid device ordinal" in the middle of it). Choosing a GPU switches on
    torch's deterministic mode (see `make_deterministic`)."""
    import torch

    from lilbench.errors import ConfigError

    try:
        device = torch.device(str(name))
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device {name!r}; use cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda asked for, but no CUDA GPU is available; use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(
                f"--device {device}: this machine has {count} CUDA GPU(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
        make_deterministic()
    return device


def make_deterministic() -> None:
    """The switches that make GPU results bit-reproducible, so that the same seed gives the
    same numbers however work is scheduled: deterministic algorithms (an op without one
    raises instead of silently varying), cuBLAS's fixed workspace, cuDNN without autotuning,
    and no TF32 (whose rounding also differs from the CPU's float32)."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def device_tag(device: object) -> str | None:
    """What enters a result's key for the device it was computed on: None for the CPU (so
    every record computed before keeps its name), else the device type ("cuda"): GPUs round
    differently from the CPU, and a record is served only to a request for the same kind."""
    kind = str(device).split(":", 1)[0]
    return None if kind == "cpu" else kind


def device_name(name: str) -> str:
    """`name` checked as a device name (cpu, cuda, cuda:N) without asking for the device:
    what reading results computed elsewhere needs (a report of CUDA records on a laptop)."""
    import re

    from lilbench.errors import ConfigError

    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda or cuda:N")
    return name
