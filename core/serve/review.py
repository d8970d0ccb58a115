"""Human review: the queue of campaigns a model is unsure about, reviewers' decisions,
and account managers' feedback on suggested neighbours. All of it is append-only and
kept with the model id, so it survives restarts and stays comparable across models."""

from __future__ import annotations

import math

import duckdb
import pandas as pd

from core.data import audit, auth, datasets, store
from core.errors import InputError, NotFoundError
from core.plain_text import given_id, plain_line
from core.serve import registry
from core.serve.score import LOW_CONFIDENCE, MOSTLY_HIDDEN  # the queue's thresholds
from core.testpause import pause

DECISIONS = ("assign_topic", "flag", "dismiss")
HIGH_OOV = 0.5         # more than half of the campaign's words are unknown to the model
MAX_NOTE = 500         # characters of a reviewer's note
# A fingerprint's share on hidden topics (`hidden_spares`), 0 for a model without them
_HIDDEN_SHARE = "coalesce(list_sum(f.hidden), 0)"
# A campaign kept unless those mostly on hidden topics (and not mostly unknown words) are
# left out; its parameters: whether to keep them, the unknown-word share, MOSTLY_HIDDEN
_HIDDEN_FILTER = f"(? OR f.oov_share > ? OR {_HIDDEN_SHARE} < ?)"


def review_queue(model_id: str, *, max_confidence: float = LOW_CONFIDENCE,
                 min_oov: float = HIGH_OOV, limit: int = 200,
                 mostly_hidden: bool = True) -> pd.DataFrame:
    """Scored campaigns with a low-confidence fingerprint (strongest topic below
    `max_confidence`) or mostly unknown words that no one has reviewed yet under this
    model, least confident first. `hidden_share` is each one's share on topics the model
    keeps hidden (`hidden_spares`; 0 without): at half or more, that is the `reason` its
    shown fingerprint is flat, as Lookup says of it. `mostly_hidden=False` leaves those
    out (they came first: 505 of the demo's campaigns under one such model, flat over the
    topics shown, filled the queue before any campaign the model was unsure of)."""
    if not 0 < max_confidence <= 1:
        raise InputError(f"max_confidence must be above 0 and at most 1, not "
                         f"{max_confidence!r}")
    record = registry.get(model_id)
    return store.query(
        "SELECT f.campaign_id, c.campaign_name, f.confidence, f.oov_share, "
        f"{_HIDDEN_SHARE}::DOUBLE AS hidden_share, "
        "CASE WHEN f.oov_share > ? THEN 'mostly unknown words' "
        f"WHEN {_HIDDEN_SHARE} >= ? THEN 'mostly on hidden topics' "
        "ELSE 'low confidence' END AS reason "
        "FROM fingerprints f LEFT JOIN campaigns c ON c.campaign_id = f.campaign_id "
        "AND c.dataset = ? AND c.version = ? WHERE f.model_id = ? "
        "AND (f.confidence < ? OR f.oov_share > ?) AND f.campaign_id NOT IN "
        "(SELECT campaign_id FROM reviews WHERE model_id = ?) "
        f"AND {_HIDDEN_FILTER} ORDER BY f.confidence, f.campaign_id LIMIT ?",
        [min_oov, MOSTLY_HIDDEN, record["dataset"], int(record["version"]), model_id,
         max_confidence, min_oov, model_id, bool(mostly_hidden), min_oov, MOSTLY_HIDDEN,
         limit],
    )


def least_confident(model_id: str, *, mostly_hidden: bool = True) -> float | None:
    """The lowest confidence among the model's scored campaigns that no one has reviewed
    yet (and, with `mostly_hidden=False`, that are not mostly on hidden topics, as
    `review_queue` leaves them out), or None when there are none: how high an empty
    queue's threshold would have to go to list any campaign."""
    registry.get(model_id)  # names an unknown model
    row = store.query_one(
        "SELECT min(f.confidence) FROM fingerprints f WHERE f.model_id = ? AND "
        "f.campaign_id NOT IN (SELECT campaign_id FROM reviews WHERE model_id = ?) "
        f"AND {_HIDDEN_FILTER}", [model_id, model_id, bool(mostly_hidden), HIGH_OOV,
                                  MOSTLY_HIDDEN])
    return None if row is None or row[0] is None else float(row[0])


def threshold_listing(lowest: float, step: float = 0.05) -> float:
    """The first threshold on a `step` grid (the page's slider) that lists a campaign of
    confidence `lowest`: an empty queue is widened in one click rather than by trial."""
    return min(1.0, round((math.floor(lowest / step + 1e-9) + 1) * step, 10))


def record_review(model_id: str, campaign_id: str, decision: str, *, topic: int | None = None,
                  note: str | None = None) -> None:
    """Store a reviewer's decision: assign a topic, flag the campaign, or dismiss it."""
    auth.require("review")
    if decision not in DECISIONS:
        raise InputError(f"Unknown review decision {decision!r}; use one of {DECISIONS}.")
    note = _check_note(note)
    campaign_id = given_id(campaign_id)  # trimmed, as an import trims ids
    with store.transaction() as con:  # checked on the connection that writes (see below)
        record = registry.get_in(con, model_id)
        if decision == "assign_topic" and (topic is None or not 0 <= topic < int(record["k"])):
            raise InputError(f"Assigning a topic needs a topic id between 0 and "
                             f"{int(record['k']) - 1}.")
        _check_campaign(con, model_id, campaign_id)
        pause("record_review")
        con.execute("INSERT INTO reviews (model_id, campaign_id, decision, topic, note, "
                    "created_at, created_by, dataset) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [model_id, campaign_id, decision, topic, note, audit.now(),
                     auth.current_user().name, record["dataset"]])
        audit.record(con, "review", campaign_id,
                     {"model_id": model_id, "decision": decision, "topic": topic, "note": note})


def _check_note(note: object) -> str | None:
    """The stripped note (None when blank), or an InputError naming what is wrong. Notes
    are shown on Lookup and in the audit log: an escape sequence or a newline in one
    garbled them (and a terminal reading `python -m core audit`)."""
    if note is None:
        return None
    return plain_line(note, "review note", MAX_NOTE) or None


def reviews_of(campaign_id: str, dataset: str) -> pd.DataFrame:
    """Every decision people made about a campaign of a dataset (under any of its models,
    also one deleted since: the review is about the campaign), newest first, with
    `model_deleted`. Campaign ids are only unique within a dataset."""
    return store.query(
        "SELECT r.*, m.model_id IS NULL AS model_deleted FROM reviews r "
        "LEFT JOIN models m USING (model_id) WHERE r.campaign_id = ? "
        "AND coalesce(r.dataset, m.dataset) = ? ORDER BY r.created_at DESC",
        [given_id(campaign_id), dataset])


def record_feedback(model_id: str, campaign_id: str, neighbor_id: str, useful: bool) -> None:
    """An account manager's verdict on one suggested neighbour."""
    auth.require("feedback")
    # trimmed, as an import trims ids (" C1" was "not scored"), before they are compared
    campaign_id, neighbor_id = given_id(campaign_id), given_id(neighbor_id)
    check_neighbor_pair(campaign_id, neighbor_id)
    # Checked in the transaction that writes: a model deleted (or rescored) by another
    # process between a check and the insert would get a verdict it never had.
    with store.transaction() as con:
        registry.get_in(con, model_id)
        _check_campaign(con, model_id, campaign_id)
        _check_campaign(con, model_id, neighbor_id)
        pause("record_feedback")
        con.execute("INSERT INTO neighbor_feedback VALUES (?, ?, ?, ?, ?, ?)",
                    [model_id, campaign_id, neighbor_id, bool(useful), audit.now(),
                     auth.current_user().name])
        audit.record(con, "feedback", campaign_id,
                     {"model_id": model_id, "neighbor": neighbor_id, "useful": bool(useful)})


def check_neighbor_pair(campaign_id: str, neighbor_id: str) -> None:
    """A campaign is never its own neighbour: a verdict on that pair (a careless client)
    judges no suggestion and only moves the acceptance rate the A/B page compares."""
    if campaign_id == neighbor_id:
        raise InputError(f"The neighbour is the campaign itself ({campaign_id!r}); a "
                         "campaign is never suggested as its own neighbour.")


def acceptance(model_ids: list[str]) -> pd.DataFrame:
    """Per model: how many neighbour verdicts, how many useful, and the acceptance rate.
    A person's verdict on one neighbour of one campaign counts once, as they last gave it:
    a second click on *Send feedback* counted twice, and a changed mind as both answers.
    A person is their name without case (`auth.identity`): "Ana@…" and "ana@…" are one.
    Every verdict stays in `neighbor_feedback` (and the audit log)."""
    frame = store.query(
        "SELECT model_id, count(*) AS verdicts, count(*) FILTER (WHERE useful) AS useful "
        "FROM (SELECT model_id, useful FROM neighbor_feedback "
        "      WHERE list_contains(?, model_id) "
        "      QUALIFY row_number() OVER (PARTITION BY model_id, campaign_id, neighbor_id, "
        "                                 lower(created_by) ORDER BY created_at DESC, "
        "                                 rowid DESC) = 1) "
        "GROUP BY model_id",
        [model_ids])
    frame = pd.DataFrame({"model_id": model_ids}).merge(frame, how="left").fillna(0)
    frame[["verdicts", "useful"]] = frame[["verdicts", "useful"]].astype(int)
    frame["acceptance_rate"] = frame["useful"] / frame["verdicts"].where(frame["verdicts"] > 0)
    return frame


def _check_campaign(con: duckdb.DuckDBPyConnection, model_id: str, campaign_id: str) -> None:
    """On the caller's writing connection, so the check and the insert see the same state."""
    row = con.execute("SELECT 1 FROM fingerprints WHERE model_id = ? AND campaign_id = ?",
                      [model_id, campaign_id]).fetchone()
    if row is None:
        hint = datasets.campaign_case_hint(campaign_id, model_id=model_id, con=con)
        raise NotFoundError(f"Campaign {campaign_id!r} is not scored under model "
                            f"{model_id}.{hint}")
