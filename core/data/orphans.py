"""Start-up clean-up of model folders that a crashed save or delete left behind (and of
the temporary term batches a killed encode left).

`registry.register` writes `models/.tmp-<id>/`, renames it to `models/<id>/` and only
then inserts the registry row; `registry.delete` removes the row, then the folder. A
crash between the steps leaves a folder no row names. The CLI and the app remove such
folders when they start. Kept apart from the registry so that this check costs a
directory listing, not importing the training engines.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import suppress
from pathlib import Path

from core import config
from core.data import store
from core.errors import TopicLabError

# A save writes its folder in seconds, then waits at most TOPICLAB_LOCK_WAIT_S (30 s by
# default) for the store to insert the row; a folder nobody has touched for an hour is
# not being written by anyone. An age threshold rather than a lock file, because a lock
# file would itself be left behind by the crash it is meant to detect.
MIN_AGE_S = 3600.0


def _newest_mtime(folder: Path) -> float:
    """The latest change inside a folder (a save in progress keeps touching it)."""
    newest = folder.stat().st_mtime
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            with suppress(OSError):
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
    return newest


def clean(min_age_s: float = MIN_AGE_S) -> list[str]:
    """Remove orphan `.tmp-*` folders and model folders no registry row names.

    Only folders Topic Lab writes (`.tmp-*`, or holding a `manifest.json`) and only when
    nothing in them changed for `min_age_s` seconds, so a save running in another
    process right now is never touched. Reads the registry read-only, and only when
    there is something old to judge. Returns the names removed; when the store cannot
    be read, nothing is removed.
    """
    cutoff = time.time() - min_age_s
    removed = _old_term_batches(cutoff)
    folder = config.home() / "models"
    if not folder.is_dir():
        return removed
    candidates = []
    for entry in folder.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        if not (entry.name.startswith(".tmp-") or (entry / "manifest.json").is_file()):
            continue  # not a folder Topic Lab writes: leave it alone
        with suppress(OSError):
            if _newest_mtime(entry) < cutoff:
                candidates.append(entry)
    if not candidates:
        return removed
    try:
        registered = set(store.query("SELECT model_id FROM models")["model_id"])
    except TopicLabError:
        return removed
    for entry in candidates:
        if entry.name.startswith(".tmp-") or entry.name not in registered:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return sorted(removed)


def _old_term_batches(cutoff: float) -> list[str]:
    """Remove `.term-batches-*` folders untouched since `cutoff`: `datasets.term_batches`
    removes its own when done (and touches it at every batch), so only a hard kill leaves
    one, with a copy of a version's rows."""
    removed = []
    for entry in config.home().glob(".term-batches-*"):
        if entry.is_dir() and not entry.is_symlink():
            with suppress(OSError):
                if _newest_mtime(entry) < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry.name)
    return removed
