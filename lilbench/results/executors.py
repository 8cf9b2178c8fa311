"""Who runs a suite's independent work items: this process, local worker processes, or Ray.

Items are module-level functions applied to picklable arguments; the runs directory is the
shared state (every item writes its results there, atomically and under its file lock), so
any executor gives the same results. Workers use one torch thread each, so that N workers on
N cores do not oversubscribe them; a test checks results do not depend on the thread count.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar

from lilbench.errors import ConfigError, LilbenchError
from lilbench.runtime import cores

A = TypeVar("A")
W = TypeVar("W")
R = TypeVar("R")

ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")


class Executor(ABC):
    workers: int = 1

    @abstractmethod
    def map(
        self, fn: Callable[[A, W], R], items: Sequence[A], shared: W
    ) -> Iterator[tuple[int, R]]:
        """(index, fn(item, shared)) for every item, in the order they finish."""

    def close(self) -> None:  # noqa: B027 (most executors have nothing to release)
        """Release workers (a no-op for this process)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sequential(Executor):
    """Every item in this process, in order."""

    def map(
        self, fn: Callable[[A, W], R], items: Sequence[A], shared: W
    ) -> Iterator[tuple[int, R]]:
        for i, item in enumerate(items):
            yield i, fn(item, shared)


def _one_thread() -> None:
    from lilbench.runtime import pin_threads

    pin_threads()


def _die_with(parent: int, preload: tuple[str, ...] = ()) -> None:
    """Worker start-up: ask Linux to kill this worker when its parent dies, however it dies
    (`kill -9` of `lilbench run` included: no handler runs then, and an orphaned idle worker
    would hold its memory forever). The resource tracker exits once no worker holds its
    pipe. Elsewhere than Linux there is no such request: the executor's shutdown is all."""
    import atexit
    import ctypes
    import importlib
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)
    _one_thread()
    # What every item imports (torch, the attacks): loaded now, while the parent is still
    # reading the suite and the data, not when the first item arrives.
    for module in preload:
        importlib.import_module(module)
    # A worker's results reach the parent before it is told to stop, and everything it
    # writes is renamed into place when written: its interpreter's teardown (torch's and the
    # data's, a second or more) only delays the parent's exit. atexit runs this first.
    atexit.register(os._exit, 0)


def _ready() -> None:
    """A no-op: submitted once per worker when the pool opens, so that every worker starts
    (and imports) at once rather than when work first reaches it."""


class Processes(Executor):
    """Items in `workers` local processes (started fresh, not forked: torch's thread pools
    do not survive a fork), each with one torch thread."""

    def __init__(self, workers: int, preload: tuple[str, ...] = ()) -> None:
        """`preload`: modules each worker imports as it starts (what its items need)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        import os

        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_die_with,
            initargs=(os.getpid(), preload),
        )
        for _ in range(workers):  # start them all now: see _ready
            self._pool.submit(_ready)

    def map(
        self, fn: Callable[[A, W], R], items: Sequence[A], shared: W
    ) -> Iterator[tuple[int, R]]:
        from concurrent.futures import as_completed

        futures = {self._pool.submit(fn, item, shared): i for i, item in enumerate(items)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ray_call(fn: Callable[[Any, Any], Any], item: Any, shared: Any) -> Any:
    _one_thread()
    return fn(item, shared)


class RayExecutor(Executor):
    """Items as Ray tasks (one CPU each) on a local Ray instance or on the cluster at
    `address`. Every node must see the same runs directory (a shared file system) and data
    directory, and have lilbench installed."""

    def __init__(
        self,
        *,
        address: str | None,
        workers: int | None,
        local_mode: bool = False,
        gpus: int = 0,
    ) -> None:
        """`gpus`: GPUs each task asks for (1 when the suite computes on CUDA): Ray then
        places the task on a node with a free GPU and shows it that one GPU alone (as
        cuda:0), where a task asking for none would see no GPU at all."""
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--executor ray needs Ray: pip install 'lilbench[ray]' (or pip install ray)"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False}
            if address is None and workers is not None:
                kwargs["num_cpus"] = workers
            if local_mode:
                kwargs["local_mode"] = True
            ray.init(log_to_driver=False, **kwargs)
        resources = ray.cluster_resources()
        slots = int(resources.get("GPU", 0)) if gpus else int(resources.get("CPU", 1))
        if gpus and slots < 1:
            raise ConfigError("--device cuda with --executor ray: the Ray cluster has no GPU")
        self.workers = workers or max(1, slots)
        self._remote = ray.remote(num_cpus=1, num_gpus=gpus)(_ray_call)

    def map(
        self, fn: Callable[[A, W], R], items: Sequence[A], shared: W
    ) -> Iterator[tuple[int, R]]:
        ray = self._ray
        shared_ref = ray.put(shared)
        queue = list(enumerate(items))[::-1]
        running: dict[Any, int] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:  # at most `workers` in flight
                    i, item = queue.pop()
                    running[self._remote.remote(fn, item, shared_ref)] = i
                ready, _ = ray.wait(list(running), num_returns=1)
                i = running.pop(ready[0])
                try:
                    value = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    if isinstance(exc.cause, LilbenchError):
                        raise exc.cause from None
                    raise
                yield i, value
        finally:
            for ref in running:
                ray.cancel(ref)


def make_executor(
    name: str = "local",
    *,
    workers: int = 1,
    address: str | None = None,
    auto: bool = False,
    device: str = "cpu",
    preload: tuple[str, ...] = (),
) -> Executor:
    """`local` with 1 worker: this process; with N: N worker processes; `ray`: Ray tasks, at
    most `workers` in flight (`auto`: as many as the Ray instance has CPUs, or GPUs when
    `device` is CUDA: then each task asks Ray for one GPU)."""
    cuda = str(device).startswith("cuda")
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if address is not None and name != "ray":
        raise ConfigError("--address names a Ray cluster: add --executor ray")
    if name == "ray":
        if cuda and str(device) != "cuda":
            raise ConfigError(
                f"--device {device} with --executor ray: Ray assigns each task its GPU; "
                "use --device cuda"
            )
        return RayExecutor(address=address, workers=None if auto else workers, gpus=int(cuda))
    if workers > cores() * 4:
        raise ConfigError(f"--workers {workers} is far more than this machine's cores")
    return Processes(workers, preload) if workers > 1 else Sequential()
