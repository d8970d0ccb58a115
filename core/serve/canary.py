"""Canary release: which variant (production or candidate) answers a request.

The split is a pure function of a sticky key (the campaign id, or the normalised keyword
set) and the canary percentage: the key's SHA-256 picks one of 10,000 buckets, and buckets
below `percent × 100` go to the candidate. So the same campaign always gets the same
variant while the percentage is unchanged, raising the percentage only moves production
traffic to the candidate (never back), and no state is kept between requests or workers.

The share belongs to the candidate model it was set for (stored with it): when the
`candidate` alias moves to another model (a pipeline keeping its model as candidate, a
promotion, a delete) the canary is off until `canary set` is run again, so a model that
failed the gate never gets live traffic without someone asking for it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from core.data import audit, auth, store
from core.errors import CLI, Controls, InputError, StoreBusyError, TopicLabError

log = logging.getLogger(__name__)

PRODUCTION = "production"
CANDIDATE = "candidate"
BUCKETS = 10_000
SETTING = "canary_percent"
MIN_PERCENT = 100 / BUCKETS  # one bucket: a share below it rounded to none while "on"


def sticky_key(campaign_id: str | None = None, keywords: Sequence[str] | None = None) -> str:
    """What stickiness is keyed on: the campaign id, else the keyword set (order, case and
    repeats do not matter)."""
    if campaign_id is not None:
        return "c:" + campaign_id
    words = sorted({" ".join(k.lower().split()) for k in keywords or ()})
    return "k:" + "\n".join(words)


def bucket(key: str) -> int:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant(key: str, percent: float) -> str:
    """`candidate` for `percent`% of keys (sticky per key), else `production`."""
    if percent <= 0:
        return PRODUCTION
    return CANDIDATE if bucket(key) < round(percent * BUCKETS / 100) else PRODUCTION


def check_percent(percent: float) -> float:
    """The share as a float in [0, 100], to the 0.01 % a bucket is; a string or a bool
    (from a notebook) is refused, not a TypeError traceback or True read as 1 %, and so is
    a share above 0 below one bucket (1e-300 was stored as "on" and sent nothing)."""
    if isinstance(percent, bool) or not isinstance(percent, numbers.Real):
        raise InputError(f"The canary share must be a number between 0 and 100, not "
                         f"{percent!r}.")
    if not 0 <= percent <= 100:
        raise InputError(f"The canary share must be a percentage between 0 and 100, not "
                         f"{percent:g}.")
    if 0 < percent < MIN_PERCENT:
        raise InputError(f"The canary share must be 0 (off) or at least {MIN_PERCENT:g} % (one "
                         f"of the {BUCKETS:,} buckets the split uses), not {percent:g}: a "
                         "smaller share sends the candidate no traffic at all.")
    return round(float(percent), 2) + 0.0   # what the buckets apply; -0.0 (`set -0`) is 0


@dataclass(frozen=True)
class Stored:
    """The share `canary set` stored, the candidate it was set for, and the candidate the
    alias names now: the share applies only while those two are the same model."""

    percent: float
    set_for: str | None
    candidate: str | None
    production_dataset: str | None = None
    candidate_dataset: str | None = None

    @property
    def other_dataset(self) -> bool:
        """Whether the candidate and production are models of two datasets."""
        return None not in (self.production_dataset, self.candidate_dataset) \
            and self.production_dataset != self.candidate_dataset

    @property
    def applies(self) -> float:
        """The share the candidate gets now: 0 once the alias names another model, or
        while production is a model of another dataset (as the service applies it)."""
        return self.percent if self.candidate is not None \
            and self.set_for == self.candidate and not self.other_dataset else 0.0


def read_stored(con: duckdb.DuckDBPyConnection) -> Stored:
    """The stored share, its model and the candidate alias, on an open connection."""
    row = con.execute("SELECT value, model_id FROM service_settings WHERE name = ?",
                      [SETTING]).fetchone()
    candidate = con.execute("SELECT model_id FROM aliases WHERE alias = 'candidate'"
                            ).fetchone()
    datasets = dict(con.execute(
        "SELECT a.alias, m.dataset FROM aliases a JOIN models m USING (model_id)").fetchall())
    return Stored(_usable(float(row[0])) if row else 0.0, row[1] if row else None,
                  candidate[0] if candidate else None, datasets.get("production"),
                  datasets.get("candidate"))


def _usable(percent: float) -> float:
    """A stored share `canary set` could have stored; anything else (written with plain
    SQL: NaN, 150, -5) is read as 0, off, with a warning. NaN made every scoring request
    a 500 (the split cannot round it), 150 sent everything to the candidate."""
    if math.isfinite(percent) and 0 <= percent <= 100:
        return percent
    log.warning("canary: the stored share %r is not a percentage from 0 to 100 (changed "
                "with plain SQL?); the canary is off until `canary set` is run", percent)
    return 0.0


def read_percent(con: duckdb.DuckDBPyConnection) -> float:
    """The share of traffic sent to the candidate now (0 = canary off: none stored, or set
    for a model the candidate alias no longer names), on an open connection."""
    return read_stored(con).applies


def get_percent() -> float:
    with store.connect(read_only=True) as con:
        return read_percent(con)


def show() -> dict[str, Any]:
    """`canary show`: the share the candidate gets now, the share stored and the model it
    was set for, with a note when they differ (no candidate, or the alias moved)."""
    with store.connect(read_only=True) as con:
        stored = read_stored(con)
    shown = CanaryChange(stored.applies, stored.applies, stored.candidate,
                         stored.percent, stored.set_for).to_dict()
    del shown["previous"]
    if note := _other_dataset_note(stored):
        shown["note"] = note
    return shown


def _other_dataset_note(stored: Stored) -> str | None:
    if stored.other_dataset and stored.percent > 0 and stored.set_for == stored.candidate:
        return (f"The canary was set to {stored.percent:g}% for {stored.candidate}, but "
                "production is now a model of another dataset, so the canary is off and all "
                "traffic stays on production.")
    return None


def stopped_note(before: Stored, after: Stored, controls: Controls = CLI) -> str | None:
    """Why the canary stopped, when an alias move (read before and after it, in its
    transaction) took a live share away from the candidate: promoting another model to
    candidate, or the candidate's to production, turned the canary off and only
    `canary show` said so. `controls`: how it names a way to a new candidate."""
    if before.applies <= 0 or after.applies > 0:
        return None
    return _other_dataset_note(after) or CanaryChange(
        0.0, before.applies, after.candidate, after.percent, after.set_for).explained(controls)


@dataclass(frozen=True)
class CanaryChange:
    """The share of traffic now sent to the candidate, the one before, the candidate
    (None: none), the share stored and the model it was set for (`note` says why the
    candidate gets none of a stored share)."""

    canary_percent: float
    previous: float
    candidate: str | None
    canary_percent_set: float = 0.0
    set_for: str | None = None

    @property
    def note(self) -> str | None:
        return self.explained(CLI)

    def explained(self, controls: Controls) -> str | None:
        """Why the candidate gets none of a stored share, naming `controls`' way to give
        the canary a candidate (the Compare page said "--alias candidate")."""
        if self.canary_percent_set <= 0 or self.canary_percent > 0:
            return None
        set_again = "set its share again (`python -m core canary set PERCENT`)"
        if not self.candidate:
            return (f"The canary was set to {self.canary_percent_set:g}% for {self.set_for}, "
                    "which is no longer the candidate and no model is: all traffic stays on "
                    f"production. To canary again, {controls.new_candidate}, then {set_again}.")
        return (f"The canary was set to {self.canary_percent_set:g}% for {self.set_for}; the "
                f"candidate is now {self.candidate}, so the canary is off and all traffic "
                f"stays on production until you {set_again} for it.")

    def to_dict(self) -> dict[str, Any]:
        return {"canary_percent": self.canary_percent, "previous": self.previous,
                "candidate": self.candidate, "canary_percent_set": self.canary_percent_set,
                "set_for": self.set_for, **({"note": self.note} if self.note else {})}


def set_percent(percent: float) -> CanaryChange:
    """Send `percent`% of traffic to the candidate model of now, and to no later one.
    Requires `promote`; audited. A share above 0 is refused when there is no candidate or
    it cannot be loaded (`check_loads`); the alias is checked again in the transaction
    that stores the share with its model."""
    user = auth.require("promote")
    percent = check_percent(percent)
    checked = check_loads(_candidate()) if percent > 0 else None
    if percent > 0 and checked is None:
        raise TopicLabError("No model is marked candidate, so a canary share would send "
                            "nothing: promote one with --alias candidate (the pipeline "
                            "keeps a model that did not pass its gate as candidate), then "
                            "run `canary set` again.")
    with store.transaction() as con:
        before = read_stored(con)
        candidate = before.candidate
        if percent > 0 and candidate != checked:
            raise TopicLabError(f"The candidate alias moved while {checked} was being "
                                f"checked (it now names {candidate or 'no model'}); run the "
                                "command again.")
        if percent > 0:
            _same_dataset_as_production(before)
        store.mark_serving_change()
        con.execute("INSERT OR REPLACE INTO service_settings (name, value, updated_at, "
                    "updated_by, model_id) VALUES (?, ?, ?, ?, ?)",
                    [SETTING, percent, audit.now(), user.name, candidate])
        audit.record(con, "canary", candidate,
                     {"percent": percent, "previous": before.applies})
    return CanaryChange(percent, before.applies, candidate, percent, candidate)


def _same_dataset_as_production(stored: Stored) -> None:
    """Refuse a canary for a candidate of another dataset than production's (the pipeline
    keeps a model of another dataset as candidate): it answered a share of production's
    traffic from another dataset's campaigns, and a campaign id there names another
    campaign. Checked on what the transaction that stores the share read (`read_stored`)."""
    if stored.other_dataset:
        production = stored.production_dataset
        raise TopicLabError(
            f"The candidate {stored.candidate} is a model of dataset "
            f"{stored.candidate_dataset!r} and production of {production!r}: a canary would "
            f"answer a share of {production!r}'s traffic from another dataset's campaigns. "
            f"Promote a model of {production!r} with --alias candidate, or promote this one "
            "to production (`promote --other-dataset`).")


def _candidate() -> str | None:
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT model_id FROM aliases WHERE alias = 'candidate'").fetchone()
    return row[0] if row else None


def check_loads(model_id: str | None) -> str | None:
    """`model_id` (None: no candidate), once every file the service's load of it reads
    was read and found consistent (`check_usable`): a candidate whose folder is damaged
    or gone was given the share without a word, and the service then sent it nothing
    (production answers, /readyz names the problem)."""
    if model_id is None:
        return None
    from core.serve.serving import load_failure

    try:
        check_usable(model_id)
    except StoreBusyError:
        raise
    except Exception as err:
        raise TopicLabError(
            f"The candidate {model_id} cannot be loaded, so the service would send it no "
            f"traffic: {load_failure(model_id, err).rstrip('.')}. Train it again or promote "
            "another model with --alias candidate (`canary set 0` turns the canary off)."
        ) from None
    return model_id


def check_usable(model_id: str) -> None:
    """Raise what the service's load of `model_id` (a `Lookup`) would raise from the
    model's own data: its artifact parsed (engine, encoder with its word similarities and
    vectors), its encoded counts and stored fingerprints read, and their shapes checked
    against each other (K columns of fingerprints, a counts column per vocabulary word, a
    counts row for each fingerprinted campaign), as the neighbour index needs them. The
    rest of a load is computed from those and the dataset's rows (the index, topic names,
    the mapped term file) and was the larger part of `canary set`'s time: it built a whole
    `Lookup` to throw it away (`bench/gate.py`)."""
    from core.serve import registry, score

    with store.reading():   # one store connection for the reads, as a Lookup's load
        model = registry.load(model_id)
        fingerprints = score.load_fingerprints(model_id)
        counts = registry.encoded_counts(model_id)
    words = len(model.encoder.dictionary)
    found = []
    if fingerprints.weights.shape[1] != model.k:
        found.append(f"its stored fingerprints have {fingerprints.weights.shape[1]} topic "
                     f"weights, its artifact K = {model.k} topics")
    if model.engine.topic_term_.shape != (model.k, words):
        found.append(f"its topic-word matrix is {model.engine.topic_term_.shape}, not "
                     f"{model.k} x {words} (K x vocabulary)")
    for name, matrix in (("word similarities", model.encoder.word_similarity),
                         ("word vectors", model.encoder.word_vectors)):
        if matrix is not None and matrix.shape[0] != words:
            found.append(f"its {name} have {matrix.shape[0]} rows for {words} words")
    if counts is not None:
        if counts.matrix.shape[1] != words:
            found.append(f"its encoded counts have {counts.matrix.shape[1]} columns for "
                         f"{words} words")
        if not set(fingerprints.campaign_ids) <= set(counts.campaign_ids):
            found.append("it has fingerprints of campaigns that are not in its encoded "
                         "counts (score it again)")
    if found:
        raise TopicLabError(f"Model {model_id}'s files do not agree: " + "; ".join(found))
