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

THREADS = 1


def pin_threads() -> None:
    import torch

    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)


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
