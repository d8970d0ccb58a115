"""The progress callback every long job takes: `progress(done, total, message)`.

Training, sweeps, batch scoring and Spark jobs report through it; the Train page draws a
bar, the CLI a line on stderr. A callback may raise `core.errors.Cancelled` to stop the
job, which lets it through and saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]


def part(progress: Progress, start: int, end: int, total: int) -> Progress:
    """A step's own progress (`done` of its `total`) mapped onto [start, end] of a bar of
    `total`: a job of several steps shows one bar that reaches the end only when its last
    step does (a step's bar of its own reached 100% while later steps went on)."""
    def report(done: int, steps: int, message: str) -> None:
        share = done / steps if steps else 1.0
        progress(start + round((end - start) * share), total, message)
    return report
