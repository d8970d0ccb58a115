"""The progress callback every long job takes: `progress(done, total, message)`.

Training, sweeps, batch scoring and Spark jobs report through it; the Train page draws a
bar, the CLI a line on stderr. A callback may raise `core.errors.Cancelled` to stop the
job, which lets it through and saves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]
