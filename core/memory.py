"""Give memory that large steps freed back to the operating system.

Arrow's allocator (mimalloc) and glibc's malloc keep freed memory for reuse instead of
returning it. After an import, a training run or a scoring run that memory is no longer
needed, but the process keeps it: importing a 20,000-campaign file left 0.39 GB with the
process, 0.09 GB after `release()`. The app and the scoring service are long-lived
processes, and Spark training starts a JVM and workers beside the process that imported.
`releases_memory` wraps such steps; a step's own peak is unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def release() -> None:
    """Return freed memory of Arrow's pool and of malloc (glibc only) to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)   # glibc; absent elsewhere
        if trim is not None:
            trim(0)


def releases_memory(step: Callable[P, T]) -> Callable[P, T]:
    """Run `step`, then `release()` whether it succeeded or not."""
    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return step(*args, **kwargs)
        finally:
            release()
    return run
