"""Topic names carried over to a retrained model, and which of its topics are new.

A retrained model's topics are matched one-to-one with the previous model's by the
Hungarian assignment (`scipy.optimize.linear_sum_assignment`) on the Jensen–Shannon
distance (base 2, in [0, 1]) between their topic-word distributions over the words
both vocabularies share (each row renormalised there). A matched pair closer than
`MAX_JS` carries the old topic's human name, marked as carried (`carried_from`, not
`confirmed`) until someone confirms or renames it; a new topic with no match that close
is *new*.

`MAX_JS = 0.5`, measured with `align` on the demo corpus at the production setting of
`make run` (3,000 campaigns, K = 40, project defaults). Retrained with another seed, 30
of the 40 assigned pairs lie at 0.04-0.50 and the rest at 0.51-0.98; on a month shifted
by 0.3 (`python -m core demo --shift 0.3`) 29 lie at 0.09-0.49 and the rest at
0.52-0.91. The *second* nearest old topic of every new topic lay at 0.52 or more
(median 0.85): at or below 0.5 a match is closer than any mere look-alike was, so a
name never lands on a topic that only resembles its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from core.data import audit, auth, store
from core.errors import TopicLabError
from core.model.metrics import js_distance_matrix
from core.serve import naming, registry
from core.testpause import pause

MAX_JS = 0.5


def _shared(model_a, model_b) -> tuple[np.ndarray, np.ndarray]:
    """Both topic-word matrices restricted to the shared vocabulary, rows renormalised."""
    position_b = {w: j for j, w in enumerate(model_b.vocabulary)}
    pairs = [(i, position_b[w]) for i, w in enumerate(model_a.vocabulary) if w in position_b]
    if not pairs:
        return np.zeros((model_a.k, 0)), np.zeros((model_b.k, 0))
    cols_a, cols_b = (np.array(c) for c in zip(*pairs, strict=True))
    a = np.asarray(model_a.engine.topic_term_, dtype=np.float64)[:, cols_a] + 1e-12
    b = np.asarray(model_b.engine.topic_term_, dtype=np.float64)[:, cols_b] + 1e-12
    return a / a.sum(axis=1, keepdims=True), b / b.sum(axis=1, keepdims=True)


def align(old, new) -> pd.DataFrame:
    """One row per topic of `new`: its matched `old_topic` (None when unmatched) and the
    Jensen–Shannon distance of the pair, from the one-to-one assignment."""
    a, b = _shared(old, new)
    rows = {t: {"new_topic": t, "old_topic": None, "js": None} for t in range(new.k)}
    if a.shape[1]:
        distances = js_distance_matrix(a, b)
        for i, j in zip(*linear_sum_assignment(distances), strict=True):
            rows[int(j)].update(old_topic=int(i), js=float(distances[i, j]))
    return pd.DataFrame(list(rows.values()))


@dataclass(frozen=True)
class CarryReport:
    """Names carried (old topic, new topic, name, js), names not carried (with the reason)
    and the new model's topics that match no old one."""

    from_model_id: str
    to_model_id: str
    max_js: float
    carried: list[dict[str, Any]]
    not_carried: list[dict[str, Any]]
    new_topics: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.from_model_id, "to": self.to_model_id, "max_js": self.max_js,
                "carried": self.carried, "not_carried": self.not_carried,
                "new_topics": self.new_topics}


def carry_labels(from_model_id: str, to_model_id: str, max_js: float = MAX_JS, *,
                 loaded: tuple[registry.LoadedModel, registry.LoadedModel] | None = None
                 ) -> CarryReport:
    """Copy the human names of `from_model_id`'s topics to the aligned topics of
    `to_model_id` (never over a name the new model already has), marked as carried.

    Returns what happened: carried names, names not carried (no close match), and the
    new model's new topics. `loaded`: both artifacts, when the caller has them (the
    pipeline gated with them).
    """
    auth.require("train")
    old, new = loaded or (registry.load(from_model_id), registry.load(to_model_id))
    pairs = align(old, new)
    matched = pairs[pairs["js"].notna() & (pairs["js"] <= max_js)]
    old_labels = naming.label_rows(from_model_id)
    carried, not_carried = [], []
    by_old = {int(r.old_topic): r for r in matched.itertuples()}
    for topic, given in sorted(old_labels.items()):
        row = by_old.get(topic)
        if row is None:
            not_carried.append({"old_topic": topic, "name": given["label"],
                                "reason": f"no topic of the new model within "
                                          f"Jensen-Shannon distance {max_js}"})
        else:
            carried.append({"old_topic": topic, "new_topic": int(row.new_topic),
                            "name": given["label"], "js": round(float(row.js), 3)})
    new_topics = sorted(set(range(new.k)) - {int(t) for t in matched["new_topic"]})
    with store.transaction() as con:
        # Checked where the names are written: a model deleted since it was loaded above
        # (by another process) gets no orphan names, and says so.
        registry.get_in(con, to_model_id)
        pause("carry_labels")
        existing = {int(r[0]) for r in con.execute(
            "SELECT topic FROM topic_labels WHERE model_id = ?", [to_model_id]).fetchall()}
        carried = [c for c in carried if c["new_topic"] not in existing]
        carried, taken = _unique_names(con, to_model_id, carried)
        not_carried += taken
        store.mark_serving_change()
        for c in carried:
            con.execute("INSERT INTO topic_labels (model_id, topic, label, updated_at, "
                        "updated_by, carried_from, confirmed) VALUES (?, ?, ?, ?, ?, ?, false)",
                        [to_model_id, c["new_topic"], c["name"], audit.now(),
                         auth.current_user().name, from_model_id])
        audit.record(con, "carry_labels", to_model_id,
                     {"from": from_model_id, "carried": len(carried),
                      "not_carried": len(not_carried), "new_topics": new_topics})
    return CarryReport(from_model_id, to_model_id, max_js, carried, not_carried, new_topics)


def _unique_names(con, model_id: str, carried: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The carried names the model has no topic of yet (in any case), and the others as
    not carried: names are unique per model (`registry.set_topic_label`), a person's name
    wins over a carried one, and an old store's duplicate names are carried once."""
    names = {label.casefold(): int(topic) for topic, label in con.execute(
        "SELECT topic, label FROM topic_labels WHERE model_id = ?", [model_id]).fetchall()}
    kept, skipped = [], []
    for c in carried:
        holder = names.get(c["name"].casefold())
        if holder is None:
            names[c["name"].casefold()] = c["new_topic"]
            kept.append(c)
        else:
            skipped.append({"old_topic": c["old_topic"], "name": c["name"],
                            "reason": f"topic {holder} of the new model has this name "
                                      "already (names are unique per model)"})
    return kept, skipped


def new_topics(model, topics: list[naming.TopicName] | None = None) -> set[int] | None:
    """Topics of a model that match no topic of the model its names were carried from
    (None when no name was carried, so there is nothing to compare with)."""
    topics = topics if topics is not None else naming.describe(model)
    sources = {t.carried_from for t in topics if t.carried_from}
    if not sources:
        rows = store.query("SELECT DISTINCT carried_from FROM topic_labels WHERE model_id = ? "
                           "AND carried_from IS NOT NULL", [model.model_id])
        sources = set(rows["carried_from"])
    if not sources:
        return None
    source = sorted(sources)[0]
    try:
        old = registry.load(source)
    except TopicLabError:  # the old model was deleted since: nothing to compare with
        return None
    pairs = align(old, model)
    close = pairs["js"].notna() & (pairs["js"] <= MAX_JS)
    return set(pairs.loc[~close, "new_topic"].astype(int))
