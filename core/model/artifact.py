"""The model artifact: one folder format for the registry and for notebooks.

A folder holds `manifest.json` (engine, params, text settings, data lineage, metrics),
`encoder/` (tokenizer settings and vocabulary), `engine/` (the topic-word matrix and
prior) and, for models trained since it existed, `counts.npz` (the encoded term matrix
of the model's own campaigns, `core.model.corpus.EncodedCounts`). A notebook's
`CampaignModel.save` may add `terms.parquet` (the rows it was fitted on). Plain files, no
pickles. `write` builds the folder under a temporary name and renames it into place, so
a crash leaves either a whole artifact or none.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from contextlib import suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from core.errors import InputError, NotFoundError, TopicLabError
from core.model.corpus import EncodedCounts, Encoder
from core.model.engines import ENGINES, Engine

FORMAT = 1
MANIFEST = "manifest.json"
_LIBRARIES = ("gensim", "tomotopy", "bitermplus", "spacy", "numpy", "duckdb")


def library_versions() -> dict[str, str]:
    """Python's and the model libraries' versions, for a manifest: a model that a later
    version cannot load says what it was saved with."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        with suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def write(folder: str | Path, *, engine: Engine, encoder: Encoder, manifest: dict[str, Any],
          counts: EncodedCounts | None = None,
          extra: Callable[[Path], None] | None = None) -> Path:
    """Write a whole artifact at `folder` atomically; an existing artifact there is
    replaced, any other existing file or non-empty folder is refused."""
    final = Path(folder)
    if final.exists() and not (final / MANIFEST).is_file() and (
            not final.is_dir() or any(final.iterdir())):
        raise InputError(f"{final} exists and is not a Topic Lab model folder: "
                         "choose a new or empty folder.")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}"
    old = final.parent / f".old-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "encoder").mkdir(parents=True)
        (tmp / "engine").mkdir()
        encoder.save(tmp / "encoder")
        engine.save(tmp / "engine")
        if counts is not None:
            counts.save(tmp)
        if extra is not None:
            extra(tmp)
        (tmp / MANIFEST).write_text(
            json.dumps({"artifact_format": FORMAT, **manifest}, indent=2, ensure_ascii=False,
                       default=str), "utf-8")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def read(folder: str | Path) -> tuple[dict[str, Any], Engine, Encoder]:
    """(manifest, engine, encoder) of an artifact folder, with a clear message when the
    folder is not one this version can use."""
    folder = Path(folder)
    if not folder.is_dir():  # a mistyped path "held no readable model (… FileNotFoundError)"
        raise NotFoundError(f"{folder} is {'a file' if folder.exists() else 'not there'}, "
                            "not a model folder: give the folder `save` wrote (it holds "
                            f"{MANIFEST}).")
    try:
        manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as err:
        raise TopicLabError(f"{folder} holds no readable Topic Lab model ({MANIFEST} is "
                            f"missing or unreadable: {err.__class__.__name__}).") from err
    if manifest.get("artifact_format") != FORMAT:
        raise TopicLabError(
            f"The model in {folder} was saved by another version of Topic Lab (artifact "
            f"format {manifest.get('artifact_format')!r}, this version reads {FORMAT}).")
    if manifest.get("engine") not in ENGINES:
        raise TopicLabError(f"The model in {folder} uses engine {manifest.get('engine')!r}, "
                            "which this version of Topic Lab does not have.")
    try:
        engine = ENGINES[manifest["engine"]].load(folder / "engine")
        encoder = Encoder.load(folder / "encoder")
    except Exception as err:  # any library's own load error becomes one clear message
        saved = manifest.get("library_versions")  # none in a notebook's folder before
        raise TopicLabError(
            f"The model in {folder} could not be loaded ({err.__class__.__name__}: {err})"
            f"{f'; it was saved with {saved}' if saved else ''}.") from err
    return manifest, engine, encoder
