"""Reading a saved `.npz` (`counts.npz`, `word_similarity.npz`) with its file closed on
every path.

`np.load(path)` opens the file itself and hands it to numpy's `NpzFile`, which keeps it
open when the archive cannot be read: a truncated `counts.npz` raised `BadZipFile` with
the handle still open, held by the traceback (a user's or a log's) until it was collected,
then a ResourceWarning. Given an open file instead, numpy leaves the closing to its owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def arrays(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """The arrays of the `.npz` at `path` (no pickles), its file closed on leaving, also
    when numpy cannot read it."""
    with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        yield archive
